"""Resource limits against a private ketchd through the docker CLI, with what dockerd
20.10 answers to the same commands on this machine: an OOM kill reported (OOMKilled,
137, the oom event), --pids-limit, --cpus in the cgroup, HostConfig stored as dockerd
stores it, and the limits' bad input refused before anything exists."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def test_memory_limit_ends_in_an_oom_kill(kd: Ketchd) -> None:
    since = f"{time.time():.9f}"
    # dd's 64 MiB block is one allocation it fills: past a 32 MiB limit, the kernel kills
    proc = docker_cli(kd, "run", "--name", "oom", "--network", "none", "-m", "32m",
                      "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
    assert proc.returncode == 137
    state = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .State}}", "oom")))
    assert (state["OOMKilled"], state["ExitCode"], state["Status"]) == (True, 137, "exited")
    events = ok(docker_cli(kd, "events", "--since", since, "--until", f"{time.time():.9f}",
                           "--filter", "container=oom", "--format",
                           "{{.Action}} {{.Actor.Attributes.exitCode}}"))
    assert events.splitlines()[-2:] == ["oom <no value>", "die 137"]
    # under the limit, the same work ends well
    assert docker_cli(kd, "run", "--rm", "--network", "none", "-m", "32m", "busybox", "dd",
                      "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1").returncode == 0


def test_pids_and_cpu_limits_reach_the_cgroup(kd: Ketchd) -> None:
    proc = docker_cli(kd, "run", "--rm", "--network", "none", "--pids-limit", "5",
                      "busybox", "sh", "-c",
                      "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait; echo done")
    assert proc.returncode == 2 and "can't fork" in proc.stderr
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    files = ("cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max" if v2 else
             "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
             "/sys/fs/cgroup/pids/pids.max")
    out = ok(docker_cli(kd, "run", "--rm", "--network", "none", "--cpus", "1.5",
                        "--pids-limit", "42", "busybox", "sh", "-c", files))
    assert out.split() == (["150000", "100000", "42"])


def test_host_config_as_dockerd_stores_it(kd: Ketchd) -> None:
    def stored(*flags: str) -> dict[str, object]:
        cid = ok(docker_cli(kd, "create", *flags, "busybox")).strip()
        host = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .HostConfig}}", cid)))
        ok(docker_cli(kd, "rm", cid))
        return {k: host[k] for k in ("Memory", "MemorySwap", "MemorySwappiness",
                                     "PidsLimit", "ShmSize", "OomKillDisable", "NanoCpus",
                                     "CpuShares", "Ulimits", "Devices")}

    base = {"Memory": 0, "MemorySwap": 0, "MemorySwappiness": None, "PidsLimit": None,
            "ShmSize": 67108864, "OomKillDisable": False, "NanoCpus": 0, "CpuShares": 0,
            "Ulimits": [], "Devices": []}
    assert stored() == base
    assert stored("-m", "32m") == {**base, "Memory": 32 << 20, "MemorySwap": 64 << 20}
    assert stored("--pids-limit", "-1") == base
    assert stored("--pids-limit", "5", "--memory-swap", "-1", "-m", "8m") == {
        **base, "Memory": 8 << 20, "MemorySwap": -1, "PidsLimit": 5}
    assert stored("--cpus", "1.5", "-c", "100") == {**base, "NanoCpus": 1_500_000_000,
                                                    "CpuShares": 100}
    host = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .HostConfig}}",
                                    ok(docker_cli(kd, "create", "busybox")).strip())))
    assert "/proc/kcore" in host["MaskedPaths"] and "/proc/sys" in host["ReadonlyPaths"]


def test_bad_limits_are_refused_in_dockerds_words(kd: Ketchd) -> None:
    before = ok(docker_cli(kd, "ps", "-aq"))
    cpus = len(os.sched_getaffinity(0))
    for flags, message in (
            (["--memory-swap", "64m"], "You should always set the Memory limit when using "
                                       "Memoryswap limit, see usage"),
            (["-m", "2m"], "Minimum memory limit allowed is 6MB"),
            (["-m", "32m", "--memory-swap", "16m"],
             "Minimum memoryswap limit should be larger than memory limit, see usage"),
            (["--cpus", "100"], f"Range of CPUs is from 0.01 to {cpus}.00, as there are "
                                f"only {cpus} CPUs available"),
            (["--cpuset-cpus", "x"], "Invalid value x for cpuset cpus"),
            (["--cpuset-cpus", "64"], "Requested CPUs are not available - requested 64, "
                                      "available: "),
            (["--oom-score-adj", "-2000"],
             "Invalid value -2000, range for oom score adj is [-1000, 1000]")):
        proc = docker_cli(kd, "run", "--rm", *flags, "busybox", "true")
        assert proc.returncode == 125, flags
        assert proc.stderr.startswith(f"docker: Error response from daemon: {message}"), \
            proc.stderr
    assert ok(docker_cli(kd, "ps", "-aq")) == before


def test_init_reaps_orphans_and_passes_signals_on(kd: Ketchd) -> None:
    # an orphan that ends at once, under a PID 1 that never waits (sleep, exec'd)
    script = "(sleep 0.1 &); exec sleep 30"
    for init, zombie in (([], True), (["--init"], False)):
        cid = ok(docker_cli(kd, "run", "-d", *init, "--network", "none", "busybox", "sh",
                            "-c", script)).strip()
        time.sleep(0.6)
        states = ok(docker_cli(kd, "exec", cid, "ps", "-o", "stat,comm"))
        assert ("Z    sleep" in states) is zombie, states
        first = ok(docker_cli(kd, "exec", cid, "cat", "/proc/1/comm"))
        assert first == ("docker-init\n" if init else "sleep\n")
        ok(docker_cli(kd, "rm", "-f", cid))
    cid = ok(docker_cli(kd, "run", "-d", "--init", "--network", "none", "busybox", "sleep",
                        "100")).strip()
    started = time.monotonic()
    ok(docker_cli(kd, "stop", "-t", "20", cid))  # sleep as PID 1 would ignore SIGTERM
    assert time.monotonic() - started < 5
    assert ok(docker_cli(kd, "inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.Init}} "
                                              "{{.Path}}", cid)) == "143 true sleep\n"
