#!/usr/bin/env python3
"""Search latency over a store: 200 typical queries (a subject word and an event word of the
county's own topic rules, or one word alone, chosen deterministically) run by
`yuqing search --queries`, which reports p50/p99 per query inside one process; plus the index
size and the `reindex` time.

    cargo build --release
    python3 benches/ingest_bench.py --messages … --posts 1000000      # fills /tmp/yuqing-ingest/data
    python3 benches/search_bench.py --data /tmp/yuqing-ingest/data
"""
import argparse, os, random, resource, subprocess, sys, time, tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YUQING = os.path.join(ROOT, "target", "release", "yuqing")


def queries(n=200, seed=7):
    subjects, events = [], []
    rules = os.path.join(ROOT, "config", "rules")
    for f in sorted(os.listdir(rules)):
        with open(os.path.join(rules, f), "rb") as fh:
            for t in tomllib.load(fh).get("topic", []):
                subjects += [w for w in t.get("subject", []) if "*" not in w and 2 <= len(w) <= 4]
                events += [w for w in t.get("event", []) if "*" not in w and 2 <= len(w) <= 4]
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        if rng.random() < 0.3:
            out.append(rng.choice(subjects + events))
        else:
            out.append(rng.choice(subjects) + rng.choice(events))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    t = time.perf_counter()
    r = subprocess.run([YUQING, "reindex", "--data", a.data], capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr)
    reindex = time.perf_counter() - t
    reindex_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    idx = os.path.join(a.data, "index")
    size = sum(os.path.getsize(os.path.join(idx, f)) for f in os.listdir(idx))
    qf = os.path.join(a.data, "queries.txt")
    with open(qf, "w", encoding="utf-8") as f:
        f.write("\n".join(queries()) + "\n")
    r = subprocess.run([YUQING, "search", "--queries", qf, "--data", a.data, "--limit", "20"], capture_output=True, text=True)
    print(r.stderr.strip().splitlines()[-1])
    print(f"index {size / 1e6:.0f} MB in {len(os.listdir(idx))} files; reindex {reindex:.1f} s, "
          f"peak RSS {reindex_rss:.0f} MB")


if __name__ == "__main__":
    main()
