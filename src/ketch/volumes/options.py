"""The `local` driver's options (type, device, o) as Docker validates them, and `o`
turned into mount(2) flags and data as moby's mount.ParseOptions does."""

from __future__ import annotations

from ketch.errors import InvalidParameter

VALID = ("device", "o", "size", "type")
# an option given -> the one it needs alongside (moby's mandatoryOpts)
REQUIRES = {"device": "type", "o": "device", "type": "device"}

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000

# option -> (clears rather than sets, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0), "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY),
    "suid": (True, MS_NOSUID), "nosuid": (False, MS_NOSUID),
    "dev": (True, MS_NODEV), "nodev": (False, MS_NODEV),
    "exec": (True, MS_NOEXEC), "noexec": (False, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC), "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME),
    "diratime": (True, MS_NODIRATIME), "nodiratime": (False, MS_NODIRATIME),
    "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME), "nostrictatime": (True, MS_STRICTATIME),
}
PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}


def validate(opts: dict[str, str]) -> None:
    """Docker's refusals, in its words (the caller prefixes "create NAME: ")."""
    if not opts:
        return
    for key in sorted(opts):
        if key not in VALID:
            raise InvalidParameter(f'invalid option: "{key}"')
    for key in ("type", "o", "device"):
        if key in opts and REQUIRES[key] not in opts:
            raise InvalidParameter(f'missing required option: "{REQUIRES[key]}"')
    if "size" in opts:  # a quota needs xfs project quotas, which ketch does not set up
        raise InvalidParameter("quota size requested but no quota support")


def parse_o(text: str) -> tuple[int, int, str]:
    """`o=` -> (mount flags, propagation flags, filesystem data)."""
    flags = propagation = 0
    data: list[str] = []
    for item in text.split(","):
        if not item:
            continue
        if item in FLAGS:
            clear, flag = FLAGS[item]
            flags = flags & ~flag if clear else flags | flag
        elif item in PROPAGATION:
            propagation |= PROPAGATION[item]
        else:
            data.append(item)
    return flags, propagation, ",".join(data)
