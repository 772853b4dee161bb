"""`docker pull`: a reference resolved to a manifest (a list narrowed to the platform), the
config and the layers fetched and checked against their digests, the layers downloaded in
parallel and extracted as their bytes arrive, then stored in order under the name.

Nothing fetched is trusted before its digest matches: a layer's extraction is accepted
only once its reader has seen the end of the blob, which the downloader sends only after
the whole blob's sha256 matched the manifest; its diffID must then match the config's.
A failure leaves nothing in the store (pending layers are discarded). Layers already in
the store are not fetched. An interrupted blob download resumes with a range request.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from typing import Any

import aiohttp

from ketch.distribution import manifest as mf
from ketch.distribution.auth import Credentials, TokenCache
from ketch.distribution.client import AuthFailed, Repository, Unreachable, timeouts
from ketch.distribution.metadata import DistributionMetadata
from ketch.distribution.progress import Progress, short
from ketch.distribution.registries import RegistryConfig
from ketch.errors import InvalidParameter, KetchError, NotFound
from ketch.images.image import Image
from ketch.images.layers import PendingLayer, chain_id
from ketch.images.store import ImageStore, host_architecture
from ketch.util import reference as grammar
from ketch.util.tarball.extract import Limits
from ketch.util.threads import run_blocking

CONCURRENT_DOWNLOADS = 3  # as dockerd's max-concurrent-downloads
RETRIES = 5  # resumptions of one interrupted blob download
QUEUE_CHUNKS = 16  # downloaded chunks waiting for their extraction, per layer
INFLATE_CHUNK = 1 << 20  # compressed bytes inflated at a time


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = ""
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        if not text:
            return cls("linux", host_architecture())
        parts = text.lower().split("/")
        if len(parts) > 3 or not parts[0]:
            raise InvalidParameter(f'"{text}": unknown operating system or architecture: '
                                   "invalid argument")
        return cls(parts[0], parts[1] if len(parts) > 1 else host_architecture(),
                   parts[2] if len(parts) > 2 else "")


class BlobReader(io.RawIOBase):
    """What a coroutine downloads, read by the extraction's worker thread: chunks from a
    bounded queue (so a slow extraction slows the download), an exception from the
    downloader re-raised here, None the end of the (verified) blob."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 queue: asyncio.Queue[bytes | BaseException | None]) -> None:
        self.loop = loop
        self.queue = queue
        self.pending = b""
        self.ended = False
        self.aborted = False  # set from the loop: the pull was cancelled, stop reading

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self.pending:
            if self.ended:
                return 0
            item = self._next()
            if item is None:
                self.ended = True
                return 0
            if isinstance(item, BaseException):
                raise item
            self.pending = item
        count = min(len(view), len(self.pending))
        view[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count

    def _next(self) -> bytes | BaseException | None:
        future = asyncio.run_coroutine_threadsafe(self.queue.get(), self.loop)
        while True:
            try:
                return future.result(timeout=0.5)
            except TimeoutError:
                if self.aborted:
                    future.cancel()
                    raise KetchError("the pull was cancelled") from None


def _extract_all(store: ImageStore, stream: io.BufferedReader) -> PendingLayer:
    """Extract, then read on to the end: the end comes only after the digest matched."""
    pending = store.layers.extract(stream, store.limits)
    try:
        while stream.read(1 << 20):
            pass
    except BaseException:
        store.layers.discard(pending)
        raise
    return pending


class Puller:
    def __init__(self, store: ImageStore, config: RegistryConfig, data_root: str,
                 credentials: Credentials, progress: Progress) -> None:
        self.store = store
        self.config = config
        self.metadata = DistributionMetadata(data_root)
        self.credentials = credentials
        self.progress = progress

    async def pull(self, name: str, tag: str, platform: str) -> list[str]:
        """Pull name (with tag, or digest, or every tag when neither is given); returns
        the references pulled ("docker.io/library/busybox:latest")."""
        try:
            named = grammar.parse_normalized_named(name)
        except grammar.ReferenceError as e:
            raise InvalidParameter(str(e)) from None
        if tag:
            if grammar.IDENTIFIER.fullmatch(tag.removeprefix("sha256:")) and ":" in tag:
                named = grammar.Named(named.domain, named.path, "", tag)
            else:
                if not grammar.TAG.fullmatch(tag):
                    raise InvalidParameter(f"invalid tag format: {tag!r}")
                named = grammar.Named(named.domain, named.path, tag, named.digest)
        wanted = Platform.parse(platform)
        async with aiohttp.ClientSession(timeout=timeouts()) as http:
            repo = await self._repository(http, named)
            if not named.tag and not named.digest:
                tags = await repo.tags()
                refs = [grammar.Named(named.domain, named.path, t) for t in sorted(tags)]
            else:
                refs = [named]
            pulled = []
            for ref in refs:
                await self._pull_one(repo, ref, wanted)
                pulled.append(f"{ref.name}:{ref.tag}" if ref.tag else f"{ref.name}@{ref.digest}")
        return pulled

    async def inspect(self, name: str) -> dict[str, Any]:
        """`GET /distribution/{name}/json`: the manifest's descriptor as the registry has
        it, and the platforms it serves (a list's entries, or the one image's config)."""
        try:
            named = grammar.parse_normalized_named(name)
        except grammar.ReferenceError as e:
            raise InvalidParameter(str(e)) from None
        if not named.tag and not named.digest:
            named = grammar.Named(named.domain, named.path, "latest")
        async with aiohttp.ClientSession(timeout=timeouts()) as http:
            repo = await self._repository(http, named)
            data, media_type, digest = await self._manifest(repo, named,
                                                            named.digest or named.tag)
            parsed = mf.parse(data, media_type)
            if isinstance(parsed, mf.ManifestList):
                platforms = [_platform(entry.platform or {}) for entry in parsed.manifests]
            else:
                config = await repo.blob_bytes(parsed.config.digest, mf.MAX_CONFIG)
                if mf.digest_of(config) != parsed.config.digest:
                    raise InvalidParameter(f"image config verification failed for digest "
                                           f"{parsed.config.digest}")
                platforms = [_platform(_config(config, parsed))]
        return {"Descriptor": {"mediaType": parsed.media_type, "digest": digest,
                               "size": len(data)},
                "Platforms": platforms}

    async def _repository(self, http: aiohttp.ClientSession, named: grammar.Named
                          ) -> Repository:
        """The first endpoint of the registry that answers (Docker's fallback from HTTPS
        to plain HTTP for an insecure registry, from a mirror to Docker Hub)."""
        last: KetchError | None = None
        for endpoint in self.config.endpoints(named.domain):
            repo = Repository(http, endpoint, named.path, self.credentials, TokenCache())
            try:
                await repo.ping()
            except Unreachable as e:
                last = e
                continue
            except KetchError as e:
                if endpoint.mirror:
                    last = e
                    continue
                raise
            return repo
        assert last is not None
        raise last

    async def _pull_one(self, repo: Repository, ref: grammar.Named, wanted: Platform) -> None:
        ident = ref.tag or ref.digest
        shown = f"{ref.familiar_name}:{ref.tag}" if ref.tag else \
            f"{ref.familiar_name}@{ref.digest}"
        data, media_type, digest = await self._manifest(repo, ref, ref.digest or ref.tag)
        parsed = mf.parse(data, media_type)
        if isinstance(parsed, mf.ManifestList):
            entry = mf.choose(parsed, wanted.os, wanted.architecture, wanted.variant)
            data, media_type, _ = await self._manifest(repo, ref, entry.digest)
            parsed = mf.parse(data, media_type)
            if not isinstance(parsed, mf.ImageManifest):
                raise InvalidParameter("invalid manifest: a list inside a list")
        # the stream starts here: what failed before is an HTTP error, as dockerd's
        await self.progress.status(f"Pulling from {ref.path}", ident)
        config_data = await repo.blob_bytes(parsed.config.digest, mf.MAX_CONFIG)
        if mf.digest_of(config_data) != parsed.config.digest:
            raise InvalidParameter(f"image config verification failed for digest "
                                   f"{parsed.config.digest}")
        config = _config(config_data, parsed)
        _, changed = await self._layers(repo, parsed, config, config_data, ref, digest)
        await self.progress.status(f"Digest: {digest}")
        status = "Downloaded newer image for" if changed else "Image is up to date for"
        await self.progress.status(f"Status: {status} {shown}")

    async def _manifest(self, repo: Repository, ref: grammar.Named, reference: str
                        ) -> tuple[bytes, str, str]:
        try:
            data, media_type = await repo.manifest(reference, mf.ACCEPT, mf.MAX_MANIFEST)
        except NotFound as e:
            shown = f"{ref.name}:{ref.tag}" if ref.tag else f"{ref.name}@{ref.digest}"
            raise NotFound(f"manifest for {shown} not found: {e}") from None
        except AuthFailed as e:
            if not e.denied:
                raise
            raise NotFound(f"pull access denied for {ref.familiar_name}, repository does not "
                           f"exist or may require 'docker login': {e.reason}") from None
        digest = mf.digest_of(data)
        if reference.startswith("sha256:") and digest != reference:
            raise InvalidParameter(f"manifest verification failed for digest {reference}")
        return data, media_type, digest

    async def _layers(self, repo: Repository, parsed: mf.ImageManifest,
                      config: dict[str, Any], config_data: bytes, ref: grammar.Named,
                      digest: str) -> tuple[Image, bool]:
        diff_ids = config["rootfs"]["diff_ids"]
        chain: str | None = None
        needed: list[int] = []
        for i, diff_id in enumerate(diff_ids):
            chain = chain_id(chain, diff_id)
            if self.store.layers.exists(chain):
                await self.progress.step(short(parsed.layers[i].digest), "Already exists")
            else:
                needed.append(i)
        for i in needed:
            await self.progress.step(short(parsed.layers[i].digest), "Pulling fs layer")
        slots = asyncio.Semaphore(CONCURRENT_DOWNLOADS)
        results: list[PendingLayer | None] = [None] * len(diff_ids)
        tasks = {i: asyncio.ensure_future(self._fetch(repo, parsed.layers[i], diff_ids[i],
                                                      slots)) for i in needed}
        try:
            for i, task in tasks.items():
                results[i] = await task
            for i in needed:
                ident = short(parsed.layers[i].digest)
                await self.progress.bytes(ident, "Extracting", parsed.layers[i].size,
                                          parsed.layers[i].size, force=True)
            repo_name = ref.familiar_name
            image = await run_blocking(self.store.add_pulled, config_data, config, results,
                                       repo_name, ref.tag, digest)
        except BaseException:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            for task in tasks.values():
                if task.done() and not task.cancelled() and task.exception() is None:
                    self.store.layers.discard(task.result())
            raise
        for i in needed:
            await self.progress.step(short(parsed.layers[i].digest), "Pull complete")
        for layer, diff_id in zip(parsed.layers, diff_ids, strict=True):
            await run_blocking(self.metadata.add, diff_id, layer.digest, layer.size,
                               f"{ref.domain}/{ref.path}")
        return image

    async def _fetch(self, repo: Repository, layer: mf.Descriptor, diff_id: str,
                     slots: asyncio.Semaphore) -> PendingLayer:
        ident = short(layer.digest)
        if slots.locked():
            await self.progress.step(ident, "Waiting")
        async with slots:
            feed = _Feed(self.store.limits)
            reader = BlobReader(asyncio.get_running_loop(), feed.queue)
            download = asyncio.ensure_future(self._download(repo, layer, feed))
            extraction = asyncio.ensure_future(run_blocking(
                _extract_all, self.store, io.BufferedReader(reader, 1 << 20)))
            try:
                pending = await asyncio.shield(extraction)
            except asyncio.CancelledError:
                reader.aborted = True
                download.cancel()
                await asyncio.gather(extraction, download, return_exceptions=True)
                raise
            except BaseException as failure:
                # the extraction failed (a broken stream, or the download's own error):
                # the download goes on to its end unread, so that a blob whose digest is
                # wrong is reported as that, the root cause
                reader.aborted = True
                feed.discard()
                outcome = (await asyncio.gather(download, return_exceptions=True))[0]
                if isinstance(outcome, Exception) and outcome is not failure:
                    raise outcome from None
                raise
            await download
        if pending.diff_id != diff_id:
            self.store.layers.discard(pending)
            raise InvalidParameter(f"filesystem layer verification failed for digest "
                                   f"{layer.digest}: its diffID {pending.diff_id} is not "
                                   f"the config's {diff_id}")
        return pending

    async def _download(self, repo: Repository, layer: mf.Descriptor, feed: _Feed) -> None:
        """Feed the blob to the extraction; its end (None) only once its digest matched."""
        try:
            await self._transfer(repo, layer, feed)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            await feed.put(e)
            raise

    async def _transfer(self, repo: Repository, layer: mf.Descriptor, feed: _Feed) -> None:
        ident = short(layer.digest)
        digest = hashlib.sha256()
        received = 0
        attempts = stalled = 0
        while True:
            attempts += 1
            before = received
            try:
                response = await repo.blob(layer.digest, received)
                async with response:
                    skip = received if received and response.status == 200 else 0
                    async for chunk in response.content.iter_any():
                        if skip:  # the range was ignored: the start again, dropped
                            cut = min(skip, len(chunk))
                            chunk, skip = chunk[cut:], skip - cut
                            if not chunk:
                                continue
                        received += len(chunk)
                        if received > layer.size:
                            raise InvalidParameter(f"blob {layer.digest} is larger than "
                                                   "its manifest says")
                        digest.update(chunk)
                        await feed.data(chunk)
                        await self.progress.bytes(ident, "Downloading", received, layer.size)
                if received >= layer.size:
                    break
                raise aiohttp.ClientPayloadError("the blob ended early")
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError,
                    Unreachable) as e:
                # resume where it stopped while that gets somewhere; not forever
                stalled = 0 if received > before else stalled + 1
                if stalled >= 2 or attempts > RETRIES:
                    raise KetchError(f"failed to download {layer.digest}: "
                                     f"{_reason(e)}") from None
                await asyncio.sleep(min(0.2 * 2 ** attempts, 3.0))
        if "sha256:" + digest.hexdigest() != layer.digest:
            raise InvalidParameter(f"filesystem layer verification failed for digest "
                                   f"{layer.digest}")
        await feed.flush()
        await self.progress.step(ident, "Verifying Checksum")
        await self.progress.step(ident, "Download complete")
        await feed.put(None)


