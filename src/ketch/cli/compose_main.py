"""Entry point of `ketch-compose`: the same as `ketch compose`, as `docker-compose` is
to `docker compose`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from ketch.cli.main import main as ketch_main

    ketch_main(["compose", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
