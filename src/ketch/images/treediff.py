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

The container's tree is read from open directory fds with O_NOFOLLOW at every step: a
running container can swap a directory for a symlink, and nothing outside its tree must
ever be read. The image side is a lowerview of the layers.

Two inputs: an overlayfs upper directory (only what the container wrote: whiteouts delete,
an opaque directory replaces the image's, an entry the upper lacks is the image's,
unchanged), or a complete tree (the copying driver: an entry it lacks is deleted).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from ketch.images import lowerview
from ketch.images.lowerview import LayerDirs

MODIFIED, ADDED, DELETED = 0, 1, 2
KIND_LETTERS = "CAD"
Change = tuple[str, int]  # ("/etc/passwd", DELETED)

# Mount targets the runtime makes in the root filesystem when the image lacks them. Docker
# keeps these in a hidden "-init" layer between the image and the container, so they never
# show as changes and never go into a commit; we leave them out the same way.
INIT_PATHS = frozenset({"dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/resolv.conf"})
# their parent directories: made for them when the image lacks them, so not added by the
# container, but changed if the container changed something in them
INIT_PARENTS = frozenset(p.rpartition("/")[0] for p in INIT_PATHS if "/" in p)
CAPABILITY_XATTR = "security.capability"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)  # changed under us: skip it


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
        if e.errno in _GONE:
            return None
        raise


@dataclass
class _Diff:
    overlay: bool  # the tree is an overlayfs upper dir, not a complete tree
    changes: list[Change] = field(default_factory=list)
    size: int = 0  # bytes of what was added or changed (hard links once), as Docker's SizeRw
    _inodes: set[tuple[int, int]] = field(default_factory=set)

    def _count(self, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            return
        if st.st_nlink > 1:
            if (st.st_dev, st.st_ino) in self._inodes:
                return
            self._inodes.add((st.st_dev, st.st_ino))
        self.size += st.st_size

    def directory(self, fd: int, rel: str, dirs: LayerDirs, complete: bool) -> list[Change]:
        """The changes under the directory fd (the path rel, "" for the root) whose image
        counterpart is made of dirs; complete: an entry fd lacks was deleted."""
        out: list[Change] = []
        deleted: set[str] = set()
        present: set[str] = set()
        with os.scandir(fd) as it:
            names = sorted(entry.name for entry in it)
        for name in names:
            path = f"{rel}/{name}" if rel else name
            if path in INIT_PATHS:
                present.add(name)
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as e:
                if e.errno in _GONE:
                    continue
                raise
            old = lowerview.lookup(dirs, name)
            if self.overlay and lowerview.is_whiteout(st):
                if old is not None:
                    deleted.add(name)
                continue
            present.add(name)
            out += self._entry(fd, name, path, st, old, dirs)
        if complete and dirs:
            for name in lowerview.listing(dirs):
                path = f"{rel}/{name}" if rel else name
                if name not in present and path not in INIT_PATHS:
                    deleted.add(name)
        out += [(f"/{rel}/{name}" if rel else f"/{name}", DELETED) for name in sorted(deleted)]
        return out

    def _entry(self, fd: int, name: str, path: str, st: os.stat_result,
               old: tuple[os.stat_result, str] | None, dirs: LayerDirs) -> list[Change]:
        kind: int | None = None
        if old is None:
            if not (stat.S_ISDIR(st.st_mode) and path in INIT_PARENTS):
                kind = ADDED
        elif different(old[0], old[1], st, f"/proc/self/fd/{fd}/{name}"):
            kind = MODIFIED
        inner: list[Change] = []
        if stat.S_ISDIR(st.st_mode):
            child = open_dir(fd, name)
            if child is None:
                return []
            try:
                below = lowerview.descend(dirs, name) if old is not None else []
                complete = not self.overlay or lowerview.is_opaque(child)
                inner = self.directory(child, path, below, complete)
            finally:
                os.close(child)
        if kind is not None:
            self._count(st)
            return [(f"/{path}", kind), *inner]
        if inner:
            return [(f"/{path}", MODIFIED), *inner]
        return []


def upper_changes(upper_fd: int, layers: list[str]) -> tuple[list[Change], int]:
    """The changes an overlayfs upper directory makes to the layers (top first), and the
    bytes they add."""
    diff = _Diff(overlay=True)
    changes = diff.directory(upper_fd, "", lowerview.root_dirs(layers),
                             lowerview.is_opaque(upper_fd))
    return changes, diff.size


def tree_changes(root_fd: int, layers: list[str]) -> tuple[list[Change], int]:
    """The changes between a complete tree and the layers (top first) it was copied from,
    and the bytes they add."""
    diff = _Diff(overlay=False)
    changes = diff.directory(root_fd, "", lowerview.root_dirs(layers), True)
    return changes, diff.size
