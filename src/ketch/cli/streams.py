"""Copying a hijacked attach/exec stream to and from the local stdio.

Output: raw bytes with a tty, else 8-byte frames split to stdout and stderr. Input: a
thread copies stdin up the socket and half-closes it at EOF; with a tty the detach keys
(Ctrl-P Ctrl-Q by default) end the session without stopping the container.
"""

from __future__ import annotations

import os
import sys

from ketch.client.hijack import HijackedStream
from ketch.client.stream import STDERR, Demuxer
from ketch.util.detachkeys import DEFAULT_DETACH_KEYS, EscapeProxy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["DEFAULT_DETACH_KEYS", "EscapeProxy", "StreamPump", "detach_keys"]


def detach_keys(spec: str | None, code: int) -> bytes:
    """`--detach-keys` as bytes (the default without one); a bad one is the command's
    error line with its exit code."""
    from ketch.cli.command import CLIError
    from ketch.util.detachkeys import parse_detach_keys

    if not spec:
        return DEFAULT_DETACH_KEYS
    try:
        return parse_detach_keys(spec)
    except ValueError as exc:
        raise CLIError(str(exc), code) from None


class StreamPump:
    """Runs one attached session: stdin up (in a thread), output down (in the caller)."""

    def __init__(self, stream: HijackedStream, tty: bool, stdin: bool,
                 stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
                 detach_keys: bytes = DEFAULT_DETACH_KEYS, stdin_fd: int = 0) -> None:
        self.stream = stream
        self.tty = tty
        self.stdin = stdin
        self.stdout = stdout or sys.stdout.buffer
        self.stderr = stderr or sys.stderr.buffer
        self.detach_keys = detach_keys if tty else b""
        self.stdin_fd = stdin_fd
        self.detached = False

    def _copy_stdin(self) -> None:
        proxy = EscapeProxy(self.detach_keys)
        try:
            while True:
                data = os.read(self.stdin_fd, 32768)
                if not data:
                    break
                forward, detach = proxy.feed(data)
                if forward:
                    self.stream.write(forward)
                if detach:
                    self.detached = True
                    self.stream.shutdown()
                    return
        except OSError:
            pass
        self.stream.close_write()

    def run(self) -> bool:
        """Copy until the output ends; True when the user detached."""
        if self.stdin:
            import threading  # only with stdin: ~0.7 ms of every other `ketch run`

            threading.Thread(target=self._copy_stdin, name="stdin", daemon=True).start()
        demuxer = None if self.tty else Demuxer()
        while True:
            data = self.stream.read()
            if not data:
                break
            if demuxer is None:
                self.stdout.write(data)
                self.stdout.flush()
                continue
            for stream_id, payload in demuxer.feed(data):
                target = self.stderr if stream_id == STDERR else self.stdout
                target.write(payload)
                target.flush()
        return self.detached
