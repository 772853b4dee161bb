"""The Cgroup interface both cgroup versions implement, and the file helpers they share.

cgroupfs is driven by small reads and writes of control files; these helpers
use raw os.open/os.write (one syscall each, no buffering) and turn kernel
refusals into one-line HostErrors that name the file and the value.
"""

from __future__ import annotations

import errno
import os
import time

from ketch.errors import HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# How long a freeze may take before it is given up: a task in uninterruptible
# sleep on a busy disk stops late, and runc, too, waits up to ten seconds.
FREEZE_TIMEOUT = 10.0


def try_write(directory: str, name: str, value: str) -> int:
    """Write `value` to a control file; return 0 or the errno the kernel answered."""
    try:
        # O_TRUNC is ignored by cgroupfs but lets a plain-file fake tree
        # (unit tests) hold the last value written.
        fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as e:
        return e.errno or errno.EIO
    try:
        os.write(fd, value.encode())
    except OSError as e:
        return e.errno or errno.EIO
    finally:
        os.close(fd)
    return 0


def write(directory: str, name: str, value: str) -> None:
    err = try_write(directory, name, value)
    if err:
        raise write_error(directory, name, value, err)


def write_error(directory: str, name: str, value: str, err: int) -> HostError:
    path = os.path.join(directory, name)
    if err == errno.ENOENT and os.path.isdir(directory):
        return HostError(f"cgroup: cannot set {name}: {path} does not exist "
                         f"(controller not available)")
    return HostError(f"cgroup: cannot write {value!r} to {path}: {os.strerror(err)}")


def read(directory: str, name: str) -> str:
    """A control file's content; raises OSError (callers decide what a miss means)."""
    fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def read_keyed(directory: str, name: str) -> dict[str, str]:
    """A flat-keyed file ("key value" lines, e.g. memory.events) as a dict; {} if absent."""
    try:
        text = read(directory, name)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise HostError(f"cgroup: cannot read {os.path.join(directory, name)}: "
                        f"{e.strerror}") from None
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


def makedirs(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise HostError(f"cgroup: cannot create {path}: {e.strerror}") from None


def tree_pids(path: str) -> list[int]:
    """Every pid in the cgroup at `path` and its descendants."""
    found: list[int] = []
    for directory, _, _ in os.walk(path):
        try:
            found.extend(int(p) for p in read(directory, "cgroup.procs").split())
        except FileNotFoundError:  # removed while we walked
            continue
        except OSError as e:
            raise HostError(f"cgroup: cannot list processes of {directory}: "
                            f"{e.strerror}") from None
    return found


def remove_tree(path: str) -> None:
    """rmdir a cgroup and its descendants, deepest first; gone already is fine.

    rmdir answers EBUSY while exiting tasks are still being unhooked, so retry
    briefly (runc waits 10 ms doubling, five times) before giving up.
    """
    dirs = [d for d, _, _ in os.walk(path, topdown=False)]
    for directory in dirs:
        delay = 0.01
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY) or delay > 0.16:
                    raise HostError(f"cgroup: cannot remove {directory}: "
                                    f"{e.strerror}") from None
                time.sleep(delay)
                delay *= 2


class Cgroup:
    """A container's cgroup, on either cgroup version.

    The OCI `linux.resources` object goes to apply(); to_state() gives what
    another ketch-runtime invocation needs to reopen it via from_state().
    """

    version = 0

    def create(self) -> None:
        """mkdir the container's cgroup(s); existing ones are joined, like runc."""
        raise NotImplementedError

    def apply(self, resources: dict[str, Any]) -> None:
        """Validate OCI linux.resources (InvalidParameter), then write them."""
        raise NotImplementedError

    def add(self, pid: int) -> None:
        """Move process `pid` (all its threads) into the container's cgroup."""
        raise NotImplementedError

    def pids(self) -> list[int]:
        """Every process in the container's cgroup, recursively."""
        raise NotImplementedError

    def freeze(self) -> None:
        """Freeze every process and wait until the kernel reports them frozen."""
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def frozen(self) -> bool:
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (for delete --force / kill --all)."""
        raise NotImplementedError

    def oom_kill_count(self) -> int:
        """How many processes the OOM killer killed here; read it before destroy()."""
        raise NotImplementedError

    def destroy(self) -> None:
        """rmdir the container's cgroup(s) and their children; tolerant of already-gone."""
        raise NotImplementedError

    def mount_sources(self) -> list[tuple[str, str, str]]:
        """What to mount at the container's /sys/fs/cgroup.

        v1: one (directory name under /sys/fs/cgroup, host path of this
        container's cgroup in that hierarchy, cgroup mount options such as
        "cpu,cpuacct" or "name=systemd") per hierarchy.
        v2: [("", host path, "")], meaning cgroup2 at /sys/fs/cgroup itself.
        """
        raise NotImplementedError

    def to_state(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Cgroup:
        """Reopen a cgroup from `to_state()` output (e.g. in state.json)."""
        if state.get("version") == 1:
            from ketch.runtime.cgroups.v1 import V1Cgroup
            return V1Cgroup([(str(n), str(p), str(o)) for n, p, o in state["hierarchies"]],
                            state.get("unified"))
        if state.get("version") == 2:
            from ketch.runtime.cgroups.v2 import V2Cgroup
            return V2Cgroup(str(state["path"]), str(state["root"]))
        raise HostError(f"cgroup: unknown cgroup state {state!r}")


def signal_each(cgroup: Cgroup, sig: int) -> None:
    """Signal every process of a (frozen) cgroup; those already gone are skipped."""
    for pid in cgroup.pids():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
