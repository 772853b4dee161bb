"""mount(2) and umount2(2) for volumes whose driver options ask for a filesystem, with
moby's error text ("mount SRC:DST, flags: 0x..., data: ...: <errno>")."""

from __future__ import annotations

import ctypes
import os
import re

from ketch.errors import HostError
from ketch.volumes.options import MS_BIND, MS_REC, MS_REMOUNT, parse_o

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2


def _error(op: str, source: str, target: str, flags: int, data: str, err: int) -> HostError:
    text = f"{op} {source}:{target}" if source else f"{op} {target}"
    if flags:
        text += f", flags: {flags:#x}"
    if data:
        text += f", data: {data}"
    return HostError(f"{text}: {os.strerror(err).lower()}")


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode() or None, flags,
                     data.encode() or None)
    if rc != 0:
        raise _error("mount", source, target, flags, data, ctypes.get_errno())


def mount(device: str, target: str, fstype: str, o: str) -> None:
    """Mount as the local driver does; a bind with ro/nosuid/... is remounted for them
    (the kernel ignores those flags on the bind itself)."""
    flags, propagation, data = parse_o(o)
    _mount(device, target, fstype, flags, data)
    try:
        extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
        if flags & MS_BIND and extra:
            _mount("", target, "", flags | MS_REMOUNT, data)
        if propagation:
            _mount("", target, "", propagation, "")
    except HostError:
        unmount(target)
        raise


def unmount(target: str) -> None:
    """Detach the mount at target (lazily, so that a busy one cannot keep it)."""
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err != 22:  # EINVAL: not a mount point (any more)
            raise _error("unmount", "", target, 0, "", err)


def is_mountpoint(path: str) -> bool:
    """Whether something is mounted at path, per /proc/self/mountinfo: a bind mount of a
    directory on the same filesystem looks like a plain directory to stat (os.path.ismount)."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = line.split(b" ", 5)[4]
            if b"\\" in point:  # octal escapes (\040 for a space) as the kernel writes them
                point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), point)
            if os.fsdecode(point) == target:
                return True
    return False
