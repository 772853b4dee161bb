"""Entry point of `ketchd`, the daemon serving the Docker Engine API (the engine issue)."""

from __future__ import annotations

import sys

from ketch import __version__


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("--version", "-v"):
        sys.stdout.write(f"ketchd version {__version__}\n")
        sys.exit(0)
    sys.stderr.write("ketchd: the Engine API server is not available yet\n")
    sys.exit(1)
