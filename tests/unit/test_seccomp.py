"""Unit tests for ketch.runtime.seccomp: profile validation and the filter libseccomp builds.

No root needed: filters are compiled (by the real libseccomp) and inspected through
their pseudo filter code, never loaded.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest

from ketch.errors import InvalidParameter
from ketch.runtime.seccomp import SeccompFilter, compile_filter

seccomp = pytest.importorskip("seccomp")

# What busybox sh, ls, cat, mkdir and friends need on x86_64/aarch64; a miniature of
# Docker's default profile (default ERRNO(EPERM) plus an allow list and arg rules).
SHELL_SYSCALLS = [
    "access", "arch_prctl", "brk", "chdir", "close", "dup", "dup2", "dup3", "execve",
    "exit", "exit_group", "fcntl", "fstat", "newfstatat", "fstatfs", "getcwd", "getdents64",
    "getegid", "geteuid", "getgid", "getpid", "getppid", "getuid", "ioctl", "lseek",
    "lstat", "mmap", "mprotect", "munmap", "open", "openat", "pipe", "pipe2", "poll",
    "prlimit64", "read", "readlink", "readlinkat", "rt_sigaction", "rt_sigprocmask",
    "rt_sigreturn", "set_tid_address", "set_robust_list", "stat", "statx", "sysinfo",
    "uname", "wait4", "write", "writev", "vfork", "fork", "getrandom", "rseq", "prctl",
]  # fmt: skip

DOCKER_LIKE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": SHELL_SYSCALLS, "action": "SCMP_ACT_ALLOW"},
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
        },
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}],
        },
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": 38, "op": "SCMP_CMP_LT"},
                {"index": 0, "value": 39, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 40, "op": "SCMP_CMP_GT"},
            ],
        },
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}


def pfc(f: SeccompFilter) -> str:
    """The filter as libseccomp's pseudo filter code (what would be loaded)."""
    with tempfile.TemporaryFile("w+") as out:
        f._ctx.export_pfc(out)
        out.seek(0)
        return out.read()


def native_section(code: str) -> str:
    """The first architecture's part of the PFC (the native one comes first)."""
    return code.split("# filter for arch", 2)[1]


def syscall_block(code: str, name: str) -> str:
    """The lines of one syscall's filter in the native section."""
    section = native_section(code)
    start = section.index(f'# filter for syscall "{name}"')
    end = section.find("# filter for syscall", start + 1)
    return section[start : end if end != -1 else None]


def profile(**overrides: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    p.update(overrides)
    return p


# -- validation -------------------------------------------------------------------

BAD_PROFILES = [
    ({}, "linux.seccomp.defaultAction is required"),
    (profile(defaultAction="SCMP_ACT_FOO"), "defaultAction: unknown action 'SCMP_ACT_FOO'"),
    (profile(defaultAction="ALLOW"), "unknown action 'ALLOW'"),
    (
        profile(defaultAction="SCMP_ACT_ALLOW", defaultErrnoRet=1),
        "defaultErrnoRet is not valid for SCMP_ACT_ALLOW",
    ),
    (profile(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet="1"), "must be an integer"),
    (profile(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=-1), "between 0 and 65535"),
    (profile(defaultAction="SCMP_ACT_NOTIFY"), "cannot be the default action"),
    (profile(architectures=["SCMP_ARCH_VAX"]), "unknown architecture 'SCMP_ARCH_VAX'"),
    (profile(architectures=["x86_64"]), "architectures[0]: unknown architecture 'x86_64'"),
    (profile(architectures="SCMP_ARCH_X86"), "architectures must be an array of strings"),
    (profile(flags=["SECCOMP_FILTER_FLAG_FOO"]), "flags[0]: unknown flag"),
    (profile(syscalls={"names": ["read"]}), "syscalls must be an array"),
    (profile(syscalls=[{"names": [], "action": "SCMP_ACT_ERRNO"}]), "non-empty array"),
    (profile(syscalls=[{"name": "read", "action": "SCMP_ACT_ERRNO"}]), "syscalls[0].names"),
    (profile(syscalls=[{"names": ["read", 3], "action": "SCMP_ACT_ERRNO"}]), "names[1]"),
    (
        profile(syscalls=[{"names": ["read"], "action": "SCMP_ACT_DENY"}]),
        "syscalls[0].action: unknown action 'SCMP_ACT_DENY'",
    ),
    (
        profile(syscalls=[{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]),
        "syscalls[0].errnoRet is not valid for SCMP_ACT_KILL",
    ),
    (
        profile(syscalls=[{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1.5}]),
        "syscalls[0].errnoRet must be an integer",
    ),
    (
        profile(
            syscalls=[
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}],
                }
            ]
        ),
        "args[0].op: unknown operator 'SCMP_CMP_FOO'",
    ),
    (
        profile(
            syscalls=[
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                }
            ]
        ),
        "args[0].index must be between 0 and 5, not 6",
    ),
    (
        profile(
            syscalls=[
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": "1", "op": "SCMP_CMP_EQ"}],
                }
            ]
        ),
        "args[0].value must be an integer, not '1'",
    ),
    (
        profile(
            syscalls=[
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": True, "op": "SCMP_CMP_EQ"}],
                }
            ]
        ),
        "args[0].value must be an integer, not True",
    ),
    (
        profile(
            syscalls=[
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1 << 64, "op": "SCMP_CMP_EQ"}],
                }
            ]
        ),
        "args[0].value must be between 0 and",
    ),
    (
        profile(
            syscalls=[
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "valueTwo": -1, "op": "SCMP_CMP_EQ"}],
                }
            ]
        ),
        "args[0].valueTwo must be between 0 and",
    ),
    (
        profile(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]),
        "listenerPath is required when a rule uses SCMP_ACT_NOTIFY",
    ),
    (
        profile(
            listenerPath="/run/agent.sock",
            syscalls=[{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}],
        ),
        "SCMP_ACT_NOTIFY cannot be used for 'write'",
    ),
    (profile(listenerMetadata="x"), "listenerMetadata must not be set without listenerPath"),
    (profile(listenerPath="agent.sock"), "listenerPath must be an absolute path"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_PROFILES)
