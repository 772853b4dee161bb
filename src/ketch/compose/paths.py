"""Host paths in a compose file: made absolute against the right directory.

Relative paths in the project's files are relative to the project directory (that of
the first file, or `--project-directory`); those of a service taken with `extends`
from another file are relative to that file's directory. `~` is the user's home.
"""

from __future__ import annotations

import os
import re

_REMOTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|git@|github\.com/)")


def resolve_host_path(path: str, base_dir: str) -> str:
    """`path` made absolute: `~` expanded, a relative path joined to `base_dir`."""
    if path.startswith("~"):
        path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return os.path.normpath(path)


def is_remote(context: str) -> bool:
    """A build context that is a URL (git repository, tarball), not a directory."""
    return bool(_REMOTE.match(context))


def resolve_context(context: str, base_dir: str) -> str:
    """A build context (or an additional context): URLs and references to images or
    services (`docker-image://...`, `service:name`) are kept, paths made absolute."""
    if is_remote(context) or context.startswith("service:"):
        return context
    return resolve_host_path(context, base_dir)
