#!/usr/bin/env python3
"""Benchmark: image work in ketch against Docker on this machine.

Both daemons run privately (bench/engine.py starts them). Timed, as medians of -n runs:
`import` and `load` of the debian rootfs (~80 MB; the archive is Docker's own `save`
output), `save` of it, `commit` of a container that wrote a 100 MB tree, and `cp` of a
100 MB tree (1000 files) into a container and back out. The goal is a ratio <= 1.0 each.
A benchmark, not a test: it asserts nothing.  Run as root:  python3 bench/images.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from engine import Engine, start_dockerd, start_ketchd, teardown

DEBIAN = Path("/var/cache/ketch/base/debian-bookworm-slim.tar")
BUSYBOX = Path("/var/cache/ketch/base/busybox.tar")
TREE_FILES = 1000
TREE_FILE_SIZE = 100 * 1024  # 1000 x 100 KiB = 100 MB


def make_tree(root: Path) -> None:
    for i in range(TREE_FILES):
        directory = root / f"d{i % 10}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{i}").write_bytes(os.urandom(TREE_FILE_SIZE))


def prepare(engine: Engine) -> None:
    """A container that wrote a 100 MB tree (to commit), and one to copy into."""
    engine("run", "--name", "writer", "busybox", "sh", "-c",
           f"mkdir /t && cd /t && for i in $(seq {TREE_FILES}); do "
           f"head -c {TREE_FILE_SIZE} /dev/urandom > f$i; done")
    engine("create", "--name", "target", "busybox", "true")


def rounds(engines: list[Engine], work: Path, archive: Path, tree: Path,
           n: int) -> dict[str, dict[str, float]]:
    """Each operation on each engine in turn, n times: load drift and the disk's state
    (writeback of what the last step wrote) hit both alike."""
    samples: dict[str, dict[str, list[float]]] = {e.name: {} for e in engines}

    def timed(engine: Engine, key: str, *args: str) -> None:
        samples[engine.name].setdefault(key, []).append(engine(*args) * 1000)

    for i in range(n):
        order = engines if i % 2 == 0 else engines[::-1]  # neither always goes first
        for engine in order:
            timed(engine, "import debian rootfs", "import", str(DEBIAN), "bench/import:x")
            engine("rmi", "bench/import:x")
        for engine in order:
            timed(engine, "load debian (docker-archive)", "load", "-i", str(archive))
        for engine in order:
            out = work / f"{engine.name}-{i}.tar"
            timed(engine, "save debian", "save", "-o", str(out), "debian:bench")
            out.unlink()
            engine("rmi", "debian:bench")
        for engine in order:
            timed(engine, "commit (100 MB written)", "commit", "writer", f"bench/commit:{i}")
            engine("rmi", f"bench/commit:{i}")
        for engine in order:
            timed(engine, "cp 100 MB tree into a container", "cp", str(tree),
                  f"target:/tree{i}")
        for engine in order:
            dest = work / f"out-{engine.name}-{i}"
            timed(engine, "cp 100 MB tree out of a container", "cp", f"target:/tree{i}",
                  str(dest))
            shutil.rmtree(dest)
    return {name: {key: statistics.median(values) for key, values in by_key.items()}
            for name, by_key in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="runs per timing")
    args = parser.parse_args()
    if os.geteuid() != 0 or not DEBIAN.exists():
        print("bench: run as root after install.sh (needs the debian base image)")
        return 1
    if not shutil.which("dockerd"):
        print("bench: the Docker engine is needed to compare (apt-get install docker.io)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-images-", dir="/var/tmp"))
    engines: list[Engine] = []
    tops: list[Path] = []
    try:
        tree = work / "tree"
        make_tree(tree)
        for maker, name in ((start_ketchd, "ketch"), (start_dockerd, "docker")):
            top = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir="/var/tmp"))
            tops.append(top)
            engine = maker(top)
            engine.wait_ready()
            engine("import", "-c", 'CMD ["sh"]', str(BUSYBOX), "busybox:latest")
            engines.append(engine)
        docker = engines[1]
        docker("import", str(DEBIAN), "debian:bench")
        archive = work / "debian.tar"
        docker("save", "-o", str(archive), "debian:bench")
        docker("rmi", "debian:bench")
        for engine in engines:
            prepare(engine)
        results = rounds(engines, work, archive, tree, args.n)
        ketch, dock = results["ketch"], results["docker"]
        print(f"{'':38}{'ketch':>12}{'docker':>12}{'ratio':>12}")
        for key in ketch:
            print(f"{key:38}{ketch[key]:12.1f}{dock[key]:12.1f}{ketch[key] / dock[key]:12.2f}")
        print("(times in ms, medians; ratio = ketch / docker)")
    finally:
        teardown(engines, tops)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
