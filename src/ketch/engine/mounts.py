"""A container's volumes and bind mounts, read with Docker's rules and messages:
`-v` (HostConfig.Binds), `--mount` (HostConfig.Mounts), and the VOLUMEs of the image and of
the request (anonymous volumes for the paths nothing else is mounted on).

Parsing is pure (plan); making volumes and bind sources happens once everything has been
checked (realize), so a refused create leaves nothing behind.
"""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
from dataclasses import dataclass, field
from typing import Any

from ketch.errors import HostError, InvalidParameter
from ketch.images.rootfs import DIR_FLAGS, open_in, open_root

MODES = {"rw", "ro", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave", "private",
         "rprivate"}
PROPAGATIONS = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}


@dataclass
class Wanted:
    """One mount a create asks for."""

    type: str  # "bind", "volume" or "tmpfs"
    destination: str
    source: str = ""  # a host path (bind), a volume name ("" for an anonymous one)
    mode: str = ""  # as inspect shows it
    rw: bool = True
    propagation: str = ""
    copy: bool = True  # an empty volume is filled from the image (not with nocopy)
    create_source: bool = False  # -v creates a missing host directory; --mount refuses
    driver_opts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    tmpfs_options: list[str] = field(default_factory=list)


def _absolute(path: str, spec: str, kind: str) -> str:
    if not path.startswith("/"):
        raise InvalidParameter(f"invalid volume specification: '{spec}': invalid mount config "
                               f"for type \"{kind}\": invalid mount path: '{path}' mount path "
                               "must be absolute")
    return posixpath.normpath(path)


