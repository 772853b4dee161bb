"""`docker stats` as dockerd answers it: a container's cgroup usage, the host's CPU time,
and its interfaces' counters, in the JSON of `GET /containers/{id}/stats` (moby's
types.StatsJSON, field for field, `omitempty` where moby has it), one sample a second.

dockerd's rules kept here: a stopped container (asked once) gets the empty sample with
only its name and id; `precpu_stats` is the previous sample's `cpu_stats` (so a sample
asked once without one-shot waits a second, to have one); the memory limit of an
unlimited container is the host's memory; `networks` is absent for `--network none` and
`host`; a stream goes on (with empty samples) when the container stops, and ends when it
is removed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator
from typing import Any

from ketch.engine.containers import Container, ContainerStore
from ketch.errors import KetchError
from ketch.runtime.cgroups.stats import BlkioEntry, Metrics, read_metrics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.runtime.cgroups.base import Cgroup

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, as dockerd marshals it
INTERVAL = 1.0  # seconds between samples of a stream (dockerd's collector ticks each second)
# blkio_stats' lists, each with the v1 file (containerd's name) it is read from
BLKIO_LISTS = (("io_service_bytes_recursive", "io_service_bytes_recursive"),
               ("io_serviced_recursive", "io_serviced_recursive"),
               ("io_queue_recursive", "io_queued_recursive"),
               ("io_service_time_recursive", "io_service_time_recursive"),
               ("io_wait_time_recursive", "io_wait_time_recursive"),
               ("io_merged_recursive", "io_merged_recursive"),
               ("io_time_recursive", "time_recursive"),
               ("sectors_recursive", "sectors_recursive"))
# memory_stats.stats: the memory.stat keys dockerd reports (others are left out)
_V1_OWN = ("cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin",
           "pgpgout", "pgfault", "pgmajfault", "inactive_anon", "active_anon",
           "inactive_file", "active_file", "unevictable")
V1_MEMORY_KEYS = tuple(sorted((*_V1_OWN, "hierarchical_memory_limit",
                               "hierarchical_memsw_limit", *(f"total_{k}" for k in _V1_OWN))))
V2_MEMORY_KEYS = tuple(sorted((
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
    "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file",
    "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault",
    "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
    "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
    "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc")))
# interfaces every network namespace has (loopback, the kernel's fallback tunnels): not
# the container's endpoints, which are all dockerd counts
NOT_ENDPOINTS = frozenset(("lo", "tunl0", "sit0", "ip6tnl0", "gre0", "gretap0", "erspan0",
                           "ip_vti0", "ip6_vti0", "ip6gre0"))
NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
              "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
_NET_COLUMNS = (0, 1, 2, 3, 8, 9, 10, 11)  # of /proc/net/dev's 16 counters


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: the fraction without its trailing zeros."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    fraction = f"{nanos:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        (f".{fraction}" if fraction else "") + "Z"


def _omitempty(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value}


# -- the host ------------------------------------------------------------------------------


def system_cpu_usage(proc_stat: str, clock_ticks: int) -> tuple[int, int]:
    """(the host's CPU time in ns, the online CPUs) from /proc/stat, as dockerd counts
    them: the first seven fields of the "cpu" line, and the "cpuN" lines."""
    total, cpus = 0, 0
    for line in proc_stat.splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith("cpu"):
            continue
        if fields[0] == "cpu" and len(fields) >= 8:
            total = sum(int(v) for v in fields[1:8]) * 1_000_000_000 // clock_ticks
        elif fields[0] != "cpu":
            cpus += 1
    return total, cpus


def machine_memory(meminfo: str) -> int:
    """MemTotal of /proc/meminfo in bytes (0 if it cannot be read)."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def network_stats(net_dev: str) -> dict[str, dict[str, int]]:
    """/proc/<pid>/net/dev as dockerd's `networks`: the endpoints' counters by interface."""
    found: dict[str, dict[str, int]] = {}
    for line in net_dev.splitlines()[2:]:
        name, colon, rest = line.partition(":")
        name = name.strip()
        counters = rest.split()
        if not colon or name in NOT_ENDPOINTS or len(counters) < 16:
            continue
        found[name] = {key: int(counters[i]) for key, i in zip(NET_FIELDS, _NET_COLUMNS,
                                                                strict=True)}
    return dict(sorted(found.items()))  # Go marshals a map with its keys sorted


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


# -- samples -------------------------------------------------------------------------------


def empty_cpu() -> dict[str, Any]:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def empty_sample(name: str, cid: str) -> dict[str, Any]:
    """What dockerd says of a container that is not running: its name and id, zeros."""
    return {"read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {},
            "blkio_stats": {key: None for key, _ in BLKIO_LISTS}, "num_procs": 0,
            "storage_stats": {}, "cpu_stats": empty_cpu(), "precpu_stats": empty_cpu(),
            "memory_stats": {}, "name": name, "id": cid}


def sample(m: Metrics, *, name: str, cid: str, read_ns: int, system: tuple[int, int],
           memory_total: int, networks: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    """One sample of a running container in dockerd's JSON, its precpu still empty."""
    if m.version == 1:
        blkio: dict[str, Any] = {key: [_entry(e) for e in m.blkio.get(source) or []]
                                 for key, source in BLKIO_LISTS}
        stats = {key: m.memory_stat.get(key, 0) for key in V1_MEMORY_KEYS}
    else:  # dockerd reads io.stat's bytes only; without io.stat, no lists at all
        blkio = {key: None for key, _ in BLKIO_LISTS}
        entries = m.blkio.get("io_service_bytes_recursive") or []
        if m.has_io and entries:
            blkio["io_service_bytes_recursive"] = [_entry(e) for e in entries]
        stats = {key: m.memory_stat.get(key, 0) for key in V2_MEMORY_KEYS}
    limit = m.memory_limit
    if memory_total and limit > memory_total:
        limit = memory_total  # unlimited: the host's memory
    cpu_usage = {"total_usage": m.cpu_total, "percpu_usage": m.cpu_percpu,
                 "usage_in_kernelmode": m.cpu_kernel, "usage_in_usermode": m.cpu_user}
    if not m.cpu_percpu:
        del cpu_usage["percpu_usage"]
    frame: dict[str, Any] = {
        "read": rfc3339nano(read_ns), "preread": ZERO_TIME,
        "pids_stats": _omitempty({"current": m.pids_current, "limit": m.pids_limit}),
        "blkio_stats": blkio, "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": cpu_usage,
                      **_omitempty({"system_cpu_usage": system[0], "online_cpus": system[1]}),
                      "throttling_data": {"periods": m.throttle_periods,
                                          "throttled_periods": m.throttled_periods,
                                          "throttled_time": m.throttled_time}},
        "precpu_stats": empty_cpu(),
        "memory_stats": _omitempty({"usage": m.memory_usage,
                                    "max_usage": m.memory_max_usage, "stats": stats,
                                    "failcnt": m.memory_failcnt, "limit": limit}),
        "name": name, "id": cid}
    if networks:
        frame["networks"] = networks
    return frame


def _entry(e: BlkioEntry) -> dict[str, Any]:
    return {"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}


def after(frame: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """`frame` with the previous sample's time and CPU figures as its pre* fields."""
    if previous is not None:
        frame["preread"] = previous["read"]
        frame["precpu_stats"] = previous["cpu_stats"]
    return frame


class Sampler:
    """Samples of containers of one daemon; the host's figures read as dockerd reads them."""

    def __init__(self, runtime_root: str) -> None:
        self.runtime_root = runtime_root
        self.clock_ticks = os.sysconf("SC_CLK_TCK")
        try:
            self.memory_total = machine_memory(_read("/proc/meminfo"))
        except OSError:
            self.memory_total = 0
        self._cgroups: dict[tuple[str, int], Cgroup | None] = {}

    def _cgroup(self, c: Container) -> Cgroup | None:
        """The container's cgroup, looked up once per run of it (its init's pid)."""
        key = (c.id, int(c.state.get("Pid") or 0))
        if key not in self._cgroups:
            from ketch.runtime.container import Runtime, cgroup_of

            self._cgroups.clear()
            self._cgroups[key] = cgroup_of(Runtime(self.runtime_root).container(c.id))
        return self._cgroups[key]

    def take(self, c: Container) -> dict[str, Any]:
        """A sample of `c` now; the empty one if it is not running (or just stopped)."""
        name = "/" + c.name
        if not c.running:
            return empty_sample(name, c.id)
        read_ns = time.time_ns()
        try:
            cgroup = self._cgroup(c)
            if cgroup is None:
                return empty_sample(name, c.id)
            m = read_metrics(cgroup, self.clock_ticks)
            system = system_cpu_usage(_read("/proc/stat"), self.clock_ticks)
        except (OSError, ValueError, KetchError):  # exited meanwhile: its cgroup is gone
            return empty_sample(name, c.id)
        return sample(m, name=name, cid=c.id, read_ns=read_ns, system=system,
                      memory_total=self.memory_total, networks=self._networks(c))

    @staticmethod
    def _networks(c: Container) -> dict[str, dict[str, int]] | None:
        mode = c.host_config.get("NetworkMode") or "default"
        pid = int(c.state.get("Pid") or 0)
        if mode in ("none", "host") or pid <= 0:
            return None
        try:
            return network_stats(_read(f"/proc/{pid}/net/dev"))
        except OSError:
            return None


async def samples(containers: ContainerStore, c: Container, exec_root: str, *,
                  stream: bool, one_shot: bool) -> AsyncGenerator[dict[str, Any], None]:
    """The samples `GET /containers/{id}/stats` sends: one (stream=false), at once
    (one-shot), or one a second until the container is removed (the caller stops reading
    when its client hangs up). `exec_root`: the daemon's, whose runtime/ holds the
    containers' runtime state (their cgroups)."""
    sampler = Sampler(os.path.join(exec_root, "runtime"))
    if not stream and (not c.running or c.state.get("Restarting")):
        yield empty_sample("/" + c.name, c.id)
        return
    previous = sampler.take(c)
    if one_shot or stream:
        yield previous
        if one_shot:
            return
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due += INTERVAL
        await asyncio.sleep(max(0.0, due - loop.time()))
        current_c = containers.by_id.get(c.id)
        if current_c is None:  # removed: dockerd closes its stream
            return
        current = after(sampler.take(current_c), previous)
        yield current
        if not stream:
            return
        previous = current
