#!/usr/bin/env python3
"""Scale curves of one gateway on its SQLite catalog: the figures of BENCHMARKS.md's "Cost at
scale" section, at each bucket size in turn (one data directory, filled further each step).

    scripts/bench-scale.py [--sizes 10000,100000,1000000,10000000] [--baseline OLD_BINARY]

The bucket is filled by `cargo bench --bench scale_fill` (the catalog's own commits, without
blobs: see that file) with keys over 1,000 "directories"; HEAD, GET and PUT work on a few
real objects under another prefix of the same bucket. --baseline runs the listings of an
older binary on the same data, in the same run. Needs `cargo build --release` first.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target/release/sealgate"
ACCESS, SECRET = "AKIABENCHSCALE000001", "bench-scale-secret"
BUCKET, PREFIX, FANOUT = "scale", "data/", 1000
ENV = dict(os.environ, SEALGATE_ROOT_ACCESS_KEY=ACCESS, SEALGATE_ROOT_SECRET_KEY=SECRET,
           AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET, SEALGATE_LOG="warn")


class Gateway:
    """A gateway on `data`; `started_s` is the time from exec to an open listener."""

    def __init__(self, binary, data, log):
        self.log = log
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
             "--data-dir", str(data)],
            env=ENV, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        while True:
            m = re.search(r"sealgate listening on (http://127\.0\.0\.1:\d+)", Path(log).read_text())
            if m:
                self.started_s = time.monotonic() - began
                self.endpoint = m.group(1)
                return
            if self.proc.poll() is not None:
                sys.exit(f"gateway exited: {Path(log).read_text()}")
            time.sleep(0.005)

    def rss_mib(self):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=120)


def bench(gw, op, *args, seconds=5):
    out = Path(tempfile.mktemp(suffix=".json"))
    # A page of an old binary's listing may take long on a large bucket.
    cmd = [str(BIN), "bench", "--endpoint", gw.endpoint, "--bucket", BUCKET, "--op", op,
           "--json", str(out), "--timeout", "600s", *args]
    if "--count" not in args:
        cmd += ["--duration", f"{seconds}s"]
    subprocess.run(cmd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    out.unlink()
    kind = {"list-versions": "list", "populate": "put"}.get(op, op)
    return report["by_op"][kind]


def listings(gw, count=None):
    """p50 ms of a 1,000-key page, with and without a delimiter, and of ListObjectVersions."""
    limit = ["--count", str(count)] if count else []
    row = {}
    for name, op, extra in [("list", "list", []), ("list_delim", "list", ["--delimiter", "/"]),
                            ("list_versions", "list-versions", [])]:
        s = bench(gw, op, "--prefix", PREFIX, "--concurrency", "1", *extra, *limit)
        row[name] = s["latency_ms"]["p50"]
    return row


def fill(data, first, count):
    subprocess.run(["cargo", "bench", "-q", "--bench", "scale_fill", "--", str(data), BUCKET,
                    PREFIX, str(first), str(count), str(FANOUT)],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def catalog_bytes(data):
    return sum(p.stat().st_size for p in data.glob("catalog.sqlite*"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000")
    ap.add_argument("--baseline", help="an older sealgate binary to compare listings with")
    ap.add_argument("--work", help="directory to keep the data in (default: a temporary one)")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="sealgate-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    gw = Gateway(BIN, data, work / "gw.log")
    bench(gw, "populate", "--count", "1", "--prefix", "seed/", "--size", "0")
    gw.stop()
    have, rows = 0, []
    for n in sizes:
        started = time.monotonic()
        fill(data, have, n - have)
        fill_s = time.monotonic() - started
        have = n
        gw = Gateway(BIN, data, work / "gw.log")
        row = {"objects": n, "fill_s": round(fill_s, 1), "start_clean_s": gw.started_s}
        row.update(listings(gw))
        probe = ["--prefix", "probe/", "--concurrency", "1", "--size", "4KiB"]
        row["head"] = bench(gw, "head", *probe)["latency_ms"]["p50"]
        row["get_4k"] = bench(gw, "get", *probe)["latency_ms"]["p50"]
        put = bench(gw, "put", "--prefix", "probe/", "--concurrency", "8", "--size", "4KiB")
        row["put_4k_ops"] = put["ops_per_s"]
        row["rss_mib"] = gw.rss_mib()
        gw.stop()
        row["catalog_bytes_per_object"] = catalog_bytes(data) / n
        # Killed in the middle of PUTs, then started again.
        gw = Gateway(BIN, data, work / "gw.log")
        load = subprocess.Popen(
            [str(BIN), "bench", "--endpoint", gw.endpoint, "--bucket", BUCKET, "--op", "put",
             "--prefix", "probe/", "--concurrency", "8", "--size", "4KiB", "--duration", "10s",
             "--keep"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        gw.stop(signal.SIGKILL)
        load.wait()
        gw = Gateway(BIN, data, work / "gw.log")
        row["start_after_kill_s"] = gw.started_s
        gw.stop()
        if args.baseline:
            old = Gateway(args.baseline, data, work / "old.log")
            # One page of the old walk can take many seconds: a few pages suffice.
            row["baseline"] = listings(old, count=3)
            old.stop()
        rows.append(row)
        print(json.dumps(row), flush=True)
    (work / "scale.json").write_text(json.dumps(rows, indent=1))
    print(f"data and figures in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
