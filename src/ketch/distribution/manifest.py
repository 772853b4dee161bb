"""Image manifests as registries serve them (Docker schema 2 and OCI, single images and
lists/indexes), checked before anything is fetched on their word: media types, digest
syntax, sizes, and the platform chosen from a list. Registries are hostile: a manifest
that does not parse, is too large, or names blobs badly is one clear error.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ketch.errors import InvalidParameter

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYERS = ("application/vnd.oci.image.layer.v1.tar",
              "application/vnd.oci.image.layer.v1.tar+gzip",
              "application/vnd.oci.image.layer.v1.tar+zstd",
              "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
LISTS = (DOCKER_LIST, OCI_INDEX)
IMAGES = (DOCKER_MANIFEST, OCI_MANIFEST)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
MAX_MANIFEST = 4 << 20  # bytes, as distribution's clients allow
MAX_CONFIG = 8 << 20
MAX_LAYERS = 128  # more cannot be mounted by overlayfs (the store's limit too)
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ManifestList:
    media_type: str
    manifests: tuple[Descriptor, ...]


def _descriptor(value: Any, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid manifest: {what} is not an object")
    digest, size, media_type = value.get("digest"), value.get("size"), value.get("mediaType")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidParameter(f"invalid manifest: {what} has an invalid digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidParameter(f"invalid manifest: {what} has an invalid size")
    if not isinstance(media_type, str):
        media_type = ""
    platform = value.get("platform")
    urls = value.get("urls") or ()
    return Descriptor(media_type, digest, size,
                      platform if isinstance(platform, dict) else None,
                      tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list)
                      else ())


def parse(data: bytes, content_type: str) -> ImageManifest | ManifestList:
    if len(data) > MAX_MANIFEST:
        raise InvalidParameter(f"manifest too large: over {MAX_MANIFEST} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidParameter("invalid manifest: not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidParameter("invalid manifest: not a JSON object")
    media_type = doc.get("mediaType") if isinstance(doc.get("mediaType"), str) else ""
    media_type = media_type or content_type.split(";")[0].strip()
    if doc.get("schemaVersion") == 1:
        raise InvalidParameter("unsupported manifest: Docker image manifest schema 1 is "
                               "deprecated and not supported")
    if doc.get("schemaVersion") != 2:
        raise InvalidParameter("invalid manifest: schemaVersion is not 2")
    if media_type in LISTS or (not media_type and "manifests" in doc):
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise InvalidParameter("invalid manifest list: no manifests")
        return ManifestList(media_type or OCI_INDEX,
                            tuple(_descriptor(e, "a manifest list entry") for e in entries))
    if media_type and media_type not in IMAGES:
        raise InvalidParameter(f"unsupported manifest media type {media_type}")
    config = _descriptor(doc.get("config"), "the config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidParameter("invalid manifest: no layers")
    if len(layers) > MAX_LAYERS:
        raise InvalidParameter(f"invalid manifest: more than {MAX_LAYERS} layers")
    parsed = tuple(_descriptor(entry, f"layer {i}") for i, entry in enumerate(layers))
    for layer in parsed:
        if layer.media_type == DOCKER_FOREIGN_LAYER or layer.urls:
            raise InvalidParameter(f"unsupported layer {layer.digest}: foreign layers "
                                   "are not fetched")
    if config.size > MAX_CONFIG:
        raise InvalidParameter("invalid manifest: the image config is too large")
    return ImageManifest(media_type or OCI_MANIFEST, config, parsed)


def choose(listing: ManifestList, os_name: str, architecture: str, variant: str = ""
           ) -> Descriptor:
    """The list's entry for the platform, as containerd's matcher picks it (the variant
    only when asked; arm64's v8 and no variant are the same)."""
    candidates = []
    for entry in listing.manifests:
        platform = entry.platform or {}
        if platform.get("os") != os_name or platform.get("architecture") != architecture:
            continue
        found = str(platform.get("variant") or "")
        if variant and found != variant and {found, variant} != {"", "v8"}:
            continue
        candidates.append(entry)
    if not candidates:
        wanted = "/".join(p for p in (os_name, architecture, variant) if p)
        raise InvalidParameter(f"no matching manifest for {wanted} in the manifest list "
                               "entries")
    return candidates[0]


def image_manifest(config: bytes, layers: list[Descriptor]) -> bytes:
    """A Docker schema 2 manifest, laid out as Docker's push writes it (3-space indent)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config),
                   "digest": digest_of(config)},
        "layers": [layer.to_json() for layer in layers],
    }
    return json.dumps(doc, indent=3).encode()
