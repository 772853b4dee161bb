"""openat2(2), for the runtime (a bundle's rootfs) and the daemon (`cp` in a container):
resolution the kernel keeps inside a root (RESOLVE_IN_ROOT) or under a directory."""

from __future__ import annotations

import ctypes
import errno
import os

SYS_OPENAT2 = 437  # the same number on every architecture (added after the table merge)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
_RETRIES = 64  # EAGAIN: a rename raced the lookup; the kernel asks us to try again


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                     ctypes.c_size_t]


def openat2(dir_fd: int, path: str, flags: int, mode: int, resolve: int) -> int:
    """openat2(2); O_CLOEXEC is always added. Raises OSError like os.open."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    if b"\0" in raw:  # C would read a shorter path than the one asked for
        raise ValueError(f"embedded null byte in {path!r}")
    for _ in range(_RETRIES):
        fd = _syscall(SYS_OPENAT2, dir_fd, raw, ctypes.byref(how), ctypes.sizeof(how))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EINTR, errno.EAGAIN):
            raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)
