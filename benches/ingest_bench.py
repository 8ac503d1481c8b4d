#!/usr/bin/env python3
"""Ingest rate of `yuqing import` into SQLite (and PostgreSQL with --pg URL): N posts of real
Chinese text, made from a JSON-lines corpus replicated with variations (each copy gets its own
id and a short varying sentence, so it is a new post or a near-duplicate, not an exact copy).

    cargo build --release
    python3 benches/ingest_bench.py --messages ../shared/corpus/govmsg/tipdm2020c_fj3_hot_topics_full.jsonl \
        --posts 1000000 [--pg postgres://postgres@127.0.0.1:5432/postgres]

Reports posts/s end to end (reading, analysis, de-duplication, storing), database size and peak
RSS (getrusage of the child). The generated input stays in --work; nothing is committed.
"""
import argparse, json, os, resource, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YUQING = os.path.join(ROOT, "target", "release", "yuqing")
PLACES = ["那拉提镇", "新源镇", "则克台镇", "阿热勒托别镇", "塔勒德镇", "坎苏镇", "别斯托别乡", "吐尔根乡", "肖尔布拉克镇", "喀拉布拉镇"]


def generate(src, n, out):
    with open(src, encoding="utf-8") as f:
        base = [json.loads(l) for l in f if l.strip()]
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            r = base[i % len(base)]
            copy = i // len(base)
            body = (r.get("body") or "") + f"（{PLACES[copy % len(PLACES)]}群众第{copy}次反映，编号{i}）"
            f.write(json.dumps({"id": f"m{i}", "title": r.get("title") or "", "body": body, "source": "bench"},
                               ensure_ascii=False) + "\n")


def status_kb(pid):
    """RssAnon and RssFile of a live process, in kB (0 when it is gone)."""
    out = {"RssAnon": 0, "RssFile": 0}
    try:
        for line in open(f"/proc/{pid}/status"):
            k = line.split(":")[0]
            if k in out:
                out[k] = int(line.split()[1])
    except OSError:
        pass
    return out


def run(args):
    """Wall, peak RSS (getrusage), CPU, last stderr line, and the peaks of anonymous and
    file-backed (memory-mapped) resident memory sampled every 0.2 s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    err = open(os.path.join("/tmp", f"yuqing-ingest-{os.getpid()}.log"), "w+")
    p = subprocess.Popen([YUQING] + args, stdout=subprocess.DEVNULL, stderr=err, text=True)
    peak_anon = peak_file = 0
    while p.poll() is None:
        s = status_kb(p.pid)
        peak_anon, peak_file = max(peak_anon, s["RssAnon"]), max(peak_file, s["RssFile"])
        time.sleep(0.2)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    err.seek(0)
    text = err.read()
    if p.returncode not in (0, 1):
        sys.exit(text[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return wall, after.ru_maxrss / 1024.0, cpu, last, peak_anon / 1024.0, peak_file / 1024.0


def dir_size(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", required=True)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--work", default="/tmp/yuqing-ingest")
    ap.add_argument("--pg", help="PostgreSQL admin URL; a fresh database yuqing_ingest_bench is made beside it")
    ap.add_argument("--skip-sqlite", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    inp = os.path.join(a.work, f"posts-{a.posts}.jsonl")
    if not os.path.exists(inp):
        generate(a.messages, a.posts, inp)
    data = os.path.join(a.work, "data")
    shutil.rmtree(data, ignore_errors=True)
    if not a.skip_sqlite:
        wall, rss, cpu, last, anon, filemap = run(["import", inp, "--data", data, "--batch", "2000"])
        size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))
        index = dir_size(os.path.join(data, "index"))
        print(f"SQLite: {a.posts} posts in {wall:.1f} s = {a.posts / wall:.0f} posts/s; CPU {cpu:.0f} s; "
              f"database {size / 1e6:.0f} MB, index {index / 1e6:.0f} MB; peak RSS {rss:.0f} MB "
              f"(anonymous {anon:.0f} MB, mapped files {filemap:.0f} MB)\n  {last}", flush=True)
    if a.pg:
        # A fresh database beside the one the URL names.
        db = "yuqing_ingest_bench"
        subprocess.run(["psql", a.pg, "-qc", f"DROP DATABASE IF EXISTS {db}"], check=True)
        subprocess.run(["psql", a.pg, "-qc", f"CREATE DATABASE {db}"], check=True)
        url = a.pg.rsplit("/", 1)[0] + "/" + db
        data_pg = os.path.join(a.work, "data-pg")
        shutil.rmtree(data_pg, ignore_errors=True)
        wall, rss, cpu, last, anon, filemap = run(["import", inp, "--database", url, "--data", data_pg,
                                                  "--batch", "2000"])
        size = subprocess.run(["psql", url, "-Atc", f"SELECT pg_database_size('{db}')"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        print(f"PostgreSQL: {a.posts} posts in {wall:.1f} s = {a.posts / wall:.0f} posts/s; CPU {cpu:.0f} s "
              f"(this process; the server's own CPU is not counted); database {int(size) / 1e6:.0f} MB; "
              f"peak RSS {rss:.0f} MB (anonymous {anon:.0f} MB, mapped files {filemap:.0f} MB)\n  {last}")


if __name__ == "__main__":
    main()
