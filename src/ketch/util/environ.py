"""Environment variables without `import os`, which costs ~1 ms of a CLI start (it pulls
in stat, posixpath and _collections_abc) that `ketch ps` or `ketch images` never use."""

from __future__ import annotations

import posix
import sys


def getenv(name: str, default: str = "") -> str:
    os_module = sys.modules.get("os")
    if os_module is not None:  # loaded anyway: its environ also sees in-process changes
        value: str | None = os_module.environ.get(name)
        return default if value is None else value
    # posix.environ is the startup environment, keyed by bytes
    raw = posix.environ.get(name.encode(sys.getfilesystemencoding(), "surrogateescape"))
    if raw is None:
        return default
    return raw.decode(sys.getfilesystemencoding(), "surrogateescape")
