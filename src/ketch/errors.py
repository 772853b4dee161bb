"""One error hierarchy for all of ketch.

Every layer raises these; `api/` maps them to HTTP status codes and the CLIs
map them to exit codes, so a user sees one clear line and never a traceback.
"""

from __future__ import annotations


class KetchError(Exception):
    """An error with a message meant for the user."""

    status = 500  # HTTP status the Engine API answers with

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(KetchError):
    """The request or configuration is malformed or contradicts itself."""

    status = 400


class NotFound(KetchError):
    """The named object (container, image, file, ...) does not exist."""

    status = 404


class Conflict(KetchError):
    """The object exists already or is in a state that forbids the operation."""

    status = 409


class Forbidden(KetchError):
    """The operation is understood but refused (a predefined network, an overlap)."""

    status = 403


class NotModified(KetchError):
    """The operation had nothing to do (e.g. stopping a stopped container)."""

    status = 304


class HostError(KetchError):
    """The kernel or the host refused something the request needed."""

    status = 500


class Unauthorized(KetchError):
    """A registry refused the credentials (or asked for some)."""

    status = 401


class NotImplementedHere(KetchError):
    """The feature exists in Docker's API but not for this object (e.g. reading the log
    of a container whose log driver is none)."""

    status = 501
