"""Entry point of `ketch`: Docker's CLI, speaking the Engine API through ketch.client.

Kept tiny: `ketch --version` answers before anything else is imported, and every verb
is imported only when it runs.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-v"]):
        from ketch import __version__

        sys.stdout.write(f"ketch version {__version__}\n")
        sys.exit(0)
    from ketch.cli.app import execute

    try:
        code = execute(args)
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a bug of ours: one line, never a traceback
        if "-D" in args or "--debug" in args:
            raise
        sys.stderr.write(f"ketch: internal error: {type(exc).__name__}: {exc}\n")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
