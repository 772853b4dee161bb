"""ketch's OCI runtime: an OCI bundle (config.json + rootfs) -> an isolated process.

This package knows nothing of images or the daemon. It is driven through the
runc-compatible `ketch-runtime` command (see `cli`), which is what the engine
and any other OCI tooling use.
"""
