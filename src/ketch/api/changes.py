"""`GET /containers/{id}/changes`: what `docker diff` shows, for running and stopped
containers alike (the snapshot is read, whether mounted or not)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ketch.api.routing import json_response, versioned

routes = web.RouteTableDef()


def _engine(request: web.Request) -> Any:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


@versioned(routes, "GET", "/containers/{id}/changes")
async def container_changes(request: web.Request) -> web.Response:
    engine = _engine(request)
    container = engine.containers.get(request.match_info["id"])
    changes = await asyncio.to_thread(engine.snapshots.changes, container.id)
    # Docker's list (null when nothing changed): Kind 0 changed, 1 added, 2 deleted
    return json_response([{"Path": path, "Kind": kind} for path, kind in changes] or None)
