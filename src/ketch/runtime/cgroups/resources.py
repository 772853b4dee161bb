"""OCI `linux.resources` checked and flattened into Limits, before any cgroup file is written.

Values follow runc's conventions: 0 (or absent) means "leave as is", -1 means
"unlimited" where the spec allows it. A bad value raises InvalidParameter with
the JSON path of the field, so nothing is half-applied.
"""

from __future__ import annotations

from ketch.errors import InvalidParameter
from ketch.runtime.cgroups.devices import Rule, parse_rules

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_U64 = (1 << 64) - 1
_I64 = (1 << 63) - 1
_U32 = (1 << 32) - 1

# (major, minor, value)
Throttle = tuple[int, int, int]


class Limits:
    """The resources of one container, flat, in runc's configs.Resources vocabulary."""

    __slots__ = (
        "blkio_leaf_weight", "blkio_weight", "blkio_weight_devices", "cpu_burst",
        "cpu_idle", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime",
        "cpu_shares", "cpuset_cpus", "cpuset_mems", "devices", "disable_oom_killer",
        "hugepages", "kernel_tcp", "memory", "memory_reservation", "memory_swap", "net_classid",
        "net_priorities", "pids_limit", "swappiness", "throttle", "unified",
    )

    def __init__(self) -> None:
        self.memory: int | None = None              # bytes, -1 unlimited
        self.memory_reservation: int | None = None
        self.memory_swap: int | None = None         # memory+swap, -1 unlimited
        self.swappiness: int | None = None
        self.kernel_tcp: int | None = None          # v1 only: TCP buffer memory
        self.disable_oom_killer = False
        self.cpu_shares: int | None = None
        self.cpu_quota: int | None = None           # µs, -1 unlimited
        self.cpu_period: int | None = None
        self.cpu_burst: int | None = None
        self.cpu_rt_runtime: int | None = None
        self.cpu_rt_period: int | None = None
        self.cpu_idle: int | None = None
        self.cpuset_cpus: str | None = None
        self.cpuset_mems: str | None = None
        self.pids_limit: int | None = None          # -1 unlimited
        self.blkio_weight: int | None = None
        self.blkio_leaf_weight: int | None = None
        # (major, minor, weight or None, leafWeight or None)
        self.blkio_weight_devices: list[tuple[int, int, int | None, int | None]] = []
        # OCI throttle key ("throttleReadBpsDevice", ...) -> entries
        self.throttle: dict[str, list[Throttle]] = {}
        self.hugepages: list[tuple[str, int]] = []  # (pageSize "2MB", limit bytes)
        self.net_classid: int | None = None
        self.net_priorities: list[tuple[str, int]] = []
        self.unified: dict[str, str] = {}
        self.devices: list[Rule] | None = None      # None: leave device access alone


THROTTLE_KEYS = ("throttleReadBpsDevice", "throttleWriteBpsDevice",
                 "throttleReadIOPSDevice", "throttleWriteIOPSDevice")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid {where}: expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParameter(f"invalid {where}: expected an array")
    return value


