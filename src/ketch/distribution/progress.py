"""The JSON progress messages of pull and push, as Docker's daemon sends them
(jsonmessage): `{"status": ..., "id": ..., "progressDetail": {...}, "progress": "[==> ]
1.2MB/3.4MB"}`. Byte progress is throttled so that a fast transfer is not drowned in
messages."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ketch.util.humanize import human_size

Emit = Callable[[dict[str, Any]], Awaitable[None]]
INTERVAL = 0.1  # seconds between byte-progress messages of one transfer


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def bar(current: int, total: int) -> str:
    """JSONProgress.String for a wide output: the bar and the numbers."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}"
    filled = min(int(current / total * 100) // 2, 50)
    box = f"[{'=' * filled}>{' ' * (50 - filled)}] "
    numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
    return box + ("" if current > total else numbers)


class Progress:
    """Messages for one pull or push; `emit` sends one to the client."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self._last: dict[str, float] = {}

    async def status(self, text: str, ident: str = "") -> None:
        message: dict[str, Any] = {"status": text}
        if ident:
            message["id"] = ident
        await self.emit(message)

    async def step(self, ident: str, text: str) -> None:
        await self.emit({"status": text, "progressDetail": {}, "id": ident})

    async def bytes(self, ident: str, text: str, current: int, total: int,
                    force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last.get(ident + text, 0.0) < INTERVAL:
            return
        self._last[ident + text] = now
        await self.emit({"status": text, "progressDetail": {"current": current, "total": total},
                         "progress": bar(current, total), "id": ident})
