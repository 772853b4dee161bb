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
        ("Busybox",
         "invalid reference format: repository name (library/Busybox) must be lowercase"),
        ("busybox:UPPER_tag_is_fine", None),
        ("bad name", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        (":latest", "invalid reference format"),
        ("busybox:-x", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("a/../b", "invalid reference format"),
        ("-app", "invalid reference format"),
        ("app:" + "t" * 129, "invalid reference format"),
        ("", "invalid reference format"),
        ("a" * 256, "repository name must not be more than 255 characters"),
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


# -- checked against the docker 28 CLI and a private dockerd (`docker tag busybox X`) ------

HEX = "f" * 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("UPPER", "invalid reference format: repository name (library/UPPER) must be lowercase"),
        ("UPPER:tag",
         "invalid reference format: repository name (library/UPPER) must be lowercase"),
        ("up/PER:tag", "invalid reference format: repository name (up/PER) must be lowercase"),
        ("localhost:5000/Foo", "invalid reference format: repository name (Foo) must be "
                               "lowercase"),
        ("a:b:c", "invalid reference format"),
        ("a/b:c:d", "invalid reference format"),
        ("x:-t", "invalid reference format"),
        ("x:.t", "invalid reference format"),
        ("a___b", "invalid reference format"),
        ("a..b", "invalid reference format"),
        ("a-", "invalid reference format"),
        ("x@sha256:abc", "invalid reference format"),
        (f"x@sha256:{HEX}@sha256:{HEX}", "invalid reference format"),
        (f"x@md5:{HEX}", "unsupported digest algorithm"),
        ("x@sha256:" + "f" * 40, "invalid checksum digest length"),
        ("x@sha256:" + "F" * 64, "invalid checksum digest format"),
        # the limit is on the path: "library/" counts for Docker Hub names, the domain not
        ("a" * 248, "repository name must not be more than 255 characters"),
        ("example.com/" + "a" * 256, "repository name must not be more than 255 characters"),
        (f"sha256:{HEX}", "refusing to create an ambiguous tag using digest algorithm as name"),
        ("sha256", "refusing to create an ambiguous tag using digest algorithm as name"),
        (f"x@sha256:{HEX}", "cannot import digest reference"),
    ],
)
def test_docker_refuses_these_tags(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        normalize(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x:" + "t" * 128, ("x", "t" * 128)),
        ("a" * 247, ("a" * 247, "latest")),
        ("example.com/" + "a" * 255, ("example.com/" + "a" * 255, "latest")),
        ("docker.io/busybox", ("busybox", "latest")),
        ("index.docker.io/library/busybox:v2", ("busybox", "v2")),
        ("index.docker.io/busybox", ("busybox", "latest")),
        ("x:UPPER", ("x", "UPPER")),
        ("x:_t", ("x", "_t")),
        ("a__b", ("a__b", "latest")),
        ("Foo/bar", ("Foo/bar", "latest")),  # an uppercase first part is a domain
        ("EXAMPLE.com/x", ("EXAMPLE.com/x", "latest")),
        ("LOCALHOST/foo", ("LOCALHOST/foo", "latest")),
        ("[::1]:5000/foo", ("[::1]:5000/foo", "latest")),
        ("a.b:5000", ("a.b", "5000")),
        ("localhost", ("localhost", "latest")),
        (f"docker.io/library/{HEX}", (HEX, "latest")),
        (f"a/{HEX}", (f"a/{HEX}", "latest")),
    ],
)
def test_docker_accepts_these_tags(text: str, expected: tuple[str, str]) -> None:
    assert normalize(text) == expected


def test_digests_of_every_registered_algorithm() -> None:
    for algorithm, size in (("sha256", 64), ("sha384", 96), ("sha512", 128)):
        ref = parse(f"localhost:5000/x@{algorithm}:{'a' * size}")
        assert (ref.repository, ref.tag, ref.digest) == ("localhost:5000/x", "",
                                                         f"{algorithm}:{'a' * size}")
    tagged = parse(f"x:v1@sha256:{HEX}")
    assert (tagged.repository, tagged.tag, tagged.digest) == ("x", "v1", f"sha256:{HEX}")


def test_the_clients_grammar() -> None:
    from ketch.util import reference as grammar

    named = grammar.parse_normalized_named("busybox:1.36")
    assert (named.name, named.familiar_name, named.familiar_string()) == (
        "docker.io/library/busybox", "busybox", "busybox:1.36")
    assert grammar.parse_normalized_named("docker.io/library/a/b").familiar_name == "library/a/b"
    assert grammar.parse_any_reference(HEX) == f"sha256:{HEX}"
    assert grammar.parse_any_reference(f"sha256:{HEX}") == f"sha256:{HEX}"
    assert grammar.with_tag(named, "v2").familiar_string() == "busybox:v2"
    with pytest.raises(grammar.ReferenceError, match=r"^invalid tag format$"):
        grammar.with_tag(named, "t" * 129)


@pytest.mark.parametrize(
    ("repo", "tag", "expected"),
    [
        ("busybox", "", "busybox:latest"),
        ("busybox", "v1", "busybox:v1"),
        ("busybox:v2", "", "busybox:v2"),
        ("a:b", "c", "a:c"),  # the tag given apart wins, as in Docker's RepoTagReference
        ("docker.io/library/busybox", "x", "busybox:x"),
    ],
)
def test_repo_tag_parameters(repo: str, tag: str, expected: str) -> None:
    from ketch.images.reference import repo_tag

    assert repo_tag(repo, tag) == expected


def test_repo_tag_parameter_errors() -> None:
    from ketch.images.reference import repo_tag

    with pytest.raises(InvalidParameter, match=r"^invalid tag format$"):
        repo_tag("x", "t" * 129)
    with pytest.raises(InvalidParameter, match=r"^cannot import digest reference$"):
        repo_tag(f"x@sha256:{HEX}", "")
    with pytest.raises(InvalidParameter, match=r"\(library/UPPER\) must be lowercase"):
        repo_tag("UPPER", "")
