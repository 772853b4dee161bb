"""cgroup limits and seccomp as the runtime applies them from config.json."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.bundles import Bundle, Runtime, run

pytestmark = pytest.mark.integration


def test_memory_limit_kills_an_allocation_over_it(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["resources"]["memory"] = {"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024}
    # the shell keeps 64 MiB in a variable: the OOM killer must end it (pid 1 -> 137)
    proc = run(runtime, bundle.sh("x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"))
    assert proc.returncode == 137, (proc.returncode, proc.stdout, proc.stderr)
    assert "survived" not in proc.stdout
    small = run(runtime, bundle.sh("x=$(head -c 4194304 /dev/zero | tr '\\0' a); echo fine"))
    assert small.stdout.strip() == "fine"


def test_pids_limit_stops_a_fork_bomb(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["resources"]["pids"] = {"limit": 10}
    # the shell notes each fork that worked; the first one refused ends it (and the test)
    proc = run(runtime, bundle.sh(
        "for i in $(seq 1 50); do sleep 5 & echo $i >> /tmp/forked; done"), timeout=30)
    forked = (bundle.rootfs / "tmp/forked").read_text().split()
    assert len(forked) == 9  # the shell itself is the tenth process
    assert "can't fork" in proc.stderr


def test_cpuset_and_cpu_shares(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["resources"]["cpu"] = {"cpus": "0", "shares": 512, "quota": 50000,
                                        "period": 100000}
    proc = run(runtime, bundle.sh(
        "grep Cpus_allowed_list /proc/self/status; cat /sys/fs/cgroup/cpu/cpu.shares"
        " /sys/fs/cgroup/cpu/cpu.cfs_quota_us"))
    assert proc.stdout.split() == ["Cpus_allowed_list:", "0", "512", "50000"], proc.stderr


def test_cgroups_path_is_honoured_and_removed(runtime: Runtime, bundle: Bundle) -> None:
    name = f"ketch-test-{os.getpid()}"
    bundle.linux["cgroupsPath"] = f"/{name}/box"
    bundle.linux["namespaces"] = [ns for ns in bundle.linux["namespaces"]
                                  if ns["type"] != "cgroup"]  # show the host's view
    proc = run(runtime, bundle.args("cat", "/proc/self/cgroup"))
    assert f"pids:/{name}/box" in proc.stdout
    assert not Path(f"/sys/fs/cgroup/pids/{name}/box").exists()
    Path(f"/sys/fs/cgroup/pids/{name}").rmdir()  # the parent is not the runtime's to remove
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if (hierarchy / name).exists():
            (hierarchy / name).rmdir()


def test_seccomp_denies_with_eperm_and_custom_errno(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        ],
    }
    proc = run(runtime, bundle.sh("grep Seccomp: /proc/self/status; mkdir /tmp/d; echo m=$?;"
                                  " chmod 600 /tmp; echo c=$?"))
    assert proc.stdout.split() == ["Seccomp:", "2", "m=1", "c=1"]
    assert "Operation not permitted" in proc.stderr and "Permission denied" in proc.stderr


def test_seccomp_with_and_without_no_new_privileges(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}
    for nnp in (True, False):
        bundle.process["noNewPrivileges"] = nnp
        bundle.process["user"] = {"uid": 1000, "gid": 1000}
        proc = run(runtime, bundle.sh("pwd; grep Seccomp: /proc/self/status"))
        assert "Seccomp:\t2" in proc.stdout, (nnp, proc.stderr)
        assert proc.stdout.splitlines()[0] != "/", nnp


def test_bad_resource_values_fail_before_anything_runs(runtime: Runtime,
                                                       bundle: Bundle) -> None:
    bundle.linux["resources"]["memory"] = {"limit": "lots"}
    proc = run(runtime, bundle.args("true"))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "memory" in proc.stderr
    assert runtime.leftovers() == []


def test_update_changes_limits_of_a_running_container(runtime: Runtime, bundle: Bundle,
                                                      tmp_path: Path) -> None:
    bundle.linux["resources"]["pids"] = {"limit": 100}
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), cid, check=True)
    hierarchy = Path(f"/sys/fs/cgroup/pids/{cid}")
    if not hierarchy.exists():  # a relative cgroupsPath sits under our own cgroup
        own = Path("/proc/self/cgroup").read_text().split("pids:")[1].split()[0]
        hierarchy = Path(f"/sys/fs/cgroup/pids{own.rstrip('/')}/{cid}")
    assert (hierarchy / "pids.max").read_text().strip() == "100"
    runtime("update", "--pids-limit", "42", "--memory", "64m", cid, check=True)
    assert (hierarchy / "pids.max").read_text().strip() == "42"
    memory = Path(str(hierarchy).replace("/pids", "/memory", 1))
    if memory.exists():
        assert int((memory / "memory.limit_in_bytes").read_text()) == 64 << 20
    (tmp_path / "r.json").write_text('{"pids": {"limit": 7}}')
    runtime("update", "--resources", str(tmp_path / "r.json"), cid, check=True)
    assert (hierarchy / "pids.max").read_text().strip() == "7"
    bad = runtime("update", "--memory", "lots", cid)
    assert bad.returncode == 1 and "invalid size" in bad.stderr


def test_new_session_keyring_unless_refused(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["maskedPaths"] = []
    proc = run(runtime, bundle.args("cat", "/proc/keys"))
    cid = runtime.ids[-1]
    assert f"keyring   {cid}" in proc.stdout or f" {cid}: " in proc.stdout, proc.stdout
    proc = run(runtime, bundle.args("cat", "/proc/keys"), "--no-new-keyring")
    assert runtime.ids[-1] not in proc.stdout
