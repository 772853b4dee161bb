"""Mounting overlayfs for container snapshots: the kernel calls, nothing else.

The new mount API (fsopen/fsconfig, Linux >= 6.8 for "lowerdir+") passes each lower layer
as its own parameter, so any number of layers fits; older kernels get mount(2) with one
option string, which must fit in a page.
"""

from __future__ import annotations

import ctypes
import errno
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# these syscall numbers are the same on every architecture
_NR_MOVE_MOUNT = 429
_NR_FSOPEN = 430
_NR_FSCONFIG = 431
_NR_FSMOUNT = 432
_FSOPEN_CLOEXEC = 1
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
_FSMOUNT_CLOEXEC = 1
_MOVE_MOUNT_F_EMPTY_PATH = 4
_AT_FDCWD = -100
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _fs_messages(fd: int) -> str:
    """The kernel's own explanation after a failed fsconfig (e.g. "overlay: ...")."""
    messages = []
    for _ in range(8):
        try:
            data = os.read(fd, 1024)
        except OSError:
            break
        messages.append(data.decode(errors="replace").strip())
    return "; ".join(messages)


def _mount_new_api(target: str, options: list[tuple[str, str]]) -> None:
    fs = _check(_syscall(_NR_FSOPEN, b"overlay", _FSOPEN_CLOEXEC), "fsopen")
    try:
        for key, value in options:
            if _syscall(_NR_FSCONFIG, fs, _FSCONFIG_SET_STRING, key.encode(),
                        os.fsencode(value), 0) < 0:
                err = ctypes.get_errno()
                raise OSError(err, f"overlay {key}={value}: {_fs_messages(fs) or os.strerror(err)}")
        if _syscall(_NR_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"overlay: {_fs_messages(fs) or os.strerror(err)}")
        mnt = _check(_syscall(_NR_FSMOUNT, fs, _FSMOUNT_CLOEXEC, 0), "fsmount")
        try:
            _check(_syscall(_NR_MOVE_MOUNT, mnt, b"", _AT_FDCWD, os.fsencode(target),
                            _MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
        finally:
            os.close(mnt)
    finally:
        os.close(fs)


def _mount_legacy(target: str, lowers: list[str], upper: str, work: str,
                  extra: list[tuple[str, str]]) -> None:
    for path in (*lowers, upper, work):
        if any(c in path for c in ",:\\"):
            raise OSError(errno.EINVAL, f"unusable path for an overlay mount: {path}")
    data = ",".join([f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}",
                     *(f"{k}={v}" for k, v in extra)])
    if len(data) >= PAGE_SIZE:
        raise OSError(errno.E2BIG, f"too many layers for mount(2) ({len(lowers)})")
    _check(_libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, data.encode()), "mount")


def mount_overlay(target: str, lowers: list[str], upper: str, work: str,
                  *, legacy: bool = False) -> None:
    """Mount overlayfs at target; lowers are listed top first, as overlayfs wants them."""
    extra = [("index", "off")]
    if not legacy:
        options = [*(("lowerdir+", lower) for lower in lowers), ("upperdir", upper),
                   ("workdir", work), *extra]
        try:
            _mount_new_api(target, options)
            return
        except OSError as e:
            # ENOSYS: no new mount API; EINVAL at lowerdir+: a kernel older than 6.8
            old_kernel = e.errno == errno.ENOSYS or (
                e.errno == errno.EINVAL and "lowerdir+" in str(e)
            )
            if not old_kernel:
                raise
    _mount_legacy(target, lowers, upper, work, extra)


def unmount(target: str) -> None:
    """Detach the mount at target (lazily if busy); not mounted is fine."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH | UMOUNT_NOFOLLOW) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


def is_mountpoint(path: str) -> bool:
    """True if something is mounted at path (its device differs from its parent's)."""
    try:
        st = os.stat(path, follow_symlinks=False)
        parent = os.stat(os.path.dirname(path.rstrip("/")) or "/", follow_symlinks=False)
    except OSError:
        return False
    return st.st_dev != parent.st_dev
