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
        _exit(0, in_process=argv is not None)
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
    _exit(code, in_process=argv is not None)


def _exit(code: int, in_process: bool) -> None:
    if in_process:  # leave the interpreter to the caller
        sys.exit(code)
    # A CLI run is over once its output is out: skip the interpreter's teardown (module
    # and object finalisation, ~1 ms or a tenth of a `ketch ps`). Nothing of ours needs it:
    # terminals are restored, connections and files closed, by the verbs themselves.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    import posix

    posix._exit(code)


if __name__ == "__main__":
    main()
