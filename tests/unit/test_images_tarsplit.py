"""A layer extracted with a tar-split record gives back its exact tar bytes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from ketch.errors import HostError, InvalidParameter
from ketch.util.tarball.extract import Limits, Options, apply_layer
from ketch.util.tarball.split import assemble, length


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]],
         fmt: int = tarfile.PAX_FORMAT, trailer: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue() + trailer


def _file(name: str, data: bytes, mode: int = 0o644, **extra: object) -> tuple[
        tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
    for key, value in extra.items():
        setattr(info, key, value)
    return info, data


def _entry(name: str, kind: bytes, **extra: object) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mtime = kind, 1_700_000_000
    for key, value in extra.items():
        setattr(info, key, value)
    return info, None


def _round_trip(tmp_path: Path, data: bytes, stored: bytes | None = None) -> bytes:
    """Extract data (maybe compressed), reassemble; returns the reassembled bytes."""
    diff, record = tmp_path / "diff", tmp_path / "tar-split"
    diff.mkdir()
    applied = apply_layer(io.BytesIO(data), str(diff), None, Options(tar_split=str(record)))
    out = io.BytesIO()
    size = assemble(str(record), str(diff), out.write, applied.diff_id)
    plain = stored if stored is not None else data
    assert size == len(plain) == length(str(record))
    assert applied.diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()
    return out.getvalue()


def test_many_kinds_of_entries_come_back_byte_for_byte(tmp_path: Path) -> None:
    long_name = "d/" + "x" * 150 + "/f"  # needs a PAX path record
    data = _tar([
        _entry("d", tarfile.DIRTYPE, mode=0o755),
        _file("d/a", b"hello\n" * 1000),
        _file("d/empty", b""),
        _file("d/odd", b"1" * 513, mode=0o4755),
        _entry("d/link", tarfile.LNKTYPE, linkname="d/a"),
        _entry("d/sym", tarfile.SYMTYPE, linkname="../etc/passwd"),
        _entry("d/fifo", tarfile.FIFOTYPE, mode=0o600),
        _file(long_name, b"deep"),
        _file("d/.wh.gone", b""),
        _file("d/x", b"y", pax_headers={"SCHILY.xattr.user.k": "v"}),
    ])
    assert _round_trip(tmp_path, data) == data


def test_gnu_and_ustar_archives_and_trailing_bytes(tmp_path: Path) -> None:
    for i, fmt in enumerate((tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT)):
        data = _tar([_file("f", os.urandom(3000)), _file("g", b"z" * 10)], fmt,
                    trailer=b"\0" * 4096 + b"junk after the end")
        sub = tmp_path / str(i)
        sub.mkdir()
        assert _round_trip(sub, data) == data


def test_compressed_layer_gives_back_the_uncompressed_tar(tmp_path: Path) -> None:
    plain = _tar([_file("big", os.urandom(3 << 20)), _file("small", b"s")])
    assert _round_trip(tmp_path, gzip.compress(plain), stored=plain) == plain


def test_a_changed_file_is_an_error_not_a_wrong_tar(tmp_path: Path) -> None:
    data = _tar([_file("a", b"hello")])
    diff, record = tmp_path / "diff", tmp_path / "tar-split"
    diff.mkdir()
    applied = apply_layer(io.BytesIO(data), str(diff), None, Options(tar_split=str(record)))
    (diff / "a").write_bytes(b"HELLO")  # same size, other bytes
    with pytest.raises(HostError, match="no longer matches"):
        assemble(str(record), str(diff), lambda b: None, applied.diff_id)
    (diff / "a").unlink()
    (diff / "a").symlink_to("/etc/hostname")  # never followed out of the layer
    with pytest.raises(HostError, match="missing"):
        assemble(str(record), str(diff), lambda b: None, applied.diff_id)


def test_replaced_parent_directory_is_not_followed(tmp_path: Path) -> None:
    """A record's path whose directory became a symlink (to the host) is not read."""
    data = _tar([_entry("d", tarfile.DIRTYPE, mode=0o755), _file("d/passwd", b"x" * 10)])
    diff, record = tmp_path / "diff", tmp_path / "tar-split"
    diff.mkdir()
    applied = apply_layer(io.BytesIO(data), str(diff), None, Options(tar_split=str(record)))
    (diff / "d" / "passwd").unlink()
    (diff / "d").rmdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_bytes(b"x" * 10)  # would even give the right digest
    (diff / "d").symlink_to(outside)
    with pytest.raises(HostError, match="missing"):
        assemble(str(record), str(diff), lambda b: None, applied.diff_id)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    zeros = _tar([_file("zeros", b"\0" * (8 << 20))])
    bomb = gzip.compress(zeros, 9)
    (tmp_path / "d").mkdir()
    with pytest.raises(InvalidParameter, match="decompression bomb"):
        apply_layer(io.BytesIO(bomb), str(tmp_path / "d"),
                    Limits(max_ratio=100, ratio_floor=1 << 20))
    (tmp_path / "e").mkdir()
    with pytest.raises(InvalidParameter, match="larger than"):
        apply_layer(io.BytesIO(bomb), str(tmp_path / "e"), Limits(max_bytes=1 << 20))
    (tmp_path / "f").mkdir()  # the same layer within the limits is fine
    apply_layer(io.BytesIO(bomb), str(tmp_path / "f"), Limits())


def test_zstd_layer_gives_back_the_uncompressed_tar(tmp_path: Path) -> None:
    import zstandard

    plain = _tar([_file("a", os.urandom(70000)), _file("b", b"b" * 100)])
    packed = zstandard.ZstdCompressor().compress(plain)
    assert _round_trip(tmp_path, packed, stored=plain) == plain
