"""HostConfig and Config from a create request: checked, and turned into OCI settings.

Docker's rules for capabilities (--cap-add/--cap-drop), no-new-privileges, the
resource limits and --tmpfs. Options ketch cannot honour yet are refused with a
400 rather than ignored: a user who asked for -v, -p or --privileged must not
believe they got it.
"""

from __future__ import annotations

import os
from typing import Any

from ketch.errors import InvalidParameter
from ketch.runtime import caps as C

TYPES: dict[str, type | tuple[type, ...]] = {  # Config and HostConfig fields we read
    "Hostname": str, "Domainname": str, "User": str, "WorkingDir": str, "Image": str,
    "Labels": dict, "Env": list, "Tty": bool, "OpenStdin": bool, "StdinOnce": bool,
    "AttachStdin": bool, "AttachStdout": bool, "AttachStderr": bool, "StopSignal": str,
    "ShmSize": int, "OomScoreAdj": int, "Memory": int, "MemorySwap": int,
    "MemoryReservation": int, "CpuShares": int, "CpuQuota": int, "CpuPeriod": int,
    "NanoCpus": int, "CpusetCpus": str, "CpusetMems": str, "PidsLimit": int,
    "OomKillDisable": bool, "CapAdd": list, "CapDrop": list, "SecurityOpt": list,
    "Tmpfs": dict, "AutoRemove": bool, "ReadonlyRootfs": bool, "NetworkMode": str,
    "Privileged": bool, "Init": bool, "StopTimeout": int, "Devices": list, "Sysctls": dict,
    "Ulimits": list, "GroupAdd": list, "MaskedPaths": list, "ReadonlyPaths": list,
    "DeviceCgroupRules": list,
}
MIN_MEMORY = 6 * 1024 * 1024  # Docker's linuxMinMemory


def check_types(section: dict[str, Any], where: str) -> None:
    for key, kind in TYPES.items():
        value = section.get(key)
        if value is None:
            continue
        if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
            raise InvalidParameter(f"invalid {where}.{key}: wrong type {type(value).__name__}")
    for key in ("Labels", "Tmpfs"):
        for k, v in (section.get(key) or {}).items():
            if not isinstance(v, str):
                raise InvalidParameter(f"invalid {where}.{key}[{k!r}]: must be a string")
    for key in ("Env", "CapAdd", "CapDrop", "SecurityOpt", "MaskedPaths", "ReadonlyPaths",
                "DeviceCgroupRules"):
        if not all(isinstance(v, str) for v in section.get(key) or []):
            raise InvalidParameter(f"invalid {where}.{key}: must be a list of strings")


