"""Where a container's cgroup lives: `linux.cgroupsPath` resolved against the host's mounts.

Reads /proc/self/mountinfo to find the cgroup hierarchies mounted under a root
(v1 controllers, cgroup2, or both in "hybrid" mode) and /proc/self/cgroup for
paths relative to the caller's own cgroup, as runc's cgroupfs driver does.
"""

from __future__ import annotations

import os

from ketch.errors import HostError, InvalidParameter

MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUP = "/proc/self/cgroup"
# cgroup v1 mount options that name no controller
_NOT_SUBSYSTEMS = frozenset(("rw", "ro", "xattr", "noprefix", "clone_children",
                             "cpuset_v2_mode", "favordynmods", "none"))


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """The normalised `cgroupsPath` (absolute, or relative to the caller's cgroup).

    Absent means `<container_id>` relative to the caller's cgroup, like runc
    without systemd. `..` is refused outright: the path must not climb out.
    """
    path = cgroups_path or container_id
    if "\0" in path or "\n" in path:
        raise InvalidParameter(f"invalid cgroupsPath {path!r}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidParameter(f"invalid cgroupsPath {path!r}: '..' is not allowed")
    if not parts:
        raise InvalidParameter(f"invalid cgroupsPath {path!r}: it names no cgroup")
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def subsystems(super_options: str) -> str:
    """The hierarchy's identity as /proc/self/cgroup spells it ("cpu,cpuacct", "name=systemd")."""
    names = [o for o in super_options.split(",")
             if o not in _NOT_SUBSYSTEMS and ("=" not in o or o.startswith("name="))]
    return ",".join(sorted(names))


def parse_mountinfo(text: str, root: str) -> list[tuple[str, str, str, str]]:
    """cgroup mounts at or directly under `root`: (mountpoint, mount root, fstype, key).

    `key` is `subsystems()` for v1 and "" for cgroup2, the keys of /proc/self/cgroup.
    """
    found: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        fstype, mount_root, mountpoint = fields[sep + 1], fields[3], fields[4]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mountpoint = mountpoint.replace("\\040", " ")
        if mountpoint != root and os.path.dirname(mountpoint) != root:
            continue
        key = subsystems(fields[sep + 3]) if fstype == "cgroup" else ""
        if key in seen:  # the same hierarchy mounted twice: keep the first
            continue
        seen.add(key)
        found.append((mountpoint, mount_root, fstype, key))
    return found


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup as {hierarchy key: cgroup path}; cgroup2's key is ""."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        own[",".join(sorted(controllers.split(","))) if controllers else ""] = path
    return own


def host_dir(mountpoint: str, mount_root: str, key: str, inner: str,
             own: dict[str, str] | None) -> str:
    """The host directory of cgroup `inner` in the hierarchy mounted at `mountpoint`."""
    if inner.startswith("/"):
        return mountpoint + inner
    if own is None or key not in own:
        raise HostError(f"cgroup: this process is in no cgroup of hierarchy {key or 'cgroup2'!r}")
    rel = os.path.relpath(own[key], mount_root)
    if rel == ".." or rel.startswith("../"):
        raise HostError(f"cgroup: own cgroup {own[key]} is outside the mount at {mountpoint}")
    return os.path.normpath(os.path.join(mountpoint, rel, inner))


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise HostError(f"cgroup: cannot read {path}: {e.strerror}") from None