class _Feed:
    """Downloaded chunks on their way to the extraction. A gzip blob is inflated here, a
    megabyte at a time in a worker thread (zlib lets go of the GIL), so that inflating and
    extracting run side by side; the extractor then sees a plain tar, and the bomb ratio
    is checked here in its place. discard() drops what comes next (the extraction failed)
    and frees a downloader waiting for room."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(QUEUE_CHUNKS)
        self.dropping = False
        self.limits = limits or Limits()
        self.gzip: bool | None = None  # decided by the first bytes
        self.inflater = zlib.decompressobj(47)
        self.held = bytearray()
        self.compressed = self.inflated = 0

    async def data(self, chunk: bytes) -> None:
        if self.gzip is None:
            self.held += chunk
            if len(self.held) < 2:
                return
            self.gzip = bytes(self.held[:2]) == b"\x1f\x8b"
            chunk, self.held = bytes(self.held), bytearray()
        if not self.gzip:
            await self.put(chunk)
            return
        self.held += chunk
        if len(self.held) >= INFLATE_CHUNK:
            await self._inflate()

    async def flush(self) -> None:
        """The end of the blob: what is held, inflated; a gzip stream must be complete."""
        if self.gzip is None:
            if self.held:
                await self.put(bytes(self.held))
            return
        if self.gzip:
            await self._inflate()
            if not self.inflater.eof:
                raise InvalidParameter("invalid archive: unexpected end of gzip stream")
        elif self.held:
            await self.put(bytes(self.held))

    async def _inflate(self) -> None:
        data, self.held = bytes(self.held), bytearray()
        self.compressed += len(data)
        plain = await run_blocking(self._inflate_sync, data)
        self.inflated += len(plain)
        limits = self.limits
        if self.inflated > max(limits.ratio_floor, self.compressed * limits.max_ratio):
            raise InvalidParameter("invalid archive: it expands more than "
                                   f"{limits.max_ratio} times (a decompression bomb?)")
        if plain:
            await self.put(plain)

    def _inflate_sync(self, data: bytes) -> bytes:
        out = []
        while data:
            try:
                out.append(self.inflater.decompress(data))
            except zlib.error as e:
                raise InvalidParameter(f"invalid archive: {e}") from None
            if not self.inflater.eof:
                break
            data = self.inflater.unused_data  # another gzip member follows (pigz)
            if data and not data.strip(b"\0"):
                break  # zeros padding the end
            if data:
                self.inflater = zlib.decompressobj(47)
        return b"".join(out)

    async def put(self, item: bytes | BaseException | None) -> None:
        if not self.dropping:
            await self.queue.put(item)

    def discard(self) -> None:
        self.dropping = True
        while not self.queue.empty():
            self.queue.get_nowait()


def _platform(source: dict[str, Any]) -> dict[str, Any]:
    """An OCI platform as dockerd's JSON has it: architecture and os always, the rest when
    set."""
    platform: dict[str, Any] = {"architecture": str(source.get("architecture") or ""),
                                "os": str(source.get("os") or "")}
    for key in ("os.version", "os.features", "variant", "features"):
        if source.get(key):
            platform[key] = source[key]
    return platform


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timeout: the registry stopped sending"
    return str(e) or type(e).__name__


def _config(data: bytes, parsed: mf.ImageManifest) -> dict[str, Any]:
    try:
        config = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidParameter("invalid image config: not JSON") from None
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(
            isinstance(d, str) and d.startswith("sha256:") and len(d) == 71 for d in diff_ids):
        raise InvalidParameter("invalid image config: bad rootfs.diff_ids")
    if len(diff_ids) != len(parsed.layers):
        raise InvalidParameter(f"invalid image: {len(parsed.layers)} layers in the manifest, "
                               f"{len(diff_ids)} in the config")
    return dict(config)