def test_bad_profile_is_invalid_parameter(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        compile_filter(spec)
    text = str(info.value)
    assert message in text
    assert text.startswith("invalid config.json: linux.seccomp")
    assert "\n" not in text


def test_validation_covers_the_whole_profile_up_front() -> None:
    # The bad rule comes after an unknown syscall name and many good rules.
    spec = copy.deepcopy(DOCKER_LIKE)
    spec["syscalls"].insert(0, {"names": ["no_such_call"], "action": "SCMP_ACT_ALLOW"})
    spec["syscalls"].append({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": "x"})
    with pytest.raises(InvalidParameter, match=r"syscalls\[7\]\.errnoRet"):
        compile_filter(spec)


def test_wait_killable_recv_needs_libseccomp_2_6() -> None:
    spec = profile(flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    if hasattr(seccomp.Attr, "CTL_WAITKILL"):
        compile_filter(spec)
    else:
        with pytest.raises(InvalidParameter, match="not supported by this libseccomp"):
            compile_filter(spec)


# -- what gets built ------------------------------------------------------------------


def test_same_index_comparisons_become_separate_rules() -> None:
    f = compile_filter(DOCKER_LIKE)
    socket_rules = [conds for name, _, _, conds in f.rules if name == "socket"]
    assert socket_rules == [((0, "LT", 38, 0),), ((0, "EQ", 39, 0),), ((0, "GT", 40, 0),)]
    block = syscall_block(pfc(f), "socket")
    assert ">= 38" in block and "== 39" in block and "> 40" in block


def test_distinct_index_comparisons_stay_one_rule() -> None:
    rule = {
        "names": ["kcmp"],
        "action": "SCMP_ACT_ERRNO",
        "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 5, "op": "SCMP_CMP_NE"},
        ],
    }
    f = compile_filter(profile(syscalls=[rule]))
    assert f.rules == [("kcmp", "SCMP_ACT_ERRNO", 1, ((0, "EQ", 1, 0), (2, "NE", 5, 0)))]
    block = syscall_block(pfc(f), "kcmp")
    # Both comparisons nest in one rule: a0 == 1 and a2 != 5.
    assert "$a0" in block and "$a2" in block


def test_masked_eq_uses_value_as_mask_and_value_two_as_result() -> None:
    rule = {
        "names": ["clone"],
        "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 0xF0, "valueTwo": 0x10, "op": "SCMP_CMP_MASKED_EQ"}],
    }
    block = syscall_block(pfc(compile_filter(profile(syscalls=[rule]))), "clone")
    assert "& 0x000000f0 == 16" in block


def test_rules_with_the_default_action_are_skipped() -> None:
    spec = profile(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},  # ERRNO(EPERM) == default
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},  # differs
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        ],
    )
    f = compile_filter(spec)
    assert [(name, errno) for name, _, errno, _ in f.rules] == [("chdir", 13), ("read", None)]
    code = pfc(f)
    assert '"mkdir"' not in code and '"rmdir"' not in code
    assert "action ERRNO(13)" in syscall_block(code, "chdir")


