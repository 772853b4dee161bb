"""COPY/ADD sources (build/sources.py) on a directory tree: wildcards, symlinks resolved
inside the root, where each source lands, the cache checksum; and the cache file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.build import sources
from ketch.build.cache import BuildCache, step_key
from ketch.errors import InvalidParameter, NotFound
from ketch.images.rootfs import open_root


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    tree = tmp_path / "ctx"
    (tree / "dir" / "sub").mkdir(parents=True)
    (tree / "dir" / "one.txt").write_text("one\n")
    (tree / "dir" / "sub" / "two.txt").write_text("two\n")
    (tree / "a.md").write_text("a\n")
    (tree / "b.md").write_text("b\n")
    (tree / "[x].txt").write_text("x\n")
    (tree / "to-root").symlink_to("/")
    (tree / "up").symlink_to("../../../..")
    (tree / "link.txt").symlink_to("dir/one.txt")
    fd = open_root(str(tree))
    try:
        yield tree, fd
    finally:
        os.close(fd)


def test_find_wildcards_and_symlinks_stay_inside(root: tuple[Path, int]) -> None:
    _, fd = root
    assert [s.path for s in sources.find(fd, "*.md")] == ["/a.md", "/b.md"]
    assert [s.path for s in sources.find(fd, "d?r/*.txt")] == ["/dir/one.txt"]
    assert [s.path for s in sources.find(fd, "[^b].md")] == ["/a.md"]  # Go's negation
    assert [s.path for s in sources.find(fd, "[[]x].txt")] == ["/[x].txt"]
    found = sources.find(fd, "link.txt")[0]
    assert (found.path, found.resolved, found.is_dir) == ("/link.txt", "/dir/one.txt", False)
    # a symlink to / or one that climbs is read inside the root: it leads to the root
    assert sources.find(fd, "to-root/dir")[0].resolved == "/dir"
    assert sources.find(fd, "up/up/a.md")[0].resolved == "/a.md"
    assert sources.find(fd, "../../dir")[0].is_dir  # ".." stops at the root
    with pytest.raises(NotFound, match="stat to-root/etc/passwd: file does not exist"):
        sources.find(fd, "to-root/etc/passwd")
    with pytest.raises(InvalidParameter, match="no source files were specified"):
        sources.find(fd, "*.nothing")


def test_where_sources_land(root: tuple[Path, int]) -> None:
    _, fd = root
    one = sources.find(fd, "dir/one.txt")
    directory = sources.find(fd, "dir")
    both = sources.find(fd, "*.md")

    def no(path: str) -> bool:
        return False

    assert sources.plan(one, "/target", no) == ("/", [sources.Entry("/dir/one.txt", "target",
                                                                    False)])
    assert sources.plan(one, "/target/", no)[0] == "/target"
    assert sources.plan(one, "/target/", no)[1][0].name == "one.txt"
    assert sources.plan(one, "/existing", lambda p: p == "/existing")[1][0].name == "one.txt"
    assert sources.plan(directory, "/d", no) == ("/d", [sources.Entry("/dir", "", True)])
    assert [e.name for e in sources.plan(both, "/docs/", no)[1]] == ["a.md", "b.md"]
    with pytest.raises(InvalidParameter, match="must be a directory and end with a /"):
        sources.plan(both, "/docs", no)


def test_checksum_is_content_not_mtime(root: tuple[Path, int]) -> None:
    tree, fd = root
    found = sources.find(fd, "dir")
    first = sources.checksum(fd, found)
    assert first.startswith("dir:")
    os.utime(tree / "dir" / "one.txt", (1, 1))
    assert sources.checksum(fd, found) == first
    (tree / "dir" / "one.txt").write_text("changed\n")
    assert sources.checksum(fd, found) != first
    os.chmod(tree / "dir" / "sub" / "two.txt", 0o600)
    assert sources.checksum(fd, sources.find(fd, "dir/sub/two.txt")).startswith("file:")
    assert sources.checksum(fd, sources.find(fd, "*.md")).startswith("multi:")


def test_make_directory_inside_the_root(root: tuple[Path, int], tmp_path: Path) -> None:
    tree, fd = root
    made = sources.make_directory(fd, "/to-root/new/deep", (os.getuid(), os.getgid()))
    os.close(made)
    assert (tree / "new" / "deep").is_dir()  # through the symlink to "/": inside the root
    assert not Path("/new").exists()
    with pytest.raises(InvalidParameter, match="not a directory"):
        sources.make_directory(fd, "/a.md/x", (0, 0))
    assert sources.is_directory(fd, "/dir") and not sources.is_directory(fd, "/a.md")


def test_cache_persists_and_prunes(tmp_path: Path) -> None:
    cache = BuildCache(str(tmp_path / "builder"))
    key = step_key("sha256:" + "a" * 64, ["run", "echo"])
    assert cache.get(key) is None
    cache.put(key, "sha256:" + "b" * 64)
    assert BuildCache(str(tmp_path / "builder")).get(key) == "sha256:" + "b" * 64
    assert step_key("sha256:" + "c" * 64, ["run", "echo"]) != key
    (tmp_path / "builder" / "cache.json").write_text("{broken")
    assert cache.get(key) is None  # a damaged cache is an empty one
    cache.put(key, "sha256:" + "b" * 64)
    assert cache.prune() == 1 and cache.get(key) is None
