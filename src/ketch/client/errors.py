"""Errors of the Engine API client: the daemon's error JSON, or no daemon at all."""

from __future__ import annotations


class APIError(Exception):
    """The daemon answered with an error status; `message` is its `{"message": ...}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"Error response from daemon: {self.message}"


class DaemonUnavailable(Exception):
    """Nothing answers on the daemon's socket."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host

    def __str__(self) -> str:
        return f"Cannot connect to the ketch daemon at {self.host}. Is the ketch daemon running?"


class ProtocolError(Exception):
    """The daemon's answer is not the HTTP we expect (a bug on one side or the other)."""
