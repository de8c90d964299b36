#!/usr/bin/env python3
"""The disk's floor for durable writes: append 4 KiB and fsync, in a loop, for a few seconds.

A durable PutSecretValue from one client needs at least one fsync per commit (SQLite WAL, synchronous=FULL),
so 1 / (fsync p50) bounds what one client can reach; group commit is how many clients go past it.
Usage: fsync-probe.py [DIR] [SECONDS]   (DIR defaults to $TMPDIR or /tmp, where `coffer server --dev` keeps its data)
"""
import os
import sys
import tempfile
import time

directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
fd, path = tempfile.mkstemp(prefix="fsync-probe-", dir=directory)
try:
    block = os.urandom(4096)
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        os.write(fd, block)
        start = time.perf_counter()
        os.fsync(fd)
        latencies.append(time.perf_counter() - start)
finally:
    os.close(fd)
    os.unlink(path)
latencies.sort()
n = len(latencies)
p50, p99 = latencies[n // 2], latencies[min(n - 1, int(n * 0.99))]
print(f"fsync of a 4 KiB append in {directory}: p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, "
      f"{n / seconds:,.0f} sequential fsyncs/s")
