"""Exec routes of the Engine API: create (`POST /containers/{id}/exec`), start (the
hijacked stream, or detached), inspect, resize. The engine decides (engine/execs.py);
this translates HTTP. A process that cannot start is reported as dockerd does: the
stream carries the error text, and the exec's exit code is 126."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ketch.api.routing import Handler, json_object, json_response, versioned
from ketch.errors import InvalidParameter
from ketch.util.detachkeys import DEFAULT_DETACH_KEYS, parse_detach_keys

routes = web.RouteTableDef()


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _engine(request: web.Request) -> Any:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


@_route("POST", "/containers/{id}/exec")
async def exec_create(request: web.Request) -> web.Response:
    body = await json_object(request)
    exec_id = _engine(request).execs.create(request.match_info["id"], body)
    return json_response({"Id": exec_id}, status=201)


@_route("POST", "/exec/{id}/start")
async def exec_start(request: web.Request) -> web.StreamResponse:
    from ketch.api.server import hijack
    from ketch.engine.execs import ExecStartFailed

    raw = await request.read()
    body: dict[str, Any] = {}
    if raw.strip():
        body = await json_object(request)
    detach = bool(body.get("Detach"))
    tty = body.get("Tty")
    execs = _engine(request).execs
    exec_id = request.match_info["id"]
    instance = execs.get(exec_id)
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    raw_stream = instance.tty if tty is None else bool(tty)  # start's Tty, else create's
    content_type = "application/vnd.docker.raw-stream" if raw_stream \
        else "application/vnd.docker.multiplexed-stream"
    try:
        live = await execs.start(exec_id, detach, bool(tty) if tty is not None else None)
    except ExecStartFailed as e:
        if detach:
            raise
        text = (str(e) + "\r\n").encode()  # on the stream's stdout, as dockerd writes it
        if not raw_stream:
            text = bytes((1, 0, 0, 0)) + len(text).to_bytes(4, "big") + text
        return await hijack(request, upgrade, content_type, text, None, False)
    if live is None:
        return web.Response(status=200)
    keys = parse_detach_keys(instance.detach_keys) if instance.detach_keys \
        else DEFAULT_DETACH_KEYS
    return await hijack(request, upgrade, content_type, b"", live, instance.stdin,
                        before_close=lambda: execs.wait_exit(exec_id),
                        detach_keys=keys if instance.tty else b"")


@_route("GET", "/exec/{id}/json")
async def exec_inspect(request: web.Request) -> web.Response:
    return json_response(_engine(request).execs.get(request.match_info["id"]).inspect())


@_route("POST", "/exec/{id}/resize")
async def exec_resize(request: web.Request) -> web.Response:
    try:
        height, width = int(request.query.get("h", "")), int(request.query.get("w", ""))
    except ValueError:
        raise InvalidParameter("invalid resize: h and w must be numbers") from None
    await _engine(request).execs.resize(request.match_info["id"], height, width)
    return web.Response(status=200)
