"""The local terminal: raw mode for `-i -t`, its size, and resize on SIGWINCH."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:  # `signal` imports enum (~3 ms of a `ketch run`); the C module has what we use
    import _signal as signal
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any


def is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def terminal_size(fd: int = 1) -> tuple[int, int]:
    """(rows, columns), (0, 0) when `fd` is not a terminal."""
    for candidate in (fd, 0, 2):
        try:
            size = os.get_terminal_size(candidate)
            return size.lines, size.columns
        except OSError:
            continue
    return 0, 0


class RawTerminal:
    """Puts a terminal in raw mode (as `docker run -it` does with its stdin) and restores it."""

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        import termios
        import tty

        if is_terminal(self.fd):
            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.restore()

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass
            self._saved = None


def monitor_size(resize: Callable[[int, int], None], fd: int = 1) -> None:
    """Call `resize(rows, cols)` now and whenever the window changes (SIGWINCH)."""

    def apply() -> None:
        rows, cols = terminal_size(fd)
        if rows and cols:
            try:
                resize(rows, cols)
            except Exception:
                pass

    def on_winch(signum: int, frame: FrameType | None) -> None:
        apply()

    apply()
    signal.signal(signal.SIGWINCH, on_winch)
