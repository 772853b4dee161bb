"""Walking a directory tree that may change under us (a running container's): by fd,
never through a symlink, without recursion, with few fds open however deep it goes, and
opening files only once they are known to be regular files."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from types import TracebackType

from ketch.errors import Conflict

MAX_DEPTH = 4096  # directory levels a walk goes down before it gives up (TreeTooDeep)
_TIER = 16  # a DirPath keeps its last 16 levels open, every 16th of the 256 above, ...
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)  # changed under us: skip it


class TreeTooDeep(Conflict):
    """A directory tree deeper than a walk goes (MAX_DEPTH levels)."""


def open_regular(dir_fd: int, name: str) -> tuple[int, os.stat_result] | None:
    """The regular file `name` of the directory dir_fd, opened for reading, and its fstat;
    None if it is gone or is not a regular file (a symlink is not followed).

    Two steps, because a plain open runs the driver's open of a device node (or blocks on
    a FIFO) before any fstat could refuse it, and a running container can swap one in
    after the caller's stat: an O_PATH open runs no driver code, and the reopen through
    /proc/self/fd reaches exactly the inode found to be a regular file."""
    try:
        handle = os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in GONE:
            return None
        raise
    try:
        st = os.fstat(handle)
        if not stat.S_ISREG(st.st_mode):
            return None
        return os.open(f"/proc/self/fd/{handle}", _READ_FLAGS), st
    finally:
        os.close(handle)


def sorted_names(fd: int) -> list[str]:
    """The entries of the directory fd sorted by name, the order walks visit them in."""
    with os.scandir(fd) as it:
        return sorted(entry.name for entry in it)


class DirPath:
    """The directories down one path of a tree from its root fd, the path a depth-first
    walk is on: each opened from its parent by name with O_NOFOLLOW, so nothing outside
    the tree is reached even if a running container swaps a directory for a symlink.

    However deep the path, few fds stay open: a level d levels above the current one is
    kept while d < 16, or d < 256 and it is a multiple of 16, or d < 4096 and it is a
    multiple of 256, and so on: under 50 fds for 4096 levels. A level whose fd was closed
    is opened again when the walk is back in it, from the nearest open level above it, by
    name, and must be the very directory it was (device and inode); if it is not (moved or
    removed meanwhile), fd() is None and the walk skips the rest of it, as it skips
    anything that vanishes under it. That costs about one open per directory of the tree.
    Deeper than max_depth, enter() raises TreeTooDeep.
    """

    def __init__(self, root: int, max_depth: int = MAX_DEPTH) -> None:
        self.max_depth = max_depth
        self._fds: list[int | None] = [root]  # the caller's root, never closed here
        self._names = [""]
        self._ids = [(0, 0)]  # (st_dev, st_ino) of each level, to know it again

    def __enter__(self) -> DirPath:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    @property
    def depth(self) -> int:
        return len(self._fds) - 1

    @property
    def name(self) -> str:
        """The current directory's name in its parent ("" at the root)."""
        return self._names[-1]

    def fd(self) -> int | None:
        """The current directory (opened again if it was closed); None if it went away."""
        fd = self._fds[-1]
        return fd if fd is not None else self._reopen()

    def enter(self, name: str) -> tuple[int, os.stat_result] | None:
        """Go down into the subdirectory `name`: its fd and fstat, or None (and stay) if it
        is gone or not a directory (a symlink to one is not)."""
        parent = self.fd()
        if parent is None:
            return None
        if self.depth >= self.max_depth:
            raise TreeTooDeep(f"the directory tree is deeper than {self.max_depth} levels")
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as e:
            if e.errno in GONE:
                return None
            raise
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fds.append(fd)
        self._names.append(name)
        self._ids.append((st.st_dev, st.st_ino))
        span = _TIER  # the levels now this far up are kept only at multiples of it
        while span < self.depth:
            if (self.depth - span) % span:
                self._close(self.depth - span)
            span *= _TIER
        return fd, st

    def leave(self) -> None:
        """Back up to the parent directory."""
        if not self.depth:
            raise ValueError("leave() at the root of a DirPath")
        self._ids.pop()
        self._names.pop()
        fd = self._fds.pop()
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        """Close every fd opened here (the root stays the caller's)."""
        while self.depth:
            self.leave()

    def _close(self, level: int) -> None:
        fd = self._fds[level]
        if fd is not None:
            self._fds[level] = None
            os.close(fd)

    def _reopen(self) -> int | None:
        level = kept = self.depth
        while self._fds[kept] is None:
            kept -= 1
        parent = self._fds[kept]
        assert parent is not None
        for i in range(kept + 1, level + 1):
            try:
                fd = os.open(self._names[i], _DIR_FLAGS, dir_fd=parent)
            except OSError as e:
                if e.errno not in GONE:
                    raise
                fd = -1
            if fd >= 0:
                try:
                    st = os.fstat(fd)
                except BaseException:
                    os.close(fd)
                    raise
                if (st.st_dev, st.st_ino) != self._ids[i]:
                    os.close(fd)
                    fd = -1
            if i - 1 > kept and not _kept(i - 1, level):
                self._close(i - 1)  # only needed to open level i
            if fd < 0:
                return None
            self._fds[i] = parent = fd
        return parent


def _kept(level: int, depth: int) -> bool:
    """Whether a DirPath at depth keeps level open (see DirPath)."""
    span = 1
    while depth - level >= span * _TIER:
        span *= _TIER
    return level % span == 0


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


def tree_size(root_fd: int) -> int:
    """Bytes of everything under the directory root_fd but directories, hard links once,
    as Docker counts a container's or a volume's size: walked by fd (never through a
    symlink a running container swaps in), on the root's filesystem only (not into what is
    mounted inside). Deeper than MAX_DEPTH levels nothing more is counted: a size is not
    worth failing a listing over."""
    device = os.fstat(root_fd).st_dev
    seen: set[int] = set()
    total = 0
    with DirPath(root_fd) as path:
        pending = [_entries(root_fd)]
        while pending:
            entry = next(pending[-1], None)
            if entry is None:
                pending.pop()
                if pending:
                    path.leave()
                continue
            name, is_dir = entry
            parent = path.fd()
            if parent is None:  # moved away meanwhile
                pending[-1] = iter(())
                continue
            if is_dir:
                opened = path.enter(name) if path.depth < MAX_DEPTH else None
                if opened is not None:
                    if opened[1].st_dev == device:
                        pending.append(_entries(opened[0]))
                    else:
                        path.leave()  # another filesystem mounted here
                continue
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISDIR(st.st_mode):
                continue  # a directory only now: not what was listed
            if st.st_nlink > 1:
                if st.st_ino in seen:
                    continue
                seen.add(st.st_ino)
            total += st.st_size
    return total


def _entries(fd: int) -> Iterator[tuple[str, bool]]:
    """The names in the directory fd, each with whether it is a directory (a symlink is
    not), read at once: a scandir left open would hold an fd per level of a walk."""
    with os.scandir(fd) as it:
        return iter([(entry.name, entry.is_dir(follow_symlinks=False)) for entry in it])
