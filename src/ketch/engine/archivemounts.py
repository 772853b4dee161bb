"""A container's root filesystem with its volumes and bind mounts on it, for `docker cp`
(Docker's openContainerFS): what the container sees at those paths, running or not.

The mounts are made in a mount namespace of their own, never in the daemon's: a fresh
thread unshares one (its mounts slaves of the daemon's, so nothing goes back), opens the
container's root in it, binds each source onto its destination, and ends. What stays is
a descriptor of the root and one of the namespace (which keeps the namespace and its
mounts alive): lookups through the root's descriptor cross the mounts of that namespace,
from any thread. Closing both drops the namespace and every mount in it at once, so
nothing is ever left mounted on the host, even if the daemon dies meanwhile.

Destinations are resolved inside the root as the runtime does (runtime/paths.py: every
symlink followed in the root, a missing mount point made, as Docker's createIfNotExists),
and the bind goes onto the descriptor that resolution returned, not a path: a container
that swaps a directory for a symlink cannot point a mount at the host. Read-only mounts
are read-only here too, recursively, before they are attached (open_tree, mount_setattr
and move_mount; mount(2) and a remount on kernels without them).
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import stat
import threading
from dataclasses import dataclass

from ketch.errors import HostError, InvalidParameter
from ketch.images.rootfs import open_root
from ketch.runtime import linux as L
from ketch.runtime import paths

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# the same numbers on every architecture (424 and up)
_NR_OPEN_TREE = 428
_NR_MOVE_MOUNT = 429
_OPEN_TREE_CLONE = 1
_OPEN_TREE_CLOEXEC = os.O_CLOEXEC
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOVE_MOUNT_T_EMPTY_PATH = 0x40
_AT_FDCWD = -100


@dataclass(frozen=True)
class Bind:
    """One mount of the view: a host path (a bind's source, a volume's directory)."""

    source: str
    destination: str
    rw: bool


class MountView:
    """The root with the mounts on it; close() drops them all."""

    def __init__(self, root_fd: int, ns_fd: int) -> None:
        self.root_fd = root_fd
        self._ns_fd = ns_fd

    def close(self) -> None:
        for fd in (self.root_fd, self._ns_fd):
            if fd >= 0:
                os.close(fd)
        self.root_fd = self._ns_fd = -1


def open_view(rootfs: str, binds: list[Bind]) -> MountView:
    """The view of rootfs (a host path we made) with binds on it (blocking)."""
    result: list[MountView] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(_build(rootfs, binds))
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)

    # the thread ends with the call: no pool thread is ever left in the namespace
    thread = threading.Thread(target=work, name="cp-mounts", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


def _build(rootfs: str, binds: list[Bind]) -> MountView:
    """On a thread of its own, which leaves the daemon's mount namespace for good."""
    L.unshare(L.CLONE_NEWNS)
    L.mount(None, "/", None, L.MS_SLAVE | L.MS_REC)
    root_fd = open_root(rootfs)  # opened in the new namespace: its mounts are ours
    try:
        for bind in sorted(binds, key=lambda b: _depth(b.destination)):  # parents first
            _attach(root_fd, bind)
        ns_fd = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(root_fd)
        raise
    return MountView(root_fd, ns_fd)


def _attach(root_fd: int, bind: Bind) -> None:
    destination = posixpath.normpath("/" + bind.destination)
    if destination == "/":
        raise InvalidParameter("invalid mount config: destination can't be '/'")
    try:
        is_dir = stat.S_ISDIR(os.stat(bind.source).st_mode)
    except FileNotFoundError:
        raise InvalidParameter(f"invalid mount config for type \"bind\": bind source path "
                               f"does not exist: {bind.source}") from None
    target = paths.resolve(root_fd, destination, create="dir" if is_dir else "file")
    try:
        try:
            tree = _open_tree(bind.source)
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM):
                raise
            _attach_legacy(root_fd, bind, destination, target)
            return
        try:
            try:
                L.mount_setattr(tree, "", L.AT_EMPTY_PATH | L.AT_RECURSIVE,
                                0 if bind.rw else L.MOUNT_ATTR_RDONLY, 0, L.MS_PRIVATE)
            except OSError as e:
                if e.errno != errno.ENOSYS:  # before Linux 5.12
                    raise
                _attach_legacy(root_fd, bind, destination, target)
                return
            _move_mount(tree, target)
        finally:
            os.close(tree)
    finally:
        os.close(target)


def _open_tree(source: str) -> int:
    """A detached copy of the mount tree at source (a host path: followed as given)."""
    fd = _syscall(_NR_OPEN_TREE, _AT_FDCWD, os.fsencode(source),
                  ctypes.c_uint(_OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | L.AT_RECURSIVE))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {source}: {os.strerror(err)}", source)
    return int(fd)


def _move_mount(tree: int, target: int) -> None:
    ret = _syscall(_NR_MOVE_MOUNT, tree, b"", target, b"",
                   ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH | _MOVE_MOUNT_T_EMPTY_PATH))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"move_mount: {os.strerror(err)}")


def _attach_legacy(root_fd: int, bind: Bind, destination: str, target: int) -> None:
    """mount(2): the bind onto the resolved descriptor, then private and read-only on
    what is mounted there now (resolved again: checked to be the source's root)."""
    L.mount(bind.source, paths.fd_path(target), None, L.MS_BIND | L.MS_REC)
    mounted = paths.resolve(root_fd, destination)
    try:
        source, there = os.stat(bind.source), os.fstat(mounted)
        if (source.st_dev, source.st_ino) != (there.st_dev, there.st_ino):
            raise HostError(f"the mount point {destination} changed while it was mounted")
        L.mount(None, paths.fd_path(mounted), None, L.MS_PRIVATE | L.MS_REC)
        if not bind.rw:
            L.mount(None, paths.fd_path(mounted), None,
                    L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY)
    finally:
        os.close(mounted)
