"""Small filesystem helpers for the image store: atomic writes, fsyncs, private directories."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat

from ketch.errors import InvalidParameter
from ketch.util.fswalk import DirPath, sorted_names

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
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
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


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def remove_tree(path: str) -> None:
    """Delete a directory tree without following symlinks; gone already is fine. A loop,
    not shutil.rmtree: that recurses and holds an fd per level, and a container can make
    its tree as deep as it likes."""
    parent, name = os.path.split(path.rstrip("/"))
    try:
        fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            remove_tree_at(fd, name)
        else:
            os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def remove_tree_at(dir_fd: int, name: str) -> None:
    """The directory name of dir_fd and everything in it, however deep."""
    with DirPath(dir_fd, max_depth=1 << 30) as path:
        if path.enter(name) is None:
            return
        pending = [iter(sorted_names(_current(path)))]
        while pending:
            entry = next(pending[-1], None)
            if entry is None:
                pending.pop()
                done = path.name
                path.leave()
                os.rmdir(done, dir_fd=_current(path))
                continue
            parent = _current(path)
            try:
                st = os.stat(entry, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(entry, dir_fd=parent)
            elif path.enter(entry) is not None:
                pending.append(iter(sorted_names(_current(path))))


def _current(path: DirPath) -> int:
    fd = path.fd()
    if fd is None:
        raise FileNotFoundError(errno.ENOENT, "a directory went away while it was removed")
    return fd


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
