#!/usr/bin/env python3
"""Article-extraction benchmark: our extractor against the Python `trafilatura` package, in one run.

It measures, on the saved pages of the corpus index, the title accuracy and the body score (F1 on
text truth, snippet score on snippet-only truth) of both extractors. Both are scored by the same
Rust code (`yuqing eval extract`); trafilatura's output is handed to it with `--predictions`. It also
reports the total wall time each extractor took: for ours the whole `eval extract` process (start-up,
extraction and scoring), for trafilatura its extraction calls in this process (import excluded).

The corpus pages are only read; nothing from them is copied into the repository (the trafilatura
predictions go to a temporary file that is removed afterwards).

Run it from the repository root with the interpreter of a venv holding trafilatura:
    python3 -m venv ~/.venvs/traf && ~/.venvs/traf/bin/pip install trafilatura lxml_html_clean
    ~/.venvs/traf/bin/python benches/extract_bench.py [--lang zh|all] [--index ...] [--yuqing ...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import trafilatura

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_yuqing():
    """The newer of the release and debug builds (a stale release build may lack `eval extract`)."""
    builds = [os.path.join(ROOT, "target", k, "yuqing") for k in ("release", "debug")]
    builds = [b for b in builds if os.path.exists(b)]
    return max(builds, key=os.path.getmtime) if builds else "yuqing"


def run_eval(yuqing, index, lang, predictions=None):
    """Runs `eval extract --json`; returns (wall seconds, {file: page score}, summary)."""
    cmd = [yuqing, "eval", "extract", "--index", index, "--json"]
    cmd += ["--lang", lang] if lang != "all" else []
    cmd += ["--predictions", predictions] if predictions else []
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return took, {r["file"]: r for r in rows if "file" in r}, rows[-1]["summary"]


def trafilatura_extract(data):
    """(title, body) of one page by trafilatura; Document (2.x) or dict (older / as_dict) results."""
    doc = trafilatura.bare_extraction(data, with_metadata=True, favor_precision=False, favor_recall=False)
    if doc is None:
        return "", ""
    if isinstance(doc, dict):
        return doc.get("title") or "", doc.get("text") or ""
    return getattr(doc, "title", None) or "", getattr(doc, "text", None) or ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default=os.path.join(ROOT, "..", "shared", "corpus", "html", "INDEX.jsonl"))
    ap.add_argument("--lang", default="zh", help="language prefix, or `all`")
    ap.add_argument("--yuqing", default=default_yuqing())
    a = ap.parse_args()
    corpus = os.path.dirname(os.path.dirname(os.path.abspath(a.index)))
    with open(a.index, encoding="utf-8") as f:
        pages = [json.loads(l) for l in f if l.strip()]
    pages = [p for p in pages if a.lang == "all" or p.get("lang", "").startswith(a.lang)]

    traf_time, preds = 0.0, []
    for p in pages:
        with open(os.path.join(corpus, p["file"]), "rb") as f:
            data = f.read()
        t = time.perf_counter()
        title, body = trafilatura_extract(data)
        traf_time += time.perf_counter() - t
        preds.append({"file": p["file"], "title": title, "body": body})
    fd, pred_path = tempfile.mkstemp(prefix="traf-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in preds)
        ours_time, ours, ours_sum = run_eval(a.yuqing, a.index, a.lang)
        score_time, traf, traf_sum = run_eval(a.yuqing, a.index, a.lang, pred_path)
    finally:
        os.remove(pred_path)

    fmt = lambda x: "-" if x is None else f"{x:.3f}"
    print(f"| page ({a.lang}) | truth | ours body | trafilatura body |\n|---|---|---:|---:|")
    for file, r in ours.items():
        if r["body"] is not None:
            print(f"| {file} | {r['truth']} | {fmt(r['body'])} | {fmt(traf[file]['body'])} |")
    print(f"\n| | ours | trafilatura {trafilatura.__version__} |\n|---|---:|---:|")
    print(f"| mean body score ({ours_sum['scored']} pages) | {ours_sum['mean_body']:.4f} | {traf_sum['mean_body']:.4f} |")
    print(f"| title accuracy ({ours_sum['titled']} pages) | {ours_sum['title_accuracy']:.3f} | {traf_sum['title_accuracy']:.3f} |")
    print(f"| wall seconds, {ours_sum['pages']} pages | {ours_time:.3f} | {traf_time:.3f} |")
    print(f"\nyuqing: {os.path.relpath(a.yuqing, ROOT)}; scoring trafilatura's output alone took {score_time:.3f} s "
          f"(part of ours' time is this scoring); pages selected {len(pages)}.")


if __name__ == "__main__":
    main()
