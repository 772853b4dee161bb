"""`docker save`: images as one tar that both `docker load` and OCI tools read.

The layout is the one Docker (25 and later) writes: an OCI image layout (`oci-layout`,
`index.json`, `blobs/sha256/...`) that is also a docker-archive, because `manifest.json`
and `repositories` point into the same blobs. Older Docker engines read `manifest.json`.
Layers go out uncompressed and byte for byte as they came in (tar-split), so their
digests are the diffIDs in the configs; configs go out as their exact stored bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ketch.images.fsutil import hex_of
from ketch.images.image import Image, unix_time
from ketch.images.layers import Layer
from ketch.images.oci import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    OCI_INDEX,
    OCI_MANIFEST,
    canonical,
    descriptor,
    digest_of,
    image_manifest,
)
from ketch.images.reference import full_name
from ketch.images.store import ImageStore
from ketch.util.tarball.write import TarWriter

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass
class _Plan:
    """Everything the archive holds, known before its first byte is written."""

    layers: dict[str, tuple[Layer, int]] = field(default_factory=dict)  # hex -> layer, size
    documents: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # hex -> bytes, mtime
    index: list[dict[str, object]] = field(default_factory=list)
    manifest: list[dict[str, object]] = field(default_factory=list)
    repositories: dict[str, dict[str, str]] = field(default_factory=dict)


def _plan(store: ImageStore, names: list[str]) -> _Plan:
    plan = _Plan()
    by_image: dict[str, tuple[Image, list[str]]] = {}
    for image, ref in store.references(names):
        entry = by_image.setdefault(image.id, (image, []))
        if ref is not None:
            entry[1].append(ref)
    for image, refs in by_image.values():
        mtime = unix_time(image.created)
        config = store.config_bytes(image.id)
        plan.documents[hex_of(image.id)] = (config, mtime)
        sizes = []
        for chain in image.chain_ids:
            layer = store.layers.get(chain)
            key = hex_of(layer.diff_id)
            if key not in plan.layers:
                plan.layers[key] = (layer, layer.tar_size())
            sizes.append((layer.diff_id, plan.layers[key][1]))
        layer_paths = [f"blobs/sha256/{hex_of(diff_id)}" for diff_id, _ in sizes]
        manifest = image_manifest(config, sizes, OCI_MANIFEST)
        manifest_digest = digest_of(manifest)
        plan.documents[hex_of(manifest_digest)] = (manifest, mtime)
        named: list[str | None] = [*refs] or [None]
        for ref in named:
            annotations = None
            if ref is not None:
                repo, _, tag = ref.rpartition(":")
                annotations = {ANNOTATION_IMAGE_NAME: f"{full_name(repo)}:{tag}",
                               ANNOTATION_REF_NAME: tag}
                top = image.chain_ids[-1] if image.chain_ids else image.id
                plan.repositories.setdefault(repo, {})[tag] = hex_of(top)
            plan.index.append(descriptor(OCI_MANIFEST, manifest_digest, len(manifest),
                                         annotations))
        plan.manifest.append({
            "Config": f"blobs/sha256/{hex_of(image.id)}",
            "RepoTags": refs or None,
            "Layers": layer_paths,
        })
    return plan


def save(store: ImageStore, names: list[str]) -> Callable[[Callable[[bytes], object]], None]:
    """Check the names and plan the archive now (errors before any byte is sent); the
    returned function writes the archive to a sink."""
    plan = _plan(store, names)

    def write(sink: Callable[[bytes], object]) -> None:
        tar = TarWriter(sink)
        tar.add_directory("blobs")
        tar.add_directory("blobs/sha256")
        blobs = sorted([*plan.layers, *plan.documents])
        for key in blobs:
            name = f"blobs/sha256/{key}"
            if key in plan.documents:
                data, mtime = plan.documents[key]
                tar.add_bytes(name, data, mtime)
            else:
                layer, size = plan.layers[key]
                tar.add_stream(name, size, layer.tar)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": plan.index}
        tar.add_bytes("index.json", canonical(index))
        tar.add_bytes("manifest.json", canonical(plan.manifest))
        tar.add_bytes("oci-layout", OCI_LAYOUT)
        if plan.repositories:
            tar.add_bytes("repositories", json.dumps(plan.repositories).encode())
        tar.close()

    return write
