"""Network routes of the Engine API: list, inspect, create, remove, prune, connect and
disconnect. The engine decides; this only translates HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

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


@_route("GET", "/networks")
async def network_list(request: web.Request) -> web.Response:
    return json_response(_engine(request).networks(query_filters(request)))


@_route("GET", "/networks/{id}")
async def network_inspect(request: web.Request) -> web.Response:
    return json_response(_engine(request).network(request.match_info["id"]))


@_route("POST", "/networks/create")
async def network_create(request: web.Request) -> web.Response:
    answer = await _engine(request).create_network(await json_object(request))
    return json_response(answer, status=201)


@_route("DELETE", "/networks/{id}")
async def network_remove(request: web.Request) -> web.Response:
    await _engine(request).remove_network(request.match_info["id"])
    return web.Response(status=204)


@_route("POST", "/networks/prune")
async def network_prune(request: web.Request) -> web.Response:
    removed = await _engine(request).prune_networks(query_filters(request))
    return json_response({"NetworksDeleted": removed or None})


def _container(body: dict[str, Any]) -> str:
    container = body.get("Container")
    if not container or not isinstance(container, str):
        raise InvalidParameter("no container specified")
    return container


@_route("POST", "/networks/{id}/connect")
async def network_connect(request: web.Request) -> web.Response:
    body = await json_object(request)
    await _engine(request).connect(request.match_info["id"], _container(body),
                                   body.get("EndpointConfig"))
    return web.Response(status=200)


@_route("POST", "/networks/{id}/disconnect")
async def network_disconnect(request: web.Request) -> web.Response:
    body = await json_object(request)
    await _engine(request).disconnect(request.match_info["id"], _container(body),
                                      bool(body.get("Force")) or query_bool(request, "force"))
    return web.Response(status=200)
