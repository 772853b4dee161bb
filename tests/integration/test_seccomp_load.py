"""Integration tests for ketch.runtime.seccomp: filters loaded into a real process.

Each test runs a small launcher (Python) that compiles the profile, loads it as the
last step and execs busybox, then checks what the kernel did to busybox's syscalls.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox-static"),
]

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

# Compile, load as late as possible, exec. A KetchError becomes exit 125 + one line.
LAUNCHER = """
import json, os, sys
from ketch.errors import KetchError
from ketch.runtime.seccomp import compile_filter, send_to_listener
try:
    f = compile_filter(json.loads(sys.argv[1]))
    f.load()
    if f.notify_fd is not None:
        state = {"ociVersion": "1.1.0", "id": "t", "status": "creating", "pid": os.getpid(),
                 "bundle": "/tmp"}
        send_to_listener(f.listener_path, f.notify_fd, os.getpid(), state,
                         f.listener_metadata)
        os.close(f.notify_fd)
except KetchError as e:
    print(e, file=sys.stderr)
    sys.exit(125)
os.execv(sys.argv[2], sys.argv[2:])
"""

# What busybox sh and its applets need; mkdir/mkdirat and personality are left out.
SHELL_SYSCALLS = [
    "access", "arch_prctl", "brk", "chdir", "close", "dup", "dup2", "dup3", "execve",
    "exit", "exit_group", "fcntl", "fstat", "newfstatat", "fstatfs", "getcwd", "getdents64",
    "getegid", "geteuid", "getgid", "getpid", "getppid", "getuid", "ioctl", "lseek",
    "lstat", "mmap", "mprotect", "munmap", "open", "openat", "pipe", "pipe2", "poll",
    "prlimit64", "read", "readlink", "readlinkat", "rt_sigaction", "rt_sigprocmask",
    "rt_sigreturn", "set_tid_address", "set_robust_list", "stat", "statx", "sysinfo",
    "uname", "wait4", "write", "writev", "vfork", "fork", "getrandom", "rseq", "prctl",
    "madvise", "futex", "sigaltstack", "getdents", "rmdir", "unlink", "unlinkat",
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
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}


def run(
    spec: dict[str, Any], *argv: str, user: int | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, json.dumps(spec), BUSYBOX, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        user=user,
        cwd=cwd,
    )


def with_rules(spec: dict[str, Any], *rules: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "syscalls": [*spec["syscalls"], *rules]}


def test_denied_syscall_gets_eperm_and_the_rest_works(tmp_path: Path) -> None:
    target = tmp_path / "d"
    r = run(DOCKER_LIKE, "sh", "-c", f"echo hello; mkdir {target}")
    assert r.stdout == "hello\n"
    assert r.returncode == 1
    assert "Operation not permitted" in r.stderr
    assert not target.exists()


def test_filter_is_in_mode_2_in_the_container_process() -> None:
    r = run(DOCKER_LIKE, "grep", "^Seccomp", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert "Seccomp:\t2" in r.stdout
    assert "Seccomp_filters:\t1" in r.stdout


def test_custom_errno_ret_comes_through(tmp_path: Path) -> None:
    spec = with_rules(
        DOCKER_LIKE,
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
    )
    r = run(spec, "mkdir", str(tmp_path / "d"))
    assert r.returncode == 1
    assert os.strerror(errno.ENOSYS) in r.stderr  # "Function not implemented"

    spec = {**DOCKER_LIKE, "defaultErrnoRet": errno.EACCES}
    r = run(spec, "mkdir", str(tmp_path / "d"))
    assert "Permission denied" in r.stderr
    assert not (tmp_path / "d").exists()


def test_kill_process_kills_with_sigsys(tmp_path: Path) -> None:
    spec = with_rules(
        DOCKER_LIKE, {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}
    )
    r = run(spec, "mkdir", str(tmp_path / "d"))
    assert r.returncode == -signal.SIGSYS
    assert not (tmp_path / "d").exists()


def test_arg_conditional_personality() -> None:
    # linux64 calls personality(PER_LINUX=0): allowed; linux32 asks for PER_LINUX32 (8).
    ok = run(DOCKER_LIKE, "linux64", BUSYBOX, "true")
    assert ok.returncode == 0, ok.stderr
    denied = run(DOCKER_LIKE, "linux32", BUSYBOX, "true")
    assert denied.returncode != 0
    assert "Operation not permitted" in denied.stderr


def test_allow_default_with_one_errno_rule(tmp_path: Path) -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    r = run(spec, "sh", "-c", f"touch {tmp_path}/f && mkdir {tmp_path}/d")
    assert (tmp_path / "f").exists()
    assert not (tmp_path / "d").exists()
    assert "Operation not permitted" in r.stderr


def test_masked_eq_and_split_same_index_rules(tmp_path: Path) -> None:
    # chmod is denied when the mode has the sticky bit (mask 0o1000) or is exactly 0o700:
    # two comparisons of arg 1, so two rules.
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["chmod"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EROFS,
                "args": [
                    {"index": 1, "value": 0o1000, "valueTwo": 0o1000, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"},
                ],
            }
        ],
    }
    for name in "abc":
        (tmp_path / name).touch(mode=0o644)
    r = run(spec, "sh", "-c", "chmod 755 a; chmod 1777 b; chmod 700 c", cwd=tmp_path)
    modes = {name: (tmp_path / name).stat().st_mode & 0o7777 for name in "abc"}
    assert modes == {"a": 0o755, "b": 0o644, "c": 0o644}
    assert r.stderr.count("Read-only file system") == 2


def test_load_without_no_new_privs_or_cap_sys_admin_is_host_error() -> None:
    r = run(DOCKER_LIKE, "true", user=65534)
    assert r.returncode == 125
    assert r.stderr.strip() == (
        "cannot load seccomp filter: Permission denied (needs no_new_privs or CAP_SYS_ADMIN)"
    )


# struct seccomp_notif (80 bytes) and struct seccomp_notif_resp (24 bytes).
_NOTIF = struct.Struct("=QIIiIQ6Q")
_NOTIF_RESP = struct.Struct("=QqiI")
_IOCTL_NOTIF_RECV = 0xC0000000 | (_NOTIF.size << 16) | (ord("!") << 8) | 0
_IOCTL_NOTIF_SEND = 0xC0000000 | (_NOTIF_RESP.size << 16) | (ord("!") << 8) | 1


def test_notify_sends_listener_fd_and_state_to_the_agent(tmp_path: Path) -> None:
    import seccomp

    listener = tmp_path / "agent.sock"
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": str(listener),
        "listenerMetadata": "hello-agent",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(listener))
        server.listen(1)
        server.settimeout(20)
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, json.dumps(spec), BUSYBOX, "mkdir", f"{tmp_path}/d"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            conn, _ = server.accept()
            with conn:
                msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            assert len(fds) == 1
            notify_fd = fds[0]
            try:
                process_state = json.loads(msg)
                assert process_state["fds"] == ["seccompFd"]
                assert process_state["pid"] == proc.pid
                assert process_state["metadata"] == "hello-agent"
                assert process_state["state"]["status"] == "creating"

                buf = bytearray(_NOTIF.size)
                for _ in range(50):  # ENOENT: the call was interrupted (a signal) and is
                    try:             # made again, with a new notification
                        fcntl.ioctl(notify_fd, _IOCTL_NOTIF_RECV, buf, True)
                        break
                    except FileNotFoundError:
                        continue
                notif_id, pid, _, nr, _, _, *_ = _NOTIF.unpack(buf)
                assert pid == proc.pid
                assert nr == seccomp.resolve_syscall(seccomp.Arch.NATIVE, "mkdir")
                resp = bytearray(_NOTIF_RESP.pack(notif_id, 0, -errno.EXDEV, 0))
                fcntl.ioctl(notify_fd, _IOCTL_NOTIF_SEND, resp, True)
            finally:
                os.close(notify_fd)
            _, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 1
    assert os.strerror(errno.EXDEV) in stderr
    assert not (tmp_path / "d").exists()
