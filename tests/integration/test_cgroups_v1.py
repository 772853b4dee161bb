"""cgroup v1 against the real kernel: limits bite, devices deny, freeze, kill, cleanup.

Each test forks children that wait for a go-ahead, moves them into a fresh
cgroup under /ketch-test-<pid>/, and reaps them itself. The fixture kills any
child still alive (by pid) and removes every directory it made.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from ketch.errors import HostError, InvalidParameter
from ketch.runtime.cgroups import DEFAULT_RULES, Cgroup, open_cgroup
from ketch.runtime.cgroups.v1 import V1Cgroup

pytestmark = pytest.mark.integration

ROOT = "/sys/fs/cgroup"
PARENT = f"/ketch-test-{os.getpid()}"
_names = itertools.count()

if os.geteuid() != 0 or not os.path.isdir(f"{ROOT}/memory"):
    pytest.skip("needs root and cgroup v1 hierarchies", allow_module_level=True)


class Children:
    """Forked children that block until go(), run a function, exit with its result."""

    def __init__(self) -> None:
        self.pipes: dict[int, int] = {}

    def spawn(self, fn: Callable[[], int]) -> int:
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
        self.pipes[pid] = w
        return pid

    def go(self, pid: int) -> None:
        w = self.pipes.pop(pid)
        os.write(w, b"x")
        os.close(w)

    def wait(self, pid: int, timeout: float = 5.0) -> int:
        """The raw wait status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            time.sleep(0.005)
        raise AssertionError(f"child {pid} did not exit")

    def cleanup(self) -> None:
        for pid, w in list(self.pipes.items()):
            os.close(w)
            self.pipes.pop(pid)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    started: list[int] = []
    original = kids.spawn

    def spawn(fn: Callable[[], int]) -> int:
        pid = original(fn)
        started.append(pid)
        return pid

    kids.spawn = spawn  # type: ignore[method-assign]
    yield kids
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    kids.cleanup()


@pytest.fixture
def cgroup() -> Iterator[V1Cgroup]:
    cg = open_cgroup(f"{PARENT}/c{next(_names)}", "ignored")
    assert isinstance(cg, V1Cgroup)
    cg.create()
    yield cg
    for directory in _all_dirs(cg):  # thaw so leftover children can die
        if os.path.exists(f"{directory}/freezer.state"):
            with open(f"{directory}/freezer.state", "w") as f:
                f.write("THAWED")
    cg.destroy()
    for directory in _all_dirs(cg):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(directory))


def _all_dirs(cg: V1Cgroup) -> list[str]:
    return [p for _, p, _ in cg.hierarchies] + ([cg.unified] if cg.unified else [])


def _file(cg: V1Cgroup, subsystem: str, name: str) -> str:
    path = cg.path(subsystem)
    assert path is not None
    with open(os.path.join(path, name)) as f:
        return f.read().strip()


def _wait_forever() -> int:
    while True:
        time.sleep(1)


def test_create_makes_a_directory_in_every_hierarchy(cgroup: V1Cgroup) -> None:
    names = {n for n, _, _ in cgroup.hierarchies}
    assert {"memory", "cpu", "devices", "freezer", "pids", "systemd"} <= names
    leaf = os.path.basename(_all_dirs(cgroup)[0])
    for name, path, _ in cgroup.hierarchies:
        assert path == f"{ROOT}/{name}{PARENT}/{leaf}" and os.path.isdir(path)
    assert cgroup.unified == f"{ROOT}/unified{PARENT}/{leaf}"
    assert os.path.isdir(cgroup.unified)
    assert ("systemd", f"{ROOT}/systemd{PARENT}/{leaf}", "name=systemd") in cgroup.mount_sources()
    # the cpuset quirk: a new cpuset has its parent's cpus, else nobody could join
    with open(f"{ROOT}/cpuset/cpuset.cpus") as f:
        assert _file(cgroup, "cpuset", "cpuset.cpus") == f.read().strip()


