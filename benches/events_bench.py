#!/usr/bin/env python3
"""Clustering quality on real citizen messages: the 4,326 messages of the 2020 TipDM contest's
hot-topic set (attachment 3, an anonymised city's message board) are imported with their times
and likes; the event builder groups them; the top events by heat are printed with their sizes and
titles. The contest's published top issue there was a car-loan fraud case (58车贷).

    cargo build --release
    python3 benches/events_bench.py --messages ../shared/corpus/govmsg/tipdm2020c_fj3_hot_topics_full.jsonl

The converted input and the database stay in --work (default /tmp/yuqing-events); nothing is
committed (the corpus is for evaluation only).
"""
import argparse, json, os, shutil, subprocess, sys, time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YUQING = os.path.join(ROOT, "target", "release", "yuqing")


def parse_time(s):
    s = s.strip().replace("-", "/")
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d"):
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            pass
    raise ValueError(f"unreadable time {s!r}")


def convert(src, out):
    n = 0
    with open(src, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as g:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            t = parse_time(r["time"])
            g.write(json.dumps({
                "id": r["id"], "title": r.get("title") or "", "body": r.get("body") or "",
                "source": "board", "published_at": t.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                "likes": int(r.get("likes") or 0),
            }, ensure_ascii=False) + "\n")
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", required=True)
    ap.add_argument("--work", default="/tmp/yuqing-events")
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    src = os.path.join(a.work, "messages.jsonl")
    n = convert(a.messages, src)
    data = os.path.join(a.work, "data")
    t = time.perf_counter()
    p = subprocess.run([YUQING, "import", src, "--data", data], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.exit(p.stderr)
    print(p.stderr.strip().splitlines()[-2] if p.stderr.strip() else "")
    print(f"{n} messages imported and clustered in {wall:.1f} s")
    out = subprocess.run([YUQING, "events", "--json", "--limit", str(a.top), "--data", data],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    events = [json.loads(l) for l in out.splitlines() if l.strip()]
    allv = subprocess.run([YUQING, "events", "--json", "--limit", "100000", "--data", data],
                          capture_output=True, text=True, cwd=ROOT, check=True).stdout
    sizes = [json.loads(l)["posts"] for l in allv.splitlines() if l.strip()]
    multi = [s for s in sizes if s > 1]
    print(f"{len(sizes)} events; {len(multi)} with more than one message, holding {sum(multi)} messages; "
          f"largest {max(sizes) if sizes else 0}")
    print(f"\ntop {len(events)} by heat:")
    for i, e in enumerate(events, 1):
        print(f"{i:>2}. heat {e['heat']:.1f}  {e['posts']:>3} messages +{e['copies']:>3} copies  {e['engagement']:>5} likes  "
              f"{e['level'] or '-':<6}  "
              f"{e['first_at'][:10]}..{e['last_at'][:10]}  {e['title'][:60]}")


if __name__ == "__main__":
    main()
