"""Reading a container's json-file log: tail, since/until, timestamps, follow."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import BinaryIO

FOLLOW_POLL = 0.05  # seconds between looks at a growing log


def _last_lines(f: BinaryIO, count: int) -> list[bytes]:
    """The last `count` complete lines, read backwards from the end (logs can be huge);
    the file is left positioned at its end."""
    if count == 0:
        f.seek(0, os.SEEK_END)
        return []
    end = f.seek(0, os.SEEK_END)
    pos, data = end, b""
    while pos > 0 and data.count(b"\n") <= count:
        step = min(65536, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + data
    f.seek(end)
    lines = data.splitlines(keepends=True)
    if pos > 0:
        lines = lines[1:]  # the first may be cut
    return lines[-count:]


def _stamp(value: str) -> float:
    main, _, frac = value.rstrip("Z").partition(".")
    try:
        base = time.mktime(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    except ValueError:
        return 0.0
    return base + (float("0." + frac) if frac else 0.0)


def _entry(line: bytes, *, stdout: bool, stderr: bool, since: float, until: float,
           timestamps: bool) -> tuple[int, bytes] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None  # a line cut by a crash: skip it, like Docker's reader
    stream = 1 if entry.get("stream") == "stdout" else 2
    if (stream == 1 and not stdout) or (stream == 2 and not stderr):
        return None
    if since or until:
        t = _stamp(entry.get("time", ""))
        if (since and t < since) or (until and t > until):
            return None
    data = entry.get("log", "").encode()
    if timestamps:
        data = entry.get("time", "").encode() + b" " + data
    return stream, data


async def read(path: str, *, follow: bool, stdout: bool, stderr: bool, tail: str,
               since: float, until: float, timestamps: bool,
               running: Callable[[], bool]) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (stream, bytes) entries; with follow, keep going until the container stops."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - held across awaits below
    except FileNotFoundError:
        return
    with f:
        keep = None if tail in ("", "all") else max(0, int(tail))
        lines: Iterable[bytes] = f if keep is None else _last_lines(f, keep)
        pending = b""
        for line in lines:
            if not line.endswith(b"\n"):
                pending = line  # a write still in progress
                continue
            item = _entry(line, stdout=stdout, stderr=stderr, since=since, until=until,
                          timestamps=timestamps)
            if item:
                yield item
        if not follow:
            return
        gone = False
        while True:
            chunk = f.read()  # after a removal too: the open file still has the last lines
            if chunk:
                data = pending + chunk
                *complete, pending = data.split(b"\n")
                for line in complete:
                    item = _entry(line + b"\n", stdout=stdout, stderr=stderr, since=since,
                                  until=until, timestamps=timestamps)
                    if item:
                        yield item
                continue
            if gone or not running():
                return
            if until and time.time() > until:
                return
            await asyncio.sleep(FOLLOW_POLL)
            gone = not os.path.exists(path)
