"""Unit tests for image references: Docker's grammar, familiar names, its error wording."""

from __future__ import annotations

import pytest

from ketch.errors import InvalidParameter
from ketch.images import familiar_name, normalize, parse
from ketch.images.reference import full_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", ("busybox", "latest")),
        ("busybox:1.36", ("busybox", "1.36")),
        ("library/busybox", ("busybox", "latest")),
        ("docker.io/library/busybox:latest", ("busybox", "latest")),
        ("index.docker.io/library/debian:bookworm-slim", ("debian", "bookworm-slim")),
        ("docker.io/team/app", ("team/app", "latest")),
        ("team/app:v1", ("team/app", "v1")),
        ("localhost/app", ("localhost/app", "latest")),
        ("localhost:5000/app:v2", ("localhost:5000/app", "v2")),
        ("registry.example.com/a/b/c:x_Y.1-2", ("registry.example.com/a/b/c", "x_Y.1-2")),
        ("my-app__x.y", ("my-app__x.y", "latest")),
    ],
)
def test_normalize(text: str, expected: tuple[str, str]) -> None:
    assert normalize(text) == expected


def test_full_and_familiar_names() -> None:
    assert full_name("busybox") == "docker.io/library/busybox"
    assert full_name("team/app") == "docker.io/team/app"
    assert full_name("localhost:5000/app") == "localhost:5000/app"
    assert familiar_name("docker.io/library/busybox") == "busybox"
    assert familiar_name("docker.io/library/a/b") == "library/a/b"


def test_digest_reference_parses_but_is_no_tag() -> None:
    digest = "sha256:" + "a" * 64
    ref = parse(f"busybox@{digest}")
    assert (ref.repository, ref.tag, ref.digest) == ("busybox", "", digest)
    with pytest.raises(InvalidParameter):
        normalize(f"busybox@{digest}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Busybox", "invalid reference format: repository name must be lowercase"),
        ("busybox:UPPER_tag_is_fine", None),
        ("bad name", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        (":latest", "invalid reference format"),
        ("busybox:-x", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("a/../b", "invalid reference format"),
        ("-app", "invalid reference format"),
        ("app:" + "t" * 129, "invalid reference format"),
        ("", "invalid reference format: repository name must have at least one component"),
        ("a" * 256,
         "invalid reference format: repository name must not be more than 255 characters"),
        ("f" * 64,
         f"invalid repository name ({'f' * 64}), cannot specify 64-byte hexadecimal strings"),
    ],
)
def test_invalid_references_use_dockers_words(text: str, message: str | None) -> None:
    if message is None:
        normalize(text)
        return
    with pytest.raises(InvalidParameter) as caught:
        normalize(text)
    assert str(caught.value) == message
