"""Hostile input for the tar code (ketch.util.tarball) and what reads a container's tree:
metadata bombs that bypass the decompression-ratio bound, numbers out of range, trees
deeper than Python's recursion limit, and guards for escapes that are refused today.

Memory is measured with tracemalloc (Python allocations: every bytes object tarfile and the
tar-split recorder make); a well-behaved extraction stays at a few MiB whatever it reads.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ketch.errors import InvalidParameter
from ketch.util.tarball.extract import Limits, Options, apply_layer

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root")
MiB = 1 << 20
BOUNDED = 24 * MiB  # a streamed extraction peaks at ~6 MiB of Python memory


def info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, *,
         linkname: str = "", pax: dict[str, str] | None = None) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.size, member.linkname = kind, size, linkname
    member.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    member.mtime = 1_600_000_000
    if pax:
        member.pax_headers = dict(pax)
    return member


def make_tar(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in entries:
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return out.getvalue()


def one_file() -> bytes:
    return make_tar((info("f", size=1), b"x"))


def patch_header(data: bytes, offset: int, field: bytes) -> bytes:
    """Overwrite a field of the first header block and fix its checksum."""
    block = bytearray(data)
    block[offset:offset + len(field)] = field
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block[:512])
    return bytes(block)


def peak_memory(fn: Callable[[], Any]) -> tuple[Any, int]:
    """fn's result (or the exception it raised) and the peak of Python memory meanwhile."""
    tracemalloc.start()
    try:
        try:
            result: Any = fn()
        except Exception as e:  # the caller asserts on it
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def layer_dirs(tmp_path: Path) -> tuple[str, str]:
    diff = tmp_path / "diff"
    diff.mkdir()
    return str(diff), str(tmp_path / "tar-split")


def apply(data: bytes, tmp_path: Path, options: Options | None = None,
          limits: Limits | None = None) -> Any:
    diff, split = layer_dirs(tmp_path)
    return apply_layer(io.BytesIO(data), diff, limits, options or Options(tar_split=split))


# -- metadata bombs: header bytes are never counted against the ratio bound -------------------


def test_a_huge_pax_record_is_refused_without_buffering_it(tmp_path: Path) -> None:
    """tarfile reads a PAX header whole (then decodes and copies it): 32 MiB of record,
    32 KiB gzipped, cost ~160 MiB of daemon memory and is accepted; a 1 MiB gzip upload
    is ~5 GiB. Go's archive/tar (Docker) refuses PAX and GNU long-name records over 1 MiB."""
    layer = make_tar((info("f", size=1, pax={"comment": "a" * (32 * MiB)}), b"x"))
    bomb = gzip.compress(layer, 6)
    assert len(bomb) < 64 << 10
    result, peak = peak_memory(lambda: apply(bomb, tmp_path))
    assert isinstance(result, InvalidParameter), result
    assert peak < BOUNDED, f"{peak >> 20} MiB held for a {len(bomb) >> 10} KiB upload"


def test_a_huge_gnu_long_name_is_refused_without_buffering_it(tmp_path: Path) -> None:
    longname = info("././@LongLink", tarfile.GNUTYPE_LONGNAME, size=32 * MiB)
    raw = longname.tobuf(tarfile.GNU_FORMAT) + b"a" * (32 * MiB) + one_file()
    bomb = gzip.compress(raw, 6)
    result, peak = peak_memory(lambda: apply(bomb, tmp_path))
    assert isinstance(result, InvalidParameter), result
    assert peak < BOUNDED, f"{peak >> 20} MiB held for a {len(bomb) >> 10} KiB upload"


def test_bytes_after_the_end_marker_are_not_held_in_memory(tmp_path: Path) -> None:
    """The tar-split recorder keeps every non-content byte in a bytearray until the layer
    ends, and drain() reads everything after the end marker with no bound: 64 MiB of
    zeros (64 KiB gzipped) is 64 MiB of daemon memory."""
    bomb = gzip.compress(one_file() + bytes(64 * MiB), 6)
    assert len(bomb) < 128 << 10
    result, peak = peak_memory(lambda: apply(bomb, tmp_path))
    # refusing so much trailing garbage is fine too; holding it in memory is not
    assert peak < BOUNDED, f"{peak >> 20} MiB held for a {len(bomb) >> 10} KiB upload"
    assert not isinstance(result, Exception) or isinstance(result, InvalidParameter), result


