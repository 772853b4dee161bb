#!/usr/bin/env python3
"""Benchmark: `ketch build` against `docker build` (its legacy builder) on this machine.

Both daemons run privately (see bench/engine.py) with the same busybox image and build
the same Dockerfile and context (200 small files and a 5 MiB one) three ways, each
timed end to end through its own CLI, interleaved: cold (--no-cache), all cached, and
with only the last COPY's source changed. Goals: each ratio (ketch / docker) at most 1.0.
A benchmark, not a test: it asserts nothing.  Run as root:  python3 bench/build.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from engine import BUSYBOX, Engine, median_ms, start_dockerd, start_ketchd, teardown

DOCKERFILE = """FROM busybox
ENV APP=/app
RUN echo hello > /hello && mkdir -p /app
COPY files/ /app/
COPY big.bin /data/big.bin
WORKDIR /app
RUN ls -la > /listing
COPY last.txt /last.txt
CMD ["sh"]
"""


def make_context(path: Path) -> None:
    (path / "files").mkdir(parents=True)
    for i in range(200):
        (path / "files" / f"f{i:03}.txt").write_text(f"file {i}\n" * 20)
    (path / "big.bin").write_bytes(os.urandom(5 << 20))
    (path / "last.txt").write_text("0\n")
    (path / "Dockerfile").write_text(DOCKERFILE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="builds per timing")
    args = parser.parse_args()
    if os.geteuid() != 0 or not BUSYBOX.exists():
        print("bench: run as root after install.sh (needs the busybox base image)")
        return 1
    os.environ["DOCKER_BUILDKIT"] = "0"  # ketchd serves the legacy builder's protocol
    engines: list[Engine] = []
    tops: list[Path] = []
    context = Path(tempfile.mkdtemp(prefix="bench-build-ctx-", dir="/tmp"))
    try:
        make_context(context)
        for maker, name in ((start_ketchd, "ketch"), (start_dockerd, "docker")):
            if name == "docker" and not shutil.which("dockerd"):
                print("docker: not installed (apt-get install docker.io) - ketch alone")
                continue
            top = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir="/tmp"))
            tops.append(top)
            engine = maker(top)
            engine.wait_ready()
            engine("import", "-c", 'CMD ["sh"]', str(BUSYBOX), "busybox:latest")
            engine("build", "-q", "-t", "warm", str(context))  # first-use costs out
            engines.append(engine)
        samples: dict[str, dict[str, list[float]]] = {
            e.name: {"cold (--no-cache)": [], "all cached": [], "last COPY changed": []}
            for e in engines}
        for i in range(args.n):  # interleaved, so that load drift hits both alike
            for engine in engines:
                times = samples[engine.name]
                times["cold (--no-cache)"].append(
                    engine("build", "--no-cache", "-t", "b", str(context)))
                times["all cached"].append(engine("build", "-t", "b", str(context)))
            (context / "last.txt").write_text(f"{i + 1}\n")
            for engine in engines:
                samples[engine.name]["last COPY changed"].append(
                    engine("build", "-t", "b", str(context)))
        keys = list(samples[engines[0].name])
        print(f"{'':24}" + "".join(f"{e.name:>12}" for e in engines) +
              ("       ratio" if len(engines) == 2 else ""))
        for key in keys:
            values = [median_ms(samples[e.name][key]) for e in engines]
            row = f"{key:24}" + "".join(f"{v:12.1f}" for v in values)
            if len(values) == 2 and values[1]:
                row += f"{values[0] / values[1]:12.2f}"
            print(row)
        print("(median ms per build, through each CLI; ratio = ketch / docker, goal <= 1.0)")
    finally:
        teardown(engines, tops)
        shutil.rmtree(context, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
