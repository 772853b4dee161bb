"""Image formats: OCI image index/manifest/config and Docker's manifest v2 schema 2 and
manifest list, as media types and descriptors.

Manifests are kept and passed on as the exact bytes they came as: a digest names bytes, so
nothing here re-serialises a document it did not make. Documents ketch makes are written
compactly with keys in a fixed order, so making one twice gives the same digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ketch.errors import InvalidParameter

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYER_TYPES = frozenset({OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_NONDIST,
                         OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER, DOCKER_LAYER_GZIP,
                         DOCKER_FOREIGN_LAYER})

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"  # the full reference, as Docker writes
MAX_DOCUMENT = 4 << 20  # an index, manifest or config; anything larger is refused


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(document: Any) -> bytes:
    """The bytes ketch writes for a document it makes."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def descriptor(media_type: str, data_digest: str, size: int,
               annotations: dict[str, str] | None = None,
               platform: dict[str, str] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"mediaType": media_type, "digest": data_digest, "size": size}
    if annotations:
        result["annotations"] = annotations
    if platform:
        result["platform"] = platform
    return result


def parse_document(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object of an index, manifest or config; InvalidParameter otherwise."""
    if len(data) > MAX_DOCUMENT:
        raise InvalidParameter(f"{what} is too large ({len(data)} bytes)")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as e:  # deep nesting is bad input too
        raise InvalidParameter(f"invalid {what}: {e}") from None
    if not isinstance(document, dict):
        raise InvalidParameter(f"invalid {what}: not a JSON object")
    return document


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str]
    platform: dict[str, Any]

    @classmethod
    def parse(cls, value: Any, what: str) -> Descriptor:
        if not isinstance(value, dict):
            raise InvalidParameter(f"invalid {what}: a descriptor is not an object")
        digest, size = value.get("digest"), value.get("size")
        if not isinstance(digest, str) or not digest.startswith("sha256:") or \
                len(digest) != 71 or any(c not in "0123456789abcdef" for c in digest[7:]):
            raise InvalidParameter(f"invalid {what}: bad digest {digest!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidParameter(f"invalid {what}: bad size {size!r}")
        annotations = value.get("annotations") or {}
        platform = value.get("platform") or {}
        if not isinstance(annotations, dict) or not isinstance(platform, dict):
            raise InvalidParameter(f"invalid {what}: bad annotations or platform")
        return cls(str(value.get("mediaType") or ""), digest, size,
                   {str(k): str(v) for k, v in annotations.items()}, platform)


def descriptors(document: dict[str, Any], key: str, what: str) -> list[Descriptor]:
    items = document.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidParameter(f"invalid {what}: {key} is not a list")
    return [Descriptor.parse(item, what) for item in items]


def platform_matches(platform: dict[str, Any], os_name: str, architecture: str,
                     variant: str = "") -> bool:
    """An index entry for this host (entries without a platform match anything)."""
    if not platform:
        return True
    if platform.get("os", os_name) != os_name:
        return False
    if platform.get("architecture", architecture) != architecture:
        return False
    want = variant or ("v8" if architecture == "arm64" else "")
    have = str(platform.get("variant") or ("v8" if architecture == "arm64" else ""))
    return not want or not have or want == have


def image_manifest(config: bytes, layers: list[tuple[str, int]],
                   media_type: str = OCI_MANIFEST) -> bytes:
    """A manifest for a config (its bytes) and uncompressed layers (diffID, size)."""
    config_type, layer_type = (OCI_CONFIG, OCI_LAYER) if media_type == OCI_MANIFEST \
        else (DOCKER_CONFIG, DOCKER_LAYER)
    return canonical({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, digest_of(config), len(config)),
        "layers": [descriptor(layer_type, d, size) for d, size in layers],
    })
