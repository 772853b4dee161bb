"""Volume routes of the Engine API: create, list, inspect, remove, prune. The store does
the work; which containers use a volume is the engine's to say."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ketch.api.images_admin import api_version
from ketch.api.routing import (
    Handler,
    json_object,
    json_response,
    query_bool,
    query_filters,
    versioned,
)
from ketch.errors import InvalidParameter

routes = web.RouteTableDef()


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _engine(request: web.Request) -> Any:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


def _users(engine: Any) -> Callable[[str], list[str]]:
    """engine.volume_users, or nobody while the engine cannot tell."""
    users: Callable[[str], list[str]] | None = getattr(engine, "volume_users", None)
    return users if users is not None else (lambda name: [])


def _in_use(engine: Any) -> set[str]:
    used = getattr(engine, "volumes_in_use", None)
    return set(used()) if used is not None else set()


def _string_map(body: dict[str, Any], key: str) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidParameter(f"invalid {key}: must be an object of strings")
    return value


@_route("POST", "/volumes/create")
async def volume_create(request: web.Request) -> web.Response:
    body = await json_object(request)
    for key in ("Name", "Driver"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise InvalidParameter(f"invalid {key}: must be a string")
    volume = await asyncio.to_thread(
        _engine(request).volumes.create, body.get("Name") or None,
        body.get("Driver") or "local", _string_map(body, "DriverOpts"),
        _string_map(body, "Labels"))
    return json_response(volume.inspect(), status=201)


@_route("GET", "/volumes")
async def volume_list(request: web.Request) -> web.Response:
    engine = _engine(request)
    filters = query_filters(request)
    used = await asyncio.to_thread(_in_use, engine) if "dangling" in filters else set()
    found = await asyncio.to_thread(engine.volumes.select, filters, used)
    return json_response({"Volumes": [v.inspect() for v in found], "Warnings": None})


@_route("GET", "/volumes/{name}")
async def volume_inspect(request: web.Request) -> web.Response:
    volume = await asyncio.to_thread(_engine(request).volumes.get, request.match_info["name"])
    return json_response(volume.inspect())


@_route("DELETE", "/volumes/{name}")
async def volume_remove(request: web.Request) -> web.Response:
    engine = _engine(request)
    await asyncio.to_thread(engine.volumes.remove, request.match_info["name"],
                            query_bool(request, "force"), _users(engine))
    return web.Response(status=204)


@_route("POST", "/volumes/prune")
async def volume_prune(request: web.Request) -> web.Response:
    engine = _engine(request)
    filters = query_filters(request)
    if api_version(request) < (1, 42):  # before 1.42, prune took named volumes too
        filters["all"] = ["true"]
    removed, reclaimed = await asyncio.to_thread(engine.volumes.prune, filters,
                                                 _users(engine))
    return json_response({"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})
