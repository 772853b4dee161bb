"""`POST /build` and `POST /build/prune` for the API: the context received into a private
directory under the data root, the Dockerfile read and the builder run against the engine
(through build/enginebackend.py); the directory is gone afterwards, whatever happens.
"""

from __future__ import annotations

import os
import secrets
import shutil
from typing import TYPE_CHECKING, Any, BinaryIO

from ketch.build.builder import Builder, BuildOptions, Emit, read_dockerfile
from ketch.build.cache import BuildCache
from ketch.build.enginebackend import EngineBackend
from ketch.errors import KetchError, NotFound
from ketch.images.rootfs import open_root
from ketch.util.buildcontext import DOCKERIGNORE, daemon_removals
from ketch.util.dockerignore import read_patterns
from ketch.util.files import mark_top_directory
from ketch.util.tarball.compression import Prefixed, compression
from ketch.util.tarball.extract import Options, apply_to
from ketch.util.threads import run_blocking

if TYPE_CHECKING:
    from ketch.engine.engine import Engine

_HEAD = 512


def receive_context(directory: str, body: BinaryIO, limits: Any) -> None:
    """The request body into directory: a tar (maybe compressed) is the context; anything
    else is taken as the Dockerfile itself (`docker build - < Dockerfile`)."""
    head = body.read(_HEAD)
    while len(head) < _HEAD:
        more = body.read(_HEAD - len(head))
        if not more:
            break
        head += more
    stream = Prefixed(head, body)
    if compression(head) or (len(head) >= 262 and head[257:262] == b"ustar") or not head:
        if head:
            apply_to(stream, open_root(directory), limits,  # type: ignore[arg-type]
                     Options(whiteouts=False, diff_id=False, end_at_eof=True, nodes=False))
        return
    with open(os.path.join(directory, "Dockerfile"), "wb") as f:
        shutil.copyfileobj(stream, f)


async def build(engine: Engine, body: BinaryIO, options: BuildOptions, *,
                host_config: dict[str, Any], emit: Emit) -> str:
    """Receive the context from body (a blocking reader), build, tag; returns the image
    ID. The context directory is gone afterwards, whatever happens."""
    top = os.path.join(engine.data_root, "builder")
    contexts = os.path.join(top, "contexts")
    os.makedirs(contexts, mode=0o700, exist_ok=True)
    mark_top_directory(contexts)  # a context lands apart from the one just removed
    directory = os.path.join(contexts, secrets.token_hex(16))
    os.mkdir(directory, mode=0o700)
    try:
        await run_blocking(receive_context, directory, body, engine.images.limits)
        dockerfile = await run_blocking(read_dockerfile, directory, options.dockerfile)
        await run_blocking(_drop_ignored, directory, options.dockerfile)
        backend = EngineBackend(engine, host_config=host_config, remove=options.remove,
                                emit=_silent if options.quiet else emit,
                                auth=options.registry_auth,
                                epoch=options.source_date_epoch)
        builder = Builder(backend, directory, options, BuildCache(top), emit)
        return await builder.build(dockerfile)
    finally:
        await run_blocking(shutil.rmtree, directory, True)


async def _silent(message: dict[str, Any]) -> None:
    """-q: a pull for FROM shows no progress either."""


def _drop_ignored(directory: str, dockerfile: str) -> None:
    """As moby: once read, the Dockerfile and .dockerignore leave the context if the
    context's .dockerignore names them (so COPY . cannot pick them up)."""
    path = os.path.join(directory, DOCKERIGNORE)
    if not os.path.isfile(path) or os.path.islink(path):
        return
    with open(path, "rb") as f:
        excludes = read_patterns(f.read(1 << 20).decode(errors="replace"))
    for name in daemon_removals(excludes, dockerfile):
        target = os.path.join(directory, os.path.normpath("/" + name).lstrip("/"))
        if os.path.isfile(target) and not os.path.islink(target):
            os.unlink(target)


async def prune(engine: Engine) -> dict[str, Any]:
    """`builder prune`: the cache emptied, and the images only it kept (untagged, with no
    children, used by no container) removed with their untagged parents."""
    cache = BuildCache(os.path.join(engine.data_root, "builder"))
    users = {c.record["Image"]: (c.id, c.running) for c in engine.containers.all()}

    def work() -> dict[str, Any]:
        cached = cache.image_ids()
        cache.prune()
        sizes = {}
        for chain in engine.images.layers.list():
            try:
                sizes[chain] = engine.images.layers.get(chain).size
            except KetchError:
                continue
        parents = engine.images.parents()
        deleted: list[str] = []
        for image_id in sorted(cached):
            try:
                image = engine.images.get(image_id)
            except NotFound:
                continue
            if image.repo_tags or image.id in parents or image.id in users:
                continue
            try:
                records = engine.images.remove(image.id, in_use=users.get)
            except KetchError:
                continue
            deleted += [r["Deleted"] for r in records if "Deleted" in r]
        return {"CachesDeleted": [d for d in deleted if d in cached] or None,
                "SpaceReclaimed": sum(sizes.get(d, 0) for d in deleted)}

    return await run_blocking(work)
