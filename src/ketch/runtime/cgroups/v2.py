"""cgroup v2: one directory in the unified hierarchy, limits in its interface files.

Follows runc's libcontainer/cgroups/fs2: controllers are enabled down the path
in each parent's cgroup.subtree_control, OCI (v1-flavoured) values are
converted to their v2 files (cpu.weight, cpu.max, memory.swap.max, io.max, ...),
`unified` is written verbatim last, and device rules become an eBPF program.
"""

from __future__ import annotations

import errno
import os
import time

from ketch.errors import HostError, InvalidParameter
from ketch.runtime.cgroups import devices
from ketch.runtime.cgroups.base import (
    FREEZE_TIMEOUT,
    Cgroup,
    makedirs,
    read,
    read_keyed,
    remove_tree,
    signal_each,
    tree_pids,
    try_write,
    write,
    write_error,
)
from ketch.runtime.cgroups.resources import parse_resources

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from typing import Any

    from ketch.runtime.cgroups.resources import Limits
else:  # `signal` imports enum (a few ms); the C module has everything we use
    import _signal as signal

_IO_MAX_KEYS = {"throttleReadBpsDevice": "rbps", "throttleWriteBpsDevice": "wbps",
                "throttleReadIOPSDevice": "riops", "throttleWriteIOPSDevice": "wiops"}


def cpu_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], runc's linear map."""
    return 1 + ((shares - 2) * 9999) // 262142


def io_weight(blkio_weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000]."""
    return 1 + ((blkio_weight - 10) * 9999) // 990


def swap_max(memory: int | None, memory_swap: int | None) -> str | None:
    """OCI swap is memory+swap; v2's memory.swap.max is the swap alone."""
    if memory == -1 and memory_swap is None:
        return "max"  # unlimited memory means unlimited swap too, as on v1
    if memory_swap is None:
        return None
    if memory_swap == -1:
        return "max"
    if memory is None or memory == -1:
        raise InvalidParameter("invalid linux.resources.memory: a swap limit needs a "
                               "memory limit")
    return str(memory_swap - memory)


def _num(value: int) -> str:
    return "max" if value < 0 else str(value)


