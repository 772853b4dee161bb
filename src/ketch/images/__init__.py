"""The image store and container snapshots: images (config + ordered read-only layers),
tags, `docker import` of root filesystem tarballs, and snapshots for containers (overlayfs,
or full copies where overlayfs does not work).

Layout under a data root (default /var/lib/ketch):

    image/content/sha256/<hex>       image configs (image ID = sha256 of the bytes)
    image/layers/<chainID-hex>/diff  extracted layers, each stored once
    image/repositories.json          tags
    overlay/<container>/{upper,work,merged,lower}   container snapshots (overlay2)
    vfs/<container>/{rootfs,lower}                  container snapshots (vfs)
"""

from ketch.images.image import Image
from ketch.images.reference import Reference, familiar_name, normalize, parse
from ketch.images.snapshots import Snapshotter
from ketch.images.store import DEFAULT_ROOT, ContainerUsing, ImageStore, InUse
from ketch.util.tarball.extract import Limits

__all__ = [
    "DEFAULT_ROOT",
    "ContainerUsing",
    "Image",
    "ImageStore",
    "InUse",
    "Limits",
    "Reference",
    "Snapshotter",
    "familiar_name",
    "normalize",
    "parse",
]
