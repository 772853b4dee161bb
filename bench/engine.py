#!/usr/bin/env python3
"""Benchmark: ketch (ketchd + ketch CLI) against Docker (dockerd + docker CLI) on this machine.

Both daemons run privately (own data roots and sockets) and get the same busybox
image. Printed: medians and ratios for `run --rm busybox true`, 50 sequential
`run -d`, `ps -a` with 50 containers, `images`, `inspect`, `exec true`, the engines' memory
(PSS) per idle running container and when idle, `--version`, `stop` of a container that
ends on SIGTERM, and `logs` of 200k lines. Docker is
needed only to compare (apt-get install docker.io); it is never a dependency.
A benchmark, not a test: it asserts nothing.  Run as root:  python3 bench/engine.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSYBOX = Path("/var/cache/ketch/base/busybox.tar")


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return found


class Engine:
    def __init__(self, name: str, cli: list[str], top: Path) -> None:
        self.name = name
        self.cli = cli
        self.top = top
        self.socket = top / "engine.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        host = f"unix://{self.socket}"
        return {**os.environ, "DOCKER_HOST": host, "KETCH_HOST": host,
                "KETCH_NO_AUTOSTART": "1"}

    def __call__(self, *args: str, check: bool = True) -> float:
        start = time.perf_counter()
        proc = subprocess.run([*self.cli, *args], env=self.env, capture_output=True,
                              check=False)
        elapsed = time.perf_counter() - start
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {proc.stderr.decode()[-300:]}")
        return elapsed

    def wait_ready(self) -> None:
        for _ in range(300):
            if self.socket.exists() and self("version", check=False) < 5 and \
                    subprocess.run([*self.cli, "version"], env=self.env,
                                   capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def engine_pids(self) -> list[int]:
        """The daemon and everything it started except the containers' own processes."""
        assert self.proc is not None
        pids = descendants(self.proc.pid)
        if self.name == "ketch":  # the supervisor runs in a session of its own
            pids += descendants(_supervisor_pid(self.top / "exec" / "supervisor.sock"))
        return [p for p in set(pids) if _is_engine(p)]


def _supervisor_pid(path: Path) -> int:
    import json
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(b'{"op": "ping"}\n')
        return int(json.loads(s.recv(4096))["pid"])


def _is_engine(pid: int) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return any(word in exe for word in ("python", "dockerd", "containerd"))


BENCH_BRIDGE = "ktbench-e"  # not the machine's ketch0: its own bridge and nftables table


def start_ketchd(top: Path) -> Engine:
    engine = Engine("ketch", [shutil.which("ketch") or "ketch"], top)
    (top / "daemon.json").write_text(json.dumps({"bridge": BENCH_BRIDGE}))
    log = open(top / "ketchd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    engine.proc = subprocess.Popen(
        [shutil.which("ketchd") or "ketchd", "-H", f"unix://{engine.socket}", "--data-root",
         str(top / "data"), "--exec-root", str(top / "exec"), "--config-file",
         str(top / "daemon.json")], stdout=log, stderr=log, start_new_session=True)
    return engine


def remove_bridge(bridge: str) -> None:
    """The interfaces a ketchd with this default bridge made (marked with an alias), and
    its nftables table: they outlive the daemon, as Docker's do."""
    for name in os.listdir("/sys/class/net"):
        try:
            alias = Path(f"/sys/class/net/{name}/ifalias").read_text().strip()
        except OSError:
            continue
        if alias == f"ketch:{bridge}":
            subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)
    subprocess.run(["nft", "delete", "table", "ip", f"ketch-{bridge}"], check=False,
                   capture_output=True)


