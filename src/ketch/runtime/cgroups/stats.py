"""What a container's cgroup has used, read from cgroupfs on either version (`docker stats`).

The readers follow containerd's cgroups packages, which dockerd's numbers come from:

- v1: cpuacct (usage, per-CPU usage, user/system ticks), cpu.stat (throttling), memory
  (usage, peak, failcnt, limit, memory.stat), pids, blkio (the CFQ `*_recursive` files, or
  the throttle files when those count nothing);
- v2: cpu.stat (microseconds), memory.current/max/stat/events, pids, io.stat.

A controller that is not mounted (v1) or not enabled (v2) reads as zeros; a cgroup that
is gone (the container has exited) raises FileNotFoundError, for the caller to decide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ketch.runtime.cgroups.base import Cgroup, read

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    PathOf = Callable[[str], str | None]  # V1Cgroup.path: a hierarchy's directory, if mounted

UNLIMITED = (1 << 64) - 1  # "max" in a v2 limit file, as containerd reads it
NANOS_PER_SECOND = 1_000_000_000
# v1 blkio files, in containerd's order, by their names under "blkio."
BLKIO_RECURSIVE = ("sectors_recursive", "io_service_bytes_recursive",
                   "io_serviced_recursive", "io_queued_recursive",
                   "io_service_time_recursive", "io_wait_time_recursive",
                   "io_merged_recursive", "time_recursive")
# read when the CFQ files count nothing (no CFQ, or BFQ): (file, the list it fills)
BLKIO_THROTTLE = (("throttle.io_serviced", "io_serviced_recursive"),
                  ("throttle.io_service_bytes", "io_service_bytes_recursive"))


@dataclass
class BlkioEntry:
    """One line of a blkio file: device, operation ("Read", "Write", ... or "") and value."""

    major: int
    minor: int
    op: str
    value: int


@dataclass
class Metrics:
    """A cgroup's usage at one moment. Times are nanoseconds, sizes bytes; limits with no
    bound are UNLIMITED (memory) or 0 (pids)."""

    version: int
    cpu_total: int = 0
    cpu_percpu: list[int] = field(default_factory=list)  # v1 only
    cpu_user: int = 0
    cpu_kernel: int = 0
    throttle_periods: int = 0
    throttled_periods: int = 0
    throttled_time: int = 0
    memory_usage: int = 0
    memory_max_usage: int = 0  # v1 only
    memory_failcnt: int = 0  # v2: memory.events' oom
    memory_limit: int = UNLIMITED
    memory_stat: dict[str, int] = field(default_factory=dict)
    pids_current: int = 0
    pids_limit: int = 0
    # v1: BLKIO_RECURSIVE name -> entries; v2: io.stat's bytes as
    # "io_service_bytes_recursive" entries with op "read"/"write" (what dockerd makes of it)
    blkio: dict[str, list[BlkioEntry]] = field(default_factory=dict)
    has_io: bool = False  # v2: io.stat was there to read


def read_metrics(cgroup: Cgroup, clock_ticks: int | None = None) -> Metrics:
    """The usage of `cgroup` (a V1Cgroup or V2Cgroup) now."""
    from ketch.runtime.cgroups.v1 import V1Cgroup
    from ketch.runtime.cgroups.v2 import V2Cgroup

    if isinstance(cgroup, V1Cgroup):
        return read_v1(cgroup.path, clock_ticks)
    if isinstance(cgroup, V2Cgroup):
        return read_v2(cgroup.path)
    raise TypeError(f"no stats for {type(cgroup).__name__}")


# -- files ---------------------------------------------------------------------------------


def _text(directory: str, name: str, required: bool = False) -> str:
    """A control file's content; "" if it is absent, unless `required`."""
    try:
        return read(directory, name)
    except FileNotFoundError:
        if required:
            raise
        return ""


def _uint(text: str) -> int:
    """A number file; "max" is UNLIMITED; a blank or odd one is 0 (never a crash)."""
    text = text.strip()
    if text == "max":
        return UNLIMITED
    try:
        return max(0, int(text))
    except ValueError:
        return 0


