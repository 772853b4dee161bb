"""Lifecycle through the runc-compatible CLI: create, start, state, kill, delete, run, list."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.bundles import RUNTIME, Bundle, Runtime, run

pytestmark = pytest.mark.integration


def wait_status(runtime: Runtime, cid: str, want: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = runtime("state", cid)
        if proc.returncode == 0 and json.loads(proc.stdout)["status"] == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {want}: {runtime('state', cid)}")


def test_run_reports_pid1_hostname_and_exit_code(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["hostname"] = "ketchbox"
    bundle.sh('echo "pid=$$ host=$(hostname)"; exit 7')
    proc = run(runtime, bundle)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.strip() == "pid=1 host=ketchbox"


def test_program_killed_from_outside_exits_128_plus_signal(runtime: Runtime,
                                                           bundle: Bundle) -> None:
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    proc = subprocess.Popen([*RUNTIME, "--root", str(runtime.root), "run", "--bundle",
                             str(bundle.path), cid], stdin=subprocess.DEVNULL)
    try:
        wait_status(runtime, cid, "running")
        os.kill(runtime.state(cid)["pid"], signal.SIGKILL)
        assert proc.wait(timeout=10) == 137
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (runtime.root / cid).exists()  # run deletes what it created


def test_signals_to_run_are_forwarded(runtime: Runtime, bundle: Bundle) -> None:
    bundle.sh("trap 'exit 42' TERM; while :; do sleep 0.05; done").write()
    cid = runtime.new_id()
    proc = subprocess.Popen([*RUNTIME, "--root", str(runtime.root), "run", "--bundle",
                             str(bundle.path), cid], stdin=subprocess.DEVNULL)
    try:
        wait_status(runtime, cid, "running")
        time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 42
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_env_cwd_and_args_reach_the_program(runtime: Runtime, bundle: Bundle) -> None:
    bundle.process["env"] = ["PATH=/bin:/usr/bin", "GREETING=hello world"]
    bundle.process["cwd"] = "/work/dir"  # made when missing, as runc does
    proc = run(runtime, bundle.args("sh", "-c", 'echo "$GREETING|$(pwd)|$0"', "arg0"))
    assert proc.stdout.strip() == "hello world|/work/dir|arg0"


def test_create_start_state_kill_delete(runtime: Runtime, bundle: Bundle,
                                        tmp_path: Path) -> None:
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    pid_file = tmp_path / "init.pid"
    runtime("create", "--bundle", str(bundle.path), "--pid-file", str(pid_file), cid,
            check=True)
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["id"] == cid and state["bundle"] == str(bundle.path)
    assert int(pid_file.read_text()) == state["pid"] > 0
    # the program has not run yet: the init is still ours, waiting
    assert os.readlink(f"/proc/{state['pid']}/exe") != "/bin/busybox"
    runtime("start", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    assert "sleep" in Path(f"/proc/{state['pid']}/cmdline").read_text()
    again = runtime("start", cid)
    assert again.returncode != 0 and "running" in again.stderr
    refused = runtime("delete", cid)
    assert refused.returncode != 0 and "not stopped" in refused.stderr
    runtime("kill", cid, "KILL", check=True)
    wait_status(runtime, cid, "stopped")
    assert runtime("kill", cid, "TERM").returncode != 0  # no effect on a stopped container
    runtime("delete", cid, check=True)
    assert runtime("state", cid).returncode != 0
    assert not (runtime.root / cid).exists()


def test_kill_with_signal_names_and_numbers(runtime: Runtime, bundle: Bundle) -> None:
    bundle.sh("trap 'echo got USR1 > /tmp/sig; exit 0' USR1; while :; do sleep 0.05; done")
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", str(bundle.path), cid, check=True)
    time.sleep(0.2)
    runtime("kill", cid, str(int(signal.SIGUSR1)), check=True)
    wait_status(runtime, cid, "stopped")
    assert (bundle.rootfs / "tmp/sig").read_text() == "got USR1\n"
    assert runtime("kill", runtime.ids[0], "NOSUCHSIG").returncode != 0


def test_delete_force_of_running_and_created(runtime: Runtime, bundle: Bundle) -> None:
    bundle.args("sleep", "60").write()
    running, created = runtime.new_id(), runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), running, check=True)
    runtime("create", "--bundle", str(bundle.path), created, check=True)
    pids = [runtime.state(c)["pid"] for c in (running, created)]
    runtime("delete", "--force", running, check=True)
    assert runtime("delete", created).returncode == 1  # created is not stopped
    runtime("delete", "--force", created, check=True)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_list_and_ps(runtime: Runtime, bundle: Bundle) -> None:
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), cid, check=True)
    listed = json.loads(runtime("list", "--format", "json", check=True).stdout)
    assert [c["id"] for c in listed] == [cid] and listed[0]["status"] == "running"
    table = runtime("list", check=True).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and table[1].startswith(cid)
    assert runtime("list", "-q", check=True).stdout.split() == [cid]
    pids = json.loads(runtime("ps", "--format", "json", cid, check=True).stdout)
    assert pids == [runtime.state(cid)["pid"]]


def test_pause_and_resume(runtime: Runtime, bundle: Bundle) -> None:
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), cid, check=True)
    runtime("pause", cid, check=True)
    assert runtime.state(cid)["status"] == "paused"
    pid = runtime.state(cid)["pid"]
    assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "DS"
    runtime("resume", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    assert runtime("resume", cid).returncode != 0


def test_duplicate_id_is_refused_and_leaves_the_first_alone(runtime: Runtime,
                                                            bundle: Bundle) -> None:
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("create", "--bundle", str(bundle.path), cid, check=True)
    pid = runtime.state(cid)["pid"]
    dup = runtime("create", "--bundle", str(bundle.path), cid)
    assert dup.returncode != 0
    assert dup.stderr.strip().splitlines() == [f"ketch-runtime: container with id exists: {cid}"]
    assert runtime.state(cid)["pid"] == pid and runtime.state(cid)["status"] == "created"


def test_spec_writes_a_config_that_runs(runtime: Runtime, bundle: Bundle,
                                        tmp_path: Path) -> None:
    target = tmp_path / "specdir"
    target.mkdir()
    runtime("spec", "--bundle", str(target), check=True)
    spec = json.loads((target / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    assert runtime("spec", "--bundle", str(target)).returncode != 0  # never overwrites
    bundle.config = spec
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    assert run(runtime, bundle).returncode == 0
