#!/usr/bin/env python3
"""Crawl throughput of `yuqing crawl --once` against a local fixture site, and proof that a
per-host rate limit holds, read from the fixture server's own request log.

    cargo build --release -p yuqing-app -p yuqing-testkit
    python3 benches/crawl_bench.py [--articles 10000] [--reps 3] [--limited-articles 40]

Run 1 (politeness lifted): one html source whose list pages (50 links each, paged with a
"next" link) lead to N article pages; the whole process is timed (wall), its CPU time and peak
RSS come from getrusage of the child. Run 2: the same kind of source with
`per_host_requests_per_sec = 2`; the server log's arrival times must never show more than 2
requests in any 1-second window.
"""
import argparse, os, resource, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")


def start_site(articles, log):
    p = subprocess.Popen([os.path.join(REL, "fixture-site"), "--articles", str(articles), "--log", log],
                         stdout=subprocess.PIPE, text=True)
    return p, p.stdout.readline().strip()


def config(url, articles, rate, conc):
    pages = (articles + 49) // 50
    return f"""[fetch]
per_host_requests_per_sec = {rate}
per_host_concurrency = {conc}

[[source]]
id = "bench-site"
name = "基准站点"
type = "html"
list_url = "{url}/news/index.html"
schedule = {{ every_secs = 600 }}
max_pages = {pages}
max_items = {articles}
concurrency = {conc}
fetch = {{ allow_private_addresses = true }}

[source.list]
item = "ul.list li"
next_page = "a.next"
"""


def crawl(cfg):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run([os.path.join(REL, "yuqing"), "crawl", "--config", cfg, "--once"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"crawl failed: {r.stderr[-2000:]}")
    items = r.stdout.count("\n")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024.0, items, r.stderr.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--limited-articles", type=int, default=40)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="yuqing-crawl-")

    log = os.path.join(tmp, "fast.log")
    site, url = start_site(a.articles, log)
    cfg = os.path.join(tmp, "fast.toml")
    open(cfg, "w").write(config(url, a.articles, 100000.0, 32))
    runs = []
    try:
        for _ in range(a.reps):
            open(log, "w").close()
            wall, cpu, rss, items, summary = crawl(cfg)
            time.sleep(0.2)
            requests = sum(1 for _ in open(log))
            runs.append((wall, cpu, rss, items, requests))
            print(f"  run: {wall:.2f} s, {cpu:.2f} CPU-s, {rss:.0f} MB peak RSS, {items} items, {requests} requests ({summary})")
    finally:
        site.terminate()
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    req = runs[0][4]
    print(f"| articles | requests | median wall s | pages/s | CPU-ms per page | peak RSS MB (max) |")
    print(f"|---|---|---|---|---|---|")
    print(f"| {runs[0][3]} | {req} | {wall:.2f} | {req / wall:.0f} | {1000 * cpu / req:.3f} | {max(r[2] for r in runs):.0f} |")

    log = os.path.join(tmp, "limited.log")
    site, url = start_site(a.limited_articles, log)
    cfg = os.path.join(tmp, "limited.toml")
    open(cfg, "w").write(config(url, a.limited_articles, 2.0, 4))
    try:
        wall, cpu, rss, items, summary = crawl(cfg)
        time.sleep(0.2)
    finally:
        site.terminate()
    times = sorted(float(line.split()[0]) for line in open(log))
    worst = max(sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times))
    gaps = [b - a for a, b in zip(times, times[1:])]
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\nrate-limited run (per_host_requests_per_sec = 2): {len(times)} requests in {times[-1] - times[0]:.1f} s "
          f"({rate:.2f} req/s overall), at most {worst} requests in any 1-second window, "
          f"smallest gap {min(gaps):.3f} s; {items} items")
    if worst > 2:
        sys.exit("the limit did NOT hold")


if __name__ == "__main__":
    main()
