"""cgroup v1: one directory per mounted hierarchy (cpu, memory, devices, name=systemd, ...).

Resource writes follow runc's libcontainer/cgroups/fs: the same files, the
same order where order matters (memory vs memory+swap, cpu period vs quota),
and silently skipping controllers whose hierarchy is not mounted (except
devices, which security depends on). In hybrid mode the container also gets a
cgroup in the unified (cgroup2) hierarchy, used for cgroup.kill.
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

_V1_THROTTLE_FILES = {
    "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
    "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
    "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
    "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
}


def _read_value(directory: str, name: str) -> str:
    try:
        return read(directory, name).strip()
    except OSError as e:
        raise HostError(f"cgroup: cannot read {os.path.join(directory, name)}: "
                        f"{e.strerror}") from None


def _write_pair(path: str, period_file: str, period: int | None,
                runtime_file: str, runtime: int | None) -> None:
    """Write a period and the runtime (quota) allowed in it.

    The kernel checks runtime/period against the parent at every write, so a
    new period can be refused (EINVAL) until the runtime changes too: then
    write it again after the runtime, like runc.
    """
    retry = False
    if period is not None:
        err = try_write(path, period_file, str(period))
        if err and not (err == errno.EINVAL and runtime is not None):
            raise write_error(path, period_file, str(period), err)
        retry = err != 0
    if runtime is not None:
        write(path, runtime_file, str(runtime))
        if retry:
            write(path, period_file, str(period))


class V1Cgroup(Cgroup):
    version = 1

    def __init__(self, hierarchies: list[tuple[str, str, str]], unified: str | None = None):
        """`hierarchies`: (directory name under the cgroup root, this container's
        directory in it, the hierarchy's controllers e.g. "cpu,cpuacct")."""
        self.hierarchies = hierarchies
        self.unified = unified
        self._paths: dict[str, str] = {}
        for _, path, options in hierarchies:
            for subsystem in options.split(","):
                self._paths[subsystem] = path

    def path(self, subsystem: str) -> str | None:
        """This container's directory in the hierarchy of `subsystem`, if mounted."""
        return self._paths.get(subsystem)

    def _dirs(self) -> list[str]:
        return [p for _, p, _ in self.hierarchies] + ([self.unified] if self.unified else [])

    def create(self) -> None:
        for _, path, options in self.hierarchies:
            if "cpuset" in options.split(","):
                self._create_cpuset(path)
            else:
                makedirs(path)
        if self.unified:
            makedirs(self.unified)

    @staticmethod
    def _create_cpuset(path: str) -> None:
        # A new v1 cpuset starts with no cpus and mems, and a task cannot join
        # it; fill each new level from its parent, as runc's ensureParent does.
        missing = []
        level = path
        while not os.path.isdir(level):
            missing.append(level)
            level = os.path.dirname(level)
        for level in [*reversed(missing), path]:
            makedirs(level)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read_value(level, name):
                    write(level, name, _read_value(os.path.dirname(level), name))

    def apply(self, resources: dict[str, Any]) -> None:
        lim = parse_resources(resources)
        if lim.unified:
            raise InvalidParameter("invalid linux.resources.unified: this host uses "
                                   "cgroup v1")
        self._set_cpuset(lim)
        self._set_devices(lim)
        self._set_memory(lim)
        self._set_cpu(lim)
        self._set_pids(lim)
        self._set_blkio(lim)
        self._set_hugetlb(lim)
        self._set_network(lim)

    def _set_cpuset(self, lim: Limits) -> None:
        path = self.path("cpuset")
        if path is None:
            return
        if lim.cpuset_cpus is not None:
            write(path, "cpuset.cpus", lim.cpuset_cpus)
        if lim.cpuset_mems is not None:
            write(path, "cpuset.mems", lim.cpuset_mems)

    def _set_devices(self, lim: Limits) -> None:
        if lim.devices is None:
            return
        path = self.path("devices")
        if path is None:
            raise HostError("cgroup: the devices hierarchy is not mounted; refusing to run "
                            "without device restrictions")
        default_allow, exceptions = devices.emulate(lim.devices)
        # Rewriting resets access for a moment (and fails once the container
        # made child cgroups), so leave an identical list alone: updates stay safe.
        wanted = devices.v1_list(default_allow, exceptions)
        current = set(_read_value(path, "devices.list").splitlines())
        if wanted is not None and current == wanted:
            return
        for name, line in devices.v1_writes(default_allow, exceptions):
            write(path, name, line)

    def _set_memory(self, lim: Limits) -> None:
        path = self.path("memory")
        if path is None:
            return
        limit, swap = lim.memory, lim.memory_swap
        has_memsw = os.path.exists(os.path.join(path, "memory.memsw.limit_in_bytes"))
        if limit == -1 and swap is None and has_memsw:
            swap = -1  # "unlimited memory" means unlimited memory+swap too
        if swap == -1 and not has_memsw:
            swap = None  # nothing to lift without swap accounting
        # memory.limit must stay <= memory.memsw.limit at every step: raise
        # memsw first when it grows (or the old limit is already below it).
        swap_first = False
        if limit is not None and swap is not None:
            current = int(_read_value(path, "memory.limit_in_bytes"))
            swap_first = swap == -1 or current < swap
        steps = [("memory.memsw.limit_in_bytes", swap), ("memory.limit_in_bytes", limit)]
        for name, value in steps if swap_first else reversed(steps):
            if value is None:
                continue
            err = try_write(path, name, str(value))
            if err == errno.EBUSY and name == "memory.limit_in_bytes":
                usage = _read_value(path, "memory.usage_in_bytes")
                peak = _read_value(path, "memory.max_usage_in_bytes")
                raise HostError(f"cgroup: unable to set memory limit to {value} "
                                f"(current usage: {usage}, peak usage: {peak})")
            if err:
                raise write_error(path, name, str(value), err)
        if lim.memory_reservation is not None:
            write(path, "memory.soft_limit_in_bytes", str(lim.memory_reservation))
        if lim.disable_oom_killer:
            write(path, "memory.oom_control", "1")
        if lim.swappiness is not None:
            write(path, "memory.swappiness", str(lim.swappiness))
        if lim.kernel_tcp is not None and os.path.exists(
                os.path.join(path, "memory.kmem.tcp.limit_in_bytes")):
            write(path, "memory.kmem.tcp.limit_in_bytes", str(lim.kernel_tcp))

    def _set_cpu(self, lim: Limits) -> None:
        path = self.path("cpu")
        if path is None:
            return
        if lim.cpu_shares is not None:
            write(path, "cpu.shares", str(lim.cpu_shares))
        _write_pair(path, "cpu.cfs_period_us", lim.cpu_period, "cpu.cfs_quota_us", lim.cpu_quota)
        if lim.cpu_burst is not None:
            write(path, "cpu.cfs_burst_us", str(lim.cpu_burst))
        _write_pair(path, "cpu.rt_period_us", lim.cpu_rt_period,
                    "cpu.rt_runtime_us", lim.cpu_rt_runtime)
        if lim.cpu_idle is not None:
            write(path, "cpu.idle", str(lim.cpu_idle))

    def _set_pids(self, lim: Limits) -> None:
        path = self.path("pids")
        if path is not None and lim.pids_limit is not None:
            write(path, "pids.max", "max" if lim.pids_limit < 0 else str(lim.pids_limit))

    def _set_blkio(self, lim: Limits) -> None:
        path = self.path("blkio")
        if path is None:
            return
        # Kernels with BFQ but no CFQ only have the blkio.bfq.* weights.
        prefix = "blkio." if os.path.exists(os.path.join(path, "blkio.weight")) else "blkio.bfq."
        if lim.blkio_weight is not None:
            write(path, prefix + "weight", str(lim.blkio_weight))
        if lim.blkio_leaf_weight is not None:
            write(path, "blkio.leaf_weight", str(lim.blkio_leaf_weight))
        for major, minor, weight, leaf in lim.blkio_weight_devices:
            if weight is not None:
                write(path, prefix + "weight_device", f"{major}:{minor} {weight}")
            if leaf is not None:
                write(path, "blkio.leaf_weight_device", f"{major}:{minor} {leaf}")
        for key, entries in lim.throttle.items():
            for major, minor, rate in entries:
                write(path, _V1_THROTTLE_FILES[key], f"{major}:{minor} {rate}")

    def _set_hugetlb(self, lim: Limits) -> None:
        path = self.path("hugetlb")
        if path is None:
            return
        for size, limit in lim.hugepages:
            write(path, f"hugetlb.{size}.limit_in_bytes", str(limit))
            rsvd = f"hugetlb.{size}.rsvd.limit_in_bytes"
            if os.path.exists(os.path.join(path, rsvd)):
                write(path, rsvd, str(limit))

    def _set_network(self, lim: Limits) -> None:
        path = self.path("net_cls")
        if path is not None and lim.net_classid is not None:
            write(path, "net_cls.classid", str(lim.net_classid))
        path = self.path("net_prio")
        if path is not None:
            for name, priority in lim.net_priorities:
                write(path, "net_prio.ifpriomap", f"{name} {priority}")

    def add(self, pid: int) -> None:
        for path in self._dirs():
            write(path, "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        for subsystem in ("pids", "freezer", "devices", "memory", "cpu", "name=systemd"):
            path = self.path(subsystem)
            if path is not None:
                return tree_pids(path)
        return tree_pids(self._dirs()[0]) if self._dirs() else []

    def _freezer(self) -> str:
        path = self.path("freezer")
        if path is None:
            raise HostError("cgroup: the freezer hierarchy is not mounted")
        return path

    def freeze(self) -> None:
        path = self._freezer()
        # FREEZING can linger (a task in vfork or uninterruptible sleep);
        # writing FROZEN again nudges it, as runc does.
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while True:
            write(path, "freezer.state", "FROZEN")
            if _read_value(path, "freezer.state") == "FROZEN":
                return
            if time.monotonic() > deadline:
                write(path, "freezer.state", "THAWED")
                raise HostError(f"cgroup: unable to freeze {path}: processes did not stop")
            time.sleep(0.01)

    def thaw(self) -> None:
        write(self._freezer(), "freezer.state", "THAWED")

    def frozen(self) -> bool:
        path = self.path("freezer")
        if path is None:
            return False
        try:
            return read(path, "freezer.state").strip() == "FROZEN"
        except FileNotFoundError:
            return False
        except OSError as e:
            raise HostError(f"cgroup: cannot read {path}/freezer.state: {e.strerror}") from None

    def kill(self) -> None:
        if self.unified and os.path.exists(os.path.join(self.unified, "cgroup.kill")):
            write(self.unified, "cgroup.kill", "1")
            return
        # Without cgroup.kill, freeze first so nothing forks between listing and killing.
        has_freezer = self.path("freezer") is not None
        if has_freezer:
            self.freeze()
        try:
            signal_each(self, signal.SIGKILL)
        finally:
            if has_freezer:
                self.thaw()

    def oom_kill_count(self) -> int:
        path = self.path("memory")
        if path is None:
            return 0
        return int(read_keyed(path, "memory.oom_control").get("oom_kill", "0"))

    def destroy(self) -> None:
        for path in dict.fromkeys(self._dirs()):
            remove_tree(path)

    def mount_sources(self) -> list[tuple[str, str, str]]:
        return list(self.hierarchies)

    def to_state(self) -> dict[str, Any]:
        return {"version": 1, "hierarchies": [list(h) for h in self.hierarchies],
                "unified": self.unified}
