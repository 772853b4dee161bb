#!/usr/bin/env python3
"""Benchmark: `up -d` and `down -v` of a 5-service compose project, ketch against Docker.

Columns: ketchd + `ketch compose`, dockerd + `docker-compose` 1.29 (Debian's package),
and `docker-compose` 1.29 against ketchd. Both daemons run privately (own data roots and
sockets, as in bench/engine.py) with the same busybox image. The project: five busybox
services that sleep and end on SIGTERM as a server does, all on one declared network
and sharing one named volume; each `up -d` creates the network, the volume and the
five containers and starts them, each `down -v` stops and removes all of it. Rounds are
interleaved so that load drift hits every column alike; medians are printed with the
ratios to Docker's time (goal: ketch compose <= 0.5x docker-compose on dockerd).

dockerd runs as bench/engine.py runs it (`--iptables=false`, no default bridge), which
spares it its iptables work: the comparison leans Docker's way. ketchd runs with a
default bridge of its own (`ktbench-c`), whose interfaces and nftables table are
removed at the end, as are any bridges dockerd left; only the daemons started here are
stopped, by pid. Bounded: at most -n rounds and --max-seconds in all (it stops by
itself and reports the rounds done). Docker is needed only to compare (apt-get install
docker.io docker-compose); it is never a dependency.
A benchmark, not a test: it asserts nothing.  Run as root:  python3 bench/compose.py -n 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine import BUSYBOX, Engine, median_ms, remove_bridge, start_dockerd

BRIDGE = "ktbench-c"  # not the machine's ketch0, nor bench/engine.py's ktbench-e

SERVICE = """\
  s{i}:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    networks: [back]
    volumes: [data:/data]
"""
PROJECT = ("services:\n" + "".join(SERVICE.format(i=i) for i in range(1, 6)) +
           "networks:\n  back:\nvolumes:\n  data:\n")


class Variant:
    """One column: a compose client against one engine."""

    def __init__(self, title: str, engine: Engine, client: list[str], project: str,
                 workdir: Path) -> None:
        self.title = title
        self.engine = engine
        self.client = client
        self.project = project
        self.workdir = workdir
        self.samples: dict[str, list[float]] = {"up -d": [], "down -v": []}
        self.bridges: set[str] = set()  # dockerd's, seen while up: removed if left

    def __call__(self, *args: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run([*self.client, "-p", self.project, *args], cwd=self.workdir,
                              env=self.engine.env, capture_output=True, timeout=180,
                              check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{self.title}: {' '.join(args)}: "
                               f"{proc.stderr.decode(errors='replace')[-600:]}")
        return elapsed

    def cycle(self, record: bool) -> None:
        up = self("up", "-d")
        running = subprocess.run(
            [*self.engine.cli, "ps", "-q", "--filter",
             f"label=com.docker.compose.project={self.project}"],
            env=self.engine.env, capture_output=True, text=True, check=False).stdout.split()
        if len(running) != 5:
            raise RuntimeError(f"{self.title}: {len(running)} containers running, not 5")
        if self.engine.name == "docker":
            self.bridges.update(docker_bridges(self.engine))
        down = self("down", "-v")
        if record:
            self.samples["up -d"].append(up)
            self.samples["down -v"].append(down)


def start_ketchd(top: Path) -> Engine:
    engine = Engine("ketch", [shutil.which("ketch") or "ketch"], top)
    (top / "daemon.json").write_text(json.dumps({"bridge": BRIDGE}))
    log = open(top / "ketchd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    engine.proc = subprocess.Popen(
        [shutil.which("ketchd") or "ketchd", "-H", f"unix://{engine.socket}", "--data-root",
         str(top / "data"), "--exec-root", str(top / "exec"), "--config-file",
         str(top / "daemon.json")], stdout=log, stderr=log, start_new_session=True)
    return engine


def docker_bridges(engine: Engine) -> list[str]:
    """The host bridges of dockerd's user networks (`br-` and 12 hex of the ID)."""
    proc = subprocess.run([*engine.cli, "network", "ls", "-q", "--no-trunc", "--filter",
                           "driver=bridge"], env=engine.env, capture_output=True, text=True,
                          timeout=30, check=False)
    return [f"br-{nid[:12]}" for nid in proc.stdout.split()]


