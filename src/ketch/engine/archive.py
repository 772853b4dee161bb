"""`docker cp` and `docker export` on the daemon side: stat, archive and extract a path in a
container's root filesystem, and export the whole of it.

Running or not, a container's files are its snapshot (mounted here for the time of
the call if it is not mounted: a created container after a reboot). The call holds the
container's lock, as Docker does, so a start or rm waits for it and never races the mount.
Paths are Docker's (ResolvePath and StatPath): the parent of the named entry is resolved
with every symlink followed inside the root; the entry itself is not followed unless the
path ends in "/" or "/.". All of it goes through descriptors opened by openat2 inside the
root (images/rootfs.py), so a container that swaps a directory for a symlink to `/` while
we work never leads us to the host.

The container's volumes and bind mounts are where the container has them, running or not
(Docker's openContainerFS): for the time of the call they are mounted over the root in a
mount namespace of the call's own (archivemounts.py), read-only ones read-only, and the
root's descriptor is opened in it, so every lookup above crosses them, still inside the
root. tmpfs mounts are not there (Docker's setupMounts leaves them out): what is copied
to a path under one goes to the root filesystem. A PUT into a read-only mount is refused
as Docker refuses it; `export` is the root filesystem alone, as Docker's.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from ketch.engine.archivemounts import Bind, open_view
from ketch.engine.containers import Container
from ketch.engine.users import identity
from ketch.errors import HostError, InvalidParameter, KetchError, NotFound
from ketch.images.rootfs import DIR_FLAGS, follow_in_scope, open_in, open_root
from ketch.util import gopath
from ketch.util.gopath import clean, preserve_trailing
from ketch.util.tarball.compression import Prefixed
from ketch.util.tarball.extract import Options, apply_to
from ketch.util.tarball.write import TarWriter
from ketch.util.threads import run_blocking

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.engine.engine import Engine

STAT_HEADER = "X-Docker-Container-Path-Stat"
Sink = Callable[[bytes], object]
T = TypeVar("T")
_PEEK = 64 << 10

# Go's os.FileMode bits, as the API's ContainerPathStat carries them
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHARDEV, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


# -- paths (Go's rules: ketch.util.gopath) ------------------------------------------------


def container_path(path: str) -> str:
    """The API's path as an absolute path in the container (Docker's absPath)."""
    if "\x00" in path:
        raise InvalidParameter(f"invalid path {path!r}: NUL byte")
    return preserve_trailing(clean("/" + path), path)


# -- the API's ContainerPathStat ---------------------------------------------------------


def go_mode(mode: int) -> int:
    bits = stat.S_IMODE(mode) & 0o777
    kind = stat.S_IFMT(mode)
    bits |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFBLK: _GO_DEVICE,
             stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV, stat.S_IFIFO: _GO_PIPE,
             stat.S_IFSOCK: _GO_SOCKET}.get(kind, 0)
    if mode & stat.S_ISUID:
        bits |= _GO_SETUID
    if mode & stat.S_ISGID:
        bits |= _GO_SETGID
    if mode & stat.S_ISVTX:
        bits |= _GO_STICKY
    return bits


def rfc3339_nano(ns: int) -> str:
    """Go's time.Time in JSON (UTC): nanoseconds, trailing zeros dropped."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def path_stat(name: str, st: os.stat_result, link_target: str) -> dict[str, Any]:
    return {"name": name, "size": st.st_size, "mode": go_mode(st.st_mode),
            "mtime": rfc3339_nano(st.st_mtime_ns), "linkTarget": link_target}


