"""`docker load`: images from a docker-archive (`manifest.json`) or an OCI image layout
(`index.json`), read once as a stream and treated as hostile.

Each file of the archive is looked at as it arrives: small JSON documents are kept in
memory, anything else is extracted at once as a layer (that is where the bytes are; the
archive is never unpacked to disk first). When the archive has been read, the manifests say
which blobs are which; every digest they name is checked against the bytes (configs,
manifests, layers, and every layer's diffID against its config) before anything enters
the store. A failure at any point leaves the store as it was.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from ketch.errors import InvalidParameter, KetchError
from ketch.images.changes import validate_config
from ketch.images.layers import PendingLayer
from ketch.images.oci import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    INDEX_TYPES,
    MAX_DOCUMENT,
    Descriptor,
    descriptors,
    digest_of,
    parse_document,
    platform_matches,
)
from ketch.images.reference import normalize
from ketch.images.store import MAX_LAYERS, ImageStore, PreparedImage, host_architecture
from ketch.util.tarball.compression import ERRORS, DigestReader, Prefixed, compression, decompressed
from ketch.util.tarball.extract import Limits, StrictTarInfo, content_reader

MAX_METADATA = 64 << 20  # JSON kept in memory for the whole archive
MAX_ENTRIES = 100_000  # files, links and directories of an archive
_MAX_HOPS = 16
_DIGEST_NAME = re.compile(r"(?:.*/)?(?:sha256/)?([a-f0-9]{64})(?:\.json)?", re.ASCII)


@dataclass
class _Blob:
    digest: str  # sha256 of the file's bytes in the archive
    data: bytes | None = None  # a JSON document
    layer: PendingLayer | None = None  # extracted as a layer
    error: KetchError | None = None  # not a layer: an error if anything uses it as one


@dataclass
class _Archive:
    files: dict[str, _Blob] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    metadata_bytes: int = 0
    entries: int = 0
    expanded: int = 0  # bytes of the archive's files, uncompressed
    uploaded: Callable[[], int] = lambda: 0  # bytes of the archive as it came


def _clean(name: str) -> str:
    path = posixpath.normpath("/" + name).lstrip("/")
    if not path or path == ".":
        return ""
    return path


class _Bomb(InvalidParameter):
    """The archive expands too much: fatal, even in a blob nothing uses."""


class _Metered(io.RawIOBase):
    """A file of the archive, read through the load's decompression budget: all files
    together may expand the upload max_ratio times (a gzip archive of plain layers would
    pass each layer's own check at 1:1)."""

    def __init__(self, read: Callable[[int], bytes], size: int, archive: _Archive,
                 limits: Limits) -> None:
        self._read = read
        self._left = size  # the read goes on past the file's end: it is bounded here
        self._archive = archive
        self._limits = limits

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._read(min(len(buffer), self._left))
        if not data:
            raise InvalidParameter("invalid archive: unexpected end of a file in it")
        self._left -= len(data)
        memoryview(buffer).cast("B")[: len(data)] = data
        archive, limits = self._archive, self._limits
        archive.expanded += len(data)
        if archive.expanded > limits.ratio_floor and \
                archive.expanded > limits.max_ratio * max(archive.uploaded(), 1):
            raise _Bomb(f"archive expands to more than {limits.max_ratio} times its size: "
                        "refused as a decompression bomb")
        return len(data)


def _read(stream: BinaryIO, store: ImageStore, archive: _Archive) -> None:
    with decompressed(stream) as (plain, counted), \
            tarfile.open(fileobj=plain, mode="r|", tarinfo=StrictTarInfo) as tar:
        archive.uploaded = lambda: counted.count
        while (member := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # a stream needs no index
            archive.entries += 1
            if archive.entries > MAX_ENTRIES:
                raise InvalidParameter(f"invalid archive: more than {MAX_ENTRIES} files")
            path = _clean(member.name)
            if not path:
                continue
            if member.issym() or member.islnk():
                target = member.linkname if member.islnk() else posixpath.join(
                    posixpath.dirname(path), member.linkname)
                archive.links[path] = _clean(target)
            elif member.isreg():
                replaced = archive.files.get(path)
                if replaced is not None and replaced.layer is not None:
                    store.layers.discard(replaced.layer)  # the same name again: last wins
                metered = _Metered(content_reader(tar, member), member.size, archive,
                                   store.limits)
                archive.files[path] = _file(io.BufferedReader(metered, 1 << 20),
                                            member.size, store, archive)


def _file(source: IO[bytes], size: int, store: ImageStore, archive: _Archive) -> _Blob:
    head = source.read(min(size, 512))
    if size <= MAX_DOCUMENT and head.lstrip()[:1] in (b"{", b"["):
        archive.metadata_bytes += size
        if archive.metadata_bytes > MAX_METADATA:
            raise InvalidParameter("invalid archive: too much metadata")
        data = head + source.read(size - len(head))
        return _Blob(digest_of(data), data=data)
    if not compression(head):
        # an uncompressed layer's blob digest is its diffID, which extraction computes over
        # every byte of the file (to its end): no second pass of sha256 over it
        try:
            layer = store.layers.extract(Prefixed(head, source), store.limits)  # type: ignore[arg-type]
        except _Bomb:
            raise
        except KetchError as e:
            return _Blob("", error=e)
        return _Blob(layer.diff_id, layer=layer)
    hashing = DigestReader(Prefixed(head, source))  # type: ignore[arg-type]
    try:
        layer = store.layers.extract(io.BufferedReader(hashing, 1 << 20), store.limits)
    except _Bomb:
        raise
    except KetchError as e:
        hashing.drain()
        return _Blob(hashing.digest, error=e)
    hashing.drain()  # what follows the layer's own end in the file counts for the digest
    return _Blob(hashing.digest, layer=layer)


class _Reader:
    """Blobs of a read archive by path, with digest checks."""

    def __init__(self, archive: _Archive, store: ImageStore) -> None:
        self.archive = archive
        self.store = store

    def blob(self, path: str) -> _Blob:
        path = _clean(path)
        for _ in range(_MAX_HOPS):
            if path in self.archive.files:
                return self.archive.files[path]
            if path not in self.archive.links:
                break
            path = self.archive.links[path]
        raise InvalidParameter(f"invalid archive: {path} is missing")

    def document(self, path: str, what: str, digest: str | None = None) -> tuple[bytes, Any]:
        blob = self.blob(path)
        if blob.data is None:
            raise InvalidParameter(f"invalid archive: {what} {path} is not a JSON document")
        _check_digest(blob, path, what, digest)
        if what == "manifest.json":
            return blob.data, _json_list(blob.data)
        return blob.data, parse_document(blob.data, what)

    def layer(self, path: str, diff_id: str, digest: str | None = None) -> PendingLayer:
        blob = self.blob(path)
        if blob.error is not None and blob.data is None:
            raise InvalidParameter(f"invalid archive: layer {path}: {blob.error}")
        _check_digest(blob, path, "layer", digest)
        if blob.layer is None and blob.data is not None:  # a tiny layer that looked like JSON
            try:
                blob.layer = self.store.layers.extract(io.BytesIO(blob.data), self.store.limits)
            except KetchError as e:
                blob.error = e
        if blob.layer is None:
            raise InvalidParameter(f"invalid archive: layer {path}: {blob.error}")
        if blob.layer.diff_id != diff_id:
            raise InvalidParameter(f"invalid archive: layer {path} has diffID "
                                   f"{blob.layer.diff_id}, its image expects {diff_id}")
        return blob.layer


def _check_digest(blob: _Blob, path: str, what: str, digest: str | None) -> None:
    """A blob named by a digest (by its descriptor or its file name) must have it."""
    named = _DIGEST_NAME.fullmatch(path)
    for expected in (digest, f"sha256:{named.group(1)}" if named else None):
        if expected is not None and blob.digest != expected:
            raise InvalidParameter(f"invalid archive: {what} {path} does not match its "
                                   f"digest (expected {expected}, got {blob.digest})")


def _json_list(data: bytes) -> list[Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise InvalidParameter(f"invalid manifest.json: {e}") from None
    if not isinstance(value, list):
        raise InvalidParameter("invalid manifest.json: not a list")
    return value


def _diff_ids(config: dict[str, Any]) -> list[str]:
    """The config's layers, after checking the shape of everything ketch reads from it
    (Docker refuses a config that does not unmarshal into its types, too)."""
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidParameter("invalid image config: no rootfs.diff_ids")
    if len(diff_ids) > MAX_LAYERS:
        raise InvalidParameter(f"invalid image config: more than {MAX_LAYERS} layers")
    for key in ("config", "container_config"):
        if config.get(key) is not None:
            if not isinstance(config[key], dict):
                raise InvalidParameter(f"invalid image config: {key} is not an object")
            validate_config(config[key])
    for key in ("architecture", "os", "variant", "created", "author", "comment",
                "container", "docker_version"):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise InvalidParameter(f"invalid image config: {key} is not a string")
    history = config.get("history")
    if history is not None and (not isinstance(history, list)
                                or not all(isinstance(h, dict) for h in history)):
        raise InvalidParameter("invalid image config: history is not a list of objects")
    return list(diff_ids)


def _docker_archive(reader: _Reader) -> list[PreparedImage]:
    _, entries = reader.document("manifest.json", "manifest.json")
    images = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers") or [], list):
            raise InvalidParameter("invalid manifest.json: bad entry")
        data, config = reader.document(entry["Config"], "image config")
        diff_ids = _diff_ids(config)
        layer_paths = entry.get("Layers") or []
        if len(layer_paths) != len(diff_ids):
            raise InvalidParameter("invalid manifest.json: layers length mismatch")
        layers = [reader.layer(str(p), d) for p, d in zip(layer_paths, diff_ids, strict=True)]
        tags = [normalize(str(t)) for t in entry.get("RepoTags") or []]
        images.append(PreparedImage(data, config, layers, tags))
    return images


def _oci_layout(reader: _Reader) -> list[PreparedImage]:
    _, index = reader.document("index.json", "index.json")
    images = []
    for desc in descriptors(index, "manifests", "index.json"):
        name = desc.annotations.get(ANNOTATION_IMAGE_NAME) or ""
        ref_name = desc.annotations.get(ANNOTATION_REF_NAME) or ""
        if not name and ("/" in ref_name or ":" in ref_name):
            name = ref_name  # some tools put the whole reference there
        manifest_desc = _platform_manifest(reader, desc, 0)
        _, manifest = reader.document(_blob_path(manifest_desc), "manifest",
                                      manifest_desc.digest)
        config_desc = Descriptor.parse(manifest.get("config"), "manifest")
        data, config = reader.document(_blob_path(config_desc), "image config",
                                       config_desc.digest)
        diff_ids = _diff_ids(config)
        layer_descs = descriptors(manifest, "layers", "manifest")
        if len(layer_descs) != len(diff_ids):
            raise InvalidParameter("invalid manifest: layers length mismatch")
        layers = [reader.layer(_blob_path(d), diff_id, d.digest)
                  for d, diff_id in zip(layer_descs, diff_ids, strict=True)]
        images.append(PreparedImage(data, config, layers, [normalize(name)] if name else []))
    return images


def _platform_manifest(reader: _Reader, desc: Descriptor, depth: int) -> Descriptor:
    """An image manifest for this host, through nested indexes."""
    if desc.media_type not in INDEX_TYPES:
        return desc
    if depth > 4:
        raise InvalidParameter("invalid archive: indexes nested too deep")
    _, index = reader.document(_blob_path(desc), "index", desc.digest)
    arch = host_architecture()
    for child in descriptors(index, "manifests", "index"):
        if platform_matches(child.platform, "linux", arch):
            try:
                return _platform_manifest(reader, child, depth + 1)
            except InvalidParameter:
                if child.platform:
                    raise
                continue  # attestations and the like, not in the archive
    raise InvalidParameter(f"invalid archive: no image for linux/{arch} in the index")


def _blob_path(desc: Descriptor) -> str:
    algorithm, _, value = desc.digest.partition(":")
    return f"blobs/{algorithm}/{value}"


def load(store: ImageStore, stream: BinaryIO) -> list[str]:
    """Load every image of the archive; returns Docker's lines ("Loaded image: x:y")."""
    archive = _Archive()
    try:
        try:
            _read(stream, store, archive)
        except tarfile.TarError as e:
            raise InvalidParameter(f"invalid archive: {e}") from None
        except ERRORS as e:
            raise InvalidParameter(f"invalid archive: {e}") from None
        except OSError as e:
            if e.errno is not None:
                raise
            raise InvalidParameter(f"invalid archive: {e}") from None
        reader = _Reader(archive, store)
        if "manifest.json" in archive.files or "manifest.json" in archive.links:
            images = _docker_archive(reader)
        elif "index.json" in archive.files:
            images = _oci_layout(reader)
        else:
            raise InvalidParameter("invalid archive: no manifest.json or index.json in it "
                                   "(not a docker-archive or an OCI image layout)")
        return store.add_images(images)
    finally:
        for blob in archive.files.values():
            if blob.layer is not None:
                store.layers.discard(blob.layer)  # what add_images did not take
