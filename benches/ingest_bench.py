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


def run(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run([YUQING] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1):
        sys.exit(r.stderr[-3000:])
    return wall, after.ru_maxrss / 1024.0, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), r.stderr.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", required=True)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--work", default="/tmp/yuqing-ingest")
    ap.add_argument("--pg")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    inp = os.path.join(a.work, f"posts-{a.posts}.jsonl")
    if not os.path.exists(inp):
        generate(a.messages, a.posts, inp)
    data = os.path.join(a.work, "data")
    shutil.rmtree(data, ignore_errors=True)
    wall, rss, cpu, last = run(["import", inp, "--data", data, "--batch", "2000"])
    size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))
    print(f"SQLite: {a.posts} posts in {wall:.1f} s = {a.posts / wall:.0f} posts/s; CPU {cpu:.0f} s; "
          f"database {size / 1e6:.0f} MB; peak RSS {rss:.0f} MB\n  {last}")
    if a.pg:
        wall, rss, cpu, last = run(["import", inp, "--database", a.pg, "--batch", "2000"])
        print(f"PostgreSQL: {a.posts} posts in {wall:.1f} s = {a.posts / wall:.0f} posts/s; CPU {cpu:.0f} s; "
              f"peak RSS {rss:.0f} MB\n  {last}")


if __name__ == "__main__":
    main()
