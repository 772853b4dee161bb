"""The pipe pair between the runtime and the processes it forks into a container.

Messages are single JSON objects, one per line. Both ends are close-on-exec, so
the runtime reads end-of-file at the instant the container's program is
executed, and reads an error message if it could not be.
"""

from __future__ import annotations

import os

from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Channel:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buf = b""

    def send(self, **message: Any) -> None:
        data = (jsonio.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.write_fd, data):]

    def tell(self, **message: Any) -> None:
        """send(), for a peer that may have died: its last words (an error message)
        are still in the pipe for the next recv()."""
        try:
            self.send(**message)
        except BrokenPipeError:
            pass

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None once the other side is gone (or has exec'd)."""
        while b"\n" not in self._buf:
            try:
                chunk = os.read(self.read_fd, 65536)
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        message: dict[str, Any] = jsonio.loads(line)
        return message

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1


def channel_pair() -> tuple[Channel, Channel]:
    """(parent end, child end); after fork each side closes the other's end."""
    down_r, down_w = os.pipe2(os.O_CLOEXEC)
    up_r, up_w = os.pipe2(os.O_CLOEXEC)
    return Channel(up_r, down_w), Channel(down_r, up_w)