def start_dockerd(top: Path) -> Engine:
    engine = Engine("docker", [shutil.which("docker") or "docker"], top)
    log = open(top / "dockerd.log", "wb")  # noqa: SIM115
    engine.proc = subprocess.Popen(
        ["dockerd", "--data-root", str(top / "data"), "--exec-root", str(top / "exec"),
         "--pidfile", str(top / "dockerd.pid"), "-H", f"unix://{engine.socket}",
         "--iptables=false", "--ip-masq=false", "--bridge=none"],
        stdout=log, stderr=log, start_new_session=True)
    return engine


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="runs per timing")
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--log-lines", type=int, default=200_000)
    args = parser.parse_args()
    if os.geteuid() != 0 or not BUSYBOX.exists():
        print("bench: run as root after install.sh (needs the busybox base image)")
        return 1
    engines: list[Engine] = []
    tops = []
    try:
        for maker, name in ((start_ketchd, "ketch"), (start_dockerd, "docker")):
            if name == "docker" and not shutil.which("dockerd"):
                print("docker: not installed (apt-get install docker.io) - ketch alone")
                continue
            top = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir="/tmp"))
            tops.append(top)
            engine = maker(top)
            engine.wait_ready()
            engine("import", "-c", 'CMD ["sh"]', str(BUSYBOX), "busybox:latest")
            engines.append(engine)
        results: dict[str, dict[str, float]] = {e.name: {} for e in engines}
        run_samples: dict[str, list[float]] = {e.name: [] for e in engines}
        for engine in engines:
            engine("run", "--rm", "busybox", "true")  # warm caches
        for _ in range(args.n):  # interleaved, so that load drift hits both alike
            for engine in engines:
                run_samples[engine.name].append(engine("run", "--rm", "busybox", "true"))
        for engine in engines:
            r = results[engine.name]
            r["run --rm busybox true"] = median_ms(run_samples[engine.name])
            idle = pss_kib(engine.engine_pids())
            start = time.perf_counter()
            for i in range(args.containers):
                engine("run", "-d", "--name", f"b{i}", "busybox", "sleep", "600")
            r[f"{args.containers} x run -d"] = (time.perf_counter() - start) * 1000
            time.sleep(1)
            busy = pss_kib(engine.engine_pids())
            r["engine PSS idle (MiB)"] = idle / 1024
            r["engine PSS per container (MiB)"] = (busy - idle) / 1024 / args.containers
            for verb, cmd in (("ps -a", ["ps", "-a"]), ("images", ["images"]),
                              ("inspect", ["inspect", "b0"]),
                              ("exec true", ["exec", "b0", "true"])):
                r[f"{verb} ({args.containers} containers)" if verb == "ps -a" else verb] = \
                    median_ms([engine(*cmd) for _ in range(args.n)])
            r["--version"] = median_ms([engine("--version") for _ in range(args.n)])
            stops = []
            for i in range(args.n):  # a container that ends on SIGTERM, as a server does
                engine("run", "-d", "--name", f"st{i}", "busybox", "sh", "-c",
                       'trap "exit 0" TERM; while :; do sleep 0.1; done')
                time.sleep(0.2)
                stops.append(engine("stop", f"st{i}"))
            r["stop (SIGTERM handled)"] = median_ms(stops)
            engine("run", "--name", "lg", "busybox", "seq", "1", str(args.log_lines))
            r[f"logs ({args.log_lines} lines)"] = median_ms(
                [engine("logs", "lg") for _ in range(3)])
            ids = subprocess.run([*engine.cli, "ps", "-aq"], env=engine.env,
                                 capture_output=True, text=True).stdout.split()
            engine("rm", "-f", *ids, check=False)
        keys = list(results[engines[0].name])
        print(f"{'':38}" + "".join(f"{e.name:>12}" for e in engines) +
              ("       ratio" if len(engines) == 2 else ""))
        for key in keys:
            row = f"{key:38}" + "".join(f"{results[e.name][key]:12.2f}" for e in engines)
            if len(engines) == 2 and results[engines[1].name][key]:
                row += f"{results[engines[0].name][key] / results[engines[1].name][key]:12.2f}"
            print(row)
        print("(times in ms; ratio = ketch / docker)")
    finally:
        teardown(engines, tops)
    return 0


def teardown(engines: list[Engine], tops: list[Path]) -> None:
    """Stop the engines (by pid) and remove their directories, unmounting what is left."""
    for engine in engines:
        _stop(engine)
    if any(engine.name == "ketch" for engine in engines):
        remove_bridge(BENCH_BRIDGE)
    for top in tops:
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            if line.split()[4].startswith(str(top)):
                subprocess.run(["umount", "-l", line.split()[4]], check=False)
        shutil.rmtree(top, ignore_errors=True)


def _stop(engine: Engine) -> None:
    pids = engine.engine_pids()
    assert engine.proc is not None
    engine.proc.send_signal(signal.SIGTERM)
    try:
        engine.proc.wait(20)
    except subprocess.TimeoutExpired:
        engine.proc.kill()
    for pid in pids:
        if pid != engine.proc.pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    sys.exit(main())
