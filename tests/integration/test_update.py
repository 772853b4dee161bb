"""`update` with ketch's CLI and the docker CLI against a private ketchd: limits stored
and applied to a running container's cgroup at once, the restart policy changed (and
honoured), dockerd's refusals and warnings, docker-py's container.update."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import docker as docker_py
import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration
KETCH = "/opt/ketch/bin/ketch"
V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
LIMITS = ("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"
          if V2 else
          "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def _cli(kd: Ketchd, which: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KETCH if which == "ketch" else "docker", *args], env=kd.env(),
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_limits_applied_live(kd: Ketchd, which: str) -> None:
    name = f"live-{which}"
    ok(docker_cli(kd, "run", "-d", "--name", name, "--network", "none", "busybox", "sleep",
                  "300"))
    proc = _cli(kd, which, "update", "-m", "64m", name)
    assert (proc.returncode, proc.stderr) == (
        1, "Error response from daemon: Memory limit should be smaller than already set "
           "memoryswap limit, update the memoryswap at the same time\n")
    proc = _cli(kd, which, "update", "-m", "64m", "--memory-swap", "128m", "--pids-limit",
                "7", "--cpus", "0.5", "--restart", "on-failure:3", name)
    assert (proc.returncode, proc.stdout) == (0, f"{name}\n"), proc.stderr
    host = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .HostConfig}}", name)))
    assert (host["Memory"], host["MemorySwap"], host["PidsLimit"], host["NanoCpus"],
            host["RestartPolicy"]) == (64 << 20, 128 << 20, 7, 500_000_000,
                                       {"Name": "on-failure", "MaximumRetryCount": 3})
    limits = ok(docker_cli(kd, "exec", name, "sh", "-c", LIMITS)).split()
    assert limits[:2] == [str(64 << 20), "7"] and "50000" in limits
    ok(_cli(kd, which, "update", "--pids-limit", "-1", name))
    assert ok(docker_cli(kd, "exec", name, "sh", "-c", LIMITS)).split()[1] == "max"
    proc = _cli(kd, which, "update", "--cpu-quota", "50000", name)
    assert proc.returncode == 1 and "Conflicting options" in proc.stderr
    proc = _cli(kd, which, "update", "--blkio-weight", "300", name)
    assert (proc.returncode, proc.stdout) == (  # dockerd's warning: the weight discarded
        0, f"{name}\nYour kernel does not support Block I/O weight or the cgroup is not "
           "mounted. Weight discarded.\n")
    proc = _cli(kd, which, "update", "--restart", "always", "nosuch")
    assert (proc.returncode, proc.stderr) == (
        1, "Error response from daemon: No such container: nosuch\n")
    proc = _cli(kd, which, "update", name)
    assert (proc.returncode, proc.stderr) == (
        1, "you must provide one or more flags when using this command\n")
    ok(docker_cli(kd, "rm", "-f", name))


def test_restart_policy_update_is_honoured(kd: Ketchd) -> None:
    ok(docker_cli(kd, "create", "--name", "again", "--network", "none", "busybox", "sh",
                  "-c", "exit 1"))
    ok(docker_cli(kd, "update", "--restart", "on-failure:2", "again"))
    ok(docker_cli(kd, "start", "again"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .State}}", "again")))
        count = int(ok(docker_cli(kd, "inspect", "-f", "{{.RestartCount}}", "again")))
        if count == 2 and not state["Running"] and not state["Restarting"]:
            break
        time.sleep(0.2)
    assert count == 2
    ok(docker_cli(kd, "run", "-d", "--rm", "--name", "auto", "--network", "none", "busybox",
                  "sleep", "60"))
    proc = docker_cli(kd, "update", "--restart", "always", "auto")
    assert (proc.returncode, proc.stderr) == (
        1, "Error response from daemon: Restart policy cannot be updated because AutoRemove "
           "is enabled for the container\n")
    ok(docker_cli(kd, "rm", "-f", "auto"))


def test_docker_py_update(kd: Ketchd) -> None:
    client = docker_py.DockerClient(base_url=kd.host)
    container = client.containers.run("busybox", ["sleep", "60"], detach=True,
                                      network_mode="none", mem_limit="32m")
    answer = container.update(mem_limit="48m", memswap_limit="96m", cpu_shares=512)
    assert answer == {"Warnings": []}
    container.reload()
    host = container.attrs["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["CpuShares"]) == (
        48 << 20, 96 << 20, 512)
    with pytest.raises(docker_py.errors.APIError) as e:
        container.update(cpuset_cpus="64")
    assert e.value.status_code == 400 and "Requested CPUs are not available" in str(e.value)
    container.remove(force=True)
    client.close()
