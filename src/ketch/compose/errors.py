"""The errors of the compose file model.

Every error is one line that names the place: the file and the key path inside it
(`services.web.ports.0`), the way docker compose words them. They derive from
`ketch.errors` so that the CLI maps them to an exit code like every other error.
"""

from __future__ import annotations

from ketch.errors import InvalidParameter, NotFound


class ComposeError(InvalidParameter):
    """An invalid compose project: bad YAML, an unknown key, a wrong type, a cycle..."""


class ComposeFileNotFound(NotFound):
    """No compose file was given and none was found, or a named file does not exist."""


def key_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """`("services", "web", "ports", 0)` -> `services.web.ports.0`; the top level is
    `(root)`, as in docker compose's messages."""
    return ".".join(str(part) for part in parts) if parts else "(root)"
