"""Blocking work from the event loop.

Transfers (image and archive streams) wait on their clients for as long as the client
takes, so they run in a pool of their own: a crowd of slow or stalled clients then holds
transfer threads only, never the default executor that every other request needs.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar

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


def piped(produce: Callable[[Callable[[bytes], object]], object],
          consume: Callable[[BinaryIO, Callable[[], None]], T], name: str) -> T:
    """consume(reader, finished) reads what produce(write) writes, through a pipe, the
    writer in a thread of its own: a stream from one place to another with nothing
    spooled. A stream cut by the writer's failure may still look whole to the reader, so
    the consumer calls finished() before it commits to anything: it waits for the writer
    and raises its error. The writer's error also wins over the reader's (it is the cause;
    a broken pipe is the reader's doing)."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=0) as out:
                produce(out.write)
        except BaseException as e:  # the reader sees a cut stream; this says why
            failure.append(e)

    writer = threading.Thread(target=run, name=name, daemon=True)

    def finished() -> None:
        writer.join()
        if failure:
            raise failure[0]

    writer.start()
    try:
        with os.fdopen(read_fd, "rb") as stream:
            result = consume(stream, finished)
    except BaseException:
        writer.join()
        if failure and not isinstance(failure[0], BrokenPipeError):
            raise failure[0] from None
        raise
    finished()
    return result
