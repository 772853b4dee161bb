"""Image routes of the Engine API: list, inspect, import (images/create?fromSrc), tag, remove."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ketch.api.routing import Handler, json_response, query_filters, versioned
from ketch.errors import InvalidParameter, NotFound
from ketch.images.listing import select

routes = web.RouteTableDef()
SPOOL_CHUNK = 1 << 20


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _engine(request: web.Request) -> Any:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


@_route("GET", "/images/json")
async def image_list(request: web.Request) -> web.Response:
    # inline: configs are cached and the rest is a listdir and a stat (~20 us); a thread
    # hand-off would cost more than the work (~1 ms on an idle daemon)
    store = _engine(request).images
    return json_response(select(store.list(), query_filters(request), store.get))


@_route("GET", "/images/{name:.+}/json")
async def image_inspect(request: web.Request) -> web.Response:
    image = _engine(request).images.get(request.match_info["name"])  # cached, as list
    return json_response(image.inspect())


@_route("POST", "/images/create")
async def image_create(request: web.Request) -> web.StreamResponse:
    source = request.query.get("fromSrc")
    if source is None:
        # no registry client yet: say so, as the 404 clients expect for a missing image
        name = request.query.get("fromImage", "")
        tag = request.query.get("tag") or "latest"
        raise NotFound(f"No such image: {name}:{tag} (ketch cannot pull from registries "
                       "yet; `ketch bootstrap` makes base images offline)")
    if source != "-":
        raise InvalidParameter("importing from a URL is not supported: send the tar as the "
                               "request body (fromSrc=-)")
    repo = request.query.get("repo") or ""
    tag = request.query.get("tag") or ""
    reference = f"{repo}:{tag}" if repo and tag else (repo or None)
    changes = request.query.getall("changes", [])
    message = request.query.get("message", "")
    engine = _engine(request)
    with tempfile.TemporaryFile(dir=engine.data_root) as spool:
        while chunk := await request.content.read(SPOOL_CHUNK):
            spool.write(chunk)
        spool.seek(0)
        image = await asyncio.to_thread(engine.images.import_tar, spool, reference=reference,
                                        changes=changes, message=message)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(json.dumps({"status": image.id}).encode() + b"\n")
    await response.write_eof()
    return response


@_route("POST", "/images/{name:.+}/tag")
async def image_tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo") or ""
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    tag = request.query.get("tag") or "latest"
    await asyncio.to_thread(_engine(request).images.tag, request.match_info["name"],
                            f"{repo}:{tag}")
    return web.Response(status=201)


@_route("DELETE", "/images/{name:.+}")
async def image_remove(request: web.Request) -> web.Response:
    engine = _engine(request)
    force = (request.query.get("force") or "").lower() in ("1", "true")

    # taken here, in the event loop: the removal runs in a thread
    users: dict[str, tuple[str, bool]] = {}
    for c in sorted(engine.containers.all(), key=lambda c: c.running):
        users[c.record["Image"]] = (c.id, c.running)  # running ones win

    def in_use(image_id: str) -> tuple[str, bool] | None:
        """A container using the image, as rmi's rules need."""
        return users.get(image_id)

    removed = await asyncio.to_thread(engine.images.remove, request.match_info["name"],
                                      force=force, in_use=in_use)
    return json_response(removed)
