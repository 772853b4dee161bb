"""The swarm routes, as dockerd answers them on a node that is not in a swarm: ketch has
no swarm mode, and clients (docker-py's tests, `docker info`) ask and carry on."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ketch.api.routing import Handler, json_response, versioned

routes = web.RouteTableDef()
NOT_A_MANAGER = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker "
                 "swarm join\" to connect this node to swarm and try again.")
NOT_IN_SWARM = "This node is not part of a swarm"


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _unavailable(message: str) -> web.Response:
    return json_response({"message": message}, status=503)


@_route("GET", "/swarm")
async def swarm_inspect(request: web.Request) -> web.Response:
    return _unavailable(NOT_A_MANAGER)


@_route("POST", "/swarm/leave")
async def swarm_leave(request: web.Request) -> web.Response:
    return _unavailable(NOT_IN_SWARM)


@_route("POST", "/swarm/{action:init|join|update|unlock}")
async def swarm_change(request: web.Request) -> web.Response:
    return _unavailable("swarm mode is not supported by ketch")


@_route("GET", "/{kind:services|tasks|nodes|secrets|configs}")
async def swarm_lists(request: web.Request) -> web.Response:
    return _unavailable(NOT_A_MANAGER)
