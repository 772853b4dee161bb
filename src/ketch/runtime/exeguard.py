"""Keep the host's Python interpreter out of reach of containers (CVE-2019-5736).

A container can make the kernel execute the runtime's own binary (a program
whose interpreter is /proc/self/exe) and then write to it through
/proc/<pid>/exe once it exits. The interpreter is therefore either marked
immutable by install.sh, or the runtime re-executes itself from a sealed
in-memory copy before it forks anything that enters a container.
"""

from __future__ import annotations

import fcntl
import os
import sys

FS_IOC_GETFLAGS = 0x80086601
FS_IMMUTABLE_FL = 0x10
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def exe_is_safe(fd: int) -> bool:
    """Whether the file behind `fd` cannot be written: immutable, or a sealed memfd."""
    try:
        flags = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)
        if int.from_bytes(flags[:4], sys.byteorder) & FS_IMMUTABLE_FL:
            return True
    except OSError:
        pass
    try:
        return fcntl.fcntl(fd, fcntl.F_GET_SEALS) & _SEALS == _SEALS
    except OSError:
        return False


def ensure_sealed() -> None:
    """Return if our executable is safe; otherwise re-exec from a sealed copy (no return)."""
    exe = os.open("/proc/self/exe", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if exe_is_safe(exe):
            return
        copy = os.memfd_create("ketch-runtime", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        size = os.fstat(exe).st_size
        offset = 0
        while offset < size:
            sent = os.sendfile(copy, exe, offset, size - offset)
            if sent == 0:
                break
            offset += sent
    finally:
        os.close(exe)
    fcntl.fcntl(copy, fcntl.F_ADD_SEALS, _SEALS)
    sys.stdout.flush()
    sys.stderr.flush()
    # argv[0] keeps the interpreter's own path: Python finds its prefix (and a
    # virtualenv) from it, not from the memfd's name
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execve(f"/proc/self/fd/{copy}", argv, os.environ)
