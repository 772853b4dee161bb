"""Routes about what images cost and where they came from: `GET /images/{name}/history`,
`POST /images/prune` and `GET /system/df`; and the image summary's shape per API version,
which `GET /images/json` shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ketch.api.routing import Handler, json_response, query_filters, versioned
from ketch.engine.engine import Engine
from ketch.engine.system import API_VERSION
from ketch.images.history import history
from ketch.images.prune import prune

routes = web.RouteTableDef()
# an unversioned request is answered at the daemon's own API version
LATEST = tuple(int(part) for part in API_VERSION.split("."))


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


def _engine(request: web.Request) -> Engine:
    from ketch.api.server import ENGINE
    return request.app[ENGINE]


def api_version(request: web.Request) -> tuple[int, ...]:
    """The request's /vX.Y/ as numbers (the middleware has checked it), else LATEST."""
    text = request.match_info.get("version")
    if not text:
        return LATEST
    return tuple(int(part) for part in text.split("."))


def shape_summary(summary: dict[str, Any], version: tuple[int, ...]) -> dict[str, Any]:
    """An image list item as Docker answers it at this API version: before 1.43 an untagged
    image shows "<none>:<none>" and "<none>@<none>" and a tagged one without digests
    RepoDigests null (Docker 20.10); from 1.43 both lists are [] when empty; from 1.44
    VirtualSize is gone."""
    shaped = dict(summary)
    untagged = shaped.get("RepoTags") == ["<none>:<none>"]
    if version < (1, 43):
        if not untagged and not shaped.get("RepoDigests"):
            shaped["RepoDigests"] = None
    elif untagged:
        shaped["RepoTags"], shaped["RepoDigests"] = [], []
    else:
        shaped["RepoDigests"] = [d for d in shaped.get("RepoDigests") or []
                                 if d != "<none>@<none>"]
    if version >= (1, 44):
        shaped.pop("VirtualSize", None)
    return shaped


def containers_using(engine: Engine) -> Callable[[str], tuple[str, bool] | None]:
    """in_use for rmi's rules: a container using the image (a running one if any), taken
    now, in the event loop, for a removal that runs in a thread."""
    users: dict[str, tuple[str, bool]] = {}
    for c in sorted(engine.containers.all(), key=lambda c: c.running):
        users[c.record["Image"]] = (c.id, c.running)  # running ones win

    def in_use(image_id: str) -> tuple[str, bool] | None:
        return users.get(image_id)

    return in_use


@_route("GET", "/images/{name:.+}/history")
async def image_history(request: web.Request) -> web.Response:
    engine = _engine(request)
    return json_response(await asyncio.to_thread(history, engine.images,
                                                 request.match_info["name"]))


@_route("POST", "/images/prune")
async def images_prune(request: web.Request) -> web.Response:
    engine = _engine(request)
    filters = query_filters(request)
    report = await asyncio.to_thread(prune, engine.images, filters, containers_using(engine))
    return json_response(report)


@_route("GET", "/system/df")
async def system_df(request: web.Request) -> web.Response:
    from ketch.engine.df import disk_usage

    version = api_version(request)
    types = request.query.getall("type", []) if version >= (1, 42) else []
    usage = await asyncio.to_thread(disk_usage, _engine(request), types or None)
    if usage["Images"] is not None:
        usage["Images"] = [shape_summary(s, version) for s in usage["Images"]]
    if version < (1, 42):
        usage["BuilderSize"] = 0  # still sent before 1.42 (20.10 answers it)
    return json_response(usage)
