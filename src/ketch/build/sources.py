"""COPY and ADD sources, with the legacy builder's rules: a source is a path in a root
directory (the build context, or an earlier stage's or another image's files) resolved
inside that root, wildcards matched one path component at a time (Go's filepath.Match),
a directory's contents copied (not the directory itself), a file named after its source
unless the destination names the file.

Roots are hostile (the context is the client's, an image's files anybody's): every path
is resolved by the kernel inside the root (images/rootfs.py), so a symlink to `/` or to
`../../..` in the context never leads to the host's files.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass

from ketch.errors import InvalidParameter, KetchError, NotFound
from ketch.images.rootfs import follow_in_scope, open_in
from ketch.util.tarball.write import TarWriter

_WILDCARD = re.compile(r"[*?\[]")


@dataclass
class Source:
    path: str       # as written, cleaned, absolute inside the root ("/src/app.py")
    resolved: str   # where it leads inside the root, symlinks followed
    is_dir: bool


def _clean(path: str) -> str:
    return posixpath.normpath("/" + path).replace("//", "/")


def _go_pattern(component: str) -> str:
    """filepath.Match's class negation `[^...]` is fnmatch's `[!...]`."""
    return component.replace("[^", "[!")


def _stat(root_fd: int, path: str) -> os.stat_result:
    fd = open_in(root_fd, path, os.O_PATH)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _names(root_fd: int, directory: str) -> list[str]:
    try:
        fd = open_in(root_fd, directory)
    except OSError:
        return []
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def _expand(root_fd: int, pattern: str) -> list[str]:
    """The paths in the root that match pattern, component by component."""
    found = ["/"]
    for part in [p for p in pattern.split("/") if p]:
        following: list[str] = []
        for base in found:
            if not _WILDCARD.search(part):
                following.append(posixpath.join(base, part))
                continue
            glob = _go_pattern(part)
            following += [posixpath.join(base, name) for name in _names(root_fd, base)
                          if fnmatch.fnmatchcase(name, glob)]
        found = [p for p in following if _exists(root_fd, p)]
    return found


def _exists(root_fd: int, path: str) -> bool:
    try:
        _stat(root_fd, path)
    except OSError:
        return False
    return True


def find(root_fd: int, written: str, what: str = "build context") -> list[Source]:
    """The sources one COPY/ADD argument names (several for a wildcard)."""
    path = _clean(written)
    wildcard = bool(_WILDCARD.search(path))
    paths = _expand(root_fd, path) if wildcard else [path]
    sources = []
    for one in paths:
        try:
            st = _stat(root_fd, one)
            resolved = follow_in_scope(root_fd, one)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                shown = f"stat {written.lstrip('/') or '.'}: file does not exist"
                if what != "build context":  # COPY --from: Docker names no place
                    raise NotFound(shown) from None
                raise NotFound(f"file not found in build context or excluded by "
                               f".dockerignore: {shown}") from None
            raise KetchError(f"cannot read {written}: {e.strerror}") from None
        sources.append(Source(one, resolved, stat.S_ISDIR(st.st_mode)))
    if wildcard and not sources:
        raise InvalidParameter("no source files were specified")
    return sources


@dataclass
class Entry:
    """One source as it lands: its resolved path in the source root, and the name it
    gets under the destination directory ("" for a directory's contents)."""
    source: str
    name: str
    is_dir: bool


def write(root_fd: int, entries: list[Entry], writer: TarWriter) -> None:
    """The entries as a tar, into writer (not closed)."""
    for entry in entries:
        if entry.is_dir:
            fd = open_in(root_fd, entry.source)
            try:
                if entry.name:
                    writer.add_root(fd, entry.name)
                else:
                    writer.add_root(fd)
            finally:
                os.close(fd)
            continue
        parent, base = posixpath.split(entry.source)
        fd = open_in(root_fd, parent or "/")
        try:
            writer.add(fd, base, entry.name)
        finally:
            os.close(fd)


def checksum(root_fd: int, sources: list[Source]) -> str:
    """What the cache compares for a COPY/ADD: Docker's `file:<hex>`, `dir:<hex>` or
    `multi:<hex>`, from the files' names, types, modes, link targets and content (not
    their mtimes, nor owners: COPY sets those)."""
    digests = []
    for source in sources:
        h = hashlib.sha256()
        writer = TarWriter(h.update, owner=(0, 0), mtime_clamp=0)
        name = "" if source.is_dir else posixpath.basename(source.path)
        write(root_fd, [Entry(source.resolved, name, source.is_dir)], writer)
        writer.close()
        digests.append(("dir:" if source.is_dir else "file:") + h.hexdigest())
    if len(digests) == 1:
        return digests[0]
    return "multi:" + hashlib.sha256("\n".join(digests).encode()).hexdigest()


def plan(sources: list[Source], dest: str, dest_is_dir: Callable[[str], bool]
         ) -> tuple[str, list[Entry]]:
    """Where each source lands: (the destination directory, the entries under it).
    `dest` is absolute, with its trailing "/" kept; dest_is_dir says whether a path is an
    existing directory in the image (a file copied there keeps its name)."""
    if len(sources) > 1 and not dest.endswith("/"):
        raise InvalidParameter("When using COPY with more than one source file, the "
                               "destination must be a directory and end with a /")
    directory = _clean(dest)
    if len(sources) == 1 and not sources[0].is_dir and not dest.endswith("/") \
            and not dest_is_dir(directory):
        parent, name = posixpath.split(directory)
        return parent, [Entry(sources[0].resolved, name, False)]
    return directory, [Entry(s.resolved, "" if s.is_dir else posixpath.basename(s.path),
                             s.is_dir) for s in sources]


def make_directory(root_fd: int, path: str, owner: tuple[int, int]) -> int:
    """`mkdir -p path` inside the root (symlinks on the way followed inside it), the new
    directories owned by owner; returns a descriptor of the directory."""
    try:
        resolved = follow_in_scope(root_fd, path)
        current = "/"
        for part in [p for p in resolved.split("/") if p]:
            parent_fd = open_in(root_fd, current)
            try:
                try:
                    os.mkdir(part, 0o755, dir_fd=parent_fd)
                except FileExistsError:
                    pass
                else:
                    os.chown(part, *owner, dir_fd=parent_fd, follow_symlinks=False)
            finally:
                os.close(parent_fd)
            current = posixpath.join(current, part)
        return open_in(root_fd, resolved)
    except NotADirectoryError:
        raise InvalidParameter(f"mkdir {path}: not a directory") from None


def is_directory(root_fd: int, path: str) -> bool:
    try:
        return stat.S_ISDIR(_stat(root_fd, path).st_mode)
    except OSError:
        return False
