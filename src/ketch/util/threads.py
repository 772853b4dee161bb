"""Blocking work from the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """fn in a thread; if the caller is cancelled, it still waits for the thread (which
    cannot be stopped) before going on, so that no descriptor or lock is let go while the
    thread uses it."""
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        try:
            await future
        except BaseException:
            pass
        raise
