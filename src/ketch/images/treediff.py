"""What changed in a container's filesystem, the list `docker diff` shows.

Docker's rules (its "naive" diff, what 20.10 reports for overlay2 and vfs alike):
  - a path that is not in the image is added (A), one the container no longer has is
    deleted (D): only the top of a deleted tree, every entry of an added one;
  - a path in both is changed (C) when its type, mode, owner, device number or
    security.capability differ, or, for anything but a directory, its size or mtime (a
    directory's size and mtime say nothing useful) - and, here, a symlink's target;
  - a directory holding a change is changed too (the root excepted), listed before its
    contents.
Docker's order between sibling subtrees is random (a Go map); ours is the name order, with
the deletions of a directory after its other entries, as Docker always puts them.

The container's tree is read from open directory fds with O_NOFOLLOW at every step (a
DirPath): a running container can swap a directory for a symlink, and nothing outside its
tree must ever be read; and it is walked in a loop, not by recursion, as deep as it is. The
image side is a lowerview of the layers.

Two inputs: an overlayfs upper directory (only what the container wrote: whiteouts delete,
an opaque directory replaces the image's, an entry the upper lacks is the image's,
unchanged), or a complete tree (the copying driver: an entry it lacks is deleted).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from ketch.images import lowerview
from ketch.images.lowerview import LayerDirs
from ketch.util.fswalk import GONE, DirPath, sorted_names
from ketch.util.tarball import CAPABILITY_XATTR

MODIFIED, ADDED, DELETED = 0, 1, 2
Change = tuple[str, int]  # ("/etc/passwd", DELETED)

# Mount targets the runtime makes in the root filesystem when the image lacks them. Docker
# keeps these in a hidden "-init" layer between the image and the container, so they never
# show as changes and never go into a commit; we leave them out the same way.
INIT_PATHS = frozenset({"dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/resolv.conf"})
# their parent directories: made for them when the image lacks them, so not added by the
# container, but changed if the container changed something in them
INIT_PARENTS = frozenset(p.rpartition("/")[0] for p in INIT_PATHS if "/" in p)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, CAPABILITY_XATTR, follow_symlinks=False)
    except OSError:
        return None


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def different(old: os.stat_result, old_path: str, new: os.stat_result, new_path: str) -> bool:
    """Docker's test for a changed entry (new_path may be a /proc/self/fd/N/name path)."""
    if (old.st_mode != new.st_mode or old.st_uid != new.st_uid or old.st_gid != new.st_gid
            or old.st_rdev != new.st_rdev):
        return True
    if not stat.S_ISDIR(old.st_mode) and (old.st_mtime_ns != new.st_mtime_ns
                                          or old.st_size != new.st_size):
        return True
    if stat.S_ISLNK(old.st_mode) and _readlink(old_path) != _readlink(new_path):
        return True
    return _capability(old_path) != _capability(new_path)


def open_dir(parent_fd: int, name: str) -> int | None:
    """The subdirectory name of parent_fd, never through a symlink; None if it went away."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as e:
        if e.errno in GONE:
            return None
        raise


@dataclass
class _Directory:
    """A directory of the container's tree the walk is in, and what it found there so far."""

    rel: str  # its path, "" for the root
    dirs: LayerDirs  # its image counterpart
    complete: bool  # an entry it lacks was deleted
    names: Iterator[str]  # its entries still to look at, in order
    slot: int = -1  # where its own change goes in the output (-1: the root has none)
    kind: int | None = None  # its own change, if it is added or changed itself
    emitted: int = 0  # changes in the output before its contents
    present: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


