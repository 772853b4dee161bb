"""Small filesystem helpers for the image store: atomic writes, fsyncs, private directories."""

from __future__ import annotations

import ctypes
import os
import re

from ketch.errors import InvalidParameter
from ketch.util.files import fsync_dir, write_all

_libc = ctypes.CDLL(None, use_errno=True)
HEX64 = re.compile(r"[a-f0-9]{64}", re.ASCII)


def hex_of(digest: str) -> str:
    """"sha256:<hex>" -> "<hex>", refusing anything that must not become a path."""
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or not HEX64.fullmatch(value):
        raise InvalidParameter(f"invalid digest: {digest!r}")
    return value


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write data to path so that a reader (or a crash) sees the old file or the new one."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def syncfs(path: str) -> None:
    """Flush the filesystem holding path (a freshly extracted layer) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def makedirs(path: str, mode: int = 0o700) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
