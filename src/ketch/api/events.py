"""`GET /events`: the events kept since `since`, then the live ones until `until` or until
the client hangs up, each a JSON line as dockerd streams them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ketch.api.routing import Handler, query_filters, versioned
from ketch.engine.events import matches
from ketch.errors import InvalidParameter

routes = web.RouteTableDef()
HANGUP_CHECK = 1.0  # seconds between looks at whether an idle listener is still there


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def timestamp(value: str) -> int:
    """`since`/`until` as the CLI sends them ("seconds[.fraction]"), in nanoseconds; 0
    when absent."""
    if not value:
        return 0
    seconds, dot, fraction = value.partition(".")
    for part in (seconds, fraction) if dot else (seconds,):
        if not part.lstrip("-").isdigit():
            raise InvalidParameter(f'strconv.ParseInt: parsing "{part}": invalid syntax')
    nanos = int(fraction[:9].ljust(9, "0")) if dot else 0
    return int(seconds) * 1_000_000_000 + nanos


@_route("GET", "/events")
async def events(request: web.Request) -> web.StreamResponse:
    from ketch.api.server import ENGINE

    bus = request.app[ENGINE].events
    filters = query_filters(request)  # unknown keys filter nothing out, as in dockerd
    since, until = timestamp(request.query.get("since", "")), \
        timestamp(request.query.get("until", ""))
    if since and until and until < since:
        raise InvalidParameter(f"`since` time ({request.query['since']}) cannot be after "
                               f"`until` time ({request.query['until']})")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    queue, history = bus.subscribe()

    async def send(event: dict[str, Any]) -> None:
        if matches(event, filters):
            await response.write(json.dumps(event).encode() + b"\n")

    try:
        seen = 0
        for number, event in history:
            seen = number
            if (since or until) and event["timeNano"] >= since and \
                    (not until or event["timeNano"] <= until):
                await send(event)
        transport = request.transport
        while transport is not None and not transport.is_closing():
            wait = HANGUP_CHECK
            if until:
                left = (until - time.time_ns()) / 1e9
                if left <= 0:
                    break
                wait = min(wait, left)
            try:
                number, event = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                continue
            if number > seen:
                await send(event)
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        bus.unsubscribe(queue)
    return response