def stat_header(doc: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


# -- the container's root, held for the time of a call -------------------------------------


@asynccontextmanager
async def _root(engine: Engine, ref: str, *,
                mounts: bool = True) -> AsyncIterator[tuple[Container, int]]:
    """The container and a descriptor of its root directory, under its lock, mounted;
    with its volumes and bind mounts on it unless told not to."""
    c = engine.containers.get(ref)
    async with engine._lock(c.id):
        if c.id not in engine.containers.by_id or c.id in engine.removing or \
                c.state.get("Status") == "removing":
            raise NotFound(f"No such container: {ref}")
        mounted_here = not engine.snapshots.mounted(c.id)
        if mounted_here:
            await run_blocking(engine.snapshots.mount, c.id)
        try:
            points = [p for p in c.record.get("Mounts") or []
                      if p.get("Type") in ("bind", "volume")] if mounts else []
            if points:
                async with _with_mounts(engine, c, points) as fd:
                    yield c, fd
            else:
                try:
                    fd = open_root(engine.snapshots.path(c.id))
                except OSError as e:
                    raise HostError(f"cannot open the container's root filesystem: "
                                    f"{e.strerror}") from None
                try:
                    yield c, fd
                finally:
                    os.close(fd)
        finally:
            if mounted_here:
                await run_blocking(engine.snapshots.unmount, c.id)


@asynccontextmanager
async def _with_mounts(engine: Engine, c: Container,
                       points: list[dict[str, Any]]) -> AsyncIterator[int]:
    """The root's descriptor in a view with the container's mounts (see the top)."""
    held = await run_blocking(_hold_volumes, engine, c, points)
    try:
        binds = [Bind(source, str(p["Destination"]), bool(p.get("RW")))
                 for p, source in held]
        try:
            view = await run_blocking(open_view, engine.snapshots.path(c.id), binds)
        except OSError as e:
            raise HostError(f"cannot mount the container's volumes: "
                            f"{e.strerror or e}") from None
        try:
            yield view.root_fd
        finally:
            view.close()
    finally:
        await run_blocking(_release_volumes, engine, c, [p for p, _ in held])


def _hold_volumes(engine: Engine, c: Container, points: list[dict[str, Any]]
                  ) -> list[tuple[dict[str, Any], str]]:
    """Each mount with its host path; the volumes mounted (counted: a volume with driver
    options is mounted for its first user) with Docker's events, as a start does."""
    held: list[tuple[dict[str, Any], str]] = []
    volumes: list[dict[str, Any]] = []
    try:
        for point in points:
            if point["Type"] == "volume":
                source = engine.volumes.mount(point["Name"])
                volumes.append(point)
                engine.events.publish("volume", "mount", point["Name"], {
                    "container": c.id, "destination": point.get("Destination", ""),
                    "driver": "local", "propagation": point.get("Propagation", ""),
                    "read/write": str(bool(point.get("RW"))).lower()})
            else:
                source = str(point["Source"])
            held.append((point, source))
    except BaseException:
        _release_volumes(engine, c, volumes)
        raise
    return held


def _release_volumes(engine: Engine, c: Container, points: list[dict[str, Any]]) -> None:
    for point in points:
        if point["Type"] != "volume":
            continue
        try:
            engine.volumes.unmount(point["Name"])
        except KetchError:
            pass
        engine.events.publish("volume", "unmount", point["Name"],
                              {"container": c.id, "driver": "local"})


def _to_volume(c: Container, path: str) -> bool:
    """Whether path (resolved, absolute) is in one of the container's mounts (Docker's
    checkIfPathIsInAVolume); in a read-only one, the PUT is refused. Of nested mounts the
    deepest decides (Docker takes whichever its map gives first)."""
    found: tuple[str, bool] | None = None  # (destination, RW)
    for point in c.record.get("Mounts") or []:
        destination = gopath.clean("/" + str(point.get("Destination") or ""))
        inside = path == destination or path.startswith(destination.rstrip("/") + "/")
        if inside and (found is None or len(destination) > len(found[0])):
            found = (destination, bool(point.get("RW")))
    if found is None:
        return False
    if not found[1]:
        raise InvalidParameter("mounted volume is marked read-only")
    return True


def _path_error(e: OSError, path: str, shown: str, ref: str) -> KetchError:
    if e.errno == errno.ENOENT:
        return NotFound(f"Could not find the file {path} in container {ref}")
    reason = (e.strerror or "invalid path").lower()
    if e.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EXDEV, errno.EINVAL):
        return InvalidParameter(f"lstat {shown}: {reason}")
    return HostError(f"lstat {shown}: {reason}")


# -- stat and archive (HEAD and GET /containers/{id}/archive) -------------------------------


@dataclass
class Source:
    """A resolved path: its stat for the header, and how to archive it."""

    stat: dict[str, Any]
    dir_fd: int  # the directory that holds the entry, or the entry itself (whole)
    base: str  # the entry in dir_fd; "" when dir_fd is what is archived
    name: str  # the first path element in the archive

    def write(self, sink: Sink) -> int:
        """The tar of the source, to sink in chunks (blocking: run it in a thread)."""
        writer = TarWriter(sink)
        if self.base:
            writer.add(self.dir_fd, self.base, self.name)
        else:
            writer.add_root(self.dir_fd, self.name)
        writer.close()
        return writer.bytes_written

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1


