"""`ketch diff CONTAINER`: the container's filesystem changes, one "C /etc" line each."""

from __future__ import annotations

from typing import Any

from ketch.cli.command import Command
from ketch.cli.context import Context
from ketch.cli.flags import Parsed

KINDS: dict[Any, str] = {0: "C", 1: "A", 2: "D"}


def format_changes(changes: list[dict[str, Any]]) -> str:
    """Docker's "{{.Type}} {{.Path}}" lines, in the daemon's order."""
    return "".join(f"{KINDS.get(c.get('Kind'), '?')} {c.get('Path', '')}\n" for c in changes)


def _diff(ctx: Context, opts: Parsed) -> int:
    ctx.write(format_changes(ctx.client.changes(opts.args[0])))
    return 0


DIFF = Command(
    name="diff",
    usage="ketch diff CONTAINER",
    description="Inspect changes to files or directories on a container's filesystem",
    flags=(),
    handler=_diff, min_args=1, max_args=1,
    aliases="ketch container diff, ketch diff",
)
