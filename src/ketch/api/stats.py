"""`GET /containers/{id}/stats`: a container's resource usage as dockerd sends it, one JSON
sample (`stream=false`, `one-shot`) or a sample a second until the client hangs up. The
samples are the engine's (engine/stats.py); this reads the query as dockerd reads it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from ketch.api.routing import Handler, query_bool, versioned
from ketch.engine.containers import ContainerStore
from ketch.errors import InvalidParameter

routes = web.RouteTableDef()
ONE_SHOT_API = (1, 41)  # one-shot is read from this API version on, as dockerd does


class StatsBackend(Protocol):
    """What this route needs of the engine."""

    containers: ContainerStore
    exec_root: str


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _backend(request: web.Request) -> StatsBackend:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


def bool_or_default(request: web.Request, name: str, default: bool) -> bool:
    """httputils.BoolValueOrDefault: absent is the default; present, anything but "",
    0, no, false and none is true (so `stream=bogus` streams, as in dockerd)."""
    if name not in request.query:
        return default
    return query_bool(request, name)


def _api_version(request: web.Request) -> tuple[int, ...]:
    from ketch.engine.system import API_VERSION

    version = request.match_info.get("version") or API_VERSION
    return tuple(int(part) for part in version.split("."))


def _line(sample: dict[str, Any]) -> bytes:
    return json.dumps(sample, separators=(",", ":")).encode() + b"\n"


@_route("GET", "/containers/{id}/stats")
async def container_stats(request: web.Request) -> web.StreamResponse:
    from ketch.engine.stats import samples

    backend = _backend(request)
    c = backend.containers.get(request.match_info["id"])  # a 404 before anything else
    stream = bool_or_default(request, "stream", True)
    one_shot = _api_version(request) >= ONE_SHOT_API and \
        bool_or_default(request, "one-shot", False)
    if stream and one_shot:
        raise InvalidParameter("cannot have stream=true and one-shot=true")
    found = samples(backend.containers, c, backend.exec_root, stream=stream,
                    one_shot=one_shot)
    if not stream:
        try:
            body = _line(await anext(found))
        except StopAsyncIteration:  # removed while we waited: dockerd writes nothing
            body = b""
        finally:
            await found.aclose()
        return web.Response(body=body, content_type="application/json")
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    transport = request.transport
    try:
        async for sample in found:
            if transport is None or transport.is_closing():
                return response  # the client hung up: the stream ends
            await response.write(_line(sample))
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        await found.aclose()
    return response
