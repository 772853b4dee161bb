"""Users and groups of an image or container, read from its own /etc/passwd and
/etc/group (hostile files: resolved inside the root, regular files only)."""

from __future__ import annotations

import os
import stat

from ketch.errors import InvalidParameter


def read_db(rootfs: str, path: str, fields: int) -> list[list[str]]:
    """Lines of a passwd-style file of the container. The rootfs is hostile: the path is
    resolved inside it, and only a regular file is read (a FIFO would block us)."""
    from ketch.runtime import paths

    try:
        root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        found = paths.resolve(root, path)
    except OSError:
        return []
    finally:
        os.close(root)
    try:
        if not stat.S_ISREG(os.fstat(found).st_mode):
            return []
        fd = os.open(f"/proc/self/fd/{found}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    finally:
        os.close(found)
    with os.fdopen(fd, "rb") as f:
        data = f.read(1 << 20)
    lines = [line.split(":") for line in data.decode(errors="replace").splitlines()]
    return [line for line in lines if len(line) >= fields]


def identity(rootfs: str, user: str) -> tuple[int, int] | None:
    """Docker's copyUIDGID: the files become the container's user's (Config.User, names
    read from the container's own /etc/passwd and /etc/group); with no user set, the
    archive's owners stay, as without it."""
    if not user:
        return None
    name, _, group = user.partition(":")
    uid, gid = lookup(rootfs, "/etc/passwd", name)
    if group:
        gid = lookup(rootfs, "/etc/group", group)[0]
    return uid, gid


def lookup(rootfs: str, table: str, name: str) -> tuple[int, int]:
    """(id, primary gid) of a user or (id, id) of a group; numbers need no lookup. The
    file is read as the runtime reads it: inside the root, a regular file only."""
    if name.isdigit():
        return int(name), 0 if table == "/etc/passwd" else int(name)
    for fields in read_db(rootfs, table, 4):
        if fields[0] == name and fields[2].isdigit():
            primary = fields[3] if table == "/etc/passwd" else fields[2]
            return int(fields[2]), int(primary) if primary.isdigit() else 0
    what, file = ("user", "passwd") if table == "/etc/passwd" else ("group", "group")
    raise InvalidParameter(f"unable to find {what} {name}: no matching entries in {file} file")