def parse_bind(spec: str) -> Wanted:
    """A `-v SRC:DST[:MODE]` (or `-v DST`, an anonymous volume)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return Wanted("volume", _absolute(parts[0], spec, "volume"))
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    source, destination = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    for word in filter(None, mode.split(",")):
        if word not in MODES:
            raise InvalidParameter(f"invalid mode: {mode}")
    words = set(mode.split(","))
    kind = "bind" if source.startswith("/") else "volume"
    wanted = Wanted(kind, _absolute(destination, spec, kind), rw="ro" not in words)
    propagation = next((w for w in words if w in PROPAGATIONS), "")
    if kind == "bind":
        wanted.source = posixpath.normpath(source)
        wanted.mode = mode
        wanted.propagation = propagation or "rprivate"
        wanted.create_source = True
    else:
        if propagation:
            raise InvalidParameter(f"invalid volume specification: '{spec}': propagation "
                                   "is only for bind mounts")
        wanted.source = source
        wanted.mode = mode or "z"
        wanted.copy = "nocopy" not in words
    return wanted


def parse_mount(mount: Any) -> Wanted:
    """An item of HostConfig.Mounts (`--mount type=...,target=...`)."""
    if not isinstance(mount, dict):
        raise InvalidParameter("invalid mount config: must be an object")
    kind = mount.get("Type") or ""
    target = mount.get("Target") or ""
    source = mount.get("Source") or ""
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidParameter(f"invalid mount config for type \"{kind}\": mount type "
                               "unknown" if kind else "invalid mount config: type is required")
    if not isinstance(target, str) or not target:
        raise InvalidParameter(f"invalid mount config for type \"{kind}\": field Target must "
                               "not be empty")
    if not isinstance(source, str):
        raise InvalidParameter(f"invalid mount config for type \"{kind}\": bad Source")
    if not target.startswith("/"):
        raise InvalidParameter(f"invalid mount config for type \"{kind}\": invalid mount "
                               f"path: '{target}' mount path must be absolute")
    wanted = Wanted(kind, posixpath.normpath(target), rw=not mount.get("ReadOnly"))
    if kind == "bind":
        if not source.startswith("/"):
            raise InvalidParameter(f"invalid mount config for type \"bind\": invalid mount "
                                   f"path: '{source}' mount path must be absolute")
        if not os.path.exists(source):
            raise InvalidParameter(f"invalid mount config for type \"bind\": bind source "
                                   f"path does not exist: {source}")
        wanted.source = posixpath.normpath(source)
        options = mount.get("BindOptions") or {}
        propagation = options.get("Propagation") or "rprivate"
        if propagation not in PROPAGATIONS:
            raise InvalidParameter(f"invalid mount config for type \"bind\": invalid "
                                   f"propagation mode: {propagation}")
        wanted.propagation = propagation
    elif kind == "volume":
        options = mount.get("VolumeOptions") or {}
        wanted.source = source
        wanted.mode = "z"
        wanted.copy = not options.get("NoCopy")
        wanted.labels = {str(k): str(v) for k, v in (options.get("Labels") or {}).items()}
        driver = options.get("DriverConfig") or {}
        if (driver.get("Name") or "local") != "local":
            raise InvalidParameter(f"plugin \"{driver.get('Name')}\" not found")
        wanted.driver_opts = {str(k): str(v) for k, v in (driver.get("Options") or {}).items()}
    else:
        if source:
            raise InvalidParameter("invalid mount config for type \"tmpfs\": field Source "
                                   "must not be specified")
        options = mount.get("TmpfsOptions") or {}
        if options.get("SizeBytes"):
            wanted.tmpfs_options.append(f"size={int(options['SizeBytes'])}")
        if options.get("Mode"):
            wanted.tmpfs_options.append(f"mode={int(options['Mode']):o}")
    return wanted


def inherited(points: list[dict[str, Any]], mode: str) -> list[Wanted]:
    """`--volumes-from c[:ro|rw]`: c's binds and volumes, at the same paths; read-write
    as they are in c unless the mode says otherwise."""
    if mode not in ("", "ro", "rw"):
        raise InvalidParameter(f"invalid mode: {mode}")
    wanted = []
    for point in points:
        if point.get("Type") not in ("bind", "volume"):
            continue
        rw = bool(point.get("RW")) if not mode else mode == "rw"
        kind = str(point["Type"])
        source = str(point.get("Source") if kind == "bind" else point.get("Name"))
        wanted.append(Wanted(kind, str(point["Destination"]), source=source,
                             mode=str(point.get("Mode") or ""), rw=rw,
                             propagation=str(point.get("Propagation") or ""), copy=False))
    return wanted


def plan(host: dict[str, Any], volumes: dict[str, Any] | None,
         image_volumes: dict[str, Any] | None,
         shared: list[Wanted] | None = None) -> list[Wanted]:
    """Every mount of a new container, checked: its own, then those of --volumes-from
    (shared) where its own leave room, then anonymous volumes for the VOLUMEs nothing
    else covers."""
    binds = host.get("Binds") or []
    mounts = host.get("Mounts") or []
    if not isinstance(binds, list) or not all(isinstance(b, str) for b in binds):
        raise InvalidParameter("invalid HostConfig.Binds: must be a list of strings")
    if not isinstance(mounts, list):
        raise InvalidParameter("invalid HostConfig.Mounts: must be a list")
    wanted = [parse_bind(b) for b in binds] + [parse_mount(m) for m in mounts]
    taken: set[str] = set()
    for w in wanted:
        if w.destination in taken:
            raise InvalidParameter(f"Duplicate mount point: {w.destination}")
        taken.add(w.destination)
    for w in shared or []:
        if w.destination not in taken:
            taken.add(w.destination)
            wanted.append(w)
    for path in [*(image_volumes or {}), *(volumes or {})]:
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidParameter(f"invalid volume specification: '{path}': invalid mount "
                                   f"config for type \"volume\": invalid mount path: "
                                   f"'{path}' mount path must be absolute")
        destination = posixpath.normpath(path)
        if destination not in taken:
            taken.add(destination)
            wanted.append(Wanted("volume", destination))
    return wanted


def mount_point(w: Wanted, name: str = "", source: str = "") -> dict[str, Any]:
    """What inspect shows of a mount (Docker's MountPoint), made once it exists."""
    point: dict[str, Any] = {"Type": w.type}
    if w.type == "volume":
        point["Name"] = name
    point["Source"] = source if w.type == "volume" else w.source
    point["Destination"] = w.destination
    if w.type == "volume":
        point["Driver"] = "local"
    point.update(Mode=w.mode, RW=w.rw, Propagation=w.propagation)
    return point


def spec_mounts(points: list[dict[str, Any]], tmpfs: list[Wanted]) -> list[dict[str, Any]]:
    """OCI mounts for the runtime, parents before what is mounted inside them."""
    mounts: list[dict[str, Any]] = []
    for point in points:
        if point["Type"] == "tmpfs":
            continue
        options = ["rbind", point.get("Propagation") or "rprivate",
                   "rw" if point["RW"] else "ro"]
        mounts.append({"destination": point["Destination"], "type": "bind",
                       "source": point["Source"], "options": options})
    for w in tmpfs:
        options = ["nosuid", "nodev", "noexec", "rw" if w.rw else "ro", *w.tmpfs_options]
        mounts.append({"destination": w.destination, "type": "tmpfs", "source": "tmpfs",
                       "options": options})
    return sorted(mounts, key=lambda m: len(m["destination"].rstrip("/").split("/")))


def copy_up(rootfs: str, destination: str, target: str) -> None:
    """Docker's copy-up: a volume that is still empty gets what the image has at its path
    (contents, owners, modes), once; nothing if the image has nothing there. The image's
    path is resolved inside its root (an image's symlink never leads to the host)."""
    if os.listdir(target):
        return
    root = open_root(rootfs)
    try:
        source = open_in(root, destination, DIR_FLAGS)
    except OSError:
        return  # no such directory in the image
    finally:
        os.close(root)
    try:
        st = os.fstat(source)
        copied = subprocess.run(["cp", "-a", "--", f"/proc/self/fd/{source}/.", target],
                                pass_fds=(source,), stdin=subprocess.DEVNULL,
                                capture_output=True, check=False)
        if copied.returncode != 0:
            raise HostError("cannot copy the image's content into the volume: "
                            + copied.stderr.decode(errors="replace").strip())
        os.chown(target, st.st_uid, st.st_gid)
        os.chmod(target, stat.S_IMODE(st.st_mode))
    finally:
        os.close(source)
