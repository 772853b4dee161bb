"""`docker push`: an image's layers as gzip blobs (compressed as they are uploaded, with a
fixed gzip header so the same layer gives the same blob), skipped when the registry has
them, mounted from another repository of the registry when ketch knows one that holds
them; then the config and a Docker schema 2 manifest under the tag. Uploads run side by
side; the digest each upload closes with is the one the bytes gave.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor

import aiohttp

from ketch.distribution import manifest as mf
from ketch.distribution.auth import Credentials, TokenCache
from ketch.distribution.client import Repository, Unreachable, timeouts
from ketch.distribution.metadata import DistributionMetadata
from ketch.distribution.progress import Progress, short
from ketch.distribution.registries import RegistryConfig
from ketch.errors import InvalidParameter, KetchError, NotFound
from ketch.images.image import Image
from ketch.images.store import ImageStore
from ketch.util import reference as grammar
from ketch.util.threads import run_blocking

CONCURRENT_UPLOADS = 5  # as dockerd's max-concurrent-uploads
GZIP_LEVEL = 6
CHUNK = 4 << 20  # bytes per PATCH
MONOLITHIC = 8 << 20  # blobs smaller than this go up in one PUT
GZIP_BLOCK = 1 << 20  # bytes deflated apart (pigz's 128 KiB is for many more cores)
PROBE = 16 << 10  # bytes of each sample _compressible deflates
GZIP_AHEAD = 2 * (os.cpu_count() or 1)  # blocks being deflated at once, per layer
_DEFLATERS = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="deflate")


class _Gzip:
    """gzip made pigz's way: the stream cut in blocks deflated side by side (zlib lets go
    of the GIL), each primed with the 32 KiB before it, joined into one member with a
    fixed header (no name, mtime 0). The same input gives the same blob, whatever the
    timing; feed() returns what is ready, in order."""

    HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.digest = hashlib.sha256()
        self.size = 0
        self.crc = 0
        self.length = 0
        self.block = bytearray()
        self.window = b""
        self.running: collections.deque[Future[bytes]] = collections.deque()
        self.started = False

    def feed(self, data: bytes) -> bytes:
        self.block += data
        out = []
        if not self.started:
            self.started = True
            out.append(self.HEADER)
        while len(self.block) >= GZIP_BLOCK:
            out.append(self._submit(bytes(self.block[:GZIP_BLOCK]), last=False))
            del self.block[:GZIP_BLOCK]
        return self._count(b"".join(out))

    def finish(self) -> bytes:
        out = [] if self.started else [self.HEADER]
        self.started = True
        out.append(self._submit(bytes(self.block), last=True))
        self.block = bytearray()
        while self.running:
            out.append(self.running.popleft().result())
        out.append(struct.pack("<II", self.crc & 0xFFFFFFFF, self.length & 0xFFFFFFFF))
        return self._count(b"".join(out))

    def _submit(self, block: bytes, last: bool) -> bytes:
        """Queue block; returns the deflated blocks ready (in order), keeping a few ahead."""
        self.crc = zlib.crc32(block, self.crc)
        self.length += len(block)
        self.running.append(self.pool.submit(_deflate, block, self.window, last))
        self.window = block[-32768:] if len(block) >= 32768 else \
            (self.window + block)[-32768:]
        ready = []
        while self.running and (len(self.running) > GZIP_AHEAD or self.running[0].done()):
            ready.append(self.running.popleft().result())
        return b"".join(ready)

    def _count(self, out: bytes) -> bytes:
        self.digest.update(out)
        self.size += len(out)
        return out


def _deflate(block: bytes, window: bytes, last: bool) -> bytes:
    level = GZIP_LEVEL if _compressible(block) else 0
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=window) if window \
        else zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(block) + compressor.flush(
        zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _compressible(block: bytes) -> bool:
    """Whether deflating block is worth it: samples from four places in it, deflated fast,
    must save 2 %. Data already compressed or random (a tarball, a jar, media) is then
    stored as it is: zlib spent as long on it as on text, for nothing (8 MiB of random
    bytes took 0.15 s). A function of the block only, so the blob stays reproducible."""
    if len(block) < 4 * PROBE:
        return True
    step = len(block) // 4
    sample = b"".join(block[i * step:i * step + PROBE] for i in range(4))
    return len(zlib.compress(sample, 1)) < len(sample) * 0.98


async def _compressed(produce: Callable[[Callable[[bytes], object]], object], gz: _Gzip
                      ) -> AsyncIterator[bytes]:
    """The gzip stream of what produce(write) writes in a worker thread, in CHUNK pieces."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(4)
    buffer = bytearray()

    def put(item: bytes | BaseException | None) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def write(data: bytes) -> None:
        buffer.extend(gz.feed(data))
        while len(buffer) >= CHUNK:
            put(bytes(buffer[:CHUNK]))
            del buffer[:CHUNK]

    def run() -> None:
        try:
            produce(write)
            buffer.extend(gz.finish())
            if buffer:
                put(bytes(buffer))
            put(None)
        except BaseException as e:
            put(e)

    worker = asyncio.ensure_future(run_blocking(run))
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if not worker.done():
            worker.cancel()
        while not worker.done():  # let a producer blocked on put() finish
            while not queue.empty():
                queue.get_nowait()
            await asyncio.sleep(0.01)


