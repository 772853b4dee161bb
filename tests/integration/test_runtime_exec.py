"""`exec`: a new process inside a running container's namespaces and cgroup."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from support.bundles import Bundle, Runtime

pytestmark = pytest.mark.integration


@pytest.fixture
def running(runtime: Runtime, bundle: Bundle) -> str:
    bundle.config["hostname"] = "inside"
    bundle.process["env"] = ["PATH=/bin:/sbin", "FROM=config"]
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), cid, check=True)
    return cid


def test_exec_joins_namespaces_and_cgroup(runtime: Runtime, running: str) -> None:
    init = runtime.state(running)["pid"]
    proc = runtime("exec", running, "sh", "-c",
                   "hostname; echo $$; echo $FROM; for n in mnt pid net uts ipc;"
                   " do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "inside" and lines[1] != "1" and lines[2] == "config"
    for value, kind in zip(lines[3:8], ("mnt", "pid", "net", "uts", "ipc"), strict=True):
        assert value == os.readlink(f"/proc/{init}/ns/{kind}")
    assert Path(f"/proc/{init}/cgroup").read_text().split("\n")[0].split(":")[1] in proc.stdout


def test_exec_exit_code_env_cwd_user(runtime: Runtime, running: str) -> None:
    proc = runtime("exec", "--env", "EXTRA=1", "--cwd", "/tmp", "--user", "1000:1001",
                   running, "sh", "-c", "echo $EXTRA $(pwd) $(id -u):$(id -g); exit 5")
    assert proc.returncode == 5
    assert proc.stdout.strip() == "1 /tmp 1000:1001"


def test_exec_with_process_json_and_pid_file(runtime: Runtime, running: str,
                                             tmp_path: Path) -> None:
    process = {"args": ["sh", "-c", "echo from-json > /tmp/p; sleep 0.2"], "cwd": "/",
               "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    (tmp_path / "process.json").write_text(json.dumps(process))
    proc = runtime("exec", "--process", str(tmp_path / "process.json"), "--detach",
                   "--pid-file", str(tmp_path / "exec.pid"), running)
    assert proc.returncode == 0, proc.stderr
    assert int((tmp_path / "exec.pid").read_text()) > 0


def test_exec_errors(runtime: Runtime, running: str, bundle: Bundle) -> None:
    missing = runtime("exec", running, "no-such-command")
    assert missing.returncode == 127
    assert "executable file not found" in missing.stderr
    assert runtime("exec", "no-such-container", "true").returncode == 1
    runtime("kill", running, "KILL", check=True)
    import time
    time.sleep(0.2)
    stopped = runtime("exec", running, "true")
    assert stopped.returncode == 1 and "stopped" in stopped.stderr


def test_exec_gets_the_container_seccomp_and_no_host_groups(runtime: Runtime,
                                                             bundle: Bundle) -> None:
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdir", "mkdirat"],
                                             "action": "SCMP_ACT_ERRNO"}]}
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), cid, check=True)
    proc = runtime("exec", cid, "sh", "-c",
                   "mkdir /tmp/x; echo rc=$?; grep Groups /proc/self/status")
    assert "rc=1" in proc.stdout and "Operation not permitted" in proc.stderr
    assert proc.stdout.split("Groups:")[1].strip() == ""
