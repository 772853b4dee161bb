"""COPY and ADD in worker threads: sources found and checksummed in their root, files
written into a step container's root filesystem through the layer extractor's rules (no
write through a symlink, nothing outside the destination), archives unpacked for ADD."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import BinaryIO

from ketch.build import sources
from ketch.engine.users import identity
from ketch.images.rootfs import open_in, open_root
from ketch.util.tarball.compression import compression
from ketch.util.tarball.extract import Options, apply_to
from ketch.util.tarball.write import TarWriter
from ketch.util.threads import piped


def write_file(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def find(root: str, word: str, what: str) -> list[sources.Source]:
    fd = open_root(root)
    try:
        return sources.find(fd, word, what)
    finally:
        os.close(fd)


def checksum(root: str, found: list[sources.Source]) -> str:
    fd = open_root(root)
    try:
        return sources.checksum(fd, found)
    finally:
        os.close(fd)


def mkdir_in(rootfs: str, path: str, owner: tuple[int, int]) -> None:
    root = open_root(rootfs)
    try:
        os.close(sources.make_directory(root, path, owner))
    finally:
        os.close(root)


def copy_files(source_root: str, found: list[sources.Source], rootfs: str, dest: str,
               chown: str, chmod: int | None, extract: bool, epoch: int | None) -> None:
    """COPY/ADD of found (in source_root) to dest in rootfs; extract: local archives are
    unpacked (ADD) into dest."""
    src_fd = open_root(source_root)
    dst_fd = open_root(rootfs)
    try:
        owner = identity(rootfs, chown) if chown else None
        owner = owner or (0, 0)
        directory, entries = sources.plan(found, dest,
                                          lambda p: sources.is_directory(dst_fd, p))
        if extract:  # ADD: a local archive is unpacked; anything else is copied
            archives = [e for e in entries if not e.is_dir and is_archive(src_fd, e.source)]
            entries = [e for e in entries if e not in archives]
            for entry in archives:
                target = sources.make_directory(dst_fd, dest, (0, 0))  # always a directory
                reader = open_in(src_fd, entry.source, os.O_RDONLY | os.O_NONBLOCK)
                with os.fdopen(reader, "rb") as stream:
                    apply_to(stream, target, None, Options(whiteouts=False, diff_id=False))
        if not entries:
            return
        target_fd = sources.make_directory(dst_fd, directory, owner)
        stream_copy(src_fd, entries, target_fd, owner, chmod, epoch, directory)
    finally:
        os.close(src_fd)
        os.close(dst_fd)


def stream_copy(src_fd: int, entries: list[sources.Entry], target_fd: int,
                owner: tuple[int, int], chmod: int | None, epoch: int | None,
                directory: str) -> None:
    """Sources to target as a tar through a pipe: the extraction rules (nothing written
    through a symlink, nothing outside the target) are the layer extractor's."""
    def produce(write: Callable[[bytes], object]) -> None:
        writer = TarWriter(write, owner=owner, mode=chmod, mtime_clamp=epoch)
        sources.write(src_fd, entries, writer)
        writer.close()

    def consume(stream: BinaryIO, finished: Callable[[], None]) -> None:
        apply_to(stream, target_fd, None,
                 Options(whiteouts=False, diff_id=False, cp_dest=directory))

    piped(produce, consume, "build-copy")


def is_archive(root_fd: int, path: str) -> bool:
    """ADD's test: a tar, maybe compressed (by magic bytes, then a tar header)."""
    try:
        fd = open_in(root_fd, path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return False
    with os.fdopen(fd, "rb") as f:
        head = f.read(265)
    # compressed, or an uncompressed tar (its header's "ustar" magic at offset 257)
    return bool(compression(head)) or head[257:262] == b"ustar"
