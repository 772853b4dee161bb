"""Image references (`busybox`, `busybox:latest`, `registry:5000/team/app:v1`) by Docker's rules.

Docker's grammar (distribution/reference) decides what a valid name is; names on Docker Hub
are stored and shown in their familiar form ("busybox", not "docker.io/library/busybox"),
exactly as `docker images` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketch.errors import InvalidParameter
from ketch.util import reference as grammar

DEFAULT_TAG = grammar.DEFAULT_TAG


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


def familiar_name(name: str) -> str:
    """docker.io/library/busybox -> busybox; docker.io/team/app -> team/app; others as given."""
    return grammar.Named(*grammar.split_domain(name)).familiar_name


def full_name(name: str) -> str:
    """busybox -> docker.io/library/busybox"""
    domain, remainder = grammar.split_domain(name)
    return f"{domain}/{remainder}"


def parse(text: str) -> Reference:
    """Parse a reference the way `docker` does; InvalidParameter with Docker's wording."""
    try:
        named = grammar.parse_normalized_named(text)
    except grammar.ReferenceError as e:
        raise InvalidParameter(str(e)) from None
    return Reference(named.familiar_name, named.tag, named.digest)


def normalize(text: str) -> tuple[str, str]:
    """A tag reference -> (familiar repository, tag): "busybox" -> ("busybox", "latest").

    A digest reference is refused here: ketch stores tags only (no registry digests yet).
    """
    ref = parse(text)
    if ref.digest:
        raise InvalidParameter("cannot import digest reference")  # the daemon's words
    if ref.repository == "sha256":  # the reference store's rule: "sha256:<hex>" is an ID
        raise InvalidParameter("refusing to create an ambiguous tag using digest algorithm "
                               "as name")
    return ref.repository, ref.tag or DEFAULT_TAG


def repo_tag(repo: str, tag: str) -> str:
    """The API's `repo` and `tag` parameters as one reference, as Docker's RepoTagReference
    reads them: a tag given apart replaces one in repo; neither means "latest"."""
    try:
        named = grammar.parse_normalized_named(repo)
        if named.digest:
            raise InvalidParameter("cannot import digest reference")
        named = grammar.with_tag(named, tag or named.tag or DEFAULT_TAG)
    except grammar.ReferenceError as e:
        raise InvalidParameter(str(e)) from None
    return named.familiar_string()
