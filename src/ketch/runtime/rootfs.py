"""Build a container's root filesystem inside its new mount namespace.

Runs in the container's init before it execs: mounts in spec order, /dev
(device nodes and the standard links), pivot_root, masked and read-only paths,
a read-only root. Every mount target is resolved inside the root by `paths`
and mounted through /proc/self/fd/N, never through a joined string path.
"""

from __future__ import annotations

import errno
import os
import stat

from ketch.errors import HostError, InvalidParameter
from ketch.runtime import linux as L
from ketch.runtime import paths
from ketch.runtime.mountopts import MountOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

O_PATH = paths.O_PATH
fdp = paths.fd_path

# Device nodes every container gets (runc's AllowedDevices with a path).
DEFAULT_DEVICES: list[dict[str, Any]] = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0},
]
_DEV_LINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
              ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr"))
# Files under /proc that may be bind-mounted over (what lxcfs emulates).
_PROC_MOUNTABLE = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                   "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                   "/proc/sys/kernel/ns_last_pid", "/proc/net/dev", "/proc/bus/pci")
_LOCKED = {os.ST_NOSUID: L.MS_NOSUID, os.ST_NODEV: L.MS_NODEV, os.ST_NOEXEC: L.MS_NOEXEC,
           os.ST_NOATIME: L.MS_NOATIME, os.ST_NODIRATIME: L.MS_NODIRATIME,
           os.ST_RELATIME: L.MS_RELATIME}
_PROPAGATION = {
    "shared": L.MS_SHARED, "slave": L.MS_SLAVE, "private": L.MS_PRIVATE,
    "unbindable": L.MS_UNBINDABLE, "rshared": L.MS_SHARED | L.MS_REC,
    "rslave": L.MS_SLAVE | L.MS_REC, "rprivate": L.MS_PRIVATE | L.MS_REC,
    "runbindable": L.MS_UNBINDABLE | L.MS_REC,
}


def _fail(dest: str, e: OSError) -> HostError:
    return HostError(f"mount {dest}: {e.strerror or e}")


def locked_flags(path: str) -> int:
    """The per-mount flags of the mount at `path`, which a remount must keep."""
    st_flags = os.statvfs(path).f_flag
    flags = 0
    for st_bit, ms_bit in _LOCKED.items():
        if st_flags & st_bit:
            flags |= ms_bit
    return flags


def remount(target: str, flags: int) -> None:
    try:
        L.mount(None, target, None, flags | L.MS_REMOUNT)
    except PermissionError:
        # in a user namespace the source mount's flags are locked: keep them
        L.mount(None, target, None, flags | L.MS_REMOUNT | locked_flags(target))


