"""Following a json-file log to its end."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from ketch.engine import logs


def _line(text: str) -> bytes:
    return (json.dumps({"log": text, "stream": "stdout",
                        "time": "2026-01-01T00:00:00.000000000Z"}) + "\n").encode()


def test_follow_reads_what_came_last_even_after_a_removal(tmp_path: Path) -> None:
    """docker-py's run() reads a followed log only after the container's wait and removal:
    lines written just before the exit must not be lost with the file's name."""
    path = tmp_path / "c-json.log"
    path.write_bytes(_line("one\n"))
    state = {"running": True}

    async def main() -> list[bytes]:
        got: list[bytes] = []
        stream = logs.read(str(path), follow=True, stdout=True, stderr=True, tail="all",
                           since=0, until=0, timestamps=False,
                           running=lambda: state["running"])
        got += [data for _, data in await stream.__anext__()]
        following = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(logs.FOLLOW_POLL / 5)  # it found nothing new, and waits
        # meanwhile: the last line, the exit, the removal
        with open(path, "ab") as f:
            f.write(_line("two\n"))
        state["running"] = False
        os.unlink(path)
        got += [data for _, data in await following]
        async for batch in stream:
            got += [data for _, data in batch]
        return got

    assert asyncio.run(main()) == [b"one\n", b"two\n"]
