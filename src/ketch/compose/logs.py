"""Services' logs with docker compose's per-container prefixes (`web-1  | hello`).

One reader thread per container follows `GET /containers/{id}/logs` (frames demuxed
unless the container has a tty) and hands whole lines to one writer, so that lines of
different containers never mix. Prefixes are coloured on a terminal, in docker compose's
rotation of colours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ketch.client.api import Client
from ketch.client.errors import APIError, ProtocolError
from ketch.client.http import Response
from ketch.client.stream import Demuxer
from ketch.compose.convergence import Existing

# docker compose's rainbow: cyan, yellow, green, magenta, blue, red, then intense ones
COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91")


def short_name(project: str, container: Existing) -> str:
    """The container's name without the project (`web-1`), as docker compose shows it."""
    for sep in ("-", "_"):
        if container.name.startswith(project + sep):
            return container.name[len(project) + 1:]
    return container.name


@dataclass
class LogPrinter:
    """Writes lines of several containers with their prefixes."""

    write: Callable[[str], object]
    colour: bool = False
    prefix: bool = True
    width: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _colours: dict[str, str] = field(default_factory=dict)

    def fit(self, names: list[str]) -> None:
        self.width = max([self.width, *(len(n) for n in names)])

    def head(self, name: str) -> str:
        if not self.prefix:
            return ""
        text = f"{name:<{self.width}}  | "
        if not self.colour:
            return text
        code = self._colours.setdefault(name, COLOURS[len(self._colours) % len(COLOURS)])
        return f"\033[{code}m{text}\033[0m"

    def line(self, name: str, text: str) -> None:
        with self._lock:
            self.write(self.head(name) + text + ("" if text.endswith("\n") else "\n"))

    def event(self, text: str) -> None:
        with self._lock:
            self.write(text + "\n")


class Follower(threading.Thread):
    """Reads one container's log (following it or not) into the printer."""

    def __init__(self, client: Client, container: Existing, name: str, printer: LogPrinter,
                 follow: bool, tail: str = "all", timestamps: bool = False,
                 since: str | None = None, until: str | None = None,
                 on_end: Callable[[Existing], object] | None = None) -> None:
        super().__init__(daemon=True, name=f"logs-{container.name}")
        self.client = client
        self.container = container
        self.label = name
        self.printer = printer
        self.follow = follow
        self.tail = tail
        self.timestamps = timestamps
        self.since = since
        self.until = until
        self.on_end = on_end
        self.response: Response | None = None

    def run(self) -> None:
        try:
            self._copy()
        except (APIError, ProtocolError, OSError):
            pass  # the container went, or the stream was cut (stop())
        finally:
            if self.on_end is not None:
                self.on_end(self.container)

    def _copy(self) -> None:
        info = self.client.inspect_container(self.container.id)
        tty = bool((info.get("Config") or {}).get("Tty"))
        self.response = resp = self.client.logs(
            self.container.id, follow=self.follow, tail=self.tail,
            timestamps=self.timestamps, since=self.since, until=self.until)
        pending = b""
        demuxer = None if tty else Demuxer()
        try:
            for chunk in resp.iter_chunks():
                payloads = [chunk] if demuxer is None else \
                    [payload for _stream, payload in demuxer.feed(chunk)]
                for payload in payloads:
                    pending += payload
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        self.printer.line(self.label,
                                          raw.rstrip(b"\r").decode("utf-8", "replace"))
            if pending:
                self.printer.line(self.label, pending.decode("utf-8", "replace"))
        finally:
            resp.conn.close()

    def stop(self) -> None:
        if self.response is not None:
            import _socket

            try:  # a read blocked in the thread returns at once
                self.response.conn.sock.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass
