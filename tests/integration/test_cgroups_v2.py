"""cgroup v2 against the real kernel, on the unified hierarchy of this (hybrid) host.

A process is in a v1 and a v2 cgroup at once, so the v2 code runs for real
here: the eBPF device filter, cgroup.freeze, cgroup.kill, subtree_control and
every interface file whose controller v2 owns (hugetlb on this host). Limits
whose controllers are bound to v1 here are covered by unit tests on a fake tree.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from ketch.errors import HostError, InvalidParameter
from ketch.runtime.cgroups import Cgroup, ebpf, open_cgroup
from ketch.runtime.cgroups.v2 import V2Cgroup

pytestmark = pytest.mark.integration

ROOT = "/sys/fs/cgroup/unified"
PARENT = f"/ketch-test-{os.getpid()}"
_names = itertools.count()


def _is_cgroup2(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" ")[4] == path and " - cgroup2 " in line for line in f)


if os.geteuid() != 0 or not _is_cgroup2(ROOT):
    pytest.skip(f"needs root and cgroup2 at {ROOT}", allow_module_level=True)


@pytest.fixture
def spawn() -> Iterator[Callable[[Callable[[], int]], tuple[int, int]]]:
    """Fork a child that runs fn once the returned pipe end is written; exit = fn()."""
    started: list[tuple[int, int]] = []

    def fork(fn: Callable[[], int]) -> tuple[int, int]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 99
            try:
                os.close(w)
                os.read(r, 1)
                code = fn()
            finally:
                os._exit(code)
        os.close(r)
        started.append((pid, w))
        return pid, w

    yield fork
    for pid, w in started:
        with contextlib.suppress(OSError):
            os.close(w)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


@pytest.fixture
def cgroup() -> Iterator[V2Cgroup]:
    cg = open_cgroup(f"{PARENT}/c{next(_names)}", "ignored", root=ROOT)
    assert isinstance(cg, V2Cgroup)
    cg.create()
    yield cg
    with open(f"{cg.path}/cgroup.freeze", "w") as f:
        f.write("0")
    cg.destroy()
    os.rmdir(os.path.dirname(cg.path))


def go(w: int) -> None:
    os.write(w, b"x")


def wait(pid: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.005)
    raise AssertionError(f"child {pid} did not exit")


def _opens() -> int:
    """One bit per attempt that succeeded."""
    code = 0
    for bit, (path, flags) in enumerate((("/dev/null", os.O_RDONLY), ("/dev/zero", os.O_RDONLY),
                                         ("/dev/urandom", os.O_RDONLY),
                                         ("/dev/urandom", os.O_WRONLY),
                                         ("/dev/urandom", os.O_RDWR))):
        try:
            os.close(os.open(path, flags))
            code |= 1 << bit
        except PermissionError:
            pass
    return code


def _run_in(cg: Cgroup, spawn: Callable[[Callable[[], int]], tuple[int, int]],
            fn: Callable[[], int]) -> int:
    pid, w = spawn(fn)
    cg.add(pid)
    go(w)
    status = wait(pid)
    assert os.WIFEXITED(status)
    return os.WEXITSTATUS(status)


def test_open_cgroup_detects_v2_and_state_round_trips(cgroup: V2Cgroup) -> None:
    assert cgroup.version == 2
    assert cgroup.path == f"{ROOT}{PARENT}/{os.path.basename(cgroup.path)}"
    assert os.path.isdir(cgroup.path)
    assert cgroup.mount_sources() == [("", cgroup.path, "")]
    again = Cgroup.from_state(cgroup.to_state())
    assert isinstance(again, V2Cgroup) and again.path == cgroup.path


def test_device_filter_denies_null_and_allows_zero(cgroup: V2Cgroup, spawn: Callable[
        [Callable[[], int]], tuple[int, int]]) -> None:
    cgroup.apply({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "r"},
    ]})
    # /dev/null: EPERM; /dev/zero: yes; /dev/urandom read: yes, write: EPERM, both: EPERM
    assert _run_in(cgroup, spawn, _opens) == 0b00110
    # an update swaps the program, it does not stack a second one
    cgroup.apply({"devices": [{"allow": True, "access": "rwm"},
                              {"allow": False, "type": "c", "major": 1, "minor": 9,
                               "access": "w"}]})
    # a deny exception bites when it covers any part of the request (v1 semantics)
    assert _run_in(cgroup, spawn, _opens) == 0b00111
    fd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(ebpf.attached(fd)) == 1
    finally:
        os.close(fd)


def test_device_rule_with_wildcard_major(cgroup: V2Cgroup, spawn: Callable[
        [Callable[[], int]], tuple[int, int]]) -> None:
    cgroup.apply({"devices": [{"allow": False, "access": "rwm"},
                              {"allow": True, "type": "c", "minor": 5, "access": "rw"}]})
    assert _run_in(cgroup, spawn, _opens) == 0b00010


def test_freeze_thaw(cgroup: V2Cgroup, spawn: Callable[
        [Callable[[], int]], tuple[int, int]]) -> None:
    r, w_tick = os.pipe()

    def tick() -> int:
        while True:
            os.write(w_tick, b".")
            time.sleep(0.005)

    pid, w = spawn(tick)
    os.close(w_tick)
    cgroup.add(pid)
    go(w)
    os.read(r, 1)
    cgroup.freeze()
    assert cgroup.frozen()
    os.set_blocking(r, False)
    with contextlib.suppress(BlockingIOError):
        os.read(r, 65536)
    time.sleep(0.1)
    with pytest.raises(BlockingIOError):
        os.read(r, 65536)
    cgroup.thaw()
    os.set_blocking(r, True)
    assert os.read(r, 1) == b"."
    assert not cgroup.frozen()
    os.close(r)


def test_pids_recursive_kill_and_destroy(cgroup: V2Cgroup, spawn: Callable[
        [Callable[[], int]], tuple[int, int]]) -> None:
    def sleep() -> int:
        time.sleep(60)
        return 0

    nested = f"{cgroup.path}/inner/deeper"
    os.makedirs(nested)
    top, _ = spawn(sleep)
    deep, _ = spawn(sleep)
    cgroup.add(top)
    with open(f"{nested}/cgroup.procs", "w") as f:
        f.write(str(deep))
    assert sorted(cgroup.pids()) == sorted([top, deep])
    cgroup.kill()
    for pid in (top, deep):
        status = wait(pid)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    cgroup.destroy()
    assert not os.path.exists(cgroup.path)
    os.makedirs(cgroup.path)  # for the fixture's own destroy


def test_controllers_enabled_down_the_path_and_hugetlb(cgroup: V2Cgroup) -> None:
    with open(f"{ROOT}/cgroup.controllers") as f:
        if "hugetlb" not in f.read().split():
            pytest.skip("hugetlb is not a v2 controller here")
    with open(f"{os.path.dirname(cgroup.path)}/cgroup.subtree_control") as f:
        assert "hugetlb" in f.read().split()
    cgroup.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
    with open(f"{cgroup.path}/hugetlb.2MB.max") as f:
        assert f.read().strip() == str(4 << 20)


def test_unified_is_written_verbatim(cgroup: V2Cgroup) -> None:
    cgroup.apply({"unified": {"cgroup.max.descendants": "3"}})
    with open(f"{cgroup.path}/cgroup.max.descendants") as f:
        assert f.read().strip() == "3"
    with pytest.raises(InvalidParameter):
        cgroup.apply({"unified": {"../cgroup.max.descendants": "3"}})


def test_missing_controller_is_one_clear_error(cgroup: V2Cgroup) -> None:
    with open(f"{ROOT}/cgroup.controllers") as f:
        if "pids" in f.read().split():
            pytest.skip("pids is a v2 controller here")
    with pytest.raises(HostError, match=r"pids\.max.*controller not available"):
        cgroup.apply({"pids": {"limit": 10}})
    assert cgroup.oom_kill_count() == 0  # no memory.events without the memory controller