class Rootfs:
    """The mount work for one container's init."""

    def __init__(self, config: dict[str, Any], *, userns: bool, new_netns: bool,
                 cgroupns: bool, cgroup_mounts: list[tuple[str, str, str]] | None,
                 bundle: str) -> None:
        self.config = config
        self.linux: dict[str, Any] = config.get("linux") or {}
        self.root: str = config["root"]["path"]
        self.userns = userns
        self.new_netns = new_netns
        self.cgroupns = cgroupns
        self.cgroup_mounts = cgroup_mounts
        self.bundle = bundle
        self.root_fd = -1
        # called once before the first cgroup mount: the init must be in its cgroup
        self.before_cgroup_mount: Any = None

    # -- before pivot_root --------------------------------------------------

    def prepare(self) -> None:
        propagation = self.linux.get("rootfsPropagation")
        flag = _PROPAGATION[propagation] if propagation else L.MS_SLAVE | L.MS_REC
        if flag & L.MS_UNBINDABLE:
            # the rootfs is bound onto itself below: unbindable comes after pivot_root
            flag = L.MS_PRIVATE | L.MS_REC
        L.mount(None, "/", None, flag)
        self._make_parent_private()
        try:
            L.mount(self.root, self.root, "bind", L.MS_BIND | L.MS_REC)
        except OSError as e:
            raise HostError(f"cannot bind the rootfs {self.root}: {e.strerror}") from None
        self.root_fd = os.open(self.root, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def _make_parent_private(self) -> None:
        """pivot_root refuses a new root whose parent mount is shared."""
        best, shared = "", False
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                inside = self.root == point or self.root.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    sep = fields.index("-")
                    best, shared = point, any(x.startswith("shared:") for x in fields[6:sep])
        if shared:
            L.mount(None, best, None, L.MS_PRIVATE)

    def mount_all(self) -> None:
        for mount in self.config.get("mounts") or []:
            self.mount(mount)

    def mount(self, m: dict[str, Any]) -> None:
        dest = _clean(m["destination"])
        kind = m.get("type") or ""
        source = m.get("source") or ""
        opts = MountOptions(m.get("options") or [])
        if kind == "bind":
            opts.flags |= L.MS_BIND
        try:
            self._check_dest(dest, kind, source, opts)
            if kind == "cgroup" or kind == "cgroup2":
                if self.before_cgroup_mount is not None:
                    self.before_cgroup_mount()
                self._mount_cgroup(dest, opts)
            elif opts.is_bind:
                self._mount_bind(dest, source, opts)
            else:
                self._mount_fs(dest, kind, source, opts)
        except OSError as e:
            raise _fail(dest, e) from None

    def _check_dest(self, dest: str, kind: str, source: str, opts: MountOptions) -> None:
        if dest == "/":
            raise InvalidParameter("mount destination / is not allowed (use root.path)")
        if dest in ("/proc", "/sys"):
            # an image may not redirect /proc or /sys through a symlink (CVE-2019-19921)
            try:
                fd = paths.resolve(self.root_fd, dest, follow_last=False)
            except FileNotFoundError:
                return
            try:
                if stat.S_ISLNK(os.fstat(fd).st_mode):
                    raise InvalidParameter(f"mount destination {dest} is a symlink in the "
                                           "rootfs, which is not allowed")
            finally:
                os.close(fd)
        if dest == "/proc":
            if kind == "proc" or (opts.is_bind and _is_procfs(source)):
                return
            raise InvalidParameter(f"{dest} cannot be mounted because it is not of type proc")
        if dest.startswith("/proc/") and dest not in _PROC_MOUNTABLE:
            raise InvalidParameter(f"{dest} cannot be mounted because it is inside /proc")

    def _target(self, dest: str, create: str) -> int:
        return paths.resolve(self.root_fd, dest, create=create)

    def _remount_at(self, dest: str, flags: int) -> None:
        """Remount what is now mounted at `dest` (an fd from before the mount names
        the directory underneath, so it is resolved again)."""
        fd = self._target(dest, "dir")
        try:
            remount(fdp(fd), flags)
        finally:
            os.close(fd)

    def _finish(self, dest: str, opts: MountOptions) -> None:
        """Propagation and recursive attributes, on the now mounted destination."""
        if not opts.propagation and not (opts.attr_set | opts.attr_clear):
            return
        fd = self._target(dest, "dir")
        try:
            for flag in opts.propagation:
                L.mount(None, fdp(fd), None, flag)
            if opts.attr_set | opts.attr_clear:
                L.mount_setattr(fd, "", L.AT_EMPTY_PATH | L.AT_RECURSIVE, opts.attr_set,
                                opts.attr_clear)
        finally:
            os.close(fd)

    def _mount_bind(self, dest: str, source: str, opts: MountOptions) -> None:
        if not source.startswith("/"):
            source = os.path.join(self.bundle, source)
        try:
            is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except FileNotFoundError:
            raise InvalidParameter(f"bind mount source {source} does not exist") from None
        fd = self._target(dest, "dir" if is_dir else "file")
        try:
            L.mount(source, fdp(fd), None, L.MS_BIND | (opts.flags & L.MS_REC))
        finally:
            os.close(fd)
        if opts.needs_remount:
            self._remount_at(dest, L.MS_BIND | (opts.flags & ~L.MS_REMOUNT))
        self._finish(dest, opts)

    def _mount_fs(self, dest: str, kind: str, source: str, opts: MountOptions) -> None:
        fd = self._target(dest, "dir")
        try:
            if opts.tmpcopyup and kind == "tmpfs":
                self._tmpcopyup(fd, dest, source, opts)
            else:
                self._mount_kind(fd, dest, kind, source, opts)
        finally:
            os.close(fd)
        self._finish(dest, opts)

    def _mount_kind(self, fd: int, dest: str, kind: str, source: str, opts: MountOptions) -> None:
        try:
            L.mount(source or kind, fdp(fd), kind, opts.flags, opts.data or None)
        except PermissionError:
            # sysfs of the host network namespace, or mqueue of the host IPC namespace,
            # cannot be mounted from a user namespace: bind the host's instead (as runc)
            if kind == "sysfs" and not self.new_netns:
                host = "/sys"
            elif kind == "mqueue":
                host = "/dev/mqueue"
            else:
                raise
            L.mount(host, fdp(fd), None, L.MS_BIND | L.MS_REC)
            if opts.needs_remount:
                self._remount_at(dest, L.MS_BIND | L.MS_REC | opts.flags)

    def _tmpcopyup(self, fd: int, dest: str, source: str, opts: MountOptions) -> None:
        """A tmpfs that starts with a copy of what the image had at its destination."""
        L.mount(source or "tmpfs", fdp(fd), "tmpfs", opts.flags & ~L.MS_RDONLY,
                opts.data or None)
        # `fd` still names the directory under the new tmpfs: copy from it
        new = self._target(dest, "dir")
        try:
            _copy_tree(fdp(fd), fdp(new))
            if opts.flags & L.MS_RDONLY:
                L.mount(None, fdp(new), None, L.MS_REMOUNT | opts.flags)
        finally:
            os.close(new)

    def _mount_cgroup(self, dest: str, opts: MountOptions) -> None:
        flags = opts.flags
        sources = self.cgroup_mounts or []
        if not sources or sources[0][0] == "":
            # cgroup v2 (or no cgroup of ours): one cgroup2 mount at the destination
            fd = self._target(dest, "dir")
            try:
                if self.cgroupns or not sources:
                    L.mount("cgroup2", fdp(fd), "cgroup2", flags)
                else:
                    L.mount(sources[0][1], fdp(fd), None, L.MS_BIND | L.MS_REC)
            finally:
                os.close(fd)
            if sources and not self.cgroupns:
                self._remount_at(dest, L.MS_BIND | L.MS_REC | flags)
            self._finish(dest, opts)
            return
        # cgroup v1: a tmpfs holding one mount per hierarchy
        fd = self._target(dest, "dir")
        try:
            L.mount("tmpfs", fdp(fd), "tmpfs", (flags & ~L.MS_RDONLY) | L.MS_NOSUID | L.MS_NODEV
                    | L.MS_NOEXEC, "mode=755")
        finally:
            os.close(fd)
        for name, host_path, subsystems in sources:
            sub = self._target(f"{dest}/{name}", "dir")
            try:
                if self.cgroupns:
                    L.mount("cgroup", fdp(sub), "cgroup", flags, subsystems)
                else:
                    L.mount(host_path, fdp(sub), None, L.MS_BIND | L.MS_REC)
            finally:
                os.close(sub)
            if not self.cgroupns:
                self._remount_at(f"{dest}/{name}", L.MS_BIND | L.MS_REC | flags)
            if "," in name:  # co-mounted controllers get a link per name, e.g. cpu -> cpu,cpuacct
                parent = self._target(dest, "dir")
                try:
                    for alias in name.split(","):
                        try:
                            os.symlink(name, alias, dir_fd=parent)
                        except FileExistsError:
                            pass
                finally:
                    os.close(parent)
        if flags & L.MS_RDONLY:
            self._remount_at(dest, flags | L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
        self._finish(dest, opts)

    def needs_dev(self) -> bool:
        """False when /dev is bound from elsewhere: then its content is not ours to make."""
        for m in self.config.get("mounts") or []:
            if _clean(m["destination"]) == "/dev":
                return not MountOptions(m.get("options") or []).is_bind and m.get("type") != "bind"
        return True

    def make_devices(self) -> None:
        spec_devices = self.linux.get("devices") or []
        wanted = {d["path"] for d in spec_devices}
        devices = spec_devices + [d for d in DEFAULT_DEVICES if d["path"] not in wanted]
        old = os.umask(0)
        try:
            for dev in devices:
                self._make_device(dev)
        finally:
            os.umask(old)

    def _make_device(self, dev: dict[str, Any]) -> None:
        path = dev["path"]
        parent, name = paths.parent_and_name(self.root_fd, path)
        try:
            if self.userns:
                # mknod is not allowed in a user namespace: bind the host's node
                fd = paths.resolve(parent, name, create="file", mode=0o000)
                try:
                    L.mount(path, fdp(fd), None, L.MS_BIND)
                finally:
                    os.close(fd)
                return
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK,
                    "p": stat.S_IFIFO}[dev["type"]]
            mode = dev.get("fileMode", 0o666) & 0o7777
            rdev = os.makedev(dev.get("major", 0), dev.get("minor", 0))
            try:
                os.mknod(name, kind | mode, rdev, dir_fd=parent)
            except FileExistsError:
                return
            os.chown(name, dev.get("uid", 0), dev.get("gid", 0), dir_fd=parent,
                     follow_symlinks=False)
        except OSError as e:
            raise HostError(f"cannot create device {path}: {e.strerror}") from None
        finally:
            os.close(parent)

    def make_dev_links(self) -> None:
        dev = paths.resolve(self.root_fd, "/dev", create="dir")
        try:
            links = list(_DEV_LINKS)
            if os.path.exists("/proc/kcore"):
                links.append(("/proc/kcore", "core"))
            for target, name in links:
                try:
                    os.symlink(target, name, dir_fd=dev)
                except FileExistsError:
                    pass
            try:
                os.unlink("ptmx", dir_fd=dev)
            except FileNotFoundError:
                pass
            os.symlink("pts/ptmx", "ptmx", dir_fd=dev)
        finally:
            os.close(dev)

    # -- pivot_root and after -------------------------------------------------

    def pivot(self) -> None:
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(self.root_fd)
            L.pivot_root(".", ".")
            # the old root now sits under the new one at "."; detach it without
            # letting the unmount propagate back to the host
            os.fchdir(old_root)
            L.mount(None, ".", None, L.MS_SLAVE | L.MS_REC)
            L.umount2(".", L.MNT_DETACH)
            os.chdir("/")
        finally:
            os.close(old_root)
        os.close(self.root_fd)
        self.root_fd = os.open("/", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        propagation = self.linux.get("rootfsPropagation")
        if propagation:
            L.mount(None, "/", None, _PROPAGATION[propagation])

    def mask_paths(self) -> None:
        masked = self.linux.get("maskedPaths") or []
        if not masked:
            return
        null = _open_dev_null()
        try:
            for path in masked:
                try:
                    fd = paths.resolve(self.root_fd, path)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                try:
                    if stat.S_ISDIR(os.fstat(fd).st_mode):
                        L.mount("tmpfs", fdp(fd), "tmpfs", L.MS_RDONLY, "nr_blocks=1,nr_inodes=1")
                    else:
                        L.mount(fdp(null), fdp(fd), None, L.MS_BIND)
                except OSError as e:
                    raise HostError(f"cannot mask {path}: {e.strerror}") from None
                finally:
                    os.close(fd)
        finally:
            os.close(null)

    def readonly_paths(self) -> None:
        for path in self.linux.get("readonlyPaths") or []:
            try:
                fd = paths.resolve(self.root_fd, path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                L.mount(fdp(fd), fdp(fd), None, L.MS_BIND | L.MS_REC)
                os.close(fd)
                fd = paths.resolve(self.root_fd, path)
                remount(fdp(fd), L.MS_BIND | L.MS_REC | L.MS_RDONLY | locked_flags(fdp(fd)))
            except OSError as e:
                raise HostError(f"cannot make {path} read-only: {e.strerror}") from None
            finally:
                os.close(fd)

    def readonly_root(self) -> None:
        try:
            remount("/", L.MS_BIND | L.MS_RDONLY | locked_flags("/"))
        except OSError as e:
            raise HostError(f"cannot make the root filesystem read-only: {e.strerror}") from None

    def bind_console(self, slave_fd: int) -> None:
        """/dev/console becomes the container's pty, as on a real machine."""
        fd = paths.resolve(self.root_fd, "/dev/console", create="file", mode=0o600)
        try:
            L.mount(fdp(slave_fd), fdp(fd), None, L.MS_BIND)
        finally:
            os.close(fd)


def _clean(destination: str) -> str:
    """An absolute, normalised destination (relative ones are taken from /, as runc)."""
    return "/" + os.path.normpath("/" + destination).lstrip("/")


def _is_procfs(path: str) -> bool:
    try:
        fd = os.open(path, O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return L.fstatfs_type(fd) == L.PROC_SUPER_MAGIC
    finally:
        os.close(fd)


def _open_dev_null() -> int:
    """The container's /dev/null, checked to really be the null device (CVE-2025-31133)."""
    fd = os.open("/dev/null", O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise HostError("container's /dev/null is invalid: it is not the null device (1:3)")
    return fd


def _copy_tree(base: str, dest: str) -> None:
    """Copy the directory `base` into `dest` (tmpcopyup), keeping modes and owners."""
    for dirpath, dirnames, filenames in os.walk(base):
        rel = os.path.relpath(dirpath, base)
        target_dir = os.path.normpath(os.path.join(dest, rel))
        for name in dirnames + filenames:
            src = os.path.join(dirpath, name)
            dst = os.path.join(target_dir, name)
            st = os.lstat(src)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(dst, st.st_mode & 0o7777)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISREG(st.st_mode):
                with open(src, "rb") as fi, open(dst, "wb") as fo:
                    while chunk := fi.read(1 << 20):
                        fo.write(chunk)
                os.chmod(dst, st.st_mode & 0o7777)
            else:
                try:
                    os.mknod(dst, st.st_mode, st.st_rdev)
                except OSError as e:
                    if e.errno != errno.EPERM:
                        raise
                    continue
            os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
