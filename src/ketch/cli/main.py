"""Entry point of `ketch`. The engine commands arrive with ketchd (the engine issue);
until then the command knows its version and says plainly what it cannot do yet."""

from __future__ import annotations

import sys

from ketch import __version__


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write("usage: ketch COMMAND\n\ncommands available now: version\n"
                         "the OCI runtime is `ketch-runtime` (see ketch-runtime --help)\n")
        sys.exit(0)
    if args[0] in ("version", "--version", "-v"):
        sys.stdout.write(f"ketch version {__version__}\n")
        sys.exit(0)
    sys.stderr.write(f"ketch: '{args[0]}' is not available yet: it needs the engine (ketchd)\n")
    sys.exit(125)
