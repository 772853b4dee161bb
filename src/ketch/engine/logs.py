"""Reading a container's json-file log: tail, since/until, timestamps, follow."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, BinaryIO

FOLLOW_POLL = 0.05  # seconds between looks at a growing log
BATCH = 4096  # log lines parsed at once


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


def _record(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None  # a line cut by a crash: skip it, like Docker's reader


def _entries(lines: list[bytes], *, stdout: bool, stderr: bool, since: float,
             until: float, timestamps: bool) -> list[tuple[int, bytes]]:
    """Complete json-file lines -> (stream, bytes), one per record as dockerd frames
    them. The lines are parsed as one JSON array: one call instead of thousands."""
    try:
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        records = [_record(line) for line in lines]
    out: list[tuple[int, bytes]] = []
    for entry in records:
        if not isinstance(entry, dict):
            continue
        stream = 1 if entry.get("stream") == "stdout" else 2
        if not (stdout if stream == 1 else stderr):
            continue
        if since or until:
            t = _stamp(entry.get("time", ""))
            if (since and t < since) or (until and t > until):
                continue
        text = entry.get("log", "")
        if not isinstance(text, str):
            continue
        if timestamps:
            text = f"{entry.get('time', '')} {text}"
        out.append((stream, text.encode()))
    return out


def rotated(path: str) -> list[str]:
    """The log's rotated files, oldest first. The writer renames the log to log.<n> with
    n one more each time, so a rotated file keeps its name until it is dropped, and a
    reader can tell the order without racing renames."""
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    numbered = [(int(n[len(base) + 1:]), n) for n in names
                if n.startswith(base + ".") and n[len(base) + 1:].isdigit()]
    return [os.path.join(directory, n) for _, n in sorted(numbered)]


def _inode(name: str) -> int | None:
    try:
        return os.stat(name).st_ino
    except OSError:
        return None


def _before(f: BinaryIO, path: str) -> list[str]:
    """The rotated files older than f (all of them, unless f was rotated meanwhile)."""
    ours = os.fstat(f.fileno()).st_ino
    older = []
    for name in rotated(path):
        if _inode(name) == ours:
            break
        older.append(name)
    return older


def _history(names: list[str], keep: int | None) -> Iterator[bytes]:
    """Lines of the rotated files, oldest first (the last `keep` of them)."""
    if keep is None:
        for name in names:
            try:
                f = open(name, "rb")  # noqa: SIM115
            except OSError:
                continue  # dropped meanwhile
            with f:
                yield from f
        return
    lines: list[bytes] = []
    for name in reversed(names):
        if len(lines) >= keep:
            break
        try:
            f = open(name, "rb")  # noqa: SIM115
        except OSError:
            continue
        with f:
            lines = _last_lines(f, keep - len(lines)) + lines
    yield from lines


async def read(path: str, *, follow: bool, stdout: bool, stderr: bool, tail: str,
               since: float, until: float, timestamps: bool,
               running: Callable[[], bool]) -> AsyncIterator[list[tuple[int, bytes]]]:
    """Yield batches of (stream, bytes) records, the rotated files first; with follow,
    keep going (into the new log when the writer rotates) until the container stops."""
    try:
        f: BinaryIO = open(path, "rb")  # noqa: SIM115 - held across awaits below
    except FileNotFoundError:
        return
    try:
        keep = None if tail in ("", "all") else max(0, int(tail))
        current: Iterable[bytes]
        if keep is None:
            current, older = f, _history(_before(f, path), None)
        else:
            current = _last_lines(f, keep)
            older = _history(_before(f, path), keep - len(current))
        def parsed(lines: list[bytes]) -> list[tuple[int, bytes]]:
            return _entries(lines, stdout=stdout, stderr=stderr, since=since, until=until,
                            timestamps=timestamps)

        pending = b""
        batch: list[bytes] = []
        for line in itertools.chain(older, current):
            if not line.endswith(b"\n"):
                pending = line  # a write still in progress
                continue
            batch.append(line)
            if len(batch) >= BATCH:
                yield parsed(batch)
                batch = []
        if batch:
            yield parsed(batch)
        if not follow:
            return
        gone = False
        while True:
            chunk = f.read()  # after a removal too: the open file still has the last lines
            if chunk:
                data = pending + chunk
                *complete, pending = data.split(b"\n")
                for start in range(0, len(complete), BATCH):
                    yield parsed([line for line in complete[start:start + BATCH] if line])
                continue
            if f.tell() > os.fstat(f.fileno()).st_size:  # emptied (max-file 1): anew
                f.seek(0)
                pending = b""
                continue
            newer = _next_file(f, path)  # rotated: the writer went on in another file
            if newer is not None:
                f.close()
                f = newer
                continue
            if gone or not running():
                return
            if until and time.time() > until:
                return
            await asyncio.sleep(FOLLOW_POLL)
            gone = not os.path.exists(os.path.dirname(path))  # the container was removed
    finally:
        f.close()


def _successor(f: BinaryIO, path: str) -> str | None:
    """The file written after f's once f was rotated (None while f is the log itself):
    the oldest rotated file newer than f, or the log; if f was dropped, the oldest left."""
    ours = os.fstat(f.fileno()).st_ino
    current = _inode(path)
    if current is None or current == ours:
        return None  # still ours, or mid-rotation: look again at the next poll
    files = rotated(path)
    for i, name in enumerate(files):
        if _inode(name) == ours:
            return files[i + 1] if i + 1 < len(files) else path
    if os.fstat(f.fileno()).st_nlink == 0:
        return files[0] if files else path
    return None


def _next_file(f: BinaryIO, path: str) -> BinaryIO | None:
    """The successor, opened; when it is the log, one that was not rotated away while we
    opened it (else the rotated file, which comes first)."""
    for _ in range(3):
        name = _successor(f, path)
        if name is None:
            return None
        try:
            newer = open(name, "rb")  # noqa: SIM115 - the caller keeps it
        except OSError:
            continue
        if name != path or _successor(f, path) == path:
            return newer
        newer.close()
    return None
