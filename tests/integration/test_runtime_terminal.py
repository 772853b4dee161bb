"""Terminals: --console-socket (runc's protocol), and exec with a tty."""

from __future__ import annotations

import os
import select
import socket
import time
from pathlib import Path

import pytest

from support.bundles import Bundle, Runtime

pytestmark = pytest.mark.integration


def read_until(fd: int, marker: bytes, timeout: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side of the pty is gone
                break
            if not chunk:
                break
            data += chunk
    return data


class ConsoleSocket:
    """The receiving end of --console-socket, like runc's recvtty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.sock.settimeout(10)

    def receive(self) -> tuple[int, str]:
        conn, _ = self.sock.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        assert len(fds) == 1
        return fds[0], msg.decode()

    def close(self) -> None:
        self.sock.close()


def test_console_socket_receives_the_pty_master(runtime: Runtime, bundle: Bundle,
                                                tmp_path: Path) -> None:
    console = ConsoleSocket(tmp_path / "console.sock")
    bundle.process["terminal"] = True
    bundle.process["consoleSize"] = {"height": 33, "width": 101}
    bundle.sh("tty; stty size; ls -l /dev/console | cut -c1; read line; echo got:$line")
    bundle.write()
    cid = runtime.new_id()
    try:
        runtime("create", "--console-socket", str(console.path), "--bundle", str(bundle.path),
                cid, check=True)
        master, name = console.receive()
    finally:
        console.close()
    try:
        assert name.startswith("/dev/pts/")
        runtime("start", cid, check=True)
        out = read_until(master, b"c\r\n")
        os.write(master, b"hello\n")
        out += read_until(master, b"got:hello")
    finally:
        os.close(master)
    text = out.decode()
    assert "/dev/pts/0" in text and "33 101" in text and "got:hello" in text


def test_terminal_needs_a_console_socket_when_detached(runtime: Runtime,
                                                       bundle: Bundle) -> None:
    bundle.process["terminal"] = True
    bundle.args("true").write()
    proc = runtime("create", "--bundle", str(bundle.path), runtime.new_id())
    assert proc.returncode == 1 and "console-socket" in proc.stderr
    assert runtime.leftovers() == []


def test_exec_with_tty_through_console_socket(runtime: Runtime, bundle: Bundle,
                                              tmp_path: Path) -> None:
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), cid, check=True)
    console = ConsoleSocket(tmp_path / "exec.sock")
    try:
        proc = runtime("exec", "--tty", "--detach", "--console-socket", str(console.path), cid,
                       "sh", "-c", "tty; echo done")
        assert proc.returncode == 0, proc.stderr
        master, _ = console.receive()
    finally:
        console.close()
    try:
        out = read_until(master, b"done").decode()
    finally:
        os.close(master)
    assert "/dev/pts/" in out and "done" in out
