#!/usr/bin/env python3
"""Memory per connection: the gateway's resident set (RSS) at rest, holding 1,000 idle
keep-alive connections (each has carried one request), and at its peak under 256
concurrent 4 KiB GETs. Figures go to BENCHMARKS.md.

    scripts/bench-memory.py [IDLE_CONNECTIONS, default 1000] [CONCURRENT_GETS, default 256]

Needs `cargo build --release` first.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target/release/sealgate"
ACCESS, SECRET = "AKIABENCHMEMORY00001", "bench-memory-secret"
ENV = dict(os.environ, SEALGATE_ROOT_ACCESS_KEY=ACCESS, SEALGATE_ROOT_SECRET_KEY=SECRET,
           AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET, SEALGATE_LOG="warn")


def rss_mib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def settle(pid):
    """RSS once it stops moving (allocators return memory lazily)."""
    last = rss_mib(pid)
    for _ in range(20):
        time.sleep(0.25)
        now = rss_mib(pid)
        if abs(now - last) < 0.05:
            return now
        last = now
    return last


def main():
    idle = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    concurrent = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    work = Path(tempfile.mkdtemp(prefix="sealgate-memory-"))
    log = work / "gw.log"
    gw = subprocess.Popen([str(BIN), "serve", "--listen", "127.0.0.1:0", "--admin-listen",
                           "127.0.0.1:0", "--data-dir", str(work / "data")],
                          env=ENV, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        while not (m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())):
            time.sleep(0.02)
        port = int(m.group(1))
        endpoint = f"http://127.0.0.1:{port}"
        # Warm up: a bucket, and the code paths of a GET.
        bench = [str(BIN), "bench", "--endpoint", endpoint, "--bucket", "memory", "--size", "4KiB"]
        subprocess.run(bench + ["--op", "get", "--count", "200"], env=ENV, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        at_rest = settle(gw.pid)
        conns = []
        for _ in range(idle):
            s = socket.create_connection(("127.0.0.1", port))
            # Unsigned: answered 403, and the connection stays open for the next request.
            s.sendall(b"GET /memory HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reply = s.recv(65536)
            assert reply.startswith(b"HTTP/1.1 403"), reply[:80]
            conns.append(s)
        holding = settle(gw.pid)
        still_open = sum(1 for s in conns if s.fileno() >= 0)
        for s in conns:
            s.close()
        after_idle = settle(gw.pid)
        peak = [0.0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_mib(gw.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        subprocess.run(bench + ["--op", "get", "--concurrency", str(concurrent), "--duration",
                                "10s"], env=ENV, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        done.set()
        sampler.join()
        after_load = settle(gw.pid)
        print(f"at rest after warm-up:            {at_rest:8.1f} MiB")
        print(f"holding {still_open} idle connections:   {holding:8.1f} MiB "
              f"(+{(holding - at_rest) * 1024 / idle:.1f} KiB each)")
        print(f"after closing them:               {after_idle:8.1f} MiB")
        print(f"peak under {concurrent} concurrent GETs:   {peak[0]:8.1f} MiB "
              f"(+{(peak[0] - at_rest) * 1024 / concurrent:.1f} KiB per connection)")
        print(f"after that load:                  {after_load:8.1f} MiB")
    finally:
        gw.terminate()
        gw.wait()


if __name__ == "__main__":
    main()