class Pusher:
    def __init__(self, store: ImageStore, config: RegistryConfig, data_root: str,
                 credentials: Credentials, progress: Progress) -> None:
        self.store = store
        self.config = config
        self.metadata = DistributionMetadata(data_root)
        self.credentials = credentials
        self.progress = progress

    async def push(self, name: str, tag: str) -> None:
        """Push name:tag, or every tag of the repository when tag is ""."""
        try:
            named = grammar.parse_normalized_named(name)
        except grammar.ReferenceError as e:
            raise InvalidParameter(str(e)) from None
        if tag and not grammar.TAG.fullmatch(tag):
            raise InvalidParameter(f"invalid tag format: {tag!r}")
        repo_name = named.familiar_name
        tags = [tag or named.tag] if (tag or named.tag) else self._tags_of(repo_name)
        if not tags:
            raise NotFound(f"An image does not exist locally with the tag: {repo_name}")
        images = []
        for t in tags:
            try:
                images.append((t, await run_blocking(self.store.get, f"{repo_name}:{t}")))
            except NotFound:
                raise NotFound(f"tag does not exist: {repo_name}:{t}") from None
        await self.progress.status(f"The push refers to repository [{named.name}]")
        async with aiohttp.ClientSession(timeout=timeouts()) as http:
            repo = await self._repository(http, named)
            for t, image in images:
                await self._push_one(repo, named, repo_name, t, image)

    def _tags_of(self, repo_name: str) -> list[str]:
        return sorted({ref.rpartition(":")[2] for image in self.store.list()
                       for ref in image.repo_tags if ref.rpartition(":")[0] == repo_name})

    async def _repository(self, http: aiohttp.ClientSession, named: grammar.Named
                          ) -> Repository:
        last: KetchError | None = None
        for endpoint in self.config.endpoints(named.domain):
            if endpoint.mirror:
                continue  # mirrors are for pulls
            repo = Repository(http, endpoint, named.path, self.credentials, TokenCache(),
                              actions="pull,push")
            try:
                await repo.ping()
            except Unreachable as e:
                last = e
                continue
            return repo
        assert last is not None
        raise last

    async def _push_one(self, repo: Repository, named: grammar.Named, repo_name: str,
                        tag: str, image: Image) -> None:
        config_data = await run_blocking(self.store.config_bytes, image.id)
        diff_ids = image.diff_ids
        for diff_id in reversed(diff_ids):  # Docker lists them top first
            await self.progress.step(short(diff_id), "Preparing")
        slots = asyncio.Semaphore(CONCURRENT_UPLOADS)
        here = f"{named.domain}/{named.path}"
        uploads = [asyncio.ensure_future(self._layer(repo, here, chain, diff_id, slots))
                   for chain, diff_id in zip(image.chain_ids, diff_ids, strict=True)]
        try:
            layers = await asyncio.gather(*uploads)
        except BaseException:
            for task in uploads:
                task.cancel()
            await asyncio.gather(*uploads, return_exceptions=True)
            raise
        config_digest = mf.digest_of(config_data)
        if not await repo.has_blob(config_digest):
            await repo.upload(config_digest, _one(config_data), monolithic=True)
        data = mf.image_manifest(config_data, list(layers))
        await repo.put_manifest(tag, data, mf.DOCKER_MANIFEST)
        digest = mf.digest_of(data)
        await run_blocking(self.store.name_digest, image.id, repo_name, digest)
        await self.progress.status(f"{tag}: digest: {digest} size: {len(data)}")
        await self.progress.emit({"progressDetail": {},
                                  "aux": {"Tag": tag, "Digest": digest, "Size": len(data)}})

    async def _layer(self, repo: Repository, here: str, chain: str, diff_id: str,
                     slots: asyncio.Semaphore) -> mf.Descriptor:
        ident = short(diff_id)
        if slots.locked():
            await self.progress.step(ident, "Waiting")
        async with slots:
            known = self.metadata.get(diff_id)
            if known is not None:
                descriptor = mf.Descriptor(mf.DOCKER_LAYER, known.digest, known.size)
                if await repo.has_blob(known.digest):
                    await self.progress.step(ident, "Layer already exists")
                    return descriptor
                for source in reversed(known.repos):
                    domain, _, path = source.partition("/")
                    if domain != repo.endpoint.domain or path == repo.path:
                        continue
                    repo.extra_scopes = [f"repository:{path}:pull"]
                    try:
                        mounted = await repo.mount(known.digest, path)
                    except KetchError:
                        mounted = False
                    finally:
                        repo.extra_scopes = []
                    if mounted:
                        await self.progress.step(ident, f"Mounted from {path}")
                        await run_blocking(self.metadata.add, diff_id, known.digest,
                                           known.size, here)
                        return descriptor
            layer = await run_blocking(self.store.layers.get, chain)
            total = await run_blocking(layer.tar_size)
            gz = _Gzip(_DEFLATERS)
            sent = 0

            async def chunks() -> AsyncIterator[bytes]:
                nonlocal sent
                async for chunk in _compressed(layer.tar, gz):
                    sent += len(chunk)
                    await self.progress.bytes(ident, "Pushing", min(sent, total), total)
                    yield chunk

            await repo.upload(lambda: "sha256:" + gz.digest.hexdigest(), chunks(),
                              monolithic=total < MONOLITHIC)
            digest = "sha256:" + gz.digest.hexdigest()
            await self.progress.step(ident, "Pushed")
            await run_blocking(self.metadata.add, diff_id, digest, gz.size, here)
            return mf.Descriptor(mf.DOCKER_LAYER, digest, gz.size)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
