"""Archive routes of the Engine API: a path in a container (HEAD, GET and PUT
/containers/{id}/archive) and the whole filesystem (GET /containers/{id}/export).

Tars are streamed both ways, never held in memory: the engine's tar writer runs in a thread
and every chunk waits for the client to take it (the write's coroutine runs in the event
loop, the thread waits for its result); an upload is read from the request as the
extractor asks for it.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ketch.api.routing import Handler, RequestBody, query_bool, stream_from_thread, versioned
from ketch.engine.archive import (
    STAT_HEADER,
    archive_path,
    export,
    extract,
    stat_header,
    stat_path,
)
from ketch.errors import InvalidParameter

routes = web.RouteTableDef()
_TAR = "application/x-tar"


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _engine(request: web.Request) -> Any:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:  # Docker's message, missing space and all
        raise InvalidParameter("bad parameter: pathcannot be empty")
    return path


@_route("HEAD", "/containers/{name}/archive")
async def archive_head(request: web.Request) -> web.Response:
    doc = await stat_path(_engine(request), request.match_info["name"], _path(request))
    return web.Response(headers={STAT_HEADER: stat_header(doc)})


@_route("GET", "/containers/{name}/archive")
async def archive_get(request: web.Request) -> web.StreamResponse:
    async with archive_path(_engine(request), request.match_info["name"],
                            _path(request)) as source:
        response = web.StreamResponse(headers={"Content-Type": _TAR,
                                               STAT_HEADER: stat_header(source.stat)})
        return await stream_from_thread(request, response, source.write)


@_route("PUT", "/containers/{name}/archive")
async def archive_put(request: web.Request) -> web.Response:
    body = io.BufferedReader(RequestBody(request, asyncio.get_running_loop()), 1 << 20)
    await extract(_engine(request), request.match_info["name"], _path(request),
                  body,
                  copy_uid_gid=query_bool(request, "copyUIDGID"),
                  no_overwrite_dir_nondir=query_bool(request, "noOverwriteDirNonDir"))
    return web.Response()


@_route("GET", "/containers/{name}/export")
async def container_export(request: web.Request) -> web.StreamResponse:
    async with export(_engine(request), request.match_info["name"]) as source:
        response = web.StreamResponse(headers={"Content-Type": _TAR})
        return await stream_from_thread(request, response, source.write)