def _int(obj: dict[str, Any], key: str, where: str, lo: int, hi: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidParameter(f"invalid {where}.{key}: {value!r} is not an integer "
                               f"in [{lo}, {hi}]")
    return value


def _unset0(value: int | None) -> int | None:
    return None if value == 0 else value


def _cpu_list(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not set(value) <= set("0123456789,-"):
        raise InvalidParameter(f"invalid {where}.{key}: {value!r} is not a list like '0-3,5'")
    return value


def _device(obj: Any, where: str) -> tuple[int, int]:
    obj = _obj(obj, where)
    major = _int(obj, "major", where, 0, _U32)
    minor = _int(obj, "minor", where, 0, _U32)
    if major is None or minor is None:
        raise InvalidParameter(f"invalid {where}: major and minor are required")
    return major, minor


def _page_size(value: Any, where: str) -> str:
    if (not isinstance(value, str) or len(value) < 3 or value[-2:] not in ("KB", "MB", "GB")
            or not value[:-2].isdigit()):
        raise InvalidParameter(f"invalid {where}.pageSize: {value!r} (expected e.g. '2MB')")
    return value


def parse_resources(resources: dict[str, Any] | None) -> Limits:
    """Check OCI linux.resources and return it as Limits."""
    res = _obj(resources, "linux.resources")
    lim = Limits()

    where = "linux.resources.memory"
    mem = _obj(res.get("memory"), where)
    lim.memory = _unset0(_int(mem, "limit", where, -1, _I64))
    lim.memory_reservation = _unset0(_int(mem, "reservation", where, -1, _I64))
    lim.memory_swap = _unset0(_int(mem, "swap", where, -1, _I64))
    _int(mem, "kernel", where, -1, _I64)      # deprecated; accepted and ignored like runc
    lim.kernel_tcp = _int(mem, "kernelTCP", where, -1, _I64)
    swappiness = _int(mem, "swappiness", where, -1, _U64)
    if swappiness is not None and swappiness > 100:
        raise InvalidParameter(f"invalid {where}.swappiness: {swappiness} is not in [0, 100]")
    lim.swappiness = None if swappiness == -1 else swappiness
    lim.disable_oom_killer = mem.get("disableOOMKiller") is True
    if (lim.memory and lim.memory > 0 and lim.memory_swap and lim.memory_swap > 0
            and lim.memory_swap < lim.memory):
        raise InvalidParameter("invalid linux.resources.memory: swap (memory+swap) "
                               "must be at least the memory limit")

    where = "linux.resources.cpu"
    cpu = _obj(res.get("cpu"), where)
    lim.cpu_shares = _unset0(_int(cpu, "shares", where, 0, _U64))
    if lim.cpu_shares is not None and not 2 <= lim.cpu_shares <= 262144:
        raise InvalidParameter(f"invalid {where}.shares: {lim.cpu_shares} is not in "
                               f"[2, 262144]")
    lim.cpu_quota = _unset0(_int(cpu, "quota", where, -1, _I64))
    if lim.cpu_quota is not None and 0 < lim.cpu_quota < 1000:
        raise InvalidParameter(f"invalid {where}.quota: {lim.cpu_quota} is below 1000 µs")
    lim.cpu_period = _unset0(_int(cpu, "period", where, 0, _U64))
    if lim.cpu_period is not None and not 1000 <= lim.cpu_period <= 1000000:
        raise InvalidParameter(f"invalid {where}.period: {lim.cpu_period} is not in "
                               f"[1000, 1000000] µs")
    lim.cpu_burst = _int(cpu, "burst", where, 0, _U64)
    lim.cpu_rt_runtime = _unset0(_int(cpu, "realtimeRuntime", where, -1, _I64))
    lim.cpu_rt_period = _unset0(_int(cpu, "realtimePeriod", where, 0, _U64))
    lim.cpu_idle = _int(cpu, "idle", where, 0, 1)
    lim.cpuset_cpus = _cpu_list(cpu, "cpus", where)
    lim.cpuset_mems = _cpu_list(cpu, "mems", where)

    where = "linux.resources.pids"
    pids_limit = _int(_obj(res.get("pids"), where), "limit", where, -(1 << 63), _I64)
    lim.pids_limit = -1 if pids_limit is not None and pids_limit < 0 else _unset0(pids_limit)

    where = "linux.resources.blockIO"
    bio = _obj(res.get("blockIO"), where)
    lim.blkio_weight = _unset0(_int(bio, "weight", where, 0, 1000))
    lim.blkio_leaf_weight = _unset0(_int(bio, "leafWeight", where, 0, 1000))
    for w in (lim.blkio_weight, lim.blkio_leaf_weight):
        if w is not None and w < 10:
            raise InvalidParameter(f"invalid {where}: weight {w} is not in [10, 1000]")
    for i, entry in enumerate(_list(bio.get("weightDevice"), f"{where}.weightDevice")):
        at = f"{where}.weightDevice[{i}]"
        major, minor = _device(entry, at)
        weight = _int(entry, "weight", at, 10, 1000)
        leaf = _int(entry, "leafWeight", at, 10, 1000)
        lim.blkio_weight_devices.append((major, minor, weight, leaf))
    for key in THROTTLE_KEYS:
        entries = []
        for i, entry in enumerate(_list(bio.get(key), f"{where}.{key}")):
            at = f"{where}.{key}[{i}]"
            major, minor = _device(entry, at)
            rate = _int(entry, "rate", at, 0, _U64)
            entries.append((major, minor, rate or 0))
        if entries:
            lim.throttle[key] = entries

    where = "linux.resources.hugepageLimits"
    for i, entry in enumerate(_list(res.get("hugepageLimits"), where)):
        at = f"{where}[{i}]"
        entry = _obj(entry, at)
        limit = _int(entry, "limit", at, 0, _U64)
        lim.hugepages.append((_page_size(entry.get("pageSize"), at), limit or 0))

    where = "linux.resources.network"
    net = _obj(res.get("network"), where)
    lim.net_classid = _int(net, "classID", where, 0, _U32)
    for i, entry in enumerate(_list(net.get("priorities"), f"{where}.priorities")):
        at = f"{where}.priorities[{i}]"
        entry = _obj(entry, at)
        name = entry.get("name")
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise InvalidParameter(f"invalid {at}.name: {name!r}")
        lim.net_priorities.append((name, _int(entry, "priority", at, 0, _U32) or 0))

    where = "linux.resources.unified"
    for key, value in _obj(res.get("unified"), where).items():
        if (not key or "/" in key or key.startswith(".") or "\0" in key
                or not isinstance(value, str)):
            raise InvalidParameter(f"invalid {where}: {key!r}: {value!r}")
        lim.unified[key] = value

    if res.get("devices") is not None:
        lim.devices = parse_rules(_list(res.get("devices"), "linux.resources.devices"))
    return lim
