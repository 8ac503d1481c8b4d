#!/usr/bin/env python3
"""Analysis benchmarks, measured the way an operator runs `yuqing analyze`: whole processes,
start-up included, medians of repeated runs, ratios against the Python baseline in the same run.

Usage (from the repository root, after `cargo build --release`):
    python3 benches/bench.py --messages ../shared/corpus/govmsg/tipdm2020c_fj3_hot_topics_full.jsonl \
        --baseline ../shared/bench/py_baseline.py --python ~/.venvs/pyb/bin/python [--reps 5]

It writes its inputs and scratch configurations under --work (default /tmp/yuqing-bench) and prints
a Markdown summary for BENCHMARKS.md. The messages are used only as benchmark input, never committed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YUQING = os.path.join(ROOT, "target", "release", "yuqing")


def run(cmd, stdout=subprocess.DEVNULL):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return time.perf_counter() - t, p.stderr


def peak_rss_kb(cmd):
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(p.stderr.strip().splitlines()[-1])


def first_line_latency(cmd, stdin_path):
    """Seconds from exec to the first byte of output."""
    with open(stdin_path, "rb") as f:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        p.stdout.readline()
        dt = time.perf_counter() - t
        p.stdout.read()
        p.wait()
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", required=True)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--work", default="/tmp/yuqing-bench")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--core", default="0")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    pin = ["taskset", "-c", args.core]

    # Input: 800 messages repeated 20 times.
    with open(args.messages, encoding="utf-8") as f:
        lines = [l for l in f if l.strip()][:800]
    inp = os.path.join(args.work, "input.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for _ in range(20):
            f.writelines(lines)
    one = os.path.join(args.work, "one.jsonl")
    with open(one, "w", encoding="utf-8") as f:
        f.write(lines[0])
    text_bytes = 0
    for l in lines:
        r = json.loads(l)
        text_bytes += len((((r.get("title") or "") + "\n" + (r.get("body") or "")).strip()).encode("utf-8"))
    text_bytes *= 20
    file_bytes = os.path.getsize(inp)

    cfg, dic = os.path.join(ROOT, "config"), os.path.join(ROOT, "dictionaries")
    base = [YUQING, "analyze", "--config", cfg, "--dictionaries", dic]

    # Python baseline, pinned, once (it takes minutes).
    _, err = run(pin + [args.python, args.baseline, inp, "--quiet", "--topics", "200"])
    py = dict(kv.split("=") for kv in err.strip().splitlines()[-1].split())
    py_mbs = float(py["mb_per_s"])

    one_core = [run(pin + base + [inp])[0] for _ in range(args.reps)]
    all_cores = [run(base + [inp])[0] for _ in range(args.reps)]
    t1, ta = statistics.median(one_core), statistics.median(all_cores)
    mbs1, mbsa = text_bytes / 1e6 / t1, text_bytes / 1e6 / ta

    # Rule scaling: 10 vs 5,000 generated topics, interleaved, pinned.
    # A control: 5,000 topics over words absent from the input (rules that never match).
    scale = {}
    for n in (10, 5000, "5000-absent"):
        d = os.path.join(args.work, f"cfg{n}")
        count = "5000" if n == "5000-absent" else str(n)
        extra = ["--absent"] if n == "5000-absent" else []
        run([YUQING, "rules", "synth", "--config", cfg, "--dictionaries", dic, "--input", inp, "--topics", count, "--out", d] + extra)
        scale[n] = {"dir": d, "times": []}
    for _ in range(args.reps):
        for n in (10, 5000, "5000-absent"):
            t, _ = run(pin + [YUQING, "analyze", "--config", scale[n]["dir"], "--dictionaries", dic, inp])
            scale[n]["times"].append(t)
    for n in (10, 5000, "5000-absent"):
        out = os.path.join(args.work, f"out{n}.jsonl")
        with open(out, "w") as f:
            run([YUQING, "analyze", "--config", scale[n]["dir"], "--dictionaries", dic, inp], stdout=f)
        fired = posts = 0
        with open(out, encoding="utf-8") as f:
            for l in f:
                r = json.loads(l)
                posts += 1
                fired += sum(1 for d in r["departments"] for t in d["topics"] if t["id"].startswith("synth."))
        scale[n]["fired"] = fired / max(posts, 1)
    s10, s5k = statistics.median(scale[10]["times"]), statistics.median(scale[5000]["times"])
    sabs = statistics.median(scale["5000-absent"]["times"])

    startup = [first_line_latency(pin + base, one) for _ in range(7)]
    rss = peak_rss_kb(pin + base + [inp])

    print(f"date: {time.strftime('%Y-%m-%d')}; input: {len(lines)} messages x 20 = {file_bytes/1e6:.2f} MB JSON, "
          f"{text_bytes/1e6:.2f} MB of title+body text; reps: {args.reps}")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| Python baseline (pinned, HMM, --topics 200), text MB/s | {py_mbs:.3f} |")
    print(f"| yuqing analyze, 1 core (taskset), whole process, median s | {t1:.2f} (runs {', '.join(f'{x:.2f}' for x in one_core)}) |")
    print(f"| yuqing analyze, 1 core, text MB/s | {mbs1:.2f} |")
    print(f"| **ratio, 1 core vs baseline** | **{mbs1/py_mbs:.1f}x** |")
    print(f"| yuqing analyze, all cores ({os.cpu_count()}), median s / text MB/s | {ta:.2f} / {mbsa:.2f} ({mbsa/py_mbs:.1f}x) |")
    print(f"| rule scaling, 10 topics, median s (topics fired per post) | {s10:.2f} ({scale[10]['fired']:.2f}) |")
    print(f"| rule scaling, 5,000 topics, median s (topics fired per post) | {s5k:.2f} ({scale[5000]['fired']:.2f}) |")
    pairs = sorted(b / a for a, b in zip(scale[10]["times"], scale[5000]["times"]))
    print(f"| **5,000-topic run / 10-topic run** (ratio of the medians) | **{s5k/s10:.3f}** |")
    print(f"| the same, median of the {len(pairs)} adjacent-run ratios (min–max) | {statistics.median(pairs):.3f} ({pairs[0]:.3f}–{pairs[-1]:.3f}) |")
    print(f"| control: 5,000 topics over absent words, median s (fired per post) / ratio | {sabs:.2f} ({scale['5000-absent']['fired']:.2f}) / {sabs/s10:.3f} |")
    print(f"| start-up: exec to first output line, one-line input, median of 7 | {statistics.median(startup)*1000:.0f} ms |")
    print(f"| peak RSS on the throughput input, 1 core | {rss/1024:.0f} MB |")


if __name__ == "__main__":
    main()
