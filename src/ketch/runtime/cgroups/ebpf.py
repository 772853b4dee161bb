"""Device access on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE.

cgroup v2 has no devices controller; the kernel instead runs programs attached
to the cgroup with BPF_CGROUP_DEVICE on every open/mknod of a device node.
device_filter() compiles the emulated v1 rule state into such a program (the
design of runc's libcontainer/cgroups/devices devicefilter), and
attach_device_filter() loads it with bpf(2) and swaps it in for the old ones.
"""

from __future__ import annotations

import ctypes
import os
import struct

from ketch.errors import HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.runtime.cgroups.devices import Exceptions

_NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# bpf(2) commands and constants (include/uapi/linux/bpf.h)
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type), u32 major, u32 minor
BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2
_ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# instruction opcodes (class | op | source)
_LDX_W = 0x61        # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54      # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74      # BPF_ALU | BPF_RSH | BPF_K
_MOV32_K = 0xB4      # BPF_ALU | BPF_MOV | BPF_K
_MOV32_X = 0xBC      # BPF_ALU | BPF_MOV | BPF_X
_JNE32_K = 0x56      # BPF_JMP32 | BPF_JNE | BPF_K
_JNE32_X = 0x5E      # BPF_JMP32 | BPF_JNE | BPF_X
_JEQ32_K = 0x16      # BPF_JMP32 | BPF_JEQ | BPF_K
_EXIT = 0x95         # BPF_JMP | BPF_EXIT


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    if imm > 0x7FFFFFFF:  # a u32 immediate, as the signed field holds it
        imm -= 1 << 32
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def device_filter(default_allow: bool, exceptions: Exceptions) -> bytes:
    """The program: return !default for the first exception that matches, else default.

    Registers: r2 = device type, r3 = requested access, r4 = major, r5 = minor.
    Each exception is one block whose failed tests jump past its end.
    """
    prog = [
        _insn(_LDX_W, 2, 1, 0), _insn(_AND32_K, 2, imm=0xFFFF),
        _insn(_LDX_W, 3, 1, 0), _insn(_RSH32_K, 3, imm=16),
        _insn(_LDX_W, 4, 1, 4),
        _insn(_LDX_W, 5, 1, 8),
    ]
    verdict = 0 if default_allow else 1
    for (kind, major, minor), access in exceptions.items():
        # (code, dst, src, imm, jumps past the block?)
        block = [(_JNE32_K, 2, 0, BPF_DEVCG_DEV_CHAR if kind == "c" else BPF_DEVCG_DEV_BLOCK,
                  True)]
        if len(access) < 3:
            # As in the v1 kernel: an allow exception must cover the whole
            # request, a deny exception denies if it covers any part of it.
            bits = sum(_ACCESS_BITS[c] for c in access)
            test = (_JNE32_X, 1, 3, 0, True) if verdict else (_JEQ32_K, 1, 0, 0, True)
            block += [(_MOV32_X, 1, 3, 0, False), (_AND32_K, 1, 0, bits, False), test]
        if major >= 0:
            block.append((_JNE32_K, 4, 0, major, True))
        if minor >= 0:
            block.append((_JNE32_K, 5, 0, minor, True))
        block += [(_MOV32_K, 0, 0, verdict, False), (_EXIT, 0, 0, 0, False)]
        for i, (code, dst, src, imm, jump) in enumerate(block):
            prog.append(_insn(code, dst, src, len(block) - i - 1 if jump else 0, imm))
    prog += [_insn(_MOV32_K, 0, imm=1 if default_allow else 0), _insn(_EXIT)]
    return b"".join(prog)


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    ret = int(_syscall(_NR_BPF, cmd, attr, len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def load(program: bytes) -> int:
    """BPF_PROG_LOAD a cgroup device program; returns its fd."""
    code = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(0)
    for log_level in (0, 1):  # on refusal, load again to get the verifier's reason
        attr = ctypes.create_string_buffer(72)
        struct.pack_into("=IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                         ctypes.addressof(code), ctypes.addressof(license_),
                         log_level, len(log), ctypes.addressof(log))
        struct.pack_into("16s", attr, 48, b"ketch_devices")
        try:
            return _bpf(BPF_PROG_LOAD, attr)
        except OSError as e:
            if log_level:
                reason = log.value.decode(errors="replace").strip().splitlines()
                raise HostError(f"cgroup: kernel refused the device filter: {e.strerror}"
                                f"{': ' + reason[-1] if reason else ''}") from None
            log = ctypes.create_string_buffer(65536)
    raise AssertionError("unreachable")


def attached(dirfd: int) -> list[int]:
    """Ids of the device programs attached directly to the cgroup."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("=IIIIQI", attr, 0, dirfd, BPF_CGROUP_DEVICE, 0, 0,
                     ctypes.addressof(ids), len(ids))
    _bpf(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[:count])


def _attach(cmd: int, dirfd: int, progfd: int, flags: int) -> None:
    attr = ctypes.create_string_buffer(20)
    struct.pack_into("=IIIII", attr, 0, dirfd, progfd, BPF_CGROUP_DEVICE, flags, 0)
    _bpf(cmd, attr)


def _prog_fd(prog_id: int) -> int:
    attr = ctypes.create_string_buffer(12)
    struct.pack_into("=III", attr, 0, prog_id, 0, 0)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr)


def attach_device_filter(path: str, program: bytes) -> None:
    """Attach `program` to the cgroup at `path`, then detach the ones it replaces.

    For a moment both apply; a device must pass every program, so that moment
    is only stricter, never looser.
    """
    progfd = load(program)
    try:
        dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        os.close(progfd)
        raise HostError(f"cgroup: cannot open {path}: {e.strerror}") from None
    try:
        old = attached(dirfd)
        _attach(BPF_PROG_ATTACH, dirfd, progfd, BPF_F_ALLOW_MULTI)
        for prog_id in old:
            fd = _prog_fd(prog_id)
            try:
                _attach(BPF_PROG_DETACH, dirfd, fd, 0)
            finally:
                os.close(fd)
    except OSError as e:
        raise HostError(f"cgroup: cannot attach the device filter to {path}: "
                        f"{e.strerror}") from None
    finally:
        os.close(dirfd)
        os.close(progfd)
