"""Registry routes of the Engine API: pull (`POST /images/create?fromImage=`), push
(`POST /images/{name}/push`) and login (`POST /auth`). Credentials come as Docker's
clients send them: the X-Registry-Auth header, or /auth's JSON body. The engine decides;
this translates HTTP and streams the progress."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ketch.api.routing import Handler, JsonStream, json_object, json_response, versioned
from ketch.distribution.auth import credentials_of, decode_registry_auth
from ketch.errors import KetchError

routes = web.RouteTableDef()
Emit = Callable[[dict[str, Any]], Awaitable[None]]


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _engine(request: web.Request) -> Any:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


async def _streamed(request: web.Request, work: Callable[[Emit], Awaitable[object]]
                    ) -> web.StreamResponse:
    stream = JsonStream(request)
    try:
        await work(stream.emit)
    except KetchError as e:
        if not stream.started:
            raise  # nothing sent yet: an error status, as Docker answers
        await stream.fail(str(e))
    except ConnectionError:
        return stream.response  # the client left
    except Exception as e:
        if not stream.started:
            raise
        logging.getLogger("ketchd").exception("registry transfer failed")
        await stream.fail(f"internal error: {e}")
    return await stream.finish()


async def pull(request: web.Request) -> web.StreamResponse:
    """`POST /images/create?fromImage=name[:tag|@digest]&tag=&platform=`; with neither a
    tag nor a digest, every tag of the repository (`docker pull --all-tags`)."""
    engine = _engine(request)
    name = request.query.get("fromImage", "")
    tag = request.query.get("tag", "")
    platform = request.query.get("platform", "")
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth", ""))
    return await _streamed(request, lambda emit: engine.pull(name, tag, platform,
                                                             credentials, emit))


@_route("POST", "/images/{name:.+}/push")
async def push(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    name = request.match_info["name"]
    tag = request.query.get("tag", "")
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth", ""))
    return await _streamed(request, lambda emit: engine.push(name, tag, credentials, emit))


@_route("GET", "/distribution/{name:.+}/json")
async def distribution_inspect(request: web.Request) -> web.Response:
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth", ""))
    return json_response(await _engine(request).inspect_distribution(
        request.match_info["name"], credentials))


@_route("POST", "/auth")
async def auth(request: web.Request) -> web.Response:
    body = await json_object(request)
    server = body.get("serveraddress")
    server = server if isinstance(server, str) and server else "https://index.docker.io/v1/"
    await _engine(request).login(server, credentials_of(body))
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})
