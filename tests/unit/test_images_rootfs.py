"""Unit tests for paths resolved inside a container root (openat2 RESOLVE_IN_ROOT).

A real directory plays the container's root, full of hostile symlinks; a canary file
outside it stands for the host. Nothing may ever open the canary or anything else out
of the root, including while a thread swaps a directory and a symlink under us.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.images.rootfs import (
    DIR_FLAGS,
    follow_in_scope,
    lstat_in,
    open_in,
    open_root,
    openat2,
    readlink_in,
)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """<tmp>/host/canary outside, <tmp>/root the container's root, with links out of it."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "canary").write_text("host secret")
    top = tmp_path / "root"
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "passwd").write_text("container passwd")
    (top / "host").mkdir()
    (top / "host" / "canary").write_text("container canary")
    (top / "file").write_text("a file")
    (top / "to_root").symlink_to("/")
    (top / "up").symlink_to("../../../../..")
    (top / "to_host").symlink_to(str(host))
    (top / "abs_host").symlink_to("/host")
    (top / "etc" / "rel").symlink_to("../etc/passwd")
    (top / "loop").symlink_to("loop")
    (top / "dangling").symlink_to("/nowhere/at/all")
    (top / "proc_self").symlink_to("/proc/self/root")
    fd = open_root(str(top))
    yield top, fd
    os.close(fd)


def _read(root_fd: int, path: str) -> str:
    fd = open_in(root_fd, path, os.O_RDONLY)
    try:
        return os.read(fd, 100).decode()
    finally:
        os.close(fd)


def test_symlinks_to_slash_and_above_stay_in_the_root(root: tuple[Path, int]) -> None:
    _, fd = root
    assert _read(fd, "/to_root/etc/passwd") == "container passwd"
    assert _read(fd, "/up/etc/passwd") == "container passwd"
    assert _read(fd, "../../../etc/passwd") == "container passwd"
    assert _read(fd, "/etc/rel") == "container passwd"
    # a link to the host's canary directory names a path in the container, not on the host
    with pytest.raises(FileNotFoundError):
        _read(fd, "/to_host/canary")
    assert _read(fd, "/abs_host/canary") == "container canary"


def test_magic_links_are_refused(root: tuple[Path, int]) -> None:
    _, fd = root
    with pytest.raises(OSError) as caught:
        open_in(fd, "/proc_self/etc", DIR_FLAGS)
    assert caught.value.errno in (errno.ENOENT, errno.EXDEV, errno.ELOOP)
    # a /proc inside the root would be the host's proc: its magic links are refused
    procfd = os.open("/proc", DIR_FLAGS)
    try:
        with pytest.raises(OSError) as caught:
            openat2(procfd, "self/root/etc/passwd", os.O_RDONLY)
        assert caught.value.errno == errno.ELOOP
    finally:
        os.close(procfd)


def test_errors_name_the_path_asked_for(root: tuple[Path, int]) -> None:
    _, fd = root
    with pytest.raises(FileNotFoundError) as missing:
        open_in(fd, "/nope/x", DIR_FLAGS)
    assert missing.value.filename == "/nope/x"
    with pytest.raises(NotADirectoryError):
        open_in(fd, "/file/x", DIR_FLAGS)
    with pytest.raises(OSError) as loop:
        open_in(fd, "/loop", DIR_FLAGS)
    assert loop.value.errno == errno.ELOOP
    assert open_in(fd, "/", DIR_FLAGS) >= 0


def test_nofollow_keeps_the_last_symlink(root: tuple[Path, int]) -> None:
    _, fd = root
    assert stat.S_ISLNK(lstat_in(fd, "/to_root").st_mode)
    check = open_in(fd, "/to_root", DIR_FLAGS)
    assert stat.S_ISDIR(os.fstat(check).st_mode)
    os.close(check)
    assert readlink_in(fd, "/up") == "../../../../.."
    assert readlink_in(fd, "/to_root/to_root") == "/"


def test_follow_in_scope_is_dockers(root: tuple[Path, int]) -> None:
    _, fd = root
    assert follow_in_scope(fd, "/to_root") == "/"
    assert follow_in_scope(fd, "/up") == "/"
    assert follow_in_scope(fd, "/up/etc/rel") == "/etc/passwd"
    # the host path a link names is a path in the root (that does not exist there)
    assert follow_in_scope(fd, "/to_host/canary") == str(root[0].parent / "host" / "canary")
    assert follow_in_scope(fd, "/abs_host/canary") == "/host/canary"
    assert follow_in_scope(fd, "/dangling") == "/nowhere/at/all"
    assert follow_in_scope(fd, "/nope/../etc/./passwd") == "/etc/passwd"
    with pytest.raises(OSError) as loop:
        follow_in_scope(fd, "/loop")
    assert loop.value.errno == errno.ELOOP


def test_a_swapped_symlink_never_leads_out(root: tuple[Path, int]) -> None:
    """A thread swaps /swap between a directory and a symlink to the host directory;
    every open through /swap must land on the container's files, never the canary."""
    top, fd = root
    host = top.parent / "host"
    (top / "real").mkdir()
    (top / "real" / "canary").write_text("container side")
    swap = top / "swap"
    link = top / "swap.link"
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            try:
                os.symlink(str(host), link)
                os.replace(link, swap)  # now a symlink to the host's directory
                os.unlink(swap)
                os.symlink("real", link)
                os.replace(link, swap)  # now a symlink inside
                os.unlink(swap)
                os.mkdir(swap)
                (swap / "canary").write_text("container side")
                os.unlink(swap / "canary")
                os.rmdir(swap)
            except OSError:
                pass

    thread = threading.Thread(target=swapper)
    thread.start()
    seen: set[str] = set()
    deadline = time.monotonic() + 0.5
    try:
        while time.monotonic() < deadline:
            try:
                seen.add(_read(fd, "/swap/canary"))
            except OSError:
                pass
    finally:
        stop.set()
        thread.join()
    assert "host secret" not in seen
    assert seen <= {"container side", "container canary", ""}
    assert (host / "canary").read_text() == "host secret"
