#!/usr/bin/env python3
"""Negative-class precision/recall/F1 of the Python baseline's lexicon sentiment, for comparison
with `yuqing eval sentiment` on the same labelled sets in the same run.

It imports `../shared/bench/py_baseline.py` (its `load_lexicon`, `sentiment` and jieba) and labels a
text negative when the baseline's score is below zero.

Usage: python3 benches/sentiment_baseline.py BASELINE_DIR SET [SET ...]
where SET is a CSV with `label` (0 = negative) and `review` columns, or `neg=FILE` / `pos=FILE`
(one text per line; consecutive neg/pos text files are scored together, as yuqing does).
"""
import csv
import logging
import os
import sys


def read_set(spec):
    if "=" in spec and spec.split("=", 1)[0] in ("neg", "pos"):
        label, path = spec.split("=", 1)
        with open(path, encoding="utf-8") as f:
            return path, [(l.rstrip("\n"), label == "neg") for l in f if l.strip()]
    with open(spec, encoding="utf-8", newline="") as f:
        rows = [(r["review"], r["label"].strip() == "0") for r in csv.DictReader(f) if (r.get("review") or "").strip()]
    return spec, rows


def main():
    base = sys.argv[1]
    sys.path.insert(0, base)
    import py_baseline as pb  # noqa: E402

    pb.jieba.setLogLevel(logging.WARNING)
    pos, neg, deny = pb.load_lexicon(pb.LEXICON)
    merged = []
    for spec in sys.argv[2:]:
        name, rows = read_set(spec)
        if merged and name.endswith(".txt") and merged[-1][0].endswith(".txt"):
            merged[-1] = (merged[-1][0] + "+" + os.path.basename(name), merged[-1][1] + rows)
        else:
            merged.append((name, rows))
    print(f"{'set':<60} {'n':>6} {'neg_prec':>9} {'neg_rec':>9} {'neg_f1':>9}")
    for name, rows in merged:
        tp = fp = fn = 0
        for text, gold in rows:
            pred = pb.sentiment(pb.jieba.lcut(text), pos, neg, deny) < 0
            tp += gold and pred
            fp += (not gold) and pred
            fn += gold and not pred
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        print(f"{name:<60} {len(rows):>6} {p:>9.3f} {r:>9.3f} {f:>9.3f}")


if __name__ == "__main__":
    main()
