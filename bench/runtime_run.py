#!/usr/bin/env python3
"""Benchmark: `<runtime> run` of a busybox bundle running `true`: ketch-runtime, runc, crun.

Each runtime gets the same bundle (runc's default spec, no terminal) and its own
state root; it is timed over N sequential runs (after warm-up runs) and the
medians are printed with their ratio to runc. A benchmark, not a test: it
asserts nothing. Run as root:  python3 bench/runtime_run.py [-n 30]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ketch.bootstrap import make_busybox_rootfs
from ketch.runtime.specgen import default_spec


def bundle(path: Path) -> Path:
    make_busybox_rootfs(path / "rootfs")
    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    (path / "config.json").write_text(json.dumps(spec))
    return path


def run_once(exe: str, root: Path, bundle_dir: Path, cid: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([exe, "--root", str(root), "run", "--bundle", str(bundle_dir), cid],
                          stdin=subprocess.DEVNULL, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{exe} failed: {proc.stderr.decode().strip()}")
    return elapsed


def time_interleaved(runtimes: dict[str, str], tmp: Path, bundle_dir: Path, n: int,
                     warmup: int) -> dict[str, list[float]]:
    """Each round runs every runtime once, so drift in the machine's load hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in runtimes}
    for i in range(n + warmup):
        for name, exe in runtimes.items():
            elapsed = run_once(exe, tmp / f"root-{name}", bundle_dir, f"bench-{os.getpid()}-{i}")
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed runs per runtime")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 1
    runtimes = {"ketch-runtime": shutil.which("ketch-runtime"), "runc": shutil.which("runc"),
                "crun": shutil.which("crun")}
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ketch-bench-") as tmp:
        b = bundle(Path(tmp) / "bundle")
        usable = {}
        for name, exe in runtimes.items():
            if exe is None:
                print(f"{name:14} not installed (apt-get install {name})")
                continue
            try:
                run_once(exe, Path(tmp) / f"root-{name}", b, f"probe-{os.getpid()}")
            except RuntimeError as e:
                print(f"{name:14} cannot run here: {e}")
                continue
            usable[name] = exe
        for name, samples in time_interleaved(usable, Path(tmp), b, args.n,
                                              args.warmup).items():
            results[name] = statistics.median(samples)
            print(f"{name:14} median {results[name] * 1000:7.1f} ms   "
                  f"min {min(samples) * 1000:7.1f} ms   over {len(samples)} runs")
    base = results.get("runc")
    if base and "ketch-runtime" in results:
        print(f"ratio ketch-runtime/runc: {results['ketch-runtime'] / base:.2f} "
              "(goal: <= 1.00)")
    if results.get("crun") and "ketch-runtime" in results:
        print(f"ratio ketch-runtime/crun: {results['ketch-runtime'] / results['crun']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
