"""The daemon's JSON progress stream shown as the docker CLI's jsonmessage shows it.

On a terminal each layer keeps one line, rewritten in place with cursor movements
("\\x1b[<n>A" up, "\\x1b[2K" erase, "\\x1b[<n>B" down) and a progress bar; elsewhere only
the lines without a byte count are printed ("<id>: Pull complete"). An `errorDetail`
ends the stream with StreamError; `aux` objects go to a callback.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TextIO


class StreamError(Exception):
    """An error message in the stream (jsonmessage.JSONError)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def go_duration(seconds: float) -> str:
    """time.Duration.Round(time.Second).String(): "0s", "45s", "2m5s", "1h0m5s"."""
    total = int(abs(seconds) + 0.5)  # Round: halves away from zero
    sign = "-" if seconds < 0 and total else ""
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _number(detail: dict[str, Any], key: str) -> int:
    value = detail.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def progress_text(detail: dict[str, Any], width: int, now: float | None = None) -> str:
    """JSONProgress.String(): "[====>     ]  1.2MB/3.4MB 5s" ("" without numbers; the bar
    only on a terminal wider than 110 columns)."""
    from ketch.util.humanize import human_size

    current, total, start = (_number(detail, "current"), _number(detail, "total"),
                             _number(detail, "start"))
    units = detail.get("units") if isinstance(detail.get("units"), str) else ""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}" if not units else f"{current} {units}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = f"[{'=' * percentage}>{' ' * max(50 - percentage, 0)}] "
    numbers = ""
    if detail.get("hidecounts") is True:
        pass
    elif not units:
        numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
        if current > total:  # a wonky total is not shown
            numbers = f"{human_size(current, 4):>8}"
    else:
        numbers = f"{current}/{total} {units}" if current <= total else f"{current} {units}"
    left = ""
    if current > 0 and start > 0 and percentage < 50:
        import time

        elapsed_ns = int(((time.time() if now is None else now) - start) * 1e9)
        per_unit = int(elapsed_ns / current)  # Duration / int64 truncates toward zero
        left = " " + go_duration((total - current) * per_unit / 1e9)
    return bar + numbers + left


def _timestamp(msg: dict[str, Any]) -> str:
    """RFC3339NanoFixed in local time, as jsonmessage prefixes a timed message."""
    nanos = _number(msg, "timeNano") or _number(msg, "time") * 1_000_000_000
    if not nanos:
        return ""
    from datetime import datetime

    when = datetime.fromtimestamp(nanos // 1_000_000_000).astimezone()
    offset = when.strftime("%z")
    zone = "Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
    return f"{when:%Y-%m-%dT%H:%M:%S}.{nanos % 1_000_000_000:09d}{zone} "


class Display:
    """DisplayJSONMessagesStream for one output: `terminal` turns on the in-place lines;
    `width` gives the terminal's columns (200 when unknown, as docker assumes)."""

    def __init__(self, out: TextIO | None, terminal: bool = False,
                 width: Callable[[], int] | None = None,
                 on_aux: Callable[[Any], object] | None = None) -> None:
        self.out = out  # None: discard (-q), errors still raised
        self.terminal = terminal and out is not None
        self.width = width or (lambda: 200)
        self.on_aux = on_aux
        self.ids: dict[str, int] = {}  # layer id -> its line, counted from the first

    def show(self, messages: Iterable[dict[str, Any]]) -> None:
        for msg in messages:
            self.show_one(msg)

    def show_one(self, msg: dict[str, Any]) -> None:
        if msg.get("aux") is not None:
            if self.on_aux is not None:
                self.on_aux(msg["aux"])
            return
        detail = msg.get("progressDetail")
        has_progress = isinstance(detail, dict)
        ident = str(msg.get("id") or "")
        diff = 0
        if ident and (has_progress or msg.get("progress")):
            line = self.ids.get(ident)
            if line is None:
                line = self.ids[ident] = len(self.ids)
                self._write("\n" if self.terminal else "")
            diff = len(self.ids) - line
            if self.terminal and diff:
                self._write(f"\x1b[{diff}A")
        else:
            # anything else ends the block of layer lines: a later `pull -a` tag starts
            # its own instead of rewriting this one's
            self.ids = {}
        error = self._render(msg, detail if isinstance(detail, dict) else None)
        if ident and self.terminal and diff:
            self._write(f"\x1b[{diff}B")
        if self.out is not None:
            self.out.flush()
        if error is not None:
            raise error

    def _render(self, msg: dict[str, Any], detail: dict[str, Any] | None) -> StreamError | None:
        """JSONMessage.Display."""
        error_detail = msg.get("errorDetail")
        if error_detail is not None or msg.get("error"):
            info = error_detail if isinstance(error_detail, dict) else {}
            code = info.get("code")
            return StreamError(str(info.get("message") or msg.get("error") or ""),
                               code if isinstance(code, int) else 0)
        stream = msg.get("stream") if isinstance(msg.get("stream"), str) else ""
        status = str(msg.get("status") or "")
        endl = ""
        if self.terminal and not stream and detail is not None:
            endl = "\r"
            self._write("\x1b[2K\r")
        elif detail is not None and progress_text(detail, self.width()):
            return None  # progress bars are for terminals
        text = _timestamp(msg)
        if msg.get("id"):
            text += f"{msg['id']}: "
        if msg.get("from"):
            text += f"(from {msg['from']}) "
        if detail is not None and self.terminal:
            text += f"{status} {progress_text(detail, self.width())}{endl}"
        elif msg.get("progress"):
            text += f"{status} {msg['progress']}{endl}"
        elif stream:
            text += f"{stream}{endl}"
        else:
            text += f"{status}{endl}\n"
        self._write(text)
        return None

    def _write(self, text: str) -> None:
        if self.out is not None and text:
            self.out.write(text)


def terminal_width(fd: int) -> Callable[[], int]:
    """The columns of the terminal on fd, asked each time (a resize shows at once)."""
    def width() -> int:
        import os

        try:
            return os.get_terminal_size(fd).columns
        except OSError:
            return 200
    return width


def show_stream(messages: Iterable[dict[str, Any]], out: TextIO | None,
                on_aux: Callable[[Any], object] | None = None) -> None:
    """DisplayJSONMessagesToStream: in place if `out` is a terminal, plain otherwise;
    None discards the output (only an error in the stream is raised)."""
    terminal, width = False, None
    if out is not None:
        from ketch.cli.terminal import is_terminal

        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        terminal = fd >= 0 and is_terminal(fd)
        width = terminal_width(fd) if terminal else None
    Display(out, terminal, width, on_aux).show(messages)
