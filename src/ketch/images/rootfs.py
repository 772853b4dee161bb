"""Paths inside a container's root filesystem, resolved by the kernel inside that root.

A container's files are hostile: any component of a path may be a symlink to `/`, to
`../../..` or to a host path, and a process in the container may swap a directory for a
symlink at any moment. openat2(2) with RESOLVE_IN_ROOT resolves every component (symlinks
included) as if the root were `/`, so nothing leads out of it; RESOLVE_NO_MAGICLINKS
refuses /proc/<pid>/fd-style links. What comes back is a descriptor: whatever is renamed
or swapped afterwards, work done through it stays on the object that was resolved.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from ketch.util.openat2 import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS
from ketch.util.openat2 import openat2 as raw_openat2

IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY
MAX_SYMLINKS = 255  # as Docker's FollowSymlinkInScope


def openat2(dir_fd: int, path: str, flags: int, mode: int = 0,
            resolve: int = IN_ROOT) -> int:
    """openat2(2) inside the root by default; O_CLOEXEC is always added."""
    return raw_openat2(dir_fd, path, flags, mode, resolve)


def open_root(path: str) -> int:
    """A descriptor of the root directory itself (a host path we made: trusted)."""
    return os.open(path, DIR_FLAGS | os.O_NOFOLLOW | os.O_CLOEXEC)


def open_in(root_fd: int, path: str, flags: int = DIR_FLAGS) -> int:
    """`path` (absolute or not, it is read from the root) opened inside the root, every
    symlink on the way followed inside it; O_NOFOLLOW in flags keeps the last one."""
    try:
        return openat2(root_fd, path.lstrip("/") or ".", flags)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None


def lstat_in(root_fd: int, path: str) -> os.stat_result:
    """The lstat of `path` inside the root (a last symlink is not followed)."""
    fd = open_in(root_fd, path, os.O_PATH | os.O_NOFOLLOW)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def readlink_in(root_fd: int, path: str) -> str:
    fd = open_in(root_fd, path, os.O_PATH | os.O_NOFOLLOW)
    try:
        return os.readlink("", dir_fd=fd)
    finally:
        os.close(fd)


def follow_in_scope(root_fd: int, path: str) -> str:
    """Where `path` leads inside the root, as a clean absolute path: Docker's
    FollowSymlinkInScope. Symlinks are read (never followed on the host) and interpreted
    inside the root; a component that does not exist is kept as written, so a dangling
    link still names its target. For display and for the API's linkTarget only: anything
    opened goes through open_in."""
    resolved = ""  # components so far, each one a real directory (or missing), "/"-joined
    rest = path
    for _ in range(MAX_SYMLINKS + 1):
        while rest:
            part, _, rest = rest.partition("/")
            if part in ("", "."):
                continue
            candidate = posixpath.normpath("/" + resolved + "/" + part)
            if candidate == "/":
                resolved = ""
                continue
            try:
                st = lstat_in(root_fd, candidate)
            except FileNotFoundError:
                resolved = candidate.lstrip("/")
                continue
            if not stat.S_ISLNK(st.st_mode):
                resolved = candidate.lstrip("/")
                continue
            target = readlink_in(root_fd, candidate)
            if target.startswith("/"):
                resolved = ""
            rest = target + "/" + rest
            break
        else:
            return "/" + resolved
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
