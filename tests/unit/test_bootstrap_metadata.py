"""Unit tests for ketch.bootstrap.metadata: the JSON record beside each base image tarball."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketch.bootstrap.metadata import (
    DEFAULT_PATH,
    BaseImage,
    metadata_path,
    oci_platform,
    read_metadata,
    write_metadata,
)
from ketch.errors import HostError


def _image(**changes: object) -> BaseImage:
    fields: dict[str, object] = dict(
        reference="busybox:latest",
        tarball="busybox.tar",
        architecture="arm64",
        variant="v8",
        os="linux",
        created="2024-01-02T03:04:05Z",
        package="busybox-static",
        version="1:1.35.0-4",
        diff_id="sha256:" + "ab" * 32,
        size=2048,
        cmd=("sh",),
        env=(DEFAULT_PATH,),
        recipe="0123456789abcdef",
    )
    fields.update(changes)
    return BaseImage(**fields)  # type: ignore[arg-type]


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    image = _image()
    path = tmp_path / "busybox.json"
    write_metadata(path, image)
    assert read_metadata(path) == image
    assert [p.name for p in tmp_path.iterdir()] == ["busybox.json"]  # no temp file left


def test_record_uses_image_config_names(tmp_path: Path) -> None:
    record = _image().to_json()
    assert record["config"] == {"Cmd": ["sh"], "Env": [DEFAULT_PATH]}
    assert record["architecture"] == "arm64" and record["variant"] == "v8"
    assert "variant" not in _image(architecture="amd64", variant="").to_json()


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json",
        "[]",
        '{"reference": "x"}',
        json.dumps({**_image().to_json(), "diff_id": "md5:00"}),
        json.dumps({**_image().to_json(), "tarball": "../busybox.tar"}),
        json.dumps({**_image().to_json(), "size": "big"}),
    ],
)
def test_unreadable_records_read_as_missing(tmp_path: Path, content: str) -> None:
    path = tmp_path / "busybox.json"
    path.write_text(content)
    assert read_metadata(path) is None


def test_missing_record_reads_as_missing(tmp_path: Path) -> None:
    assert read_metadata(tmp_path / "nothing.json") is None


def test_metadata_sits_beside_the_tarball() -> None:
    assert metadata_path(Path("/x/debian-bookworm-slim.tar")) == Path(
        "/x/debian-bookworm-slim.json"
    )


@pytest.mark.parametrize(
    ("dpkg", "oci"),
    [
        ("amd64", ("amd64", "")),
        ("arm64", ("arm64", "v8")),
        ("armhf", ("arm", "v7")),
        ("i386", ("386", "")),
        ("ppc64el", ("ppc64le", "")),
        ("s390x", ("s390x", "")),
    ],
)
def test_debian_architectures_map_to_oci_names(dpkg: str, oci: tuple[str, str]) -> None:
    assert oci_platform(dpkg) == oci


def test_unknown_architecture_is_a_host_error() -> None:
    with pytest.raises(HostError, match="hurd-i386"):
        oci_platform("hurd-i386")
