"""Resolve paths inside a container root without ever leaving it.

Existing paths are opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS):
the kernel resolves every symlink and `..` against the container root. To make
missing components, every component is opened with O_PATH|O_NOFOLLOW relative
to the previous one, and symlinks are read and re-resolved by hand against the
root. Either way a symlink in an image (or one swapped in by a racing
container) cannot point a mount or a write at the host. Results are O_PATH file
descriptors; callers use them through /proc/self/fd/N.
"""

from __future__ import annotations

import errno
import os
import stat

from ketch.runtime import linux as L
from ketch.util.openat2 import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS

_MAX_LINKS = 40
O_PATH = 0o10000000


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def resolve(root_fd: int, path: str, *, create: str | None = None, mode: int = 0o755,
            follow_last: bool = True) -> int:
    """Open `path` inside the root as an O_PATH fd.

    create: None (the path must exist), "dir" or "file": missing components are
    made as directories, a missing last component as `create`.
    follow_last: whether a symlink as the last component is followed (in-root).
    Raises OSError (ENOENT, ENOTDIR, ELOOP, ...) with `path` as its filename.
    """
    try:  # the kernel resolves in the root itself when the path exists (one syscall)
        flags = O_PATH | (0 if follow_last else os.O_NOFOLLOW)
        return L.openat2(root_fd, path.lstrip("/") or ".", flags,
                         RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    except FileNotFoundError:
        if create is None:
            raise
    except OSError as e:
        if e.errno != errno.ENOSYS:
            raise
    todo = _components(path)
    done: list[str] = []
    cur = os.dup(root_fd)
    links = 0
    try:
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                    os.close(cur)
                    cur = _reopen(root_fd, done)
                continue
            last = not todo
            try:
                fd = os.open(part, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            except FileNotFoundError:
                if create is None:
                    raise
                if last and create == "file":
                    fd = _make_file(cur, part, mode)
                else:
                    try:
                        os.mkdir(part, mode, dir_fd=cur)
                    except FileExistsError:
                        pass  # made by someone else meanwhile: open it as it is
                    todo.insert(0, part)
                    continue
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
                links += 1
                if links > _MAX_LINKS:
                    os.close(fd)
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(part, dir_fd=cur)
                os.close(fd)
                if target.startswith("/"):
                    done = []
                    os.close(cur)
                    cur = os.dup(root_fd)
                todo[:0] = _components(target)
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            os.close(cur)
            cur = fd
            done.append(part)
        return cur
    except OSError as e:
        os.close(cur)
        if e.filename is None:
            e.filename = path
        raise


def _reopen(root_fd: int, parts: list[str]) -> int:
    """Re-walk an already resolved chain of plain directories from the root."""
    cur = os.dup(root_fd)
    for part in parts:
        nxt = os.open(part, O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=cur)
        os.close(cur)
        cur = nxt
    return cur


def _make_file(dir_fd: int, name: str, mode: int) -> int:
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode & 0o666, dir_fd=dir_fd)
        os.close(fd)
    except FileExistsError:
        pass
    return os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def parent_and_name(root_fd: int, path: str, mode: int = 0o755) -> tuple[int, str]:
    """An O_PATH fd of the (made, in-root) parent directory of `path`, and its last name."""
    parts = _components(path)
    if not parts or parts[-1] == "..":
        raise OSError(errno.EINVAL, "path has no last component", path)
    parent = resolve(root_fd, "/".join(parts[:-1]), create="dir", mode=mode)
    return parent, parts[-1]
