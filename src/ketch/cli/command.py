"""What a CLI verb is (usage, flags, argument count, handler) and the errors verbs raise."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ketch.cli.context import Context
    from ketch.cli.flags import Flag, Parsed

    Handler = Callable[[Context, Parsed], int]


class CLIError(Exception):
    """A failure to report as one line on stderr with an exit code (Docker's StatusError)."""

    def __init__(self, message: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ExitCode(Exception):
    """Leave with this exit code, nothing more to print (a container's exit status)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Command:
    """A verb of the CLI. `run_style` errors read `ketch: <err>` + a help hint, exit 125."""

    def __init__(self, name: str, usage: str, description: str, flags: tuple[Flag, ...],
                 handler: Handler, min_args: int = 0, max_args: int | None = None,
                 interspersed: bool = True, run_style: bool = False, aliases: str = "") -> None:
        self.name = name
        self.usage = usage
        self.description = description
        self.flags = flags
        self.handler = handler
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed
        self.run_style = run_style
        self.aliases = aliases

    def check_args(self, args: list[str]) -> str | None:
        """Docker's message when the number of arguments is wrong, else None."""
        n = len(args)
        full = f"'ketch {self.name}'"
        if self.max_args == 0 and n > 0:
            return f"{full} accepts no arguments"
        if self.max_args is not None and self.max_args == self.min_args and n != self.min_args:
            plural = "argument" if self.min_args == 1 else "arguments"
            return f"{full} requires {self.min_args} {plural}"
        if n < self.min_args:
            plural = "argument" if self.min_args == 1 else "arguments"
            return f"{full} requires at least {self.min_args} {plural}"
        if self.max_args is not None and n > self.max_args:
            plural = "argument" if self.max_args == 1 else "arguments"
            return f"{full} requires at most {self.max_args} {plural}"
        return None
