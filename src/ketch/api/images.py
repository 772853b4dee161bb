"""Image routes of the Engine API: list, inspect, import (images/create?fromSrc), save
(images/get), load, tag, remove."""

from __future__ import annotations

import asyncio
import functools
import io
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ketch.api.images_admin import api_version, shape_summary
from ketch.api.routing import (
    Handler,
    RequestBody,
    json_response,
    query_bool,
    query_filters,
    stream_from_thread,
    versioned,
)
from ketch.errors import InvalidParameter, KetchError
from ketch.images.listing import select
from ketch.images.usage import layer_sizes, shared_sizes
from ketch.util.threads import run_blocking

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
    images = store.list()
    if not query_bool(request, "all"):  # intermediate images (untagged parents) hidden
        parents = store.parents()
        images = [i for i in images if i.repo_tags or i.id not in parents]
    found = select(images, query_filters(request), store.get)
    version = api_version(request)
    if version >= (1, 42) and query_bool(request, "shared-size"):
        # shared among the listed images only, as Docker counts it
        listed = {s["Id"] for s in found}
        chosen = [i for i in images if i.id in listed]
        shared = shared_sizes(chosen, layer_sizes(store, chosen))
        for summary in found:
            summary["SharedSize"] = shared[summary["Id"]]
    return json_response([shape_summary(s, version) for s in found])


@_route("GET", "/images/get")
async def images_save(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


@_route("GET", "/images/{name:.+}/get")
async def image_save(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    from ketch.images.save import save

    if not names:
        raise InvalidParameter("no images to save")
    engine = _engine(request)
    write = await run_blocking(save, engine.images, names)
    for name in names:
        image = await asyncio.to_thread(engine.images.get, name)
        engine.image_event("save", image.id, image.id)
    response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
    return await stream_from_thread(request, response, write)


@_route("POST", "/images/load")
async def image_load(request: web.Request) -> web.StreamResponse:
    from ketch.images.load import load

    quiet = query_bool(request, "quiet")
    body = io.BufferedReader(RequestBody(request, asyncio.get_running_loop()), SPOOL_CHUNK)
    engine = _engine(request)
    try:
        lines = await run_blocking(load, engine.images, body)
    except KetchError as e:  # dockerd answers 200 and ends the stream with the error
        message = str(e)
        return await _messages(request, [{"errorDetail": {"message": message},
                                          "error": message}])
    for line in lines:
        loaded = line.partition(": ")[2] if line.startswith("Loaded image") else ""
        if loaded:
            image = await asyncio.to_thread(engine.images.get, loaded)
            engine.image_event("load", image.id, image.id)
    return await _messages(request, [{"stream": line + "\n"} for line in lines
                                     if not quiet or line.startswith("Loaded image")])


async def _messages(request: web.Request, messages: list[dict[str, Any]]
                    ) -> web.StreamResponse:
    """The JSON message stream Docker answers image operations with, one per line."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for message in messages:
        await response.write(json.dumps(message).encode() + b"\n")
    await response.write_eof()
    return response


@_route("POST", "/commit")
async def commit(request: web.Request) -> web.Response:
    ref = request.query.get("container") or ""
    if not ref:
        raise InvalidParameter("a container is required")
    raw = await request.read()
    try:
        config = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as e:  # deep nesting is bad input too
        raise InvalidParameter(f"invalid JSON: {e}") from None
    if config is not None and not isinstance(config, dict):
        raise InvalidParameter("invalid JSON: the config must be an object")
    image = await _engine(request).commit(
        ref, reference=_reference(request),
        comment=request.query.get("comment") or "",
        author=request.query.get("author") or "",
        pause="pause" not in request.query or query_bool(request, "pause"),
        changes=request.query.getall("changes", []), config=config)
    return json_response({"Id": image.id}, status=201)


def _reference(request: web.Request) -> str | None:
    """The `repo` and `tag` parameters of commit and import as one name (none without a
    repo), read as Docker reads them."""
    from ketch.images.reference import repo_tag

    repo = request.query.get("repo") or ""
    return repo_tag(repo, request.query.get("tag") or "") if repo else None


@_route("GET", "/images/{name:.+}/json")
async def image_inspect(request: web.Request) -> web.Response:
    image = _engine(request).images.get(request.match_info["name"])  # cached, as list
    return json_response(image.inspect())


@_route("POST", "/images/create")
async def image_create(request: web.Request) -> web.StreamResponse:
    source = request.query.get("fromSrc")
    if source is None:
        from ketch.api.registry import pull

        return await pull(request)
    if source != "-":
        raise InvalidParameter("importing from a URL is not supported: send the tar as the "
                               "request body (fromSrc=-)")
    reference = _reference(request)
    changes = request.query.getall("changes", [])
    message = request.query.get("message") or f"Imported from {source}"  # as Docker's router
    engine = _engine(request)
    body = io.BufferedReader(RequestBody(request, asyncio.get_running_loop()), SPOOL_CHUNK)
    image = await run_blocking(functools.partial(
        engine.images.import_tar, body, reference=reference, changes=changes,
        message=message))
    if reference:
        engine.image_event("tag", image.id, reference)
    engine.image_event("import", image.id, image.id)
    return await _messages(request, [{"status": image.id}])


@_route("POST", "/images/{name:.+}/tag")
async def image_tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo") or ""
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    from ketch.images.reference import repo_tag

    engine = _engine(request)
    new_ref = repo_tag(repo, request.query.get("tag") or "")
    await asyncio.to_thread(engine.images.tag, request.match_info["name"], new_ref)
    image = await asyncio.to_thread(engine.images.get, new_ref)
    engine.image_event("tag", image.id, new_ref)
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

    try:
        image_id = (await asyncio.to_thread(engine.images.get, request.match_info["name"])).id
    except KetchError:
        image_id = ""  # the removal says what is wrong
    removed = await asyncio.to_thread(engine.images.remove, request.match_info["name"],
                                      force=force, in_use=in_use,
                                      prune_parents=not query_bool(request, "noprune"))
    for record in removed:  # dockerd names the image by its ID in both
        if "Untagged" in record:
            engine.image_event("untag", image_id, image_id)
        else:
            engine.image_event("delete", record["Deleted"], record["Deleted"])
    return json_response(removed)