@dataclass
class _Diff:
    overlay: bool  # the tree is an overlayfs upper dir, not a complete tree
    size: int = 0  # bytes of what was added or changed (hard links once), as Docker's SizeRw
    _inodes: set[tuple[int, int]] = field(default_factory=set)
    # the changes in order; None is a directory's own place, filled (or not) when it ends
    _out: list[Change | None] = field(default_factory=list)
    _emitted: int = 0  # the changes in _out so far (not counting the Nones)

    def _count(self, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            return
        if st.st_nlink > 1:
            if (st.st_dev, st.st_ino) in self._inodes:
                return
            self._inodes.add((st.st_dev, st.st_ino))
        self.size += st.st_size

    def _emit(self, change: Change) -> None:
        self._out.append(change)
        self._emitted += 1

    def walk(self, root_fd: int, dirs: LayerDirs, complete: bool) -> list[Change]:
        """The changes under the directory root_fd whose image counterpart is made of
        dirs; complete: an entry the tree lacks was deleted. Depth first, a loop over a
        DirPath rather than recursion: a container makes its tree as deep as it likes."""
        with DirPath(root_fd) as path:
            stack = [_Directory("", dirs, complete, iter(sorted_names(root_fd)))]
            while stack:
                top = stack[-1]
                name = next(top.names, None)
                if name is None:
                    self._end(stack.pop())
                    if stack:
                        path.leave()
                    continue
                fd = path.fd()
                if fd is None:  # moved away meanwhile: the rest of it is skipped
                    top.names = iter(())
                    continue
                below = self._entry(path, fd, top, name)
                if below is not None:
                    stack.append(below)
        return [change for change in self._out if change is not None]

    def _entry(self, path: DirPath, fd: int, top: _Directory,
               name: str) -> _Directory | None:
        """Look at the entry name of the directory top (open as fd): its change goes out,
        or, for a directory, the directory to walk next (path is then in it)."""
        rel = f"{top.rel}/{name}" if top.rel else name
        if rel in INIT_PATHS:
            top.present.add(name)
            return None
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as e:
            if e.errno in GONE:
                return None
            raise
        old = lowerview.lookup(top.dirs, name)
        if self.overlay and lowerview.is_whiteout(st):
            if old is not None:
                top.deleted.add(name)
            return None
        top.present.add(name)
        kind: int | None = None
        if old is None:
            if not (stat.S_ISDIR(st.st_mode) and rel in INIT_PARENTS):
                kind = ADDED
        elif different(old[0], old[1], st, f"/proc/self/fd/{fd}/{name}"):
            kind = MODIFIED
        if not stat.S_ISDIR(st.st_mode):
            if kind is not None:
                self._count(st)
                self._emit((f"/{rel}", kind))
            return None
        opened = path.enter(name)
        if opened is None:
            return None
        child = opened[0]
        below = lowerview.descend(top.dirs, name) if old is not None else []
        complete = not self.overlay or lowerview.is_opaque(child)
        self._out.append(None)
        return _Directory(rel, below, complete, iter(sorted_names(child)), len(self._out) - 1,
                          kind, self._emitted)

    def _end(self, done: _Directory) -> None:
        """A directory walked: its deletions after its other changes, and its own change
        before them all, if it was added or changed or holds a change (the root excepted)."""
        if done.complete and done.dirs:
            for name in lowerview.listing(done.dirs):
                rel = f"{done.rel}/{name}" if done.rel else name
                if name not in done.present and rel not in INIT_PATHS:
                    done.deleted.add(name)
        for name in sorted(done.deleted):
            self._emit((f"/{done.rel}/{name}" if done.rel else f"/{name}", DELETED))
        if done.slot < 0:
            return
        if done.kind is not None or self._emitted > done.emitted:
            self._out[done.slot] = (f"/{done.rel}", MODIFIED if done.kind is None
                                    else done.kind)
            self._emitted += 1


def upper_changes(upper_fd: int, layers: list[str]) -> tuple[list[Change], int]:
    """The changes an overlayfs upper directory makes to the layers (top first), and the
    bytes they add."""
    diff = _Diff(overlay=True)
    changes = diff.walk(upper_fd, lowerview.root_dirs(layers), lowerview.is_opaque(upper_fd))
    return changes, diff.size


def tree_changes(root_fd: int, layers: list[str]) -> tuple[list[Change], int]:
    """The changes between a complete tree and the layers (top first) it was copied from,
    and the bytes they add."""
    diff = _Diff(overlay=False)
    changes = diff.walk(root_fd, lowerview.root_dirs(layers), True)
    return changes, diff.size
