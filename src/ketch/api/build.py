"""`POST /build` (the legacy builder's protocol) and `POST /build/prune`.

The body is the context: a tar (maybe compressed), or a bare Dockerfile. The answer is a
stream of JSON messages, one per line: `stream` text, `aux` with the image ID, and on
failure `errorDetail` (with the failed RUN's exit code, which the docker CLI exits with).
Bad parameters, a bad context and a Dockerfile that does not parse are refused with an
error status; once the first step has begun, errors travel in the stream.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, BinaryIO, cast

from aiohttp import web

from ketch.api.routing import (
    Handler,
    JsonStream,
    RequestBody,
    json_response,
    query_bool,
    versioned,
)
from ketch.errors import InvalidParameter, KetchError

routes = web.RouteTableDef()
CLIENT_POLL = 0.5  # seconds between looks at whether the client is still there


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _engine(request: web.Request) -> Any:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


def _json_map(request: web.Request, name: str, nullable: bool) -> dict[str, Any]:
    raw = request.query.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidParameter(f"invalid {name}: {raw}") from None
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(v, str) or (nullable and v is None) for v in value.values()):
        raise InvalidParameter(f"invalid {name}: must be an object of strings")
    return value


def _json_list(request: web.Request, name: str) -> list[str]:
    raw = request.query.get(name)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidParameter(f"invalid {name}: {raw}") from None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(f"invalid {name}: must be a list of strings")
    return value


def _registry_config(header: str) -> dict[str, Any]:
    """X-Registry-Config: base64url JSON of AuthConfigs by registry; unreadable is none."""
    if not header:
        return {}
    try:
        doc = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, RecursionError, binascii.Error):
        return {}
    return doc if isinstance(doc, dict) else {}


def _check_platform(text: str) -> None:
    """os[/arch[/variant]]: only this machine's (there is no emulation)."""
    if not text:
        return
    from ketch.images.store import host_architecture

    parts = text.lower().split("/")
    if parts[0] != "linux" or len(parts) > 3:
        raise InvalidParameter(f'"{text}": unknown operating system or architecture: '
                               "invalid argument")
    if len(parts) > 1 and parts[1] != host_architecture():
        raise InvalidParameter(f"invalid platform {text}: only "
                               f"linux/{host_architecture()} images can be built here")


def _options(request: web.Request) -> tuple[Any, dict[str, Any]]:
    from ketch.build.builder import BuildOptions
    from ketch.images.reference import normalize

    query = request.query
    if query.get("version", "1") == "2":
        raise InvalidParameter("BuildKit is not supported by this daemon: use the legacy "
                               "builder (DOCKER_BUILDKIT=0)")
    if query.get("remote"):
        raise InvalidParameter("remote build contexts are not supported: send the context")
    if query_bool(request, "squash"):
        raise InvalidParameter("squash is only supported with experimental mode")
    tags = query.getall("t", [])
    for tag in tags:
        normalize(tag)  # a bad name fails before the context is read
    options = BuildOptions(
        dockerfile=query.get("dockerfile") or "Dockerfile", tags=tags,
        build_args=_json_map(request, "buildargs", nullable=True),
        target=query.get("target", ""), no_cache=query_bool(request, "nocache"),
        labels=_json_map(request, "labels", nullable=False),
        quiet=query_bool(request, "q"), cache_from=_json_list(request, "cachefrom"),
        pull=query_bool(request, "pull"),
        registry_auth=_registry_config(request.headers.get("X-Registry-Config", "")))
    _check_platform(query.get("platform", ""))
    options.source_date_epoch  # noqa: B018  # an invalid SOURCE_DATE_EPOCH fails here
    remove = query_bool(request, "rm") if "rm" in query else True
    # what the step containers get (--network, --add-host, --shm-size)
    host_config: dict[str, Any] = {"NetworkMode": query.get("networkmode", "") or "default"}
    extra_hosts = [h for value in query.getall("extrahosts", []) for h in value.split(",") if h]
    if extra_hosts:
        host_config["ExtraHosts"] = extra_hosts
    if query.get("shmsize", "0") not in ("", "0"):
        try:
            host_config["ShmSize"] = int(query["shmsize"])
        except ValueError:
            raise InvalidParameter(f"invalid shmsize: {query['shmsize']}") from None
    options.remove = remove or query_bool(request, "forcerm")
    return options, host_config


@_route("POST", "/build")
async def build(request: web.Request) -> web.StreamResponse:
    from ketch.build.builder import BuildFailed
    from ketch.build.service import build as run_build

    options, host_config = _options(request)
    stream = JsonStream(request)
    # buffered: tarfile reads a few KiB at a time, each a trip through the event loop
    body = cast(BinaryIO, io.BufferedReader(RequestBody(request, asyncio.get_running_loop()),
                                            1 << 20))
    try:
        await _until_client_leaves(request, run_build(
            _engine(request), body, options, host_config=host_config, emit=stream.emit))
    except KetchError as e:
        if not stream.started:
            raise  # a bad context or Dockerfile: an error status, as Docker answers
        await stream.fail(str(e), e.code if isinstance(e, BuildFailed) else None)
    except ConnectionError:
        return stream.response  # the client left: nothing to say
    except Exception as e:
        if not stream.started:
            raise
        logging.getLogger("ketchd").exception("build failed")
        await stream.fail(f"internal error: {e}")
    return await stream.finish()


async def _until_client_leaves(request: web.Request, work: Coroutine[Any, Any, str]) -> None:
    """Run work; if the client goes away first (a ^C of `docker build`), cancel it, so
    that a RUN step stops and its container goes, as Docker's build does."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait([task], timeout=CLIENT_POLL)
            transport = request.transport
            if not task.done() and (transport is None or transport.is_closing()):
                raise ConnectionResetError("the client went away")
        task.result()
    finally:
        if not task.done():  # the client left, or the daemon is stopping
            task.cancel()
            await asyncio.wait([task])


@_route("POST", "/build/prune")
async def build_prune(request: web.Request) -> web.Response:
    from ketch.build.service import prune

    return json_response(await prune(_engine(request)))
