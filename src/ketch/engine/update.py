"""`docker update`: a container's resources and restart policy changed, as dockerd's
UpdateContainer does it: checked against what the container already has, stored, and
applied to the cgroup of a running container at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ketch.engine import restarts
from ketch.engine.hostconfig import check_cpus, check_types, discard_blkio_weight, resources
from ketch.errors import Conflict, InvalidParameter

if TYPE_CHECKING:
    from ketch.engine.containers import Container

RESOURCES = ("CpuShares", "Memory", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus",
             "CpusetMems", "MemoryReservation", "MemorySwap", "PidsLimit", "BlkioWeight",
             "KernelMemory", "OomKillDisable")


def updated(c: Container, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The container's HostConfig with the update applied (nothing is stored yet), and
    the warnings dockerd would give."""
    check_types(body, "update")
    host = dict(c.host_config)
    body, warnings = discard_blkio_weight(body)
    if body.get("NanoCpus") and host.get("CpuQuota"):
        raise Conflict("Conflicting options: NanoCPUs can not be updated as CPU Quota has "
                       "already been set")
    if body.get("CpuQuota") and host.get("NanoCpus"):
        raise Conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has "
                       "already been set")
    memory = body.get("Memory") or 0
    swap = body.get("MemorySwap") or 0
    # dockerd refuses a memory limit above the swap limit it already has
    if memory and memory > (host.get("MemorySwap") or 0) and not swap:
        raise Conflict("Memory limit should be smaller than already set memoryswap "
                       "limit, update the memoryswap at the same time")
    for key in RESOURCES:
        value = body.get(key)
        if value is not None and (value or key in ("PidsLimit", "OomKillDisable")):
            host[key] = value
    if host.get("PidsLimit") is not None and host["PidsLimit"] <= 0:
        host["PidsLimit"] = None
    policy = body.get("RestartPolicy")
    if policy and (policy.get("Name") or policy.get("MaximumRetryCount")):
        if c.host_config.get("AutoRemove"):
            raise InvalidParameter("Restart policy cannot be updated because AutoRemove is "
                                   "enabled for the container")
        host["RestartPolicy"] = restarts.check({"RestartPolicy": policy})
    resources(host)
    check_cpus(host)
    return host, warnings


def live_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The OCI resources a running container's cgroup must take: the new limits, and
    explicit "no limit" values for those that were lifted."""
    changes = resources(new)
    before = resources(old)
    if "pids" in before and "pids" not in changes:
        changes["pids"] = {"limit": -1}
    if "cpu" in before and "cpu" not in changes:
        changes["cpu"] = {k: v for k, v in {"shares": 1024, "quota": -1}.items()
                          if k in ("shares", "quota") and k in before["cpu"]}
    return changes
