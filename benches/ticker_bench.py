#!/usr/bin/env python3
"""Case clocks: restart safety of the ticker under SIGKILL, and the cost of a ticker pass.

    cargo build --release
    python3 benches/ticker_bench.py restart [--cases 10000] [--kills 10] [--spread 240]
    python3 benches/ticker_bench.py cost [--cases 100000] [--due 1000] [--pg postgres://postgres@127.0.0.1:5432/postgres]

restart: `yuqing case synth` opens --cases cases, each with a clock whose two warnings and breach
fall due over the next --spread seconds (three firings per case). `yuqing run` (which ticks every
5 s) is started and SIGKILLed at random moments --kills times, restarted each time, then left to
run until every firing is due and one more pass has run. Afterwards the audit log must hold
exactly one `clock.*` row per due firing (none missing, none twice), the outbox one row per
message of each firing, and `yuqing audit verify` must pass.

cost: --cases open cases with clocks due tomorrow (an idle pass scans nothing due: the median of
ten passes), then --due more cases whose three firings are all past (one pass fires them all).
On SQLite, and on PostgreSQL with --pg (a fresh database is created and dropped).
"""
import argparse, json, os, random, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YUQING = os.path.join(ROOT, "target", "release", "yuqing")
EMPTY_FEED = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>empty</title></channel></rss>'


def fixture():
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(EMPTY_FEED)))
            self.end_headers()
            self.wfile.write(EMPTY_FEED)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}"


def configure(tmp, url):
    cfg = os.path.join(tmp, "config")
    shutil.copytree(os.path.join(ROOT, "config"), cfg)
    shutil.rmtree(os.path.join(cfg, "sources"))
    os.makedirs(os.path.join(cfg, "sources"))
    open(os.path.join(cfg, "sources", "bench.toml"), "w").write(
        f'[[source]]\nid = "empty"\nname = "empty feed"\ntype = "feed"\nurl = "{url}/feed.xml"\n'
        'schedule = { every_secs = 60 }\nfetch = { allow_private_addresses = true }\n')
    return cfg


def yq(cfg, *args, db):
    p = subprocess.run([YUQING, "--config", cfg, "--dictionaries", os.path.join(ROOT, "dictionaries"), *args, *db],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"yuqing {' '.join(args)} failed: {p.stderr}")
    return p.stdout


def restart(a, tmp):
    url = fixture()
    cfg = configure(tmp, url)
    data = os.path.join(tmp, "data")
    db = ["--data", data]
    t = time.time()
    print(yq(cfg, "case", "synth", "--cases", str(a.cases), "--start-in", "20", "--spread", str(a.spread), db=db).strip())
    end = t + 20 + a.spread + 5
    log = open(os.path.join(tmp, "run.log"), "w")
    rng = random.Random(a.seed)

    def start():
        return subprocess.Popen([YUQING, "--config", cfg, "--dictionaries", os.path.join(ROOT, "dictionaries"), "run",
                                 "--data", data, "--worker", f"w{time.time_ns()}"], stdout=subprocess.DEVNULL, stderr=log)

    window = end - time.time()
    kills = sorted(time.time() + rng.uniform(0, window * 0.9) for _ in range(a.kills))
    p = start()
    for k, at in enumerate(kills, 1):
        time.sleep(max(0.0, at - time.time()))
        p.send_signal(signal.SIGKILL)
        p.wait()
        print(f"kill {k} at +{at - t:.1f} s")
        p = start()
    time.sleep(max(0.0, end - time.time()) + 12)  # every firing due, then two more passes
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)

    con = sqlite3.connect(os.path.join(data, "yuqing.db"))
    due = {}
    for cid, clock, warnings, due_at in con.execute("SELECT case_id, clock, warnings, due_at FROM case_clocks"):
        ws = json.loads(warnings)
        for i, w in enumerate(ws, 1):
            due[(cid, clock, f"warning:{i}")] = w
        due[(cid, clock, "breach")] = due_at
    fired = {}
    for cid, detail in con.execute("SELECT case_id, detail FROM audit_log WHERE action LIKE 'clock.%'"):
        d = json.loads(detail)
        k = (cid, d["clock"], d["firing"])
        fired[k] = fired.get(k, 0) + 1
    now_ms = int(time.time() * 1000)
    expected = {k for k, at in due.items() if at <= now_ms}
    missing = expected - set(fired)
    twice = {k: n for k, n in fired.items() if n > 1}
    claims = con.execute("SELECT COUNT(*) FROM clock_firings").fetchone()[0]
    outbox = con.execute("SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM deliveries WHERE case_id IS NOT NULL").fetchone()
    con.close()
    verify = subprocess.run([YUQING, "audit", "verify", "--data", data], capture_output=True, text=True)
    print(f"{a.cases} cases, {len(due)} firings, {len(expected)} due by the end; {a.kills} SIGKILLs")
    print(f"audit log: {sum(fired.values())} clock rows for {len(fired)} firings; missing {len(missing)}, "
          f"fired twice {len(twice)}; claims {claims}; outbox rows {outbox[0]} ({outbox[1]} distinct keys)")
    print(verify.stdout.strip() or verify.stderr.strip())
    ok = not missing and not twice and claims == len(fired) and outbox[0] == outbox[1] and verify.returncode == 0
    return ok


def cost(a, tmp):
    url = fixture()
    cfg = configure(tmp, url)
    backends = [("sqlite", ["--data", os.path.join(tmp, "data")], None)]
    if a.pg:
        name = f"yuqing_tickbench_{os.getpid()}"
        base = a.pg.rsplit("/", 1)[0]
        subprocess.run(["psql", a.pg, "-qc", f"CREATE DATABASE {name}"], check=True)
        backends.append(("postgres", ["--database", f"{base}/{name}"], name))
    ok = True
    try:
        for label, db, _ in backends:
            t = time.time()
            yq(cfg, "case", "synth", "--cases", str(a.cases), "--start-in", "86400", "--spread", "3600", db=db)
            seeded = time.time() - t
            idle = []
            for _ in range(10):
                out = yq(cfg, "case", "tick", db=db)
                idle.append(float(out.rsplit(",", 1)[1].split("ms")[0]))
            yq(cfg, "case", "synth", "--cases", str(a.due), "--start-in=-30", "--spread", "10", db=db)
            out = yq(cfg, "case", "tick", db=db).strip()
            busy = float(out.rsplit(",", 1)[1].split("ms")[0])
            fired = int(out.split(": ", 1)[1].split(" fired")[0])
            print(f"{label}: {a.cases} open clocks (seeded in {seeded:.0f} s); idle pass median {statistics.median(idle):.1f} ms "
                  f"(min {min(idle):.1f}, max {max(idle):.1f}); a pass firing {fired} due firings of {a.due} more cases: "
                  f"{busy:.0f} ms ({busy / max(fired, 1):.2f} ms per firing)")
            ok = ok and fired == 3 * a.due
    finally:
        for label, _, name in backends:
            if name:
                subprocess.run(["psql", a.pg, "-qc", f"DROP DATABASE IF EXISTS {name}"])
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["restart", "cost"])
    ap.add_argument("--cases", type=int)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--spread", type=int, default=240)
    ap.add_argument("--due", type=int, default=1000)
    ap.add_argument("--pg")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    a.cases = a.cases or (10000 if a.mode == "restart" else 100000)
    tmp = tempfile.mkdtemp(prefix=f"yuqing-ticker-{a.mode}-")
    print(f"work in {tmp}; seed {a.seed}")
    ok = restart(a, tmp) if a.mode == "restart" else cost(a, tmp)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
