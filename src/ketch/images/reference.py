"""Image references (`busybox`, `busybox:latest`, `registry:5000/team/app:v1`) by Docker's rules.

Docker's grammar (distribution/reference) decides what a valid name is; names on Docker Hub
are stored and shown in their familiar form ("busybox", not "docker.io/library/busybox"),
exactly as `docker images` shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ketch.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
ID_HEX = re.compile(r"[a-f0-9]{64}", re.ASCII)

INVALID = "invalid reference format"


@dataclass(frozen=True)
class Reference:
    """A parsed name: repository in familiar form, tag ("" if none given), digest ("" if none)."""

    repository: str  # "busybox", "team/app", "registry:5000/app"
    tag: str
    digest: str

    @property
    def full_name(self) -> str:
        """The canonical repository name: "docker.io/library/busybox"."""
        return full_name(self.repository)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_domain(name: str) -> tuple[str, str]:
    head, sep, rest = name.partition("/")
    if not sep or (
        "." not in head and ":" not in head and head != "localhost" and head.lower() == head
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = head, rest
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def familiar_name(name: str) -> str:
    """docker.io/library/busybox -> busybox; docker.io/team/app -> team/app; others as given."""
    domain, remainder = _split_domain(name)
    if domain != DEFAULT_DOMAIN:
        return f"{domain}/{remainder}"
    if remainder.startswith("library/") and remainder.count("/") == 1:
        return remainder.removeprefix("library/")
    return remainder


def full_name(name: str) -> str:
    """busybox -> docker.io/library/busybox"""
    domain, remainder = _split_domain(name)
    return f"{domain}/{remainder}"


def parse(text: str) -> Reference:
    """Parse a reference the way `docker` does; InvalidParameter with Docker's wording."""
    if ID_HEX.fullmatch(text):
        raise InvalidParameter(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    match = _REFERENCE.fullmatch(text)
    if match is None:
        if text == "":
            raise InvalidParameter(f"{INVALID}: repository name must have at least one component")
        if _REFERENCE.fullmatch(text.lower()):
            raise InvalidParameter(f"{INVALID}: repository name must be lowercase")
        raise InvalidParameter(INVALID)
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    if len(name) > NAME_MAX:
        raise InvalidParameter(
            f"{INVALID}: repository name must not be more than {NAME_MAX} characters"
        )
    return Reference(familiar_name(name), tag, digest)


def normalize(text: str) -> tuple[str, str]:
    """A tag reference -> (familiar repository, tag): "busybox" -> ("busybox", "latest").

    A digest reference is refused here: ketch stores tags only (no registry digests yet).
    """
    ref = parse(text)
    if ref.digest:
        raise InvalidParameter(f"{INVALID}: a digest reference cannot be used as a tag: {text}")
    return ref.repository, ref.tag or DEFAULT_TAG