def _cap_name(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") or name == "ALL" else f"CAP_{name}"


def capabilities(defaults: list[str], host: dict[str, Any]) -> list[str]:
    """moby's TweakCapabilities: defaults, minus --cap-drop, plus --cap-add, with ALL."""
    adds = [_cap_name(n) for n in host.get("CapAdd") or []]
    drops = [_cap_name(n) for n in host.get("CapDrop") or []]
    for name in adds + drops:
        if name != "ALL" and name not in C.NUMBERS:
            raise InvalidParameter(f'unknown capability: "{name}"')
    every = C.held()  # ALL: what ketchd itself may give
    if "ALL" in adds:
        return [c for c in every if c not in drops]
    if "ALL" in drops:
        return [c for c in every if c in adds]
    return [c for c in every if (c in defaults and c not in drops) or c in adds]


def normalized(host: dict[str, Any], masked: list[str], readonly: list[str]
               ) -> dict[str, Any]:
    """HostConfig as dockerd stores it (adaptContainerSettings and friends): swap twice
    the memory unless given, no pids limit as null, empty lists for Ulimits and Devices,
    and the masked and read-only paths filled in unless privileged."""
    out = dict(host)
    if out.get("Memory") and not out.get("MemorySwap"):
        out["MemorySwap"] = 2 * out["Memory"]
    if out.get("MemorySwappiness") == -1:
        out["MemorySwappiness"] = None
    if not out.get("PidsLimit") or out["PidsLimit"] <= 0:
        out["PidsLimit"] = None
    for key in ("Ulimits", "Devices"):
        out[key] = out.get(key) or []
    out["OomKillDisable"] = bool(out.get("OomKillDisable"))
    # dockerd's defaults: a private IPC namespace; the host's cgroup namespace on cgroup v1
    # and a private one on v2
    out["IpcMode"] = out.get("IpcMode") or "private"
    out["CgroupnsMode"] = out.get("CgroupnsMode") or (
        "private" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "host")
    if not out.get("Privileged"):
        if out.get("MaskedPaths") is None:
            out["MaskedPaths"] = list(masked)
        if out.get("ReadonlyPaths") is None:
            out["ReadonlyPaths"] = list(readonly)
    return out


def _cpu_list(text: str) -> set[int] | None:
    """"0-3,5" -> {0, 1, 2, 3, 5}; None if it does not parse."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            return None
        cpus.update(range(int(low), int(high if dash else low) + 1))
    return cpus


def check_cpus(host: dict[str, Any]) -> None:
    """--cpus and --cpuset-cpus against the CPUs this host has, in dockerd's words."""
    online = sorted(os.sched_getaffinity(0))
    count = len(online)
    nano = host.get("NanoCpus") or 0
    if nano and not 10_000_000 <= nano <= count * 1_000_000_000:
        raise InvalidParameter(f"Range of CPUs is from 0.01 to {count}.00, as there are only "
                               f"{count} CPUs available")
    for key, what in (("CpusetCpus", "cpus"), ("CpusetMems", "mems")):
        text = host.get(key) or ""
        if not text:
            continue
        wanted = _cpu_list(text)
        if wanted is None:
            raise InvalidParameter(f"Invalid value {text} for cpuset {what}")
        if key == "CpusetCpus" and not wanted <= set(online):
            ranges = f"{online[0]}-{online[-1]}" if online == list(
                range(online[0], online[-1] + 1)) else ",".join(map(str, online))
            raise InvalidParameter(f"Requested CPUs are not available - requested {text}, "
                                   f"available: {ranges}")
    adj = host.get("OomScoreAdj") or 0
    if not -1000 <= adj <= 1000:
        raise InvalidParameter(f"Invalid value {adj}, range for oom score adj is "
                               "[-1000, 1000]")


def resources(host: dict[str, Any]) -> dict[str, Any]:
    """OCI linux.resources from Docker's limits (0 or absent: no limit)."""
    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if host.get("MemorySwap") and host["MemorySwap"] != -1 and not host.get("Memory"):
        raise InvalidParameter("You should always set the Memory limit when using "
                               "Memoryswap limit, see usage")
    if host.get("Memory"):
        if host["Memory"] < MIN_MEMORY:
            raise InvalidParameter("Minimum memory limit allowed is 6MB")
        memory["limit"] = host["Memory"]
        swap = host.get("MemorySwap") or 0
        if swap > 0 and swap < host["Memory"]:
            raise InvalidParameter("Minimum memoryswap limit should be larger than memory "
                                   "limit, see usage")
        memory["swap"] = -1 if swap == -1 else (swap or 2 * host["Memory"])
    if host.get("MemoryReservation"):
        memory["reservation"] = host["MemoryReservation"]
    if host.get("OomKillDisable"):
        memory["disableOOMKiller"] = True
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if host.get("CpuShares"):
        cpu["shares"] = host["CpuShares"]
    if host.get("NanoCpus"):
        if host.get("CpuQuota") or host.get("CpuPeriod"):
            raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period/Quota "
                                   "cannot both be set")
        cpu["period"] = 100000
        cpu["quota"] = host["NanoCpus"] * 100000 // 1_000_000_000
    if host.get("CpuQuota"):
        cpu["quota"] = host["CpuQuota"]
    if host.get("CpuPeriod"):
        cpu["period"] = host["CpuPeriod"]
    for key, oci in (("CpusetCpus", "cpus"), ("CpusetMems", "mems")):
        if host.get(key):
            cpu[oci] = host[key]
    if cpu:
        out["cpu"] = cpu
    if host.get("PidsLimit") and host["PidsLimit"] > 0:
        out["pids"] = {"limit": host["PidsLimit"]}
    return out


def tmpfs_mounts(host: dict[str, Any]) -> list[dict[str, Any]]:
    mounts = []
    for dest, opts in (host.get("Tmpfs") or {}).items():
        if not dest.startswith("/"):
            raise InvalidParameter(f"invalid mount path {dest!r}: must be absolute")
        options = ["noexec", "nosuid", "nodev", *[o for o in opts.split(",") if o]]
        mounts.append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                       "options": options})
    return mounts


def discard_blkio_weight(section: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """BlkioWeight, checked and then discarded with dockerd's warning, as dockerd does on
    a kernel without a proportional-weight I/O scheduler (this machine's: no CFQ/BFQ)."""
    weight = section.get("BlkioWeight")
    if not weight:
        return section, []
    if not isinstance(weight, int) or isinstance(weight, bool) or not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    return {**section, "BlkioWeight": 0}, [
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
        "Weight discarded."]
