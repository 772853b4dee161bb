"""Putting base images into an image store: `python -m ketch.bootstrap ... --import-into ROOT`.

The tarball becomes the image's only layer; the metadata record beside it gives the tag,
platform, creation time, Cmd and Env, so the same tarball always makes the same image ID.
An image already tagged with the same layer is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ketch.bootstrap.metadata import BaseImage, read_metadata
from ketch.bootstrap.output import DEFAULT_OUT
from ketch.errors import HostError, NotFound
from ketch.images import ImageStore


@dataclass(frozen=True)
class ImportResult:
    reference: str
    image_id: str
    imported: bool  # False: the store had it already


def import_base_image(store: ImageStore, image: BaseImage, tarball: Path) -> ImportResult:
    """Import one base image tarball unless its tag already names an image of that layer."""
    try:
        current = store.get(image.reference)
        if current.diff_ids == [image.diff_id]:
            return ImportResult(image.reference, current.id, False)
    except NotFound:
        pass
    with open(tarball, "rb") as f:
        imported = store.import_tar(
            f,
            config={"Cmd": list(image.cmd), "Env": list(image.env)},
            architecture=image.architecture,
            variant=image.variant,
            os_name=image.os,
            created=image.created,
            created_by=f"ketch bootstrap: {image.package} {image.version}",
        )
    if imported.diff_ids != [image.diff_id]:
        store.remove(imported.id, force=True)
        raise HostError(f"{tarball} does not match its metadata (diff_id): rebuild it")
    store.tag(imported.id, image.reference)
    return ImportResult(image.reference, imported.id, True)


def import_base_images(data_root: str, base_dir: str | Path = DEFAULT_OUT) -> list[ImportResult]:
    """Import every base image found in base_dir (busybox:latest, debian:bookworm-slim)."""
    store = ImageStore(data_root)
    results = []
    for record in sorted(Path(base_dir).glob("*.json")):
        image = read_metadata(record)
        if image is None or not (record.parent / image.tarball).is_file():
            continue
        results.append(import_base_image(store, image, record.parent / image.tarball))
    return results
