"""Run OCI lifecycle hooks with the container's state on their stdin."""

from __future__ import annotations

import os
import select
import signal
import time

from ketch.errors import HostError
from ketch.runtime import linux as L
from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_hooks(hooks: list[dict[str, Any]], state: dict[str, Any], kind: str) -> None:
    """Run each hook in order; the first that fails raises HostError."""
    data = jsonio.dumps(state).encode()
    for hook in hooks:
        run_hook(hook, data, kind)


def run_hooks_logged(hooks: list[dict[str, Any]], state: dict[str, Any], kind: str,
                     warn: Any) -> None:
    """poststart and poststop: a failure is a warning and the other hooks still run."""
    data = jsonio.dumps(state).encode()
    for hook in hooks:
        try:
            run_hook(hook, data, kind)
        except HostError as e:
            warn(str(e))


def run_hook(hook: dict[str, Any], data: bytes, kind: str) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    env = hook.get("env") or []
    timeout = hook.get("timeout")
    stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only execs
        try:
            os.dup2(stdin_r, 0)
            os.dup2(err_w, 1)  # runc keeps a hook's output to itself too
            os.dup2(err_w, 2)
            L.close_range(3)
            os.execve(path, args, dict(e.split("=", 1) for e in env if "=" in e))
        except OSError as e:
            os.write(2, f"{e.strerror}".encode())
        os._exit(127)
    os.close(stdin_r)
    os.close(err_w)
    try:
        try:
            os.write(stdin_w, data)
        except BrokenPipeError:
            pass  # a hook need not read its stdin
        os.close(stdin_w)
        stdin_w = -1
        status, output = _wait(pid, err_r, timeout)
    finally:
        if stdin_w >= 0:
            os.close(stdin_w)
        os.close(err_r)
    if status is None:
        raise HostError(f"{kind} hook {path} timed out after {timeout}s")
    if status != 0:
        detail = output.decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise HostError(f"{kind} hook {path} failed with exit status {status}{tail}")


def _wait(pid: int, err_fd: int, timeout: int | None) -> tuple[int | None, bytes]:
    """Wait for the hook, collecting its stderr; None on timeout (the hook is killed)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pidfd = os.pidfd_open(pid)
    stderr = b""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(err_fd, select.POLLIN)
    try:
        while True:
            left = None if deadline is None else max(0, deadline - time.monotonic())
            events = poller.poll(None if left is None else int(left * 1000))
            if not events and deadline is not None and time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None, stderr
            for fd, _ in events:
                if fd == err_fd:
                    chunk = os.read(err_fd, 65536)
                    if chunk:
                        stderr = (stderr + chunk)[-4096:]
                    else:
                        poller.unregister(err_fd)
                elif fd == pidfd:
                    _, status = os.waitpid(pid, 0)
                    return os.waitstatus_to_exitcode(status), stderr + _drain(err_fd)
    finally:
        os.close(pidfd)


def _drain(fd: int) -> bytes:
    """What the hook wrote just before it exited (without waiting for its children)."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except BlockingIOError:
        pass
    return data[-4096:]
