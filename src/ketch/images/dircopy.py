"""Copy an image layer (a directory in overlay format) onto a tree, as overlayfs would
show it on top: the copying snapshotter stacks an image's layers this way, lowest first.

A 0:0 character device named X deletes X; a directory marked trusted.overlay.opaque=y
replaces the directory below instead of merging into it. Everything else is copied with
its owner, mode (setuid included), xattrs (but overlayfs' own), device number, mtime,
symlink target, and hard links within the layer kept as hard links.

Both sides are walked from open directory fds without following symlinks (DirPaths, in a
loop: a layer is as deep as the tree it was made from): an entry of the target that a
layer replaces is removed, never written through.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from ketch.images import lowerview
from ketch.util.fswalk import DirPath, open_regular, remove_tree_at, sorted_names

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_XATTR_SKIPPED = {errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.EINVAL, errno.ERANGE,
                  errno.E2BIG, errno.ENODATA}


def copy_layer(layer: str, target: str) -> None:
    """Put the layer directory on top of the tree at target."""
    src = os.open(layer, _DIR_FLAGS)
    try:
        dst = os.open(target, _DIR_FLAGS)
        try:
            st = os.fstat(src)
            _attributes(src, dst, st)
            _Copier(dst).tree(src, dst)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _proc(fd: int, name: str) -> str:
    """A path to name in the directory fd for calls that take no dir_fd (xattrs)."""
    return f"/proc/self/fd/{fd}/{name}"


def _copy_xattrs(src: str | int, dst: str | int) -> None:
    """All xattrs of src (an open fd, or a path not followed if it is a symlink) on dst."""
    follow = isinstance(src, int)  # an fd cannot be combined with follow_symlinks=False
    try:
        names = os.listxattr(src, follow_symlinks=follow)
    except OSError as e:
        if e.errno in _XATTR_SKIPPED:
            return
        raise
    for name in names:
        if name.startswith("trusted.overlay."):
            continue  # overlayfs' own bookkeeping, not the file's
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=follow),
                        follow_symlinks=isinstance(dst, int))
        except OSError as e:
            if e.errno not in _XATTR_SKIPPED:
                raise


def _attributes(src: int, dst: int, st: os.stat_result) -> None:
    """Owner, then mode (a chown clears setuid), then xattrs, of an open file or directory."""
    os.fchown(dst, st.st_uid, st.st_gid)
    os.fchmod(dst, stat.S_IMODE(st.st_mode))
    _copy_xattrs(src, dst)


def _remove(dir_fd: int, name: str) -> None:
    """Whatever the target has at name goes (a directory with everything in it)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        remove_tree_at(dir_fd, name)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _fd(path: DirPath) -> int:
    """The current directory of a walk of our own trees (a layer, the copy being made),
    which nothing else changes."""
    fd = path.fd()
    if fd is None:
        raise FileNotFoundError(errno.ENOENT, "a directory went away during a layer copy")
    return fd


class _Copier:
    def __init__(self, root: int) -> None:
        self.root = root
        self.links: dict[tuple[int, int], str] = {}  # the layer's inode -> its first copy

    def tree(self, src_root: int, dst_root: int) -> None:
        """The layer's directory src_root onto dst_root, depth first in name order. A loop
        over two DirPaths (layer and copy), not recursion: layers come as deep as trees a
        container made; each directory's mtime is set once everything in it is made."""
        with DirPath(src_root) as src, DirPath(dst_root) as dst:
            pending: list[tuple[Iterator[str], str, os.stat_result | None]] = [
                (iter(sorted_names(src_root)), "", None)]
            while pending:
                names, rel, st = pending[-1]
                name = next(names, None)
                if name is None:
                    pending.pop()
                    if st is not None:
                        # last: the entries made inside changed it; nothing later does
                        os.utime(_fd(dst), ns=(st.st_atime_ns, st.st_mtime_ns))
                        src.leave()
                        dst.leave()
                    continue
                src_fd, dst_fd = _fd(src), _fd(dst)
                entry = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
                if lowerview.is_whiteout(entry):
                    _remove(dst_fd, name)
                elif stat.S_ISDIR(entry.st_mode):
                    self._subdirectory(src, dst, name, entry)
                    pending.append((iter(sorted_names(_fd(src))), rel + name + "/", entry))
                else:
                    _remove(dst_fd, name)
                    self._leaf(src_fd, dst_fd, name, entry, rel + name)

    def _subdirectory(self, src: DirPath, dst: DirPath, name: str,
                      st: os.stat_result) -> None:
        """Go down into the layer's directory name and its copy (made, or merged into
        what is there), the copy with the directory's owner, mode and xattrs."""
        dst_fd = _fd(dst)
        if src.enter(name) is None:
            raise FileNotFoundError(errno.ENOENT, "a layer changed during its copy", name)
        child_src = _fd(src)
        try:
            existing = os.stat(name, dir_fd=dst_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        merge = (existing is not None and stat.S_ISDIR(existing.st_mode)
                 and not lowerview.is_opaque(child_src))
        if not merge:
            _remove(dst_fd, name)
            os.mkdir(name, 0o700, dir_fd=dst_fd)
        if dst.enter(name) is None:
            raise FileNotFoundError(errno.ENOENT, "a directory went away during a layer copy",
                                    name)
        _attributes(child_src, _fd(dst), st)

    def _leaf(self, src: int, dst: int, name: str, st: os.stat_result, rel: str) -> None:
        if st.st_nlink > 1:
            first = self.links.get((st.st_dev, st.st_ino))
            if first is not None:
                # every directory on first's path was made by this layer: no symlinks there
                os.link(first, name, src_dir_fd=self.root, dst_dir_fd=dst,
                        follow_symlinks=False)
                return
            self.links[(st.st_dev, st.st_ino)] = rel
        if stat.S_ISREG(st.st_mode):
            self._regular(src, dst, name, st)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            _copy_xattrs(_proc(src, name), _proc(dst, name))
        else:  # devices, fifos, sockets
            os.mknod(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)  # not a symlink: made here
            _copy_xattrs(_proc(src, name), _proc(dst, name))
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)

    def _regular(self, src: int, dst: int, name: str, st: os.stat_result) -> None:
        opened = open_regular(src, name)  # never a device's open, even in a damaged layer
        if opened is None:
            raise FileNotFoundError(errno.ENOENT, "a layer changed during its copy", name)
        fin = opened[0]
        try:
            fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                           | os.O_CLOEXEC, 0o600, dir_fd=dst)
            try:
                _content(fin, fout, st.st_size)
                _attributes(fin, fout, st)
            finally:
                os.close(fout)
        finally:
            os.close(fin)


def _content(fin: int, fout: int, size: int) -> None:
    """size bytes from fin to fout, in the kernel (a reflink where the filesystem can)."""
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(fin, fout, min(size - copied, 1 << 30))
            if n == 0:
                break
            copied += n
        return
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    os.lseek(fin, copied, os.SEEK_SET)
    os.lseek(fout, copied, os.SEEK_SET)
    while chunk := os.read(fin, _CHUNK):
        os.write(fout, chunk)
