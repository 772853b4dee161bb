"""Terminals: a pty made inside the container, handed out over a console socket.

runc's protocol: the runtime connects to the unix socket given by
--console-socket and sends the pty master as SCM_RIGHTS, with the pty's name as
the message. Without a console socket, a foreground `run`/`exec` makes its own
socket pair and proxies the caller's terminal to the master.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import termios

from ketch.errors import HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSCTTY = 0x540E


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise HostError(f"cannot connect to console socket {path}: {e.strerror}") from None
    return sock


def open_pty(size: dict[str, Any] | None = None) -> tuple[int, int, str]:
    """Open a pty on the devpts at /dev/pts of the current root: (master, slave, name)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        name = f"/dev/pts/{number}"
        slave = os.open(name, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        os.close(master)
        raise HostError(f"cannot allocate a terminal: {e.strerror}") from None
    if size:
        set_size(slave, size.get("height", 0), size.get("width", 0))
    return master, slave, name


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def send_master(sock_fd: int, master: int, name: str) -> None:
    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        socket.send_fds(sock, [name.encode()], [master])
    except OSError as e:
        raise HostError(f"cannot send the terminal to the console socket: {e.strerror}") from None
    finally:
        sock.close()


def recv_master(sock: socket.socket) -> int:
    _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise HostError("the container did not send its terminal")
    return fds[0]


def become_controlling(slave: int) -> None:
    """Make the pty the session's controlling terminal and the process's stdio."""
    os.setsid()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)


def proxy(master: int, done_fd: int) -> None:
    """Copy our stdin to the pty and the pty to our stdout until `done_fd` is readable.

    The caller's terminal is put in raw mode and its size follows SIGWINCH.
    """
    import select
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_size(master)
        signal.signal(signal.SIGWINCH, lambda *_: _copy_size(master))
    stdin_open = True
    try:
        while True:
            fds = [master, done_fd] + ([0] if stdin_open else [])
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            elif done_fd in ready:
                return
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    stdin_open = False
                    os.write(master, b"\x04")  # EOF for the program reading the tty
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _copy_size(master: int) -> None:
    try:
        packed = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, packed)
    except OSError:
        pass