class V2Cgroup(Cgroup):
    version = 2

    def __init__(self, path: str, root: str):
        """`path`: the container's directory; `root`: where the hierarchy is mounted."""
        self.path = path
        self.root = root

    def create(self) -> None:
        rel = os.path.relpath(self.path, self.root)
        if rel == "." or rel.startswith(".."):
            raise HostError(f"cgroup: {self.path} is not below {self.root}")
        current = self.root
        for part in rel.split("/"):
            self._enable_controllers(current)
            current = os.path.join(current, part)
            makedirs(current)

    @staticmethod
    def _enable_controllers(directory: str) -> None:
        # Enable every available controller for the children, like runc. A
        # parent holding processes refuses (no internal processes): then the
        # limits that need a controller fail later with a clear message.
        try:
            available = read(directory, "cgroup.controllers").split()
        except OSError:
            return
        if available and try_write(directory, "cgroup.subtree_control",
                                   " ".join("+" + c for c in available)):
            for controller in available:
                try_write(directory, "cgroup.subtree_control", "+" + controller)

    def apply(self, resources: dict[str, Any]) -> None:
        lim = parse_resources(resources)
        if lim.cpu_rt_runtime is not None or lim.cpu_rt_period is not None:
            raise InvalidParameter("invalid linux.resources.cpu: realtime limits are not "
                                   "supported on cgroup v2")
        swap = swap_max(lim.memory, lim.memory_swap)
        self._set_pids(lim)
        self._set_memory(lim, swap)
        self._set_io(lim)
        self._set_cpu(lim)
        self._set_devices(lim)
        self._set_cpuset(lim)
        self._set_hugetlb(lim)
        for name, value in lim.unified.items():
            write(self.path, name, value)

    def _set_pids(self, lim: Limits) -> None:
        if lim.pids_limit is not None:
            write(self.path, "pids.max", _num(lim.pids_limit))

    def _set_memory(self, lim: Limits, swap: str | None) -> None:
        if swap is not None:
            err = try_write(self.path, "memory.swap.max", swap)
            # Without swap accounting there is nothing to lift or disable.
            if err and not (err == errno.ENOENT and swap in ("max", "0")):
                raise write_error(self.path, "memory.swap.max", swap, err)
        if lim.memory is not None:
            write(self.path, "memory.max", _num(lim.memory))
        if lim.memory_reservation is not None:
            write(self.path, "memory.low", _num(lim.memory_reservation))
        # swappiness and disableOOMKiller have no v2 equivalent; runc ignores them too

    def _set_io(self, lim: Limits) -> None:
        bfq = os.path.exists(os.path.join(self.path, "io.bfq.weight"))
        if lim.blkio_weight is not None:
            if bfq:
                write(self.path, "io.bfq.weight", str(lim.blkio_weight))
            else:
                write(self.path, "io.weight", str(io_weight(lim.blkio_weight)))
        for major, minor, weight, _ in lim.blkio_weight_devices:
            if weight is not None:
                write(self.path, "io.bfq.weight", f"{major}:{minor} {weight}")
        for key, entries in lim.throttle.items():
            for major, minor, rate in entries:
                value = str(rate) if rate else "max"
                write(self.path, "io.max", f"{major}:{minor} {_IO_MAX_KEYS[key]}={value}")

    def _set_cpu(self, lim: Limits) -> None:
        if lim.cpu_shares is not None:
            write(self.path, "cpu.weight", str(cpu_weight(lim.cpu_shares)))
        if lim.cpu_quota is not None or lim.cpu_period is not None:
            value = "max" if lim.cpu_quota is None or lim.cpu_quota < 0 else str(lim.cpu_quota)
            if lim.cpu_period is not None:
                value += f" {lim.cpu_period}"
            write(self.path, "cpu.max", value)
        if lim.cpu_burst is not None:
            write(self.path, "cpu.max.burst", str(lim.cpu_burst))
        if lim.cpu_idle is not None:
            write(self.path, "cpu.idle", str(lim.cpu_idle))

    def _set_cpuset(self, lim: Limits) -> None:
        if lim.cpuset_cpus is not None:
            write(self.path, "cpuset.cpus", lim.cpuset_cpus)
        if lim.cpuset_mems is not None:
            write(self.path, "cpuset.mems", lim.cpuset_mems)

    def _set_hugetlb(self, lim: Limits) -> None:
        for size, limit in lim.hugepages:
            write(self.path, f"hugetlb.{size}.max", str(limit))
            rsvd = f"hugetlb.{size}.rsvd.max"
            if os.path.exists(os.path.join(self.path, rsvd)):
                write(self.path, rsvd, str(limit))

    def _set_devices(self, lim: Limits) -> None:
        if lim.devices is None:
            return
        from ketch.runtime.cgroups import ebpf
        default_allow, exceptions = devices.emulate(lim.devices)
        ebpf.attach_device_filter(self.path, ebpf.device_filter(default_allow, exceptions))

    def add(self, pid: int) -> None:
        write(self.path, "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        return tree_pids(self.path)

    def freeze(self) -> None:
        write(self.path, "cgroup.freeze", "1")
        delay, deadline = 0.001, time.monotonic() + FREEZE_TIMEOUT
        while not self.frozen():
            if time.monotonic() > deadline:
                write(self.path, "cgroup.freeze", "0")
                raise HostError(f"cgroup: unable to freeze {self.path}: processes did not stop")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def thaw(self) -> None:
        write(self.path, "cgroup.freeze", "0")

    def frozen(self) -> bool:
        return read_keyed(self.path, "cgroup.events").get("frozen") == "1"

    def kill(self) -> None:
        if os.path.exists(os.path.join(self.path, "cgroup.kill")):
            write(self.path, "cgroup.kill", "1")
            return
        self.freeze()  # kernels before 5.14: stop forks, signal each, thaw
        try:
            signal_each(self, signal.SIGKILL)
        finally:
            self.thaw()

    def oom_kill_count(self) -> int:
        return int(read_keyed(self.path, "memory.events").get("oom_kill", "0"))

    def destroy(self) -> None:
        remove_tree(self.path)

    def mount_sources(self) -> list[tuple[str, str, str]]:
        return [("", self.path, "")]

    def to_state(self) -> dict[str, Any]:
        return {"version": 2, "path": self.path, "root": self.root}