def test_memory_limit_kills_an_allocation_above_it(cgroup: V1Cgroup,
                                                   children: Children) -> None:
    limit = 32 << 20
    cgroup.apply({"memory": {"limit": limit, "swap": limit}})
    assert _file(cgroup, "memory", "memory.limit_in_bytes") == str(limit)

    def allocate() -> int:
        data = b"x" * (64 << 20)  # written, so every page is charged
        return len(data) & 0

    pid = children.spawn(allocate)
    cgroup.add(pid)
    children.go(pid)
    status = children.wait(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert cgroup.oom_kill_count() >= 1
    # (recent kernels no longer count memory.failcnt on v1: check the peak)
    assert int(_file(cgroup, "memory", "memory.max_usage_in_bytes")) > limit * 0.9


def test_memory_and_swap_can_be_raised_and_lowered(cgroup: V1Cgroup) -> None:
    # the kernel requires limit <= memsw at every step; both directions must work
    for limit, swap in ((64 << 20, 128 << 20), (256 << 20, 512 << 20), (16 << 20, 16 << 20),
                        (-1, None)):
        memory = {"limit": limit} if swap is None else {"limit": limit, "swap": swap}
        cgroup.apply({"memory": memory})
        got = int(_file(cgroup, "memory", "memory.limit_in_bytes"))
        assert got == limit or (limit == -1 and got > 1 << 60)
        if swap is not None:
            assert int(_file(cgroup, "memory", "memory.memsw.limit_in_bytes")) == swap
    assert int(_file(cgroup, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60


def test_invalid_resources_are_refused_before_any_write(cgroup: V1Cgroup) -> None:
    before = _file(cgroup, "memory", "memory.limit_in_bytes")
    with pytest.raises(InvalidParameter, match="shares"):
        cgroup.apply({"memory": {"limit": 64 << 20}, "cpu": {"shares": 1}})
    assert _file(cgroup, "memory", "memory.limit_in_bytes") == before
    with pytest.raises(InvalidParameter, match="unified"):
        cgroup.apply({"unified": {"memory.high": "1"}})


def test_pids_limit_stops_forks_beyond_it(cgroup: V1Cgroup, children: Children) -> None:
    cgroup.apply({"pids": {"limit": 3}})
    assert _file(cgroup, "pids", "pids.max") == "3"

    def fork_many() -> int:
        forked, refused = [], 0
        r, w = os.pipe()
        for _ in range(5):
            try:
                pid = os.fork()
            except BlockingIOError as e:
                refused = int(e.errno == errno.EAGAIN)
                break
            if pid == 0:
                os.close(w)
                os.read(r, 1)
                os._exit(0)
            forked.append(pid)
        os.close(w)
        for pid in forked:
            os.waitpid(pid, 0)
        return len(forked) * 10 + refused

    pid = children.spawn(fork_many)
    cgroup.add(pid)
    children.go(pid)
    status = children.wait(pid)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 21  # itself + 2 children = 3, then EAGAIN


def test_cpuset_and_cpu_limits(cgroup: V1Cgroup, children: Children) -> None:
    cgroup.apply({"cpu": {"cpus": "0", "shares": 512, "quota": 50000, "period": 100000}})
    pid = children.spawn(_wait_forever)
    cgroup.add(pid)
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    assert status["Cpus_allowed_list"].strip() == "0"
    assert _file(cgroup, "cpu", "cpu.shares") == "512"
    assert _file(cgroup, "cpu", "cpu.cfs_quota_us") == "50000"
    assert _file(cgroup, "cpu", "cpu.cfs_period_us") == "100000"
    cgroup.apply({"cpu": {"quota": 2000, "period": 4000}})
    assert _file(cgroup, "cpu", "cpu.cfs_period_us") == "4000"


def _open_results() -> int:
    """Bit 0: /dev/null refused with EPERM; bit 1: /dev/zero opened."""
    code = 0
    try:
        os.close(os.open("/dev/null", os.O_RDONLY))
    except PermissionError:
        code |= 1
    try:
        os.close(os.open("/dev/zero", os.O_RDONLY))
        code |= 2
    except OSError:
        pass
    return code


def test_devices_deny_works(cgroup: V1Cgroup, children: Children) -> None:
    cgroup.apply({"devices": [{"allow": False, "access": "rwm"},
                              {"allow": True, "type": "c", "major": 1, "minor": 5,
                               "access": "rwm"}]})
    assert _file(cgroup, "devices", "devices.list") == "c 1:5 rwm"
    pid = children.spawn(_open_results)
    cgroup.add(pid)
    children.go(pid)
    status = children.wait(pid)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3


def test_devices_default_rules_and_idempotent_update(cgroup: V1Cgroup) -> None:
    rules = [{"allow": False, "access": "rwm"}, *DEFAULT_RULES,
             {"allow": False, "type": "c", "major": 10, "minor": 200, "access": "rw"}]
    cgroup.apply({"devices": rules})
    listed = _file(cgroup, "devices", "devices.list").splitlines()
    assert "c *:* m" in listed and "c 1:3 rwm" in listed and "c 10:200 m" in listed
    # A child cgroup makes "a" resets fail (EINVAL): the same rules must not rewrite.
    path = cgroup.path("devices")
    assert path is not None
    os.mkdir(f"{path}/sub")
    try:
        cgroup.apply({"devices": rules})
        with pytest.raises(HostError, match=r"devices\.deny"):
            cgroup.apply({"devices": [{"allow": False, "access": "rwm"}]})
    finally:
        os.rmdir(f"{path}/sub")
    with pytest.raises(InvalidParameter, match="wider rule"):
        cgroup.apply({"devices": [{"allow": False, "access": "rwm"},
                                  {"allow": True, "type": "c", "access": "rwm"},
                                  {"allow": False, "type": "c", "major": 1, "minor": 3,
                                   "access": "w"}]})


def test_freeze_thaw_and_pids(cgroup: V1Cgroup, children: Children) -> None:
    r, w = os.pipe()

    def tick() -> int:
        while True:
            os.write(w, b".")
            time.sleep(0.005)

    pid = children.spawn(tick)
    os.close(w)
    cgroup.add(pid)
    children.go(pid)
    assert cgroup.pids() == [pid]
    os.read(r, 1)  # it runs
    cgroup.freeze()
    assert cgroup.frozen()
    os.set_blocking(r, False)
    time.sleep(0.05)
    with contextlib.suppress(BlockingIOError):
        os.read(r, 4096)  # drain what was written before the freeze landed
    time.sleep(0.1)
    with pytest.raises(BlockingIOError):
        os.read(r, 4096)
    reopened = Cgroup.from_state(cgroup.to_state())
    assert reopened.frozen()
    reopened.thaw()
    assert not cgroup.frozen()
    os.set_blocking(r, True)
    assert os.read(r, 1) == b"."
    os.close(r)


def test_kill_and_destroy_remove_everything(cgroup: V1Cgroup, children: Children) -> None:
    pids = [children.spawn(_wait_forever) for _ in range(2)]
    for pid in pids:
        cgroup.add(pid)
    assert sorted(cgroup.pids()) == sorted(pids)
    cgroup.kill()
    for pid in pids:
        status = children.wait(pid)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    cgroup.destroy()
    for directory in _all_dirs(cgroup):
        assert not os.path.exists(directory)
    cgroup.destroy()  # already gone is fine


def test_destroy_refuses_while_processes_remain(cgroup: V1Cgroup, children: Children) -> None:
    pid = children.spawn(_wait_forever)
    cgroup.add(pid)
    with pytest.raises(HostError, match="cannot remove"):
        cgroup.destroy()


def test_relative_path_is_below_own_cgroup() -> None:
    name = f"ketch-test-rel-{os.getpid()}"
    cg = open_cgroup(None, name)
    assert isinstance(cg, V1Cgroup)
    with open("/proc/self/cgroup") as f:
        own = {line.split(":")[1]: line.split(":")[2] for line in f.read().splitlines()}
    memory = cg.path("memory")
    assert memory == os.path.normpath(f"{ROOT}/memory{own['memory']}/{name}")
    cg.create()
    try:
        assert os.path.isdir(memory)
    finally:
        cg.destroy()
    assert not os.path.exists(memory)
