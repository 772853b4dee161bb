"""Bad input: one clear line, a non-zero exit, and nothing left behind (state, cgroup, mount)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.bundles import Bundle, Runtime

pytestmark = pytest.mark.integration


def mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


def create_fails(runtime: Runtime, bundle: Bundle, *, write: bool = True) -> str:
    before = mounts()
    if write:
        bundle.write()
    cid = runtime.new_id()
    proc = runtime("create", "--bundle", str(bundle.path), cid)
    assert proc.returncode == 1, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ketch-runtime: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert runtime.leftovers() == []
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        assert not (hierarchy / cid).exists(), hierarchy
    assert mounts() == before
    return lines[0]


def test_malformed_json(runtime: Runtime, bundle: Bundle) -> None:
    bundle.path.joinpath("config.json").write_text('{"ociVersion": "1.0.2", "process": ')
    assert "not JSON" in create_fails(runtime, bundle, write=False)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["process"].update(args=[]), "process.args must not be empty"),
    (lambda c: c["process"].update(cwd="relative"), "process.cwd must be an absolute path"),
    (lambda c: c["process"].update(user={"uid": "root"}), "process.user.uid must be"),
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_FLY"),
     "unknown capability 'CAP_FLY'"),
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
     "unknown rlimit type"),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}),
     "unknown namespace type 'bogus'"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "listed twice"),
    (lambda c: c["linux"].update(namespaces=[{"type": "mount"}], hostname="x") or
     c.update(hostname="x"), "without a private UTS namespace"),
    (lambda c: c["linux"].update(sysctl={"kernel.core_pattern": "|/evil"}),
     "is not namespaced"),
    (lambda c: c["mounts"].append({"destination": "/proc/self/x", "type": "bind",
                                   "source": "/etc"}), "inside /proc"),
    (lambda c: c["mounts"].append({"destination": "/x", "type": "bind",
                                   "source": "/no/such/dir"}), "does not exist"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_EXPLODE"}),
     "SCMP_ACT_EXPLODE"),
    (lambda c: c.update(hooks={"prestart": [{"path": "relative/hook"}]}),
     "must be an absolute path"),
])
def test_invalid_config(runtime: Runtime, bundle: Bundle, change: Any, message: str) -> None:
    change(bundle.config)
    assert message in create_fails(runtime, bundle)


def test_missing_rootfs(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["root"]["path"] = "nowhere"
    assert "rootfs" in create_fails(runtime, bundle) and "does not exist" in create_fails(
        runtime, bundle)


def test_missing_bundle(runtime: Runtime, tmp_path: Path) -> None:
    proc = runtime("create", "--bundle", str(tmp_path / "none"), "x1")
    assert proc.returncode == 1 and "config.json not found" in proc.stderr
    assert runtime.leftovers() == []


def test_namespace_path_that_does_not_exist(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["namespaces"].append({"type": "time", "path": "/proc/999999999/ns/time"})
    assert "does not exist" in create_fails(runtime, bundle)


def test_bad_cli_usage(runtime: Runtime) -> None:
    for args in (["create"], ["start"], ["state", "../x"], ["kill", "a/b"], ["delete"],
                 ["--bogus", "list"], ["frobnicate"], ["state", ""]):
        proc = runtime(*args)
        assert proc.returncode != 0, args
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_state_of_unknown_container(runtime: Runtime) -> None:
    proc = runtime("state", "nope")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "ketch-runtime: container does not exist: nope"


def test_failure_after_the_init_started_leaves_nothing(runtime: Runtime,
                                                        bundle: Bundle) -> None:
    # the init gets far (namespaces, mounts, pivot_root) before the cwd turns out to be a file
    bundle.process["cwd"] = "/etc/passwd"
    line = create_fails(runtime, bundle)
    assert "/etc/passwd" in line and "not a directory" in line
