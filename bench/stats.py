#!/usr/bin/env python3
"""Benchmark: `docker stats --no-stream` for 20 running containers, ketchd against dockerd.

Both daemons run privately (bench/engine.py starts them; ketchd on a bridge of its own)
with the same busybox image and --containers idle containers (`--network none`, as the
private dockerd has no bridge). Timed, as medians of -n interleaved runs: the docker CLI's
`stats --no-stream` against each daemon, `ketch stats --no-stream` against ketchd, and one
one-shot `GET /containers/{id}/stats` per container in a row (the daemon's own cost); also
the daemons' CPU time per `stats --no-stream`. `--no-stream` waits for a second sample on
purpose (dockerd's collector ticks each second; it answers after one to two ticks).
A benchmark, not a test: it asserts nothing.  Run as root:  python3 bench/stats.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import engine as bench_engine
from engine import Engine, start_dockerd, start_ketchd, teardown

BUSYBOX = Path("/var/cache/ketch/base/busybox.tar")
bench_engine.BENCH_BRIDGE = "ktbench-s"  # not bench/engine.py's: both may run at once


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def one_shot(engine: Engine, ids: list[str]) -> float:
    """One one-shot stats request per container, in a row, on one connection each."""
    start = time.perf_counter()
    for cid in ids:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(engine.socket))
            s.sendall(f"GET /v1.41/containers/{cid}/stats?stream=false&one-shot=true "
                      "HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            while s.recv(65536):
                pass
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="runs per timing (at most 20)")
    parser.add_argument("--containers", type=int, default=20)
    args = parser.parse_args()
    runs, count = max(1, min(args.n, 20)), max(1, min(args.containers, 50))
    if os.geteuid() != 0 or not BUSYBOX.exists():
        print("bench: run as root after install.sh (needs the busybox base image)")
        return 1
    engines: list[Engine] = []
    tops: list[Path] = []
    try:
        for maker, name in ((start_ketchd, "ketch"), (start_dockerd, "docker")):
            if name == "docker" and not shutil.which("dockerd"):
                print("docker: not installed (apt-get install docker.io) - ketch alone")
                continue
            top = Path(tempfile.mkdtemp(prefix=f"bench-stats-{name}-", dir="/tmp"))
            tops.append(top)
            engine = maker(top)
            engine.wait_ready()
            engine("import", "-c", 'CMD ["sh"]', str(BUSYBOX), "busybox:latest")
            engines.append(engine)
        docker = shutil.which("docker") or "docker"
        ketch = shutil.which("ketch") or "ketch"
        ids: dict[str, list[str]] = {}
        for engine in engines:
            for i in range(count):
                engine("run", "-d", "--network", "none", "--name", f"s{i}", "busybox",
                       "sleep", "600")
            ids[engine.name] = subprocess.run(
                [*engine.cli, "ps", "-q", "--no-trunc"], env=engine.env, capture_output=True,
                text=True, check=True).stdout.split()
        timings: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {e.name: [] for e in engines}

        def timed(key: str, engine: Engine, cli: str) -> None:
            before = cpu_seconds(engine.engine_pids())
            start = time.perf_counter()
            proc = subprocess.run([cli, "stats", "--no-stream"], env=engine.env,
                                  capture_output=True, text=True, timeout=60, check=False)
            timings.setdefault(key, []).append(time.perf_counter() - start)
            rows = len(proc.stdout.splitlines()) - 1
            if proc.returncode != 0 or rows != count:
                raise RuntimeError(f"{key}: {rows} rows, {proc.stderr[-300:]}")
            if cli == docker:
                cpu[engine.name].append(cpu_seconds(engine.engine_pids()) - before)

        for _ in range(runs):  # interleaved, so that load drift hits both alike
            for engine in engines:
                timed(f"docker stats --no-stream ({engine.name}d)", engine, docker)
                if engine.name == "ketch":
                    timed("ketch stats --no-stream (ketchd)", engine, ketch)
                timings.setdefault(f"{count} one-shot GETs ({engine.name}d)", []).append(
                    one_shot(engine, ids[engine.name]))
        print(f"{count} running containers, {runs} runs each (medians)")
        for key, samples in timings.items():
            print(f"  {key:42} {statistics.median(samples) * 1000:9.1f} ms")
        for engine in engines:
            print(f"  {'daemon CPU per docker stats (' + engine.name + 'd)':42} "
                  f"{statistics.median(cpu[engine.name]) * 1000:9.1f} ms")
        if len(engines) == 2:
            ratio = statistics.median(timings["docker stats --no-stream (ketchd)"]) / \
                statistics.median(timings["docker stats --no-stream (dockerd)"])
            gets = statistics.median(timings[f"{count} one-shot GETs (ketchd)"]) / \
                statistics.median(timings[f"{count} one-shot GETs (dockerd)"])
            print(f"ratio ketch / docker: docker stats --no-stream {ratio:.2f}, "
                  f"one-shot GETs {gets:.3g}")
        for engine in engines:
            engine("rm", "-f", *ids[engine.name], check=False)
    finally:
        teardown(engines, tops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
