"""Blocking work from the event loop.

Transfers (image and archive streams) wait on their clients for as long as the client
takes, so they run in a pool of their own: a crowd of slow or stalled clients then holds
transfer threads only, never the default executor that every other request needs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_TRANSFERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="transfer")


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """fn in a transfer thread; if the caller is cancelled, it still waits for the thread
    (which cannot be stopped) before going on, so that no descriptor or lock is let go
    while the thread uses it."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_TRANSFERS, functools.partial(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        try:
            await future
        except BaseException:
            pass
        raise
