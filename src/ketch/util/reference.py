"""Docker's image reference grammar (distribution/reference v0.6, go-digest) with its
error words, for both sides: the daemon's image store (ketch.images.reference) and the
CLI, which checks a reference before sending it as the docker client does (`tag`).

    reference := name [":" tag] ["@" digest]      name := [domain "/"] path
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255  # characters of a repository's path (the name without its domain)

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_PATH = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"
_REFERENCE = re.compile(rf"((?:{_DOMAIN}/)?{_PATH})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_NAME = re.compile(rf"(?:({_DOMAIN})/)?({_PATH})", re.ASCII)
TAG = re.compile(_TAG, re.ASCII)
IDENTIFIER = re.compile(r"[a-f0-9]{64}", re.ASCII)

# go-digest: the algorithms Docker registers, and their hex lengths
_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_ANY = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
_LOWER_HEX = re.compile(r"[a-f0-9]+", re.ASCII)

INVALID = "invalid reference format"


class ReferenceError(ValueError):
    """A reference Docker would refuse; the message is Docker's."""


@dataclass(frozen=True)
class Named:
    """A parsed reference in canonical form: domain "docker.io", path "library/busybox"."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """"docker.io/library/busybox" """
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """"busybox", "team/app", "localhost:5000/app": the name as `docker images` shows."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        rest = self.path.removeprefix(OFFICIAL_PREFIX)
        return rest if rest != self.path and "/" not in rest else self.path

    def familiar_string(self) -> str:
        text = self.familiar_name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def validate_digest(digest: str) -> None:
    """go-digest's Parse: a supported algorithm and lowercase hex of its length."""
    algorithm, sep, encoded = digest.partition(":")
    if not algorithm or not sep or not encoded:
        raise ReferenceError("invalid checksum digest format")
    size = _ALGORITHMS.get(algorithm)
    if size is None:
        if not _DIGEST_ANY.fullmatch(digest):
            raise ReferenceError("invalid checksum digest format")
        raise ReferenceError("unsupported digest algorithm")
    if len(encoded) != size:
        raise ReferenceError("invalid checksum digest length")
    if not _LOWER_HEX.fullmatch(encoded):
        raise ReferenceError("invalid checksum digest format")


def parse(text: str) -> Named:
    """distribution's Parse: the grammar alone, no normalisation (the domain may be "")."""
    if text == "":
        raise ReferenceError("repository name must have at least one component")
    match = _REFERENCE.fullmatch(text)
    if match is None:
        lower = text.lower()
        if lower != text and _REFERENCE.fullmatch(lower):
            raise ReferenceError("repository name must be lowercase")
        raise ReferenceError(INVALID)
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    parts = _NAME.fullmatch(name)
    assert parts is not None  # the reference matched, so its name does
    domain, path = parts.group(1) or "", parts.group(2)
    if len(path) > NAME_MAX:
        raise ReferenceError(f"repository name must not be more than {NAME_MAX} characters")
    if digest:
        validate_digest(digest)
    return Named(domain, path, tag, digest)


def split_domain(name: str) -> tuple[str, str]:
    """splitDockerDomain: ("docker.io", "library/busybox") for "busybox"."""
    head, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if head == "localhost" or "." in head or ":" in head or head.lower() != head:
        domain, remote = (DEFAULT_DOMAIN if head == LEGACY_DOMAIN else head), rest
    else:  # a lowercase first component without "." or ":" is a path on Docker Hub
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_PREFIX + remote
    return domain, remote


def parse_normalized_named(text: str) -> Named:
    """ParseNormalizedNamed: a familiar name ("busybox:1.36") in canonical form."""
    if IDENTIFIER.fullmatch(text):
        raise ReferenceError(f"invalid repository name ({text}), cannot specify 64-byte "
                             "hexadecimal strings")
    domain, remainder = split_domain(text)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise ReferenceError(f"{INVALID}: repository name ({remote}) must be lowercase")
    return parse(f"{domain}/{remainder}")


def parse_any_reference(text: str) -> Named | str:
    """ParseAnyReference: an image ID (bare hex, or a digest) as "sha256:<hex>", else a name."""
    if IDENTIFIER.fullmatch(text):
        return f"sha256:{text}"
    try:
        validate_digest(text)
        return text
    except ReferenceError:
        pass
    return parse_normalized_named(text)


def with_tag(named: Named, tag: str) -> Named:
    """WithTag: the name with this tag (any tag it had is replaced)."""
    if not TAG.fullmatch(tag):
        raise ReferenceError("invalid tag format")
    return Named(named.domain, named.path, tag, named.digest)
