#!/usr/bin/env python3
"""CPU cost per request: the server's own CPU time (user + system, all threads, from
/proc/PID/stat through `sealgate bench --server-pid`) per 4 KiB PUT and GET under SSE-S3
and SSE-KMS, and per GiB sealed and opened (64 MiB objects), next to s3s-fs (the same S3
framework, no encryption, no fsync) in the same run. Figures go to BENCHMARKS.md.

    scripts/bench-cpu.py [SMALL_OPS, default 20000] [LARGE_OBJECTS, default 32]

SEALGATE_SERVER_BIN=path measures another build of the gateway (a baseline) instead.

Needs `cargo build --release` and s3s-fs (`cargo install s3s-fs --version 0.14.1 --features
binary`; path in $S3S_FS).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target/release/sealgate"
# Another build of the gateway to measure (the load generator stays this one's).
SERVER_BIN = os.environ.get("SEALGATE_SERVER_BIN") or str(BIN)
S3S_FS = os.environ.get("S3S_FS") or shutil.which("s3s-fs") or str(Path.home() / ".cargo/bin/s3s-fs")
ACCESS, SECRET = "AKIABENCHCPU00000001", "bench-cpu-secret"
ENV = dict(os.environ, SEALGATE_ROOT_ACCESS_KEY=ACCESS, SEALGATE_ROOT_SECRET_KEY=SECRET,
           AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET, SEALGATE_LOG="warn",
           RUST_LOG="s3s_fs=info")


def start(cmd, log, pattern):
    proc = subprocess.Popen(cmd, env=ENV, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    while not (m := re.search(pattern, Path(log).read_text())):
        if proc.poll() is not None:
            sys.exit(f"{cmd[0]} exited: {Path(log).read_text()}")
        time.sleep(0.02)
    return proc, f"http://127.0.0.1:{m.group(1)}"


def run(proc, endpoint, op, size, sse, count, concurrency):
    out = Path(tempfile.mktemp(suffix=".json"))
    subprocess.run([str(BIN), "bench", "--endpoint", endpoint, "--bucket", "cpu", "--op", op,
                    "--size", size, "--sse", sse, "--count", str(count), "--concurrency",
                    str(concurrency), "--server-pid", str(proc.pid), "--json", str(out)],
                   env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    out.unlink()
    return report


def server(name, work):
    """A fresh server: no other run's objects, and no collection of them, in its figures."""
    data = Path(tempfile.mkdtemp(dir=work))
    if name == "sealgate":
        return start([SERVER_BIN, "serve", "--listen", "127.0.0.1:0", "--admin-listen",
                      "127.0.0.1:0", "--data-dir", str(data)],
                     data / "log", r"sealgate listening on http://127\.0\.0\.1:(\d+)")
    (data / "s3").mkdir()
    return start([S3S_FS, "--host", "127.0.0.1", "--port", "0", "--access-key", ACCESS,
                  "--secret-key", SECRET, str(data / "s3")],
                 data / "log", r"running at http://127\.0\.0\.1:(\d+)")


def main():
    small = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    large = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    work = Path(tempfile.mkdtemp(prefix="sealgate-cpu-"))
    cases = [("sealgate", "sse-s3"), ("sealgate", "sse-kms"), ("s3s-fs", "none")]
    print("CPU time of the server, user + system (user alone in brackets)\n")
    print("| server | SSE | 4 KiB PUT µs/op | 4 KiB GET µs/op | sealed s/GiB | opened s/GiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    try:
        for name, sse in cases:
            cells = []
            for op, size, count, conc in [("put", "4KiB", small, 16), ("get", "4KiB", small, 16),
                                          ("put", "64MiB", large, 4), ("get", "64MiB", large, 4)]:
                proc, endpoint = server(name, work)
                try:
                    cpu = run(proc, endpoint, op, size, sse, count, conc)["server_cpu"]
                finally:
                    proc.terminate()
                    proc.wait()
                if size == "4KiB":
                    cells.append(f"{cpu['us_per_op']:.0f} ({cpu['user_us_per_op']:.0f})")
                else:
                    cells.append(f"{cpu['s_per_gib']:.2f} ({cpu['user_s_per_gib']:.2f})")
            print(f"| {name} | {sse} | " + " | ".join(cells) + " |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