def test_unknown_syscall_names_are_skipped() -> None:
    spec = profile(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {
                "names": ["read", "no_such_call", "write", "réad", "read\x00x", "READ"],
                "action": "SCMP_ACT_ALLOW",
            }
        ],
    )
    f = compile_filter(spec)
    assert f.unknown_syscalls == ["no_such_call", "réad", "read\x00x", "READ"]
    assert [name for name, *_ in f.rules] == ["read", "write"]


def test_errno_defaults_to_eperm_and_kill_means_kill_thread() -> None:
    spec = profile(
        syscalls=[
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["rmdir"], "action": "SCMP_ACT_KILL"},
            {"names": ["chdir"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["fchdir"], "action": "SCMP_ACT_TRACE"},
            {"names": ["uname"], "action": "SCMP_ACT_LOG"},
            {"names": ["getcwd"], "action": "SCMP_ACT_TRAP"},
        ]
    )
    code = pfc(compile_filter(spec))
    assert "action ERRNO(1);" in syscall_block(code, "mkdir")
    assert "action KILL;" in syscall_block(code, "rmdir")
    assert "action KILL_PROCESS;" in syscall_block(code, "chdir")
    assert "action TRACE(1);" in syscall_block(code, "fchdir")
    assert "action LOG;" in syscall_block(code, "uname")
    assert "action TRAP;" in syscall_block(code, "getcwd")


def test_default_errno_ret() -> None:
    code = pfc(compile_filter(profile(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=38)))
    assert "# default action\n  action ERRNO(38);" in code


def test_flags_map_to_filter_attributes() -> None:
    f = compile_filter(
        profile(
            flags=[
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            ]
        )
    )
    attrs = seccomp.Attr
    assert f._ctx.get_attr(attrs.CTL_TSYNC) == 1
    assert f._ctx.get_attr(attrs.CTL_LOG) == 1
    assert f._ctx.get_attr(attrs.CTL_SSB) == 1
    # The runtime applies process.noNewPrivileges itself, as runc does.
    assert f._ctx.get_attr(attrs.CTL_NNP) == 0
    plain = compile_filter(profile())
    assert plain._ctx.get_attr(attrs.CTL_LOG) == 0


def test_architectures_are_added() -> None:
    f = compile_filter(DOCKER_LIKE)
    for arch in (seccomp.Arch.X86_64, seccomp.Arch.X86, seccomp.Arch.X32):
        assert f._ctx.exist_arch(arch)
    assert not f._ctx.exist_arch(seccomp.Arch.AARCH64)


def test_docker_like_profile_compiles() -> None:
    f = compile_filter(DOCKER_LIKE)
    code = pfc(f)
    assert "action ALLOW;" in syscall_block(code, "execve")
    assert "action ERRNO(38);" in syscall_block(code, "clone3")
    assert "0x7e020000" in syscall_block(code, "clone")
    assert not f.uses_notify and f.notify_fd is None


def test_notify_profile_compiles_with_listener() -> None:
    spec = profile(
        listenerPath="/run/agent.sock",
        listenerMetadata="meta",
        syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    )
    f = compile_filter(spec)
    assert f.uses_notify
    assert (f.listener_path, f.listener_metadata) == ("/run/agent.sock", "meta")
    # libseccomp 2.5 prints SECCOMP_RET_USER_NOTIF as a number.
    assert "action 0x7fc00000;" in syscall_block(pfc(f), "mkdir")


def test_full_size_profile_compiles_quickly() -> None:
    native = seccomp.Arch.NATIVE
    names = []
    for nr in range(0, 500):
        try:
            names.append(seccomp.resolve_syscall(native, nr).decode())
        except ValueError:
            continue
    assert len(names) > 300
    spec = copy.deepcopy(DOCKER_LIKE)
    spec["syscalls"][0]["names"] = names
    start = time.perf_counter()
    f = compile_filter(spec)
    elapsed = time.perf_counter() - start
    assert len(f.rules) >= len(names)
    print(f"compiled {len(names)} names x 3 architectures in {elapsed * 1000:.1f} ms")
    assert elapsed < 0.5


def test_importing_the_module_does_not_import_the_binding() -> None:
    code = "import sys, ketch.runtime.seccomp; print('seccomp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
