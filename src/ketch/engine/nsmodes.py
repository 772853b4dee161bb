"""HostConfig's namespace modes as dockerd reads them: PidMode, IpcMode, UTSMode,
CgroupnsMode and UsernsMode. Checked at create (a container they name must exist);
at start, the namespaces another container lends are found (it must be running, and
for IPC shareable) and /dev/shm is chosen: a tmpfs of the container's own, the host's
(--ipc host), none (--ipc none), or for a shareable container a tmpfs mounted on the
host side under its directory, which containers joining its IPC namespace bind too."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ketch.errors import Conflict, InvalidParameter, NotFound

_MODES = {  # field -> (the CLI's word for it, the plain modes; "container:" where allowed)
    "PidMode": ("PID", ("", "host"), True),
    "IpcMode": ("IPC", ("", "none", "private", "shareable", "host"), True),
    "UTSMode": ("UTS", ("", "host"), False),
    "CgroupnsMode": ("CGROUP", ("", "host", "private"), False),
    "UsernsMode": ("USER", ("", "host"), False),
}
SHM_DIR = "shm"  # under a shareable container's directory
_SHM_OPTIONS = ["nosuid", "noexec", "nodev", "mode=1777"]


def check(host: dict[str, Any], config: dict[str, Any], lookup: Callable[[str], Any]) -> None:
    """At create: known modes only, and a container named that exists (dockerd's "No
    such container" as a 400: a 404 would send the docker CLI pulling the image)."""
    for key, (word, plain, joins) in _MODES.items():
        mode = host.get(key) or ""
        if not isinstance(mode, str):
            raise InvalidParameter(f"invalid HostConfig.{key}: must be a string")
        if joins and mode.startswith("container:") and mode.partition(":")[2]:
            try:
                lookup(mode.partition(":")[2])
            except NotFound as e:
                raise InvalidParameter(str(e)) from None
        elif mode not in plain:
            raise InvalidParameter(f"invalid {word} mode: {mode}")
    if host.get("UTSMode") == "host" and config.get("Hostname"):
        raise InvalidParameter("conflicting options: hostname and the UTS mode")


def host_namespaces(host: dict[str, Any]) -> set[str]:
    """The namespace types the container shares with the host (so has none of its own)."""
    return {kind for kind, key in (("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode"))
            if host.get(key) == "host"}


def lenders(host: dict[str, Any], get: Callable[[str], Any]) -> dict[str, Any]:
    """At start: the running containers whose PID or IPC namespace this one joins."""
    found: dict[str, Any] = {}
    for kind, key in (("pid", "PidMode"), ("ipc", "IpcMode")):
        mode = host.get(key) or ""
        if not mode.startswith("container:"):
            continue
        other = get(mode.partition(":")[2])
        if not other.running:
            if kind == "pid":
                raise Conflict(f"container {other.id} is not running")
            raise Conflict(f"cannot join IPC of a non running container: {other.id}")
        if kind == "ipc" and other.host_config.get("IpcMode") not in ("shareable",):
            raise Conflict(f"can't join IPC of container {other.id}: non-shareable IPC "
                           "(hint: use IpcMode:shareable for the donor container)")
        found[kind] = other
    return found


def shm_mount(host: dict[str, Any], container_dir: str, lenders_: dict[str, Any],
              size: int) -> dict[str, Any] | None:
    """The /dev/shm mount of the spec (None: no /dev/shm at all, --ipc none)."""
    mode = host.get("IpcMode") or ""
    if mode == "none":
        return None
    if mode == "host":
        return _bind("/dev/shm")
    if "ipc" in lenders_:
        return _bind(os.path.join(lenders_["ipc"].dir, SHM_DIR))
    if mode == "shareable":
        return _bind(os.path.join(container_dir, SHM_DIR))
    return {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": [*_SHM_OPTIONS, f"size={size}"]}


def _bind(source: str) -> dict[str, Any]:
    return {"destination": "/dev/shm", "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]}


def mount_shared_shm(container_dir: str, size: int) -> None:
    """A shareable container's /dev/shm, a tmpfs on the host side (kept while it runs)."""
    from ketch.runtime import linux as L

    path = os.path.join(container_dir, SHM_DIR)
    os.makedirs(path, mode=0o700, exist_ok=True)
    if not os.path.ismount(path):
        L.mount("shm", path, "tmpfs", L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC,
                f"mode=1777,size={size}")


def unmount_shared_shm(container_dir: str) -> None:
    from ketch.runtime import linux as L

    path = os.path.join(container_dir, SHM_DIR)
    if os.path.ismount(path):
        L.umount2(path, L.MNT_DETACH)
