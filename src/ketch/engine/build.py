"""`POST /build` on the engine's side: the context received into a private directory, and
the builder (ketch.build) run against this engine, which it reaches only through the
Backend below: each step's container is a real container of this engine (same runtime,
same security profile, the build's network), committed as one layer and removed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from ketch.build.backend import BaseImage, Commit, Output
from ketch.build.builder import Builder, BuildOptions, Emit, read_dockerfile
from ketch.build.cache import BuildCache
from ketch.engine.commit import commit_layer, image_config
from ketch.errors import KetchError, NotFound
from ketch.images.image import Image, now_rfc3339
from ketch.images.rootfs import open_root
from ketch.util.buildcontext import DOCKERIGNORE, daemon_removals
from ketch.util.dockerignore import read_patterns
from ketch.util.tarball.compression import Prefixed, compression
from ketch.util.tarball.extract import Options, apply_to
from ketch.util.threads import run_blocking

if TYPE_CHECKING:
    from ketch.engine.engine import Engine

_HEAD = 512


def rfc3339(epoch: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Container:
    """A step's container (build.backend.BuildContainer)."""

    def __init__(self, engine: Engine, cid: str, image: Image, epoch: int | None) -> None:
        self.engine = engine
        self.id = cid
        self.image = image
        self.epoch = epoch

    async def root(self) -> str:
        if not self.engine.snapshots.mounted(self.id):
            await run_blocking(self.engine.snapshots.mount, self.id, self.image)
        return self.engine.snapshots.path(self.id)

    async def run(self, output: Output) -> int:
        engine = self.engine
        _, reader, writer = await engine.attach(self.id, stdin=False, stdout=True, stderr=True)
        try:
            await engine.start(self.id)
            while True:  # the multiplexed stream: 8-byte headers (stream, size)
                try:
                    header = await reader.readexactly(8)
                    data = await reader.readexactly(int.from_bytes(header[4:], "big"))
                except asyncio.IncompleteReadError:
                    break
                await output(2 if header[0] == 2 else 1, data)
        finally:
            writer.close()
        return await engine.wait(self.id)

    async def commit(self, commit: Commit) -> str:
        engine = self.engine
        c = engine.containers.get(self.id)
        created = rfc3339(self.epoch) if self.epoch is not None else None

        def make(diff_id: str | None) -> dict[str, Any]:
            return _image_config(self.image, commit, diff_id, created)

        async with engine._lock(c.id):
            image = await run_blocking(commit_layer, engine, c, self.image, None, make,
                                       self.epoch)
        return image.id


def _image_config(base: Image | None, commit: Commit, diff_id: str | None,
                  created: str | None) -> dict[str, Any]:
    return image_config(base, None, commit.config, diff_id, "", commit.author,
                        created_by=commit.created_by, created=created)


class EngineBackend:
    """The engine as the builder's Backend (ketch.build.backend)."""

    def __init__(self, engine: Engine, *, network: str, remove: bool,
                 epoch: int | None) -> None:
        self.engine = engine
        self.network = network
        self.remove = remove
        self.epoch = epoch

    async def image(self, ref: str) -> BaseImage:
        image = await run_blocking(self.engine.images.get, ref)
        return BaseImage(image.id, image.container_config)

    async def exists(self, image: str) -> bool:
        try:
            await run_blocking(self.engine.images.get, image)
        except NotFound:
            return False
        return True

    async def _base(self, parent: str | None) -> Image:
        if parent is not None:
            return await run_blocking(self.engine.images.get, parent)
        # FROM scratch: a step's container needs an image; an empty one, made on demand
        config = _image_config(None, Commit({}, ""), None, "1970-01-01T00:00:00Z")
        config["history"] = []
        return await run_blocking(self.engine.images.create, config)

    @asynccontextmanager
    async def container(self, parent: str | None, run: dict[str, Any]
                        ) -> AsyncIterator[_Container]:
        engine = self.engine
        image = await self._base(parent)
        body: dict[str, Any] = {
            "Image": image.id, "AttachStdout": True, "AttachStderr": True,
            "Cmd": run.get("Cmd") or ["/bin/sh"], "Entrypoint": run.get("Entrypoint"),
            "Env": run.get("Env"), "User": run.get("User") or "",
            "WorkingDir": run.get("WorkingDir") or "", "Labels": {},
            "HostConfig": {"NetworkMode": self.network or "default"},
        }
        created = await engine.create(body, None)
        ctr = _Container(engine, created["Id"], image, self.epoch)
        try:
            yield ctr
        finally:
            if self.remove:
                try:
                    await engine.remove(ctr.id, force=True, volumes=True)
                except KetchError:
                    pass

    @asynccontextmanager
    async def image_root(self, image: str) -> AsyncIterator[str]:
        async with self.container(image, {}) as ctr:
            yield await ctr.root()

    async def new_image(self, parent: str | None, commit: Commit) -> str:
        base = await run_blocking(self.engine.images.get, parent) if parent else None
        created = rfc3339(self.epoch) if self.epoch is not None else now_rfc3339()
        config = _image_config(base, commit, None, created)
        return (await run_blocking(self.engine.images.create, config, None,
                                   base.id if base else "")).id

    async def tag(self, image: str, reference: str) -> None:
        await run_blocking(self.engine.images.tag, image, reference)


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
                     Options(whiteouts=False, diff_id=False, end_at_eof=True))
        return
    with open(os.path.join(directory, "Dockerfile"), "wb") as f:
        shutil.copyfileobj(stream, f)


async def build(engine: Engine, body: BinaryIO, options: BuildOptions, *, network: str,
                remove: bool, emit: Emit) -> str:
    """Receive the context from body (a blocking reader), build, tag; returns the image
    ID. The context directory is gone afterwards, whatever happens."""
    top = os.path.join(engine.data_root, "builder")
    directory = os.path.join(top, "contexts", secrets.token_hex(16))
    os.makedirs(directory, mode=0o700)
    try:
        await run_blocking(receive_context, directory, body, engine.images.limits)
        dockerfile = await run_blocking(read_dockerfile, directory, options.dockerfile)
        await run_blocking(_drop_ignored, directory, options.dockerfile)
        backend = EngineBackend(engine, network=network, remove=remove,
                                epoch=options.source_date_epoch)
        builder = Builder(backend, directory, options, BuildCache(top), emit)
        return await builder.build(dockerfile)
    finally:
        await run_blocking(shutil.rmtree, directory, True)


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
