#!/usr/bin/env python3
"""Benchmark: push and pull through ketchd against dockerd, to the same loopback registry.

The docker CLI drives both daemons (the same client: the engines are compared).
Debian's docker-registry runs on 127.0.0.1 (a fresh one for every push, so that no blob
is there already); both engines (private, see bench/engine.py) push and pull the same two
images: debian:bookworm-slim (one layer) and a 5-layer image built FROM busybox (5 x 8 MiB
of random data). Cold pulls: the image and its layers removed first. Printed: median
seconds and MB/s (of the image's uncompressed size), and ratio = ketch throughput /
docker throughput. Goals: pull >= 1.5, push >= 1.0. A benchmark, not a test: it asserts
nothing.  Run as root:  python3 bench/registry.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine import BUSYBOX, Engine, start_dockerd, start_ketchd, teardown

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.registry import Registry  # the tests' own registry runner

DEBIAN = BUSYBOX.parent / "debian-bookworm-slim.tar"
LAYERED = "FROM busybox\n" + "".join(
    f"RUN head -c 8388608 /dev/urandom > /blob{i}\n" for i in range(5))


def size_of(engine: Engine, image: str) -> int:
    out = subprocess.run([*engine.cli, "image", "inspect", image], env=engine.env,
                         capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)[0]["Size"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="runs per timing")
    args = parser.parse_args()
    if os.geteuid() != 0 or not DEBIAN.exists() or not shutil.which("docker-registry"):
        print("bench: run as root after install.sh (base images, docker-registry)")
        return 1
    os.environ["DOCKER_BUILDKIT"] = "0"
    engines: list[Engine] = []
    tops: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir="/tmp"))
    registries: list[Registry] = []
    try:
        (work / "ctx").mkdir()
        (work / "ctx" / "Dockerfile").write_text(LAYERED)
        for maker, name in ((start_ketchd, "ketch"), (start_dockerd, "docker")):
            if name == "docker" and not shutil.which("dockerd"):
                print("docker: not installed (apt-get install docker.io) - ketch alone")
                continue
            top = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir="/tmp"))
            tops.append(top)
            engine = maker(top)
            engine.cli = [shutil.which("docker") or "docker"]  # one client: the daemons
            engine.wait_ready()                                  # are what is compared
            engine("import", "-c", 'CMD ["sh"]', str(BUSYBOX), "busybox:latest")
            engine("import", str(DEBIAN), "debian:bookworm-slim")
            engine("build", "-q", "-t", "layered", str(work / "ctx"))
            engines.append(engine)
        results: dict[str, dict[str, list[float]]] = {e.name: {} for e in engines}
        sizes = {image: size_of(engines[0], image)
                 for image in ("debian:bookworm-slim", "layered")}
        for i in range(args.n):
            for image in sizes:
                for engine in engines:
                    registry = Registry(work / f"reg-{engine.name}-{image[:6]}-{i}")
                    registries.append(registry)
                    ref = f"{registry.host}/bench/{image.split(':')[0]}:{i}"
                    engine("tag", image, ref)
                    start = time.perf_counter()
                    engine("push", ref)
                    push = time.perf_counter() - start
                    engine("rmi", ref)
                    if image == "layered":  # cold: the layers go too
                        engine("rmi", "layered")
                    else:
                        engine("rmi", image)
                    start = time.perf_counter()
                    engine("pull", ref)
                    pull = time.perf_counter() - start
                    engine("tag", ref, image)
                    engine("rmi", ref)
                    results[engine.name].setdefault(f"push {image}", []).append(push)
                    results[engine.name].setdefault(f"pull {image}", []).append(pull)
                    registry.stop()
        print(f"{'':34}" + "".join(f"{e.name + ' s':>10}{e.name + ' MB/s':>13}"
                                   for e in engines) + ("   ratio" if len(engines) == 2 else ""))
        for key in results[engines[0].name]:
            mb = sizes[key.split(" ", 1)[1]] / 1e6
            row = f"{key:34}"
            rates = []
            for engine in engines:
                seconds = statistics.median(results[engine.name][key])
                rates.append(mb / seconds)
                row += f"{seconds:10.2f}{mb / seconds:13.1f}"
            if len(rates) == 2:
                row += f"{rates[0] / rates[1]:8.2f}"
            print(row)
        print("(median of", args.n, "runs; MB/s of the uncompressed image; ratio = ketch / "
              "docker throughput; goals: pull >= 1.5, push >= 1.0)")
    finally:
        for registry in registries:
            registry.stop()
        teardown(engines, tops)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
