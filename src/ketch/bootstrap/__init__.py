"""Base images made offline from the host's Debian packages: busybox and debian:bookworm-slim.

There is no registry to pull from, so ketch makes its base images itself: a root filesystem
tarball (the image's single layer) and a small JSON record beside it, in an output
directory (default /var/cache/ketch/base). `python -m ketch.bootstrap` is the command.
"""

from ketch.bootstrap.busybox import make_busybox_rootfs
from ketch.bootstrap.catalog import BUILDERS, BuildResult, build
from ketch.bootstrap.metadata import BaseImage, read_metadata
from ketch.bootstrap.output import DEFAULT_OUT
from ketch.bootstrap.store import ImportResult, import_base_image, import_base_images

__all__ = [
    "BUILDERS",
    "DEFAULT_OUT",
    "BaseImage",
    "BuildResult",
    "ImportResult",
    "build",
    "import_base_image",
    "import_base_images",
    "make_busybox_rootfs",
    "read_metadata",
]
