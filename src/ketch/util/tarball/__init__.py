"""Tar streams, treated as hostile: extraction (layers and `cp`), writing trees, the
compressions layers come in, and tar-split records. Shared by the image store, the engine
and the CLI (`cp` extracts on the host too), so it depends on nothing else of ketch."""

# The layer format's markers (AUFS whiteouts, as every image tool writes them) and the
# overlayfs ones they become on disk.
WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
CAPABILITY_XATTR = "security.capability"  # the one xattr Docker's tars carry
