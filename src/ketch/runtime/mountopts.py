"""Turn an OCI mount's `options` list into mount(2) flags, propagation and data."""

from __future__ import annotations

from ketch.runtime import linux as L

# option -> (clear?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, L.MS_SYNCHRONOUS), "atime": (True, L.MS_NOATIME), "bind": (False, L.MS_BIND),
    "defaults": (False, 0), "dev": (True, L.MS_NODEV), "diratime": (True, L.MS_NODIRATIME),
    "dirsync": (False, L.MS_DIRSYNC), "exec": (True, L.MS_NOEXEC),
    "lazytime": (False, L.MS_LAZYTIME), "loud": (True, L.MS_SILENT), "mand": (False, L.MS_MANDLOCK),
    "noatime": (False, L.MS_NOATIME), "nodev": (False, L.MS_NODEV),
    "nodiratime": (False, L.MS_NODIRATIME), "noexec": (False, L.MS_NOEXEC),
    "nolazytime": (True, L.MS_LAZYTIME), "nomand": (True, L.MS_MANDLOCK),
    "norelatime": (True, L.MS_RELATIME), "nostrictatime": (True, L.MS_STRICTATIME),
    "nosuid": (False, L.MS_NOSUID), "nosymfollow": (False, L.MS_NOSYMFOLLOW),
    "rbind": (False, L.MS_BIND | L.MS_REC), "relatime": (False, L.MS_RELATIME),
    "remount": (False, L.MS_REMOUNT), "ro": (False, L.MS_RDONLY), "rw": (True, L.MS_RDONLY),
    "silent": (False, L.MS_SILENT), "strictatime": (False, L.MS_STRICTATIME),
    "suid": (True, L.MS_NOSUID), "sync": (False, L.MS_SYNCHRONOUS),
    "symfollow": (True, L.MS_NOSYMFOLLOW),
}
_PROPAGATION = {
    "private": L.MS_PRIVATE, "rprivate": L.MS_PRIVATE | L.MS_REC,
    "shared": L.MS_SHARED, "rshared": L.MS_SHARED | L.MS_REC,
    "slave": L.MS_SLAVE, "rslave": L.MS_SLAVE | L.MS_REC,
    "unbindable": L.MS_UNBINDABLE, "runbindable": L.MS_UNBINDABLE | L.MS_REC,
}
# recursive mount attributes (mount_setattr): option -> (clear?, attr)
_RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, L.MOUNT_ATTR_RDONLY), "rrw": (True, L.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, L.MOUNT_ATTR_NOSUID), "rsuid": (True, L.MOUNT_ATTR_NOSUID),
    "rnodev": (False, L.MOUNT_ATTR_NODEV), "rdev": (True, L.MOUNT_ATTR_NODEV),
    "rnoexec": (False, L.MOUNT_ATTR_NOEXEC), "rexec": (True, L.MOUNT_ATTR_NOEXEC),
    "rnoatime": (False, L.MOUNT_ATTR_NOATIME), "ratime": (True, L.MOUNT_ATTR_NOATIME),
    "rnodiratime": (False, L.MOUNT_ATTR_NODIRATIME), "rdiratime": (True, L.MOUNT_ATTR_NODIRATIME),
    "rstrictatime": (False, L.MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, L.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, L.MOUNT_ATTR_NOSYMFOLLOW),
}


class MountOptions:
    """The parsed options of one mount."""

    __slots__ = ("attr_clear", "attr_set", "data", "flags", "propagation", "tmpcopyup")

    def __init__(self, options: list[str]) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clear = 0
        self.tmpcopyup = False
        data = []
        for opt in options:
            if opt in _FLAGS:
                clear, flag = _FLAGS[opt]
                self.flags = self.flags & ~flag if clear else self.flags | flag
            elif opt in _PROPAGATION:
                self.propagation.append(_PROPAGATION[opt])
            elif opt in _RECURSIVE:
                clear, attr = _RECURSIVE[opt]
                if clear:
                    self.attr_clear |= attr
                else:
                    self.attr_set |= attr
            elif opt == "tmpcopyup":
                self.tmpcopyup = True
            else:
                data.append(opt)
        self.data = ",".join(data)

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & L.MS_BIND)

    @property
    def needs_remount(self) -> bool:
        """A bind mount takes its flags only through a second, remounting call."""
        return bool(self.flags & ~(L.MS_BIND | L.MS_REC | L.MS_REMOUNT))