def _keyed(text: str) -> dict[str, int]:
    """"key value" lines (memory.stat, cpu.stat, memory.events) as numbers."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key and value:
            out[key] = _uint(value)
    return out


def parse_blkio(text: str) -> list[BlkioEntry]:
    """A v1 blkio file: "MAJ:MIN Op value" (or "MAJ:MIN value"); "Total n" lines skipped."""
    entries = []
    for line in text.splitlines():
        fields = [f for f in line.replace(":", " ").split(" ") if f]
        if len(fields) < 3:
            continue  # "Total 0", or a blank line
        try:
            major, minor = int(fields[0]), int(fields[1])
            op, value = (fields[2], int(fields[3])) if len(fields) >= 4 else ("", int(fields[2]))
        except ValueError:
            continue
        entries.append(BlkioEntry(major, minor, op, value))
    return entries


def parse_io_stat(text: str) -> list[BlkioEntry]:
    """v2 io.stat ("MAJ:MIN rbytes=n wbytes=n rios=n ...") as dockerd reports it: a
    "read" and a "write" entry of bytes per device."""
    entries = []
    for line in text.splitlines():
        device, _, rest = line.partition(" ")
        major, _, minor = device.partition(":")
        if not (major.isdigit() and minor.isdigit()):
            continue
        counters = dict(pair.partition("=")[::2] for pair in rest.split())
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            entries.append(BlkioEntry(int(major), int(minor), op,
                                      _uint(counters.get(key, "0"))))
    return entries


# -- v1 ------------------------------------------------------------------------------------


def read_v1(path: PathOf, clock_ticks: int | None = None) -> Metrics:
    """cgroup v1: `path(subsystem)` is the container's directory in that hierarchy (None
    when the hierarchy is not mounted)."""
    ticks = clock_ticks or os.sysconf("SC_CLK_TCK")
    m = Metrics(version=1)
    seen = False
    directory = path("cpuacct")
    if directory is not None:
        m.cpu_total = _uint(_text(directory, "cpuacct.usage", required=True))
        m.cpu_percpu = [_uint(v) for v in _text(directory, "cpuacct.usage_percpu").split()]
        times = _keyed(_text(directory, "cpuacct.stat"))
        m.cpu_user = times.get("user", 0) * NANOS_PER_SECOND // ticks
        m.cpu_kernel = times.get("system", 0) * NANOS_PER_SECOND // ticks
        seen = True
    directory = path("cpu")
    if directory is not None:
        throttling = _keyed(_text(directory, "cpu.stat", required=not seen))
        m.throttle_periods = throttling.get("nr_periods", 0)
        m.throttled_periods = throttling.get("nr_throttled", 0)
        m.throttled_time = throttling.get("throttled_time", 0)
        seen = True
    directory = path("memory")
    if directory is not None:
        m.memory_stat = _keyed(_text(directory, "memory.stat", required=True))
        m.memory_usage = _uint(_text(directory, "memory.usage_in_bytes"))
        m.memory_max_usage = _uint(_text(directory, "memory.max_usage_in_bytes"))
        m.memory_failcnt = _uint(_text(directory, "memory.failcnt"))
        m.memory_limit = _uint(_text(directory, "memory.limit_in_bytes")) or UNLIMITED
        seen = True
    directory = path("pids")
    if directory is not None:
        m.pids_current = _uint(_text(directory, "pids.current", required=not seen))
        limit = _uint(_text(directory, "pids.max"))
        m.pids_limit = 0 if limit == UNLIMITED else limit
    directory = path("blkio")
    if directory is not None:
        m.blkio = _read_blkio_v1(directory)
    return m


def _read_blkio_v1(directory: str) -> dict[str, list[BlkioEntry]]:
    found: dict[str, list[BlkioEntry]] = {name: [] for name in BLKIO_RECURSIVE}
    if os.path.exists(os.path.join(directory, "blkio.io_serviced_recursive")):
        for name in BLKIO_RECURSIVE:
            found[name] = parse_blkio(_text(directory, "blkio." + name))
        if any(found.values()):
            return found
    # no CFQ for these devices (or a BFQ-only kernel): the throttle layer counts them
    for name, target in BLKIO_THROTTLE:
        found[target] = parse_blkio(_text(directory, "blkio." + name))
    return found


# -- v2 ------------------------------------------------------------------------------------


def read_v2(directory: str) -> Metrics:
    """cgroup v2: everything is in the container's one directory."""
    m = Metrics(version=2)
    cpu = _keyed(_text(directory, "cpu.stat", required=True))
    m.cpu_total = cpu.get("usage_usec", 0) * 1000
    m.cpu_user = cpu.get("user_usec", 0) * 1000
    m.cpu_kernel = cpu.get("system_usec", 0) * 1000
    m.throttle_periods = cpu.get("nr_periods", 0)
    m.throttled_periods = cpu.get("nr_throttled", 0)
    m.throttled_time = cpu.get("throttled_usec", 0) * 1000
    m.memory_stat = _keyed(_text(directory, "memory.stat"))
    m.memory_usage = _uint(_text(directory, "memory.current"))
    m.memory_limit = _uint(_text(directory, "memory.max")) or UNLIMITED
    m.memory_failcnt = _keyed(_text(directory, "memory.events")).get("oom", 0)
    m.pids_current = _uint(_text(directory, "pids.current"))
    limit = _uint(_text(directory, "pids.max"))
    m.pids_limit = 0 if limit == UNLIMITED else limit
    try:
        io = read(directory, "io.stat")
    except FileNotFoundError:  # no io controller here
        return m
    m.has_io = True
    m.blkio = {"io_service_bytes_recursive": parse_io_stat(io)}
    return m