# -- numbers out of range: one clear error, not an OverflowError (a 500) --------------------


def _dir_mtime_inf() -> bytes:
    return make_tar((info("d", tarfile.DIRTYPE, pax={"mtime": "inf"}), b""))


def _uid_too_big() -> bytes:
    return make_tar((info("f", size=1, pax={"uid": "99999999999999"}), b"x"))


def _gid_negative() -> bytes:
    return make_tar((info("f", size=1, pax={"gid": "-5"}), b"x"))


def _size_negative() -> bytes:
    """The tar-split recorder packs the size as an unsigned 64-bit: struct.error."""
    return make_tar((info("f", pax={"size": "-1024"}), b""), (info("a", size=3), b"abc"))


def _device_major_base256() -> bytes:
    device = make_tar((info("c", tarfile.CHRTYPE), b""))
    return patch_header(device, 329, bytes([0x80, 0x7F, 0, 0, 0, 0, 0, 0]))  # devmajor


@needs_root
@pytest.mark.parametrize("archive", [_dir_mtime_inf, _uid_too_big, _gid_negative,
                                     _size_negative, _device_major_base256],
                         ids=["dir-mtime-inf", "uid-too-big", "gid-negative", "size-negative",
                              "devmajor-base256"])
def test_numbers_out_of_range_are_one_clear_error(tmp_path: Path,
                                                  archive: Callable[[], bytes]) -> None:
    """OverflowError (and struct.error) is neither an OSError nor a KetchError: it
    escapes apply_to and the API answers 500 'internal error: OverflowError'."""
    with pytest.raises(InvalidParameter):
        apply(archive(), tmp_path)


# -- trees deeper than Python's recursion limit (a container makes them at will) ---------------


def _deep_tree(top: Path, depth: int) -> int:
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    current = os.dup(fd)
    for _ in range(depth):
        os.mkdir("d", dir_fd=current)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=current)
        os.close(current)
        current = child
    os.close(current)
    return fd


def _in_thread(fn: Callable[[], Any]) -> Any:
    """As the daemon runs it: in a worker thread, whose stack starts nearly empty."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as e:  # reported to the test
            box.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return box[0]


def test_tar_writer_archives_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    """export, cp out and commit walk the tree recursively (3 frames a level): a container
    with 400 nested directories (our own extractor allows 512) makes them fail with
    RecursionError: a 500, or a cut stream after the 200."""
    from ketch.util.tarball.write import TarWriter

    (tmp_path / "tree").mkdir()
    fd = _deep_tree(tmp_path / "tree", 400)
    chunks: list[bytes] = []
    try:
        def write() -> None:
            writer = TarWriter(chunks.append)
            writer.add_root(fd, "")
            writer.close()

        result = _in_thread(write)
    finally:
        os.close(fd)
    assert not isinstance(result, BaseException), repr(result)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert len(tar.getnames()) == 400


def test_tree_changes_of_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    """`docker diff` (and vfs commit, SizeRw) recurse 2 frames a level: 500 levels fail."""
    from ketch.images import treediff

    (tmp_path / "tree").mkdir()
    fd = _deep_tree(tmp_path / "tree", 500)
    try:
        result = _in_thread(lambda: treediff.tree_changes(fd, []))
    finally:
        os.close(fd)
    assert not isinstance(result, BaseException), repr(result)
    assert len(result[0]) == 500


# -- docker load: the archive's own compression is outside the ratio bound ------------------


def test_load_counts_the_archives_compression_against_the_bomb_ratio(tmp_path: Path) -> None:
    """Each layer's ratio is taken against the layer's own bytes; a gzip-compressed
    docker-archive holding an uncompressed layer has ratio 1 there, so `docker load` of a
    few hundred KiB fills the disk (up to min_free_bytes) with no bound. Here with small
    limits: 32 MiB written from a ~32 KiB upload, 10:1 allowed past 4 MiB."""
    from ketch.images.load import load
    from ketch.images.store import ImageStore

    layer = make_tar((info("zeros", size=32 * MiB), bytes(32 * MiB)))
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["bomb:1"],
                            "Layers": ["layer.tar"]}]).encode()
    archive = make_tar((info("manifest.json", size=len(manifest)), manifest),
                       (info("config.json", size=len(config)), config),
                       (info("layer.tar", size=len(layer)), layer))
    upload = gzip.compress(archive, 6)
    assert len(upload) < 256 << 10
    store = ImageStore(str(tmp_path / "root"),
                       Limits(ratio_floor=4 * MiB, max_ratio=10, min_free_bytes=0))
    with pytest.raises(InvalidParameter, match="decompression bomb"):
        load(store, io.BytesIO(upload))


def test_load_refuses_a_huge_pax_record_in_the_archive_itself(tmp_path: Path) -> None:
    """load.py opens the archive with a plain tarfile (not the extractor's strict
    TarInfo): a record in the archive's own headers is read whole into memory too."""
    from ketch.images.load import load
    from ketch.images.store import ImageStore

    archive = make_tar((info("manifest.json", size=2, pax={"comment": "a" * (32 * MiB)}),
                        b"[]"))
    upload = gzip.compress(archive, 6)
    store = ImageStore(str(tmp_path / "root"), Limits(min_free_bytes=0))
    result, peak = peak_memory(lambda: load(store, io.BytesIO(upload)))
    assert isinstance(result, InvalidParameter), result
    assert peak < BOUNDED, f"{peak >> 20} MiB held for a {len(upload) >> 10} KiB upload"


