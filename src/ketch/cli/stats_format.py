"""`stats` rows: the docker CLI's arithmetic over the daemon's samples and its formatter.

CPU % is the container's CPU time over the host's between the sample and the one before
it, times the online CPUs; memory is the usage without the inactive file cache
(`total_inactive_file` on cgroup v1, `inactive_file` on v2); sizes are go-units'
BytesSize (memory, binary) and HumanSizeWithPrecision (network and block I/O, decimal).
A container whose stats could not be read shows "--" throughout, as the docker CLI shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketch.cli.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}"
                  "\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")
TITLES = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
          "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
          "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, `%.4g` ("1.5MiB", "23.54GiB", "0B")."""
    i = 0
    while size >= 1024.0 and i < len(_BINARY) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{_BINARY[i]}"


def _uint(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def cpu_percent(sample: dict[str, Any]) -> float:
    """calculateCPUPercentUnix: the CPU delta over the system delta, times the online CPUs
    (or the per-CPU counters' number), as a percentage; 0 unless both deltas are > 0."""
    cpu = sample.get("cpu_stats") or {}
    pre = sample.get("precpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    cpu_delta = float(_uint(usage.get("total_usage"))) - \
        float(_uint((pre.get("cpu_usage") or {}).get("total_usage")))
    system_delta = float(_uint(cpu.get("system_cpu_usage"))) - \
        float(_uint(pre.get("system_cpu_usage")))
    online = float(_uint(cpu.get("online_cpus")))
    if online == 0.0:
        online = float(len(usage.get("percpu_usage") or []))
    if system_delta > 0.0 and cpu_delta > 0.0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def block_io(blkio: dict[str, Any] | None) -> tuple[int, int]:
    """calculateBlockIO: bytes read and written, by the first letter of each entry's op."""
    read = write = 0
    for entry in (blkio or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op") or "")
        if op[:1] in ("r", "R"):
            read += _uint(entry.get("value"))
        elif op[:1] in ("w", "W"):
            write += _uint(entry.get("value"))
    return read, write


def mem_usage_no_cache(memory: dict[str, Any]) -> float:
    """calculateMemUsageUnixNoCache: usage less the inactive file cache."""
    usage = _uint(memory.get("usage"))
    stats = memory.get("stats") or {}
    if "total_inactive_file" in stats and _uint(stats["total_inactive_file"]) < usage:  # v1
        return float(usage - _uint(stats["total_inactive_file"]))
    inactive = _uint(stats.get("inactive_file"))  # v2
    if inactive < usage:
        return float(usage - inactive)
    return float(usage)


def mem_percent(limit: float, used: float) -> float:
    """calculateMemPercentUnixNoCache: 0 when there is no limit (a stopped container)."""
    return used / limit * 100.0 if limit != 0 else 0.0


def network_io(networks: dict[str, Any] | None) -> tuple[int, int]:
    """calculateNetwork: bytes received and sent, over every interface."""
    rx = tx = 0
    for counters in (networks or {}).values():
        rx += _uint((counters or {}).get("rx_bytes"))
        tx += _uint((counters or {}).get("tx_bytes"))
    return rx, tx


@dataclass
class StatsEntry:
    """What the CLI keeps of a container's last sample (the docker CLI's StatsEntry)."""

    container: str
    name: str = ""
    id: str = ""
    cpu_percentage: float = 0.0
    memory: float = 0.0
    memory_limit: float = 0.0
    memory_percentage: float = 0.0
    network_rx: float = 0.0
    network_tx: float = 0.0
    block_read: float = 0.0
    block_write: float = 0.0
    pids_current: int = 0
    invalid: bool = False  # the last read failed: "--" everywhere


def entry_of(container: str, sample: dict[str, Any]) -> StatsEntry:
    """The figures of one sample, computed as the docker CLI computes them."""
    memory = sample.get("memory_stats") or {}
    used = mem_usage_no_cache(memory)
    limit = float(_uint(memory.get("limit")))
    block_read, block_write = block_io(sample.get("blkio_stats"))
    rx, tx = network_io(sample.get("networks"))
    return StatsEntry(
        container=container, name=str(sample.get("name") or ""), id=str(sample.get("id") or ""),
        cpu_percentage=cpu_percent(sample), memory=used, memory_limit=limit,
        memory_percentage=mem_percent(limit, used), network_rx=float(rx),
        network_tx=float(tx), block_read=float(block_read), block_write=float(block_write),
        pids_current=_uint((sample.get("pids_stats") or {}).get("current")))


def _percent(value: float) -> str:
    return f"{value:.2f}%"


class StatsRow:
    """The placeholders of one container (`.Name`, `.CPUPerc`, ...)."""

    def __init__(self, entry: StatsEntry, trunc: bool = True) -> None:
        self._s = entry
        self._trunc = trunc

    @property
    def Container(self) -> str:
        return self._s.container

    @property
    def Name(self) -> str:
        return self._s.name[1:] if len(self._s.name) > 1 else "--"

    @property
    def ID(self) -> str:
        ident = self._s.id
        if self._trunc:
            ident = ident.partition(":")[2] if ":" in ident else ident
            return ident[:12]
        return ident

    @property
    def CPUPerc(self) -> str:
        return "--" if self._s.invalid else _percent(self._s.cpu_percentage)

    @property
    def MemUsage(self) -> str:
        if self._s.invalid:
            return "-- / --"
        return f"{bytes_size(self._s.memory)} / {bytes_size(self._s.memory_limit)}"

    @property
    def MemPerc(self) -> str:
        return "--" if self._s.invalid else _percent(self._s.memory_percentage)

    @property
    def NetIO(self) -> str:
        if self._s.invalid:
            return "--"
        return f"{human_size(self._s.network_rx)} / {human_size(self._s.network_tx)}"

    @property
    def BlockIO(self) -> str:
        if self._s.invalid:
            return "--"
        return f"{human_size(self._s.block_read)} / {human_size(self._s.block_write)}"

    @property
    def PIDs(self) -> str:
        return "--" if self._s.invalid else str(self._s.pids_current)

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in sorted(TITLES)}


def stats_format(fmt: str) -> str:
    """NewStatsFormat: no format or "table" is the default table; anything else as given."""
    return DEFAULT_FORMAT if fmt.strip() in ("", "table") else fmt
