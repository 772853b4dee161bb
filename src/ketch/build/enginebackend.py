"""The engine as the builder's Backend (build/backend.py): each step's container is a real
container of the engine (same runtime, same security profile, the build's network),
committed as one layer and removed; configuration-only steps make an image without one.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from ketch.build.backend import BaseImage, Commit, Output
from ketch.engine.commit import image_config
from ketch.errors import KetchError, NotFound
from ketch.images.image import Image, now_rfc3339
from ketch.util.tarball.write import TarWriter
from ketch.util.threads import piped, run_blocking

if TYPE_CHECKING:
    from ketch.engine.engine import Engine


def rfc3339(epoch: int) -> str:
    """SOURCE_DATE_EPOCH as the images' `created`."""
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
        created = rfc3339(self.epoch) if self.epoch is not None else None

        def make(diff_id: str | None) -> dict[str, Any]:
            return _image_config(self.image, commit, diff_id, created)

        return (await self.engine.commit_changes(self.id, make, self.epoch)).id


class _Scratch:
    """A step on an image with no layers (FROM scratch): nothing can run there, and its
    files are made in a directory of their own, which becomes the first layer."""

    def __init__(self, engine: Engine, image: Image | None, directory: str,
                 epoch: int | None) -> None:
        self.engine = engine
        self.id = secrets.token_hex(32)
        self.image = image
        self.directory = directory
        self.epoch = epoch

    async def root(self) -> str:
        return self.directory

    async def run(self, output: Output) -> int:
        raise KetchError('failed to create task for container: exec: "/bin/sh": stat '
                         "/bin/sh: no such file or directory (the image has no files)")

    async def commit(self, commit: Commit) -> str:
        created = rfc3339(self.epoch) if self.epoch is not None else None

        def make(diff_id: str | None) -> dict[str, Any]:
            return _image_config(self.image, commit, diff_id, created)

        def produce(write: Callable[[bytes], object]) -> None:
            writer = TarWriter(write, mtime_clamp=self.epoch)
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                writer.add_root(fd)
            finally:
                os.close(fd)
            writer.close()

        def consume(stream: BinaryIO, finished: Callable[[], None]) -> Image:
            def build(diff_id: str | None) -> dict[str, Any]:
                finished()
                return make(diff_id)

            return self.engine.images.commit_layer(stream, self.image, build)

        image: Image = await run_blocking(piped, produce, consume, "build-scratch")
        return image.id


def _image_config(base: Image | None, commit: Commit, diff_id: str | None,
                  created: str | None) -> dict[str, Any]:
    return image_config(base, None, commit.config, diff_id, "", commit.author,
                        created_by=commit.created_by, created=created)


class EngineBackend:
    """The engine as the builder's Backend (ketch.build.backend)."""

    def __init__(self, engine: Engine, *, host_config: dict[str, Any], remove: bool,
                 epoch: int | None, emit: Callable[[dict[str, Any]], Awaitable[None]],
                 auth: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.emit = emit  # the build's stream, for the progress of FROM's pulls
        self.auth = auth or {}  # AuthConfigs by registry (X-Registry-Config)
        self.host_config = host_config
        self.remove = remove
        self.epoch = epoch

    async def image(self, ref: str) -> BaseImage:
        image = await run_blocking(self.engine.images.get, ref)
        return BaseImage(image.id, image.container_config)

    async def base(self, ref: str, pull: bool) -> BaseImage:
        if not pull:
            try:
                return await self.image(ref)
            except NotFound:
                pass
        await self.engine.pull_for(ref, self.auth, self.emit)
        return await self.image(ref)

    async def lineage(self, refs: list[str]) -> set[str]:
        def walk() -> set[str]:
            found: set[str] = set()
            for ref in refs:
                try:
                    image: Image | None = self.engine.images.get(ref)
                except KetchError:
                    continue
                while image is not None and image.id not in found:
                    found.add(image.id)
                    try:
                        image = self.engine.images.get(image.parent) if image.parent else None
                    except KetchError:
                        image = None
            return found

        return await run_blocking(walk)

    async def exists(self, image: str) -> bool:
        try:
            await run_blocking(self.engine.images.get, image)
        except NotFound:
            return False
        return True

    @asynccontextmanager
    async def container(self, parent: str | None, run: dict[str, Any]
                        ) -> AsyncIterator[_Container | _Scratch]:
        engine = self.engine
        image = await run_blocking(engine.images.get, parent) if parent else None
        if image is None or not image.layers:  # FROM scratch: no container stands on it
            directory = os.path.join(engine.data_root, "builder", "scratch",
                                     secrets.token_hex(16))
            os.makedirs(directory, mode=0o755)
            try:
                yield _Scratch(engine, image, directory, self.epoch)
            finally:
                await run_blocking(shutil.rmtree, directory, True)
            return
        body: dict[str, Any] = {
            "Image": image.id, "AttachStdout": True, "AttachStderr": True,
            "Cmd": run.get("Cmd") or ["/bin/sh"], "Entrypoint": run.get("Entrypoint"),
            "Env": run.get("Env"), "User": run.get("User") or "",
            "WorkingDir": run.get("WorkingDir") or "", "Labels": {},
            "HostConfig": dict(self.host_config),
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