def _locate(root_fd: int, path: str, ref: str) -> Source:
    absolute = container_path(path)
    parent, _, base = absolute.rpartition("/")
    try:
        dir_fd = open_in(root_fd, parent + "/", DIR_FLAGS)
    except OSError as e:
        raise _path_error(e, path, absolute, ref) from None
    try:
        link_target = ""
        if base in ("", "."):
            st = os.fstat(dir_fd)
        else:
            st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                link_target = follow_in_scope(root_fd, absolute)
        name = gopath.base(absolute)
    except OSError as e:
        os.close(dir_fd)
        raise _path_error(e, path, absolute, ref) from None
    # the entries start with the name asked for, not the one a symlink led to; the root
    # comes out as "/" and "/bin", Docker's rebase of "/" (its clients cope)
    archived = "." if base == "." else ("/" if name == "/" else name)
    return Source(path_stat(name, st, link_target), dir_fd,
                  "" if base in ("", ".") else base, archived)


async def stat_path(engine: Engine, ref: str, path: str) -> dict[str, Any]:
    async with _root(engine, ref) as (_, root_fd):
        source = await run_blocking(_locate, root_fd, path, ref)
        source.close()
        return source.stat


@asynccontextmanager
async def archive_path(engine: Engine, ref: str, path: str) -> AsyncIterator[Source]:
    """The source at path, held (with the container's lock) until the caller is done
    writing it: `await run_blocking(source.write, sink)`."""
    async with _root(engine, ref) as (_, root_fd):
        source = await run_blocking(_locate, root_fd, path, ref)
        try:
            yield source
        finally:
            source.close()


# -- export (GET /containers/{id}/export) ------------------------------------------------


@dataclass
class RootSource:
    dir_fd: int

    def write(self, sink: Sink) -> int:
        """The whole root filesystem, entries relative ("bin/", "etc/passwd"), as Docker."""
        writer = TarWriter(sink)
        writer.add_root(self.dir_fd, "")
        writer.close()
        return writer.bytes_written


@asynccontextmanager
async def export(engine: Engine, ref: str) -> AsyncIterator[RootSource]:
    async with _root(engine, ref, mounts=False) as (_, root_fd):
        yield RootSource(root_fd)


# -- extract (PUT /containers/{id}/archive) ----------------------------------------------


def _extract(engine: Engine, c: Container, root_fd: int, ref: str, path: str,
             body: BinaryIO, copy_uid_gid: bool, no_overwrite_dir_nondir: bool) -> None:
    absolute = container_path(path)
    # the last element is followed too: a symlink to a directory is a fine destination
    try:
        shown = follow_in_scope(root_fd, absolute)
    except OSError as e:
        failed = e.filename if isinstance(e.filename, str) else absolute
        raise _path_error(e, path, failed, ref) from None
    try:
        dest_fd = open_in(root_fd, absolute, DIR_FLAGS)
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            try:
                os.close(open_in(root_fd, absolute, os.O_PATH))
            except OSError:
                pass
            else:
                raise InvalidParameter("extraction point is not a directory") from None
        raise _path_error(e, path, shown, ref) from None
    try:
        # in a mount: not a read-only one; elsewhere: not a read-only root filesystem
        if not _to_volume(c, shown) and c.host_config.get("ReadonlyRootfs"):
            raise InvalidParameter("container rootfs is marked read-only")
        head = body.read(_PEEK)
        owner = identity(engine.snapshots.path(c.id), str(c.config.get("User") or "")) \
            if copy_uid_gid and head else None
    except BaseException:
        os.close(dest_fd)
        raise
    if not head:  # no archive at all: nothing to do, as Docker
        os.close(dest_fd)
        return
    options = Options(whiteouts=False, owner=owner, cp_dest=shown, diff_id=False,
                      no_overwrite_dir_nondir=no_overwrite_dir_nondir)
    apply_to(Prefixed(head, body), dest_fd, engine.images.limits, options)  # type: ignore[arg-type]


async def extract(engine: Engine, ref: str, path: str, body: BinaryIO, *,
                  copy_uid_gid: bool, no_overwrite_dir_nondir: bool) -> None:
    """Extract the tar (maybe compressed) read from body (a blocking reader) into the
    directory at path. Without copy_uid_gid the archive's owners are kept."""
    async with _root(engine, ref) as (c, root_fd):
        await run_blocking(_extract, engine, c, root_fd, ref, path, body, copy_uid_gid,
                           no_overwrite_dir_nondir)