# -- guards: behaviour that is right today -----------------------------------------------------


@needs_root
def test_archives_never_set_overlay_xattrs(tmp_path: Path) -> None:
    """An archive's trusted.overlay.* (opaque, redirect, metacopy) would change what
    overlayfs shows above the layer: dropped, on files and directories alike."""
    xattrs = {"SCHILY.xattr.trusted.overlay.opaque": "y",
              "SCHILY.xattr.trusted.overlay.redirect": "/etc",
              "SCHILY.xattr.user.kept": "1"}
    apply(make_tar((info("d", tarfile.DIRTYPE, pax=xattrs), b""),
                   (info("d/f", size=1, pax=xattrs), b"x")), tmp_path)
    for path in (tmp_path / "diff" / "d", tmp_path / "diff" / "d" / "f"):
        names = os.listxattr(path)
        assert not [n for n in names if n.startswith("trusted.overlay.")], (path, names)


def test_a_whiteout_under_a_symlink_is_refused(tmp_path: Path) -> None:
    """`.wh.x` under a directory that is a symlink out of the layer would make the
    whiteout (a mknod and an rmtree of what was there) outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")
    layer = make_tar((info("l", tarfile.SYMTYPE, linkname=str(outside)), b""),
                     (info("l/.wh.victim"), b""),
                     (info("l/.wh..wh..opq"), b""))
    with pytest.raises(InvalidParameter, match="symlink"):
        apply(layer, tmp_path)
    assert (outside / "victim").read_text() == "keep"
    assert "trusted.overlay.opaque" not in os.listxattr(outside)


def test_cp_keeps_whiteout_names_as_files_and_refuses_escaping_links(tmp_path: Path) -> None:
    """Copied into a container, `.wh.` names are plain files (no deletion in the
    container), and a relative symlink leading out of the destination is refused."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "victim").write_text("keep")
    options = Options(whiteouts=False, cp_dest="/dest")
    apply_layer(io.BytesIO(make_tar((info(".wh.victim", size=1), b"x"))), str(dest),
                None, options)
    assert (dest / "victim").read_text() == "keep" and (dest / ".wh.victim").is_file()
    with pytest.raises(InvalidParameter, match="invalid symlink"):
        apply_layer(io.BytesIO(make_tar((info("a/up", tarfile.SYMTYPE,
                                              linkname="../../etc"), b""))),
                    str(dest), None, options)


def test_a_hard_link_then_a_file_of_the_same_name_never_writes_through(tmp_path: Path) -> None:
    """A later entry replaces a hard link; it never writes into the linked inode."""
    layer = make_tar((info("orig", size=4), b"keep"),
                     (info("link", tarfile.LNKTYPE, linkname="orig"), b""),
                     (info("link", size=4), b"evil"))
    apply(layer, tmp_path, Options())
    assert (tmp_path / "diff" / "orig").read_bytes() == b"keep"
    assert (tmp_path / "diff" / "link").read_bytes() == b"evil"
