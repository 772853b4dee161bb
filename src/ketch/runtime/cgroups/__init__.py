"""Container cgroups for the OCI runtime: one interface over cgroup v1 and v2.

    cg = open_cgroup(spec["linux"].get("cgroupsPath"), container_id)
    cg.create(); cg.apply(spec["linux"].get("resources") or {}); cg.add(pid)
    state["cgroup"] = cg.to_state()   # later: Cgroup.from_state(state["cgroup"])

The version is detected from the mounts under the root: cgroup2 mounted at the
root itself is v2; otherwise the v1 hierarchies are used, plus the unified one
in hybrid mode. Only the module for the detected version is imported.
"""

from __future__ import annotations

import os

from ketch.errors import HostError
from ketch.runtime.cgroups import paths
from ketch.runtime.cgroups.base import Cgroup
from ketch.runtime.cgroups.devices import DEFAULT_RULES

__all__ = ["DEFAULT_RULES", "Cgroup", "open_cgroup"]


def open_cgroup(cgroups_path: str | None, container_id: str, *,
                root: str = "/sys/fs/cgroup") -> Cgroup:
    """The container's cgroup (not created yet) for OCI `linux.cgroupsPath`.

    Absolute paths are taken from each hierarchy's root, relative ones from
    this process's own cgroup; absent means `<container_id>`, relative.
    """
    inner = paths.inner_path(cgroups_path, container_id)
    root = os.path.normpath(root)
    mounts = paths.parse_mountinfo(paths.read_text(paths.MOUNTINFO), root)
    own = None if inner.startswith("/") else paths.parse_proc_cgroup(
        paths.read_text(paths.PROC_CGROUP))
    for mountpoint, mount_root, fstype, key in mounts:
        if mountpoint == root and fstype == "cgroup2":
            from ketch.runtime.cgroups.v2 import V2Cgroup
            return V2Cgroup(paths.host_dir(mountpoint, mount_root, key, inner, own), root)
    hierarchies = []
    unified = None
    for mountpoint, mount_root, fstype, key in mounts:
        directory = paths.host_dir(mountpoint, mount_root, key, inner, own)
        if fstype == "cgroup2":
            unified = directory
        else:
            hierarchies.append((os.path.basename(mountpoint), directory, key))
    if not hierarchies:
        raise HostError(f"cgroup: no cgroup hierarchy is mounted at {root}")
    from ketch.runtime.cgroups.v1 import V1Cgroup
    return V1Cgroup(hierarchies, unified)