def stop(engine: Engine) -> None:
    """Its containers removed, then the daemon and what it started, by pid."""
    assert engine.proc is not None
    if engine.proc.poll() is None:
        ids = subprocess.run([*engine.cli, "ps", "-aq"], env=engine.env, capture_output=True,
                             text=True, timeout=30, check=False).stdout.split()
        if ids:
            subprocess.run([*engine.cli, "rm", "-f", *ids], env=engine.env,
                           capture_output=True, timeout=60, check=False)
    try:
        pids = engine.engine_pids()
    except OSError:  # ketchd's supervisor did not answer: the daemon's own tree only
        pids = []
    engine.proc.send_signal(signal.SIGTERM)
    try:
        engine.proc.wait(20)
    except subprocess.TimeoutExpired:
        engine.proc.kill()
        engine.proc.wait()
    for pid in pids:
        if pid != engine.proc.pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="rounds (at most 30)")
    parser.add_argument("--max-seconds", type=float, default=600,
                        help="stop after the round that passes this (default 600)")
    args = parser.parse_args()
    rounds = max(1, min(args.n, 30))
    if os.geteuid() != 0 or not BUSYBOX.exists():
        print("bench: run as root after install.sh (needs the busybox base image)")
        return 1
    have_docker = bool(shutil.which("dockerd") and shutil.which("docker"))
    compose_v1 = shutil.which("docker-compose")
    if not have_docker:
        print("docker: not installed (apt-get install docker.io) - ketch alone")
    if not compose_v1:
        print("docker-compose: not installed (apt-get install docker-compose)")
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="bench-compose-", dir="/tmp"))
    engines: list[Engine] = []
    tops: list[Path] = []
    variants: list[Variant] = []
    try:
        (work / "compose.yaml").write_text(PROJECT)
        makers = [(start_ketchd, "ketch")] + ([(start_dockerd, "docker")] if have_docker else [])
        for maker, name in makers:
            top = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir="/tmp"))
            tops.append(top)
            engine = maker(top)
            engines.append(engine)
            engine.wait_ready()
            engine("import", "-c", 'CMD ["sh"]', str(BUSYBOX), "busybox:latest")
        ketch, docker = engines[0], (engines[1] if have_docker else None)
        variants.append(Variant("ketch compose / ketchd", ketch,
                                [*ketch.cli, "compose"], "benchk", work))
        if docker is not None and compose_v1:
            variants.append(Variant("docker-compose / dockerd", docker, [compose_v1],
                                    "benchd", work))
        if compose_v1:
            variants.append(Variant("docker-compose / ketchd", ketch, [compose_v1],
                                    "benchx", work))
        for variant in variants:  # first-use costs out: one untimed cycle each
            variant.cycle(record=False)
        done = 0
        while done < rounds and time.monotonic() - began < args.max_seconds:
            for variant in variants:  # interleaved
                variant.cycle(record=True)
            done += 1
        report(variants, done)
    finally:
        for engine in engines:
            stop(engine)
        remove_bridge(BRIDGE)
        # dockerd's user networks' bridges, if it left any
        for name in set().union(*(v.bridges for v in variants)):
            if Path(f"/sys/class/net/{name}").exists():
                subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)
        for top in tops:
            for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
                if line.split()[4].startswith(str(top)):
                    subprocess.run(["umount", "-l", line.split()[4]], check=False)
            shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(variants: list[Variant], rounds: int) -> None:
    docker = next((v for v in variants if v.title.endswith("/ dockerd")), None)
    width = 26
    print(f"{rounds} rounds; median ms; ratio = column / docker-compose on dockerd"
          " (goal for ketch compose <= 0.5)")
    print(f"{'':18}" + "".join(f"{v.title:>{width}}" for v in variants))
    for key in ("up -d", "down -v", "up -d + down -v"):
        cells = []
        for variant in variants:
            ms = _median(variant, key)
            cell = f"{ms:.0f}"
            if docker is not None and variant is not docker:
                cell += f" ({ms / _median(docker, key):.2f}x)"
            cells.append(f"{cell:>{width}}")
        print(f"{key:18}" + "".join(cells))


def _median(variant: Variant, key: str) -> float:
    if key == "up -d + down -v":
        return median_ms([u + d for u, d in zip(variant.samples["up -d"],
                                                 variant.samples["down -v"], strict=True)])
    return median_ms(variant.samples[key])


if __name__ == "__main__":
    sys.exit(main())
