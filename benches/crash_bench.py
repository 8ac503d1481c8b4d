#!/usr/bin/env python3
"""Crash safety of `yuqing run`: SIGKILL at uniformly random moments during active ingestion from
a fixture site, restarting each time; afterwards the stored item ids must equal the fixture's
manifest (none missing, none twice) and the search index's document ids the store's.

    cargo build --release -p yuqing-app -p yuqing-testkit
    python3 benches/crash_bench.py [--kills 20] [--feeds 2000] [--items 30] [--latency-ms 30]

The fixture serves FEEDS RSS feeds of ITEMS distinct posts each (every response delayed by
LATENCY ms); enough work that every kill falls while work is left (the script counts those). Each cycle starts `yuqing run` on SQLite with 2-second leases (so a killed worker's
sources come back quickly), waits until this run has stored its first post (ingestion is active),
then a uniformly random 0–2 s more, and kills it with SIGKILL. A last
run goes to the end of the work and is stopped with SIGTERM; then the store is read with Python's
sqlite3 and `yuqing reindex --check` compares the index with it.
"""
import argparse, os, random, shutil, signal, sqlite3, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")


def sources_toml(url, feeds):
    out = ["[fetch]\nper_host_requests_per_sec = 500.0\nper_host_concurrency = 32\n"]
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


def stored(db):
    if not os.path.exists(db):
        return 0
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        n = c.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
        c.close()
        return n
    except sqlite3.Error:
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--feeds", type=int, default=2000)
    ap.add_argument("--items", type=int, default=30)
    ap.add_argument("--latency-ms", type=int, default=30)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="yuqing-crash-")
    manifest, log = os.path.join(tmp, "manifest.txt"), os.path.join(tmp, "requests.log")
    site = subprocess.Popen([os.path.join(REL, "fixture-site"), "--feeds", str(a.feeds), "--items", str(a.items),
                             "--latency-ms", str(a.latency_ms), "--manifest", manifest, "--log", log],
                            stdout=subprocess.PIPE, text=True)
    url = site.stdout.readline().strip()
    cfg = os.path.join(tmp, "config")
    shutil.copytree(os.path.join(ROOT, "config"), cfg)
    shutil.rmtree(os.path.join(cfg, "sources"))
    os.makedirs(os.path.join(cfg, "sources"))
    open(os.path.join(cfg, "sources", "fixture.toml"), "w").write(sources_toml(url, a.feeds))
    data = os.path.join(tmp, "data")
    db = os.path.join(data, "yuqing.db")
    cmd = [os.path.join(REL, "yuqing"), "--config", cfg, "--dictionaries", os.path.join(ROOT, "dictionaries"),
           "run", "--data", data, "--lease-secs", "2", "--worker", "crash-bench"]
    print(f"seed {a.seed}; {a.feeds} feeds x {a.items} items = {a.feeds * a.items} posts; work in {tmp}")
    errs = open(os.path.join(tmp, "run.log"), "w")
    active = 0
    try:
        for i in range(a.kills):
            before = stored(db)
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errs)
            started = time.time()
            while stored(db) == before and time.time() - started < 60:
                time.sleep(0.02)
            storing = stored(db)
            wait = rng.uniform(0.0, 2.0)
            time.sleep(wait)
            p.send_signal(signal.SIGKILL)
            p.wait()
            after = stored(db)
            active += storing > before and after < a.feeds * a.items
            print(f"kill {i + 1:2}: {wait:.2f} s after the first post of this run; posts {before} -> {after}")
        total = a.feeds * a.items
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errs)
        deadline = time.time() + 600
        while stored(db) < total and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # one more indexing pass, then a clean stop
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=120)
    finally:
        site.terminate()
    want = sorted(l.strip() for l in open(manifest) if l.strip())
    c = sqlite3.connect(db)
    got = sorted(r[0] for r in c.execute("SELECT item_id FROM posts"))
    keys = sorted(r[0] for r in c.execute("SELECT item_id FROM post_items"))
    c.close()
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    twice = len(got) - len(set(got))
    print(f"\n{a.kills} kills, {active} of them during active ingestion (posts stored in the run, work left)")
    print(f"manifest {len(want)}; posts {len(got)} ({twice} twice); post_items {len(keys)}; "
          f"missing {len(missing)} {missing[:5]}; not in manifest {len(extra)} {extra[:5]}")
    check = subprocess.run([os.path.join(REL, "yuqing"), "--config", cfg, "--dictionaries",
                            os.path.join(ROOT, "dictionaries"), "reindex", "--check", "--data", data],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    print(f"index check: {check.stdout.strip()} (exit {check.returncode})")
    ok = got == want and keys == want and check.returncode == 0
    print("PASS" if ok else "FAIL")
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
