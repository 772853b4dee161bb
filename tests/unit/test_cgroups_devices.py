"""Device rules: v1 emulation, the v1 writes, and the v2 eBPF program run in a tiny interpreter.

The interpreter executes exactly the instructions the kernel would get, so the
program is checked against the v1 kernel's matching rules without root.
"""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from ketch.errors import InvalidParameter
from ketch.runtime.cgroups.devices import (
    DEFAULT_RULES,
    Exceptions,
    Rule,
    emulate,
    parse_rules,
    v1_list,
    v1_writes,
)
from ketch.runtime.cgroups.ebpf import device_filter

M32 = 0xFFFFFFFF
ACCESS = {"m": 1, "r": 2, "w": 4}
TYPES = {"b": 1, "c": 2}


def run(program: bytes, kind: str, access: str, major: int, minor: int) -> int:
    """Execute the program on a bpf_cgroup_dev_ctx like the kernel builds it."""
    ctx = struct.pack("<III", (sum(ACCESS[c] for c in access) << 16) | TYPES[kind],
                      major, minor)
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    regs = [0] * 11
    pc = 0
    for _ in range(10000):
        code, reg, off, imm = insns[pc]
        dst, src = reg & 0xF, reg >> 4
        pc += 1
        if code == 0x61:  # ldxw from the context only
            assert src == 1 and off in (0, 4, 8)
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:
            regs[dst] = regs[dst] & imm & M32
        elif code == 0x74:
            regs[dst] = (regs[dst] & M32) >> imm
        elif code == 0xB4:
            regs[dst] = imm & M32
        elif code == 0xBC:
            regs[dst] = regs[src] & M32
        elif code in (0x56, 0x5E, 0x16):
            other = (regs[src] if code == 0x5E else imm) & M32
            equal = regs[dst] & M32 == other
            if equal == (code == 0x16):
                pc += off
            assert 0 <= pc < len(insns), "jump out of the program"
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("program does not terminate")


def kernel_v1_allows(default_allow: bool, exceptions: Exceptions, kind: str, access: str,
                     major: int, minor: int) -> bool:
    """security/device_cgroup.c: match_exception / match_exception_partial."""
    def covers(key: tuple[str, int, int]) -> bool:
        k, ma, mi = key
        return k == kind and ma in (-1, major) and mi in (-1, minor)
    if default_allow:
        return not any(covers(k) and set(a) & set(access) for k, a in exceptions.items())
    return any(covers(k) and set(access) <= set(a) for k, a in exceptions.items())


def rules(*spec: tuple[bool, str, int, int, str]) -> list[Rule]:
    return list(spec)


def test_a_resets_and_exceptions_merge() -> None:
    state = emulate(rules((True, "a", -1, -1, "rwm"), (False, "c", 1, 3, "w"),
                          (False, "a", 5, 5, "r"), (True, "c", 1, 3, "r"),
                          (True, "c", 1, 3, "w"), (True, "b", 8, -1, "m")))
    assert state == (False, {("c", 1, 3): "rw", ("b", 8, -1): "m"})


def test_removal_takes_access_from_the_identical_exception_only() -> None:
    default, exc = emulate(rules((False, "a", -1, -1, "rwm"), (True, "c", 1, 3, "rwm"),
                                 (False, "c", 1, 3, "wm"), (False, "c", 9, 9, "rwm")))
    assert (default, exc) == (False, {("c", 1, 3): "r"})
    with pytest.raises(InvalidParameter, match="wider rule c \\*:\\* m"):
        emulate(rules((False, "a", -1, -1, "rwm"), (True, "c", -1, -1, "m"),
                      (False, "c", 10, 229, "rwm")))


def test_default_rules_parse_and_docker_profile_order_is_accepted() -> None:
    docker = [{"allow": False, "access": "rwm"},
              {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
              {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]
    default, exc = emulate(parse_rules(docker + DEFAULT_RULES))
    assert not default
    assert exc[("c", -1, -1)] == "m" and exc[("c", 136, -1)] == "rwm"
    assert ("c", 10, 229) not in exc


def test_v1_writes_and_list() -> None:
    exc: Exceptions = {("c", 1, 3): "rwm", ("c", -1, -1): "m"}
    assert v1_writes(False, exc) == [("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"),
                                     ("devices.allow", "c *:* m")]
    assert v1_list(False, exc) == {"c 1:3 rwm", "c *:* m"}
    assert v1_writes(True, {("b", 8, 0): "w"}) == [("devices.allow", "a"),
                                                   ("devices.deny", "b 8:0 w")]
    assert v1_list(True, {}) == {"a *:* rwm"}
    assert v1_list(True, {("b", 8, 0): "w"}) is None  # v1 hides deny exceptions


def _all_requests() -> list[tuple[str, str, int, int]]:
    accesses = ["".join(c) for n in (1, 2, 3) for c in itertools.combinations("rwm", n)]
    return [(k, a, ma, mi) for k in "cb" for a in accesses for ma in (0, 1, 5, 136, 0xFFFFFFFF)
            for mi in (0, 3, 5, 0x80000000)]


@pytest.mark.parametrize("seed", range(40))
def test_ebpf_program_matches_v1_kernel_semantics(seed: int) -> None:
    rng = random.Random(seed)
    numbers = [-1, 0, 1, 5, 136, 0xFFFFFFFF, 0x80000000, 3]
    spec: list[Rule] = [(rng.random() < 0.5, "a", -1, -1, "rwm")]
    for _ in range(rng.randint(0, 8)):
        access = "".join(c for c in "rwm" if rng.random() < 0.6) or "r"
        spec.append((rng.random() < 0.5, rng.choice("cb"), rng.choice(numbers),
                     rng.choice(numbers), access))
    try:
        default, exc = emulate(spec)
    except InvalidParameter:
        return  # a refused hole-punch: nothing to compile
    program = device_filter(default, exc)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    for request in _all_requests():
        assert run(program, *request) == int(kernel_v1_allows(default, exc, *request)), request


def test_ebpf_deny_all_and_allow_all() -> None:
    assert run(device_filter(False, {}), "c", "r", 1, 3) == 0
    assert run(device_filter(True, {}), "b", "rwm", 8, 0) == 1
