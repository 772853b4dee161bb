"""OCI hooks: every kind is called at its point of the lifecycle with the state on stdin."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from support.bundles import Bundle, Runtime

pytestmark = pytest.mark.integration


def recorder(out: Path) -> dict[str, Any]:
    """A host hook that appends its stdin (the state) and its namespace to `out`."""
    return {"path": "/bin/sh",
            "args": ["sh", "-c", f"cat >> {out}; echo >> {out};"
                     f" readlink /proc/self/ns/mnt >> {out}"]}


def records(out: Path) -> list[tuple[dict[str, Any], str]]:
    lines = out.read_text().splitlines()
    return [(json.loads(lines[i]), lines[i + 1]) for i in range(0, len(lines), 2)]


def test_every_hook_kind_runs_in_order_with_the_state(runtime: Runtime, bundle: Bundle,
                                                      tmp_path: Path) -> None:
    logs = {kind: tmp_path / f"{kind}.log" for kind in
            ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    bundle.config["hooks"] = {kind: [recorder(path)] for kind, path in logs.items()}
    # startContainer runs inside the container: its path resolves in the container's root
    bundle.config["hooks"]["startContainer"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/start.log"]}]
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("create", "--bundle", str(bundle.path), cid, check=True)
    pid = runtime.state(cid)["pid"]
    for kind in ("prestart", "createRuntime", "createContainer"):
        (state, _), = records(logs[kind])
        assert state["id"] == cid and state["pid"] == pid and state["status"] == "created"
        assert state["bundle"] == str(bundle.path)
    host_mnt = Path("/proc/self/ns/mnt").readlink()
    assert records(logs["createRuntime"])[0][1] == str(host_mnt)
    assert records(logs["createContainer"])[0][1] != str(host_mnt)  # container namespace
    assert not logs["poststart"].exists()
    runtime("start", cid, check=True)
    (poststart, _), = records(logs["poststart"])
    assert poststart["status"] == "running" and poststart["pid"] == pid
    start = json.loads((bundle.rootfs / "tmp/start.log").read_text())
    assert start["id"] == cid
    runtime("kill", cid, "KILL", check=True)
    time.sleep(0.2)
    runtime("delete", cid, check=True)
    (poststop, _), = records(logs["poststop"])
    assert poststop["id"] == cid and poststop["status"] == "stopped"


def test_failing_create_hook_aborts_and_cleans_up(runtime: Runtime, bundle: Bundle,
                                                  tmp_path: Path) -> None:
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo network says no >&2; exit 3"]}]}
    bundle.args("true").write()
    cid = runtime.new_id()
    proc = runtime("create", "--bundle", str(bundle.path), cid)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "ketch-runtime: createRuntime hook /bin/sh failed with exit status 3: network says no"]
    assert runtime.leftovers() == []
    assert not Path(f"/sys/fs/cgroup/pids/{cid}").exists()


def test_hook_timeout(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["hooks"] = {"prestart": [
        {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    bundle.args("true").write()
    started = time.monotonic()
    proc = runtime("create", "--bundle", str(bundle.path), runtime.new_id())
    assert proc.returncode == 1 and "timed out" in proc.stderr
    assert time.monotonic() - started < 10


def test_failing_poststart_and_poststop_only_warn(runtime: Runtime, bundle: Bundle) -> None:
    failing = [{"path": "/bin/false"}]
    bundle.config["hooks"] = {"poststart": failing, "poststop": failing}
    bundle.args("true").write()
    proc = runtime("run", "--bundle", str(bundle.path), runtime.new_id())
    assert proc.returncode == 0
    assert proc.stderr.count("warning") == 2
