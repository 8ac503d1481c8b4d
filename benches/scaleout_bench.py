#!/usr/bin/env python3
"""Two `yuqing run` workers on one PostgreSQL database against one: a fixture site of 1,000 feed
sources whose responses carry 100 ms of latency (so the work is I/O-bound).

    cargo build --release -p yuqing-app -p yuqing-testkit
    python3 benches/scaleout_bench.py [--pg postgres://postgres@127.0.0.1:5432/postgres] [--reps 3]

Each repetition creates a fresh database, starts the fixture site and 1 or 2 workers (separate
processes, `--claim-limit 32` each), waits until every source has been crawled once (each source
is due once: its schedule is daily), then stops the workers with SIGTERM. Reported per run:
crawl time from the fixture's log (first request to last response), sources/s, the workers' CPU
time over wall time (from /proc), and, from the fixture log, how many times each feed was
requested (must be exactly once: no source crawled by two workers) and that no two requests for
one feed overlapped. Posts stored must equal sources x items, each item once.
"""
import argparse, os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
TICK = os.sysconf("SC_CLK_TCK")


def psql(url, sql):
    r = subprocess.run(["psql", url, "-Atqc", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"psql failed: {r.stderr}")
    return r.stdout.strip()


def cpu_secs(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def postgres_secs():
    """CPU seconds of the PostgreSQL processes alive now (the workers' connections live through a run)."""
    total = 0.0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if open(f"/proc/{d}/comm").read().strip() == "postgres":
                    total += cpu_secs(int(d))
            except OSError:
                pass
    return total


def machine_ticks():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def sources_toml(url, feeds):
    out = ["[fetch]\nper_host_requests_per_sec = 2000.0\nper_host_concurrency = 128\n"]
    for k in range(feeds):
        out.append(f"""[[source]]
id = "fx-{k}"
name = "fixture feed {k}"
type = "feed"
url = "{url}/feed/{k}.xml"
schedule = {{ every_secs = 86400 }}
fetch = {{ allow_private_addresses = true }}
""")
    return "\n".join(out)


def one_run(a, workers, tmp, rep):
    db = f"yuqing_scaleout_{os.getpid()}_{workers}_{rep}"
    psql(a.pg, f"DROP DATABASE IF EXISTS {db}")
    psql(a.pg, f"CREATE DATABASE {db}")
    url_db = a.pg.rsplit("/", 1)[0] + "/" + db
    log = os.path.join(tmp, f"requests-{workers}-{rep}.log")
    site = subprocess.Popen([os.path.join(REL, "fixture-site"), "--feeds", str(a.feeds), "--items", str(a.items),
                             "--latency-ms", str(a.latency_ms), "--log", log], stdout=subprocess.PIPE, text=True)
    site_url = site.stdout.readline().strip()
    cfg = os.path.join(tmp, f"config-{workers}-{rep}")
    shutil.copytree(os.path.join(ROOT, "config"), cfg)
    shutil.rmtree(os.path.join(cfg, "sources"))
    os.makedirs(os.path.join(cfg, "sources"))
    open(os.path.join(cfg, "sources", "fixture.toml"), "w").write(sources_toml(site_url, a.feeds))
    # Migrate and register once, so the workers start on an equal footing.
    base = [os.path.join(REL, "yuqing"), "--config", cfg, "--dictionaries", os.path.join(ROOT, "dictionaries")]
    subprocess.run(base + ["migrate", "--database", url_db], check=True, stderr=subprocess.DEVNULL)
    procs = []
    for w in range(workers):
        data = os.path.join(tmp, f"data-{workers}-{rep}-{w}")
        procs.append(subprocess.Popen(base + ["run", "--database", url_db, "--data", data, "--worker", f"w{w}",
                                              "--claim-limit", str(a.claim_limit)],
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(tmp, f"worker-{workers}-{rep}-{w}.log"), "w") if a.keep
                                      else subprocess.DEVNULL))
    t0 = time.time()
    busy0, all0 = machine_ticks()
    pg0 = postgres_secs()
    total = a.feeds * a.items
    deadline = t0 + 900
    while time.time() < deadline:
        done = int(psql(url_db, "SELECT COUNT(*) FROM sources WHERE health LIKE '%last_success_at%'") or 0)
        if done >= a.feeds:
            break
        time.sleep(0.2)
    wall = time.time() - t0
    busy1, all1 = machine_ticks()
    cpu = sum(cpu_secs(p.pid) for p in procs)
    pg_cpu = postgres_secs() - pg0
    site_cpu = cpu_secs(site.pid)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=120)
    site.terminate()
    site.wait()
    posts = int(psql(url_db, "SELECT COUNT(*) FROM posts"))
    distinct = int(psql(url_db, "SELECT COUNT(DISTINCT item_id) FROM posts"))
    psql(a.pg, f"DROP DATABASE IF EXISTS {db}")
    feeds = {}
    first, last = None, None
    for line in open(log):
        arr, path, done = line.split()
        if not path.startswith("/feed/"):
            continue
        arr, done = float(arr), float(done)
        feeds.setdefault(path, []).append((arr, done))
        first = arr if first is None else min(first, arr)
        last = done if last is None else max(last, done)
    requests = [len(v) for v in feeds.values()]
    overlaps = sum(1 for v in feeds.values() for x, y in zip(sorted(v), sorted(v)[1:]) if y[0] < x[1])
    crawl = last - first
    # How many requests were at the fixture at once, on average, and how long one took there.
    busy = sum(d - a for v in feeds.values() for a, d in v)
    in_flight = busy / crawl
    served_ms = 1000 * busy / max(1, sum(len(v) for v in feeds.values()))
    return {
        "workers": workers, "crawl_s": crawl, "sources_per_s": a.feeds / crawl, "wall_s": wall,
        "cpu_util": cpu / wall / os.cpu_count(), "cpu_s": cpu, "pg_cpu_s": pg_cpu, "site_cpu_s": site_cpu,
        "machine_util": (busy1 - busy0) / max(1, all1 - all0), "feeds_requested": len(feeds),
        "max_requests_per_feed": max(requests), "in_flight": in_flight, "served_ms": served_ms, "overlaps": overlaps, "posts": posts, "distinct": distinct,
        "expected_posts": total,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=os.environ.get("YUQING_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=2)
    ap.add_argument("--latency-ms", type=int, default=100)
    ap.add_argument("--claim-limit", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder with the workers' logs (set RUST_LOG)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="yuqing-scaleout-")
    results = {1: [], 2: []}
    ok = True
    for rep in range(a.reps):
        for workers in (1, 2):
            r = one_run(a, workers, tmp, rep)
            results[workers].append(r)
            good = (r["feeds_requested"] == a.feeds and r["max_requests_per_feed"] == 1 and r["overlaps"] == 0
                    and r["posts"] == r["expected_posts"] == r["distinct"])
            ok &= good
            print(f"rep {rep} workers {workers}: crawl {r['crawl_s']:.2f} s ({r['sources_per_s']:.0f} sources/s), "
                  f"CPU {r['cpu_s']:.1f} s = {100 * r['cpu_util']:.0f}% of {os.cpu_count()} cores "
                  f"(whole machine: {100 * r['machine_util']:.0f}%; PostgreSQL {r['pg_cpu_s']:.1f} s, fixture {r['site_cpu_s']:.1f} s); "
                  f"{r['in_flight']:.1f} requests at the fixture on average, {r['served_ms']:.0f} ms each; "
                  f"feeds requested {r['feeds_requested']}, at most {r['max_requests_per_feed']}x each, "
                  f"{r['overlaps']} overlaps; posts {r['posts']}/{r['expected_posts']} ({r['distinct']} distinct)"
                  f"{'' if good else '  <-- FAILED'}")
    m1 = statistics.median(r["sources_per_s"] for r in results[1])
    m2 = statistics.median(r["sources_per_s"] for r in results[2])
    u1 = statistics.median(r["cpu_util"] for r in results[1])
    u2 = statistics.median(r["cpu_util"] for r in results[2])
    w1 = statistics.median(r["machine_util"] for r in results[1])
    w2 = statistics.median(r["machine_util"] for r in results[2])
    print(f"\nmedian: 1 worker {m1:.0f} sources/s (workers' CPU {100 * u1:.0f}%, machine {100 * w1:.0f}%), "
          f"2 workers {m2:.0f} sources/s (workers' CPU {100 * u2:.0f}%, machine {100 * w2:.0f}%); ratio {m2 / m1:.2f}x")
    if a.keep:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
