"""`ketch cp` (files between a container and the host) and `ketch export` (a container's
filesystem as a tar), with the docker CLI's rules.

The daemon only archives one path and extracts a tar into one directory; what a copy means
(into an existing directory, onto a file, to a new name, "dir/." for the contents) is
decided here, as the docker CLI's archive package does: the local path is resolved, the
other side is stat-ed, and the archive's first path element is renamed to fit.

A tar from a container is as hostile as the container. It is extracted with the daemon's
own extractor (ketch.util.tarball.extract), from a descriptor of the destination directory:
no name with `..` and no absolute name lands outside, nothing is written through a
symlink, no hard link points out, no symlink leads out of the destination (Docker's rule).
The tar sent to a container is written by the daemon's tar writer (util/tarball/write.py),
which never follows a symlink on the host. Both are imported only when a copy runs: a
second extractor would be a second thing to get right.
"""

from __future__ import annotations

import os
import posixpath
import stat
import sys

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.cli.outfile import TO_TERMINAL, destination_problem, to_stdout, write_atomically
from ketch.cli.units import human_size
from ketch.client.errors import APIError
from ketch.util.gopath import (
    base,
    clean,
    current_dir,
    dirname,
    join,
    preserve_trailing,
    split_dir_entry,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any


_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_IRREGULAR = 1 << 31, 1 << 27, 1 << 26, 1 << 19
_MAX_LINKS = 255


# -- Go's filepath rules and the archive package's path helpers -----------------------------


def local_path(path: str) -> str:
    """resolveLocalPath: absolute, with the trailing "/" or "/." kept."""
    absolute = clean(path if path.startswith("/") else os.getcwd() + "/" + path)
    return preserve_trailing(absolute, path)


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """archive.GetRebaseName: the resolved path (with path's trailing "/" or "/.") and
    the name its entries must take when a symlink changed the last element."""
    if current_dir(path) and not current_dir(resolved):
        resolved += "/."
    if path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    return resolved, base(path) if base(path) != base(resolved) else ""


def split_cp_arg(arg: str) -> tuple[str, str]:
    """CONTAINER:PATH, or a local path (absolute, or starting with "." if it has a ":")."""
    if arg.startswith("/"):
        return "", arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return "", arg
    return container, path


def _failed(op: str, e: OSError, path: str | None = None) -> CLIError:
    """A Go *PathError's words: `lstat /x: no such file or directory`."""
    where = path if path is not None else e.filename
    reason = (e.strerror or str(e)).lower()
    return CLIError(f"{op} {where}: {reason}" if where is not None else reason, 1)


def eval_symlinks(path: str) -> str:
    """filepath.EvalSymlinks of an absolute host path."""
    resolved, rest, links = "/", path, 0
    while rest:
        part, _, rest = rest.partition("/")
        if part in ("", "."):
            continue
        if part == "..":
            resolved = posixpath.dirname(resolved)
            continue
        candidate = posixpath.join(resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError as e:
            raise _failed("lstat", e, candidate) from None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise CLIError("EvalSymlinks: too many links", 1)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = "/"
            rest = target + "/" + rest
            continue
        if rest.strip("/") and not stat.S_ISDIR(st.st_mode):
            raise CLIError(f"lstat {candidate}/{rest.strip('/').partition('/')[0]}: "
                           "not a directory", 1)
        resolved = candidate
    return resolved


class CopyInfo:
    """archive.CopyInfo: a copy's source or destination."""

    def __init__(self, path: str, exists: bool = False, is_dir: bool = False,
                 rebase: str = "") -> None:
        self.path = path
        self.exists = exists
        self.is_dir = is_dir
        self.rebase = rebase


def source_info(path: str, follow: bool) -> CopyInfo:
    """archive.CopyInfoSourcePath: symlinks before the last element are resolved (all of
    them with -L, the entries then named as the link)."""
    rebase = ""
    if follow:
        resolved, rebase = rebase_name(path, eval_symlinks(path))
    else:
        head, _, last = path.rpartition("/")
        resolved = eval_symlinks(head + "/").rstrip("/") + "/" + last
        if path.endswith("/") and base(path) != base(resolved):
            rebase = base(path)
    try:
        st = os.lstat(resolved)
    except OSError as e:
        raise _failed("lstat", e, resolved) from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


def destination_info(path: str) -> CopyInfo:
    """archive.CopyInfoDestinationPath: symlinks at the destination are followed (a
    dangling one names the file to create); its parent must be a directory."""
    original = path
    try:
        st: os.stat_result | None = os.lstat(path)
        error: OSError | None = None
    except OSError as e:
        st, error = None, e
    hops = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        if hops > 10:
            raise CLIError(f"too many symlinks in {original}", 1)
        target = os.readlink(path)
        if not target.startswith("/"):
            target = join(split_dir_entry(path)[0], target)
        path = target
        try:
            st = os.lstat(path)
        except OSError as e:
            st, error = None, e
        hops += 1
    if st is not None:
        return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
    assert error is not None
    if not isinstance(error, FileNotFoundError):
        raise _failed("lstat", error, path)
    parent = split_dir_entry(path)[0]
    try:
        parent_st = os.stat(parent)
    except OSError as e:
        raise _failed("stat", e, parent) from None
    if not stat.S_ISDIR(parent_st.st_mode):
        raise CLIError("not a directory", 1)
    return CopyInfo(path)


def prepare_copy(src: CopyInfo, dst: CopyInfo) -> tuple[str, tuple[str, str] | None]:
    """archive.PrepareArchiveCopy: the directory to extract into, and the rename of the
    archive's first element (old, new) if the copy takes a new name."""
    dst_dir, dst_base = split_dir_entry(dst.path)
    src_base = src.rebase or split_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise CLIError("cannot copy directory", 1)
    if dst.exists or src.is_dir:
        return dst_dir, (src_base, dst_base)
    if dst.path.endswith("/") or current_dir(dst.path):
        raise CLIError("no such directory", 1)
    return dst_dir, (src_base, dst_base)


def _renamed(name: str, renames: list[tuple[str, str]]) -> str:
    """RebaseArchiveEntries, in order (strings.Replace, once), then the leading "/" of
    a copy of "/" dropped: Docker's untar reads those names from the destination."""
    for old, new in renames:
        name = name.replace("" if old == "/" else old, new, 1)
    return name.lstrip("/")


def validate_output_path(path: str) -> None:
    """command.ValidateOutputPath (cp's local destination)."""
    parent = dirname(clean(path))
    if parent not in ("", "."):
        try:
            os.stat(parent)
        except FileNotFoundError:
            raise CLIError(f'invalid output path: directory "{parent}" does not exist',
                           1) from None
        except OSError:
            pass
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise _failed("stat", e, path) from None
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise CLIError(f'invalid output path: "{path}" must be a directory or a regular '
                       "file: got a device", 1)


# -- streams ----------------------------------------------------------------------------------


class _Chunks:
    """An iterator of byte chunks as a reader (for the extractor); counts what it gave."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return b""
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        self.count += len(data)
        return data


def _rebased_tar(source: _Chunks, renames: list[tuple[str, str]]) -> Iterator[bytes]:
    """The tar read from source, entries renamed; file contents stream through."""
    import tarfile

    from ketch.util.tarball.extract import StrictTarInfo

    with tarfile.open(fileobj=source, mode="r|",  # type: ignore[call-overload]
                      tarinfo=StrictTarInfo) as tar:  # the container's tar: records bounded
        while (member := tar.next()) is not None:
            tar.members.clear()  # a stream needs no index
            member.name = _renamed(member.name, renames) or "."
            if member.islnk():
                member.linkname = _renamed(member.linkname, renames)
            yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            if member.isreg() and member.size:
                content = tar.extractfile(member)
                remaining = member.size
                while remaining and content is not None:
                    data = content.read(min(remaining, 1 << 20))
                    if not data:
                        raise tarfile.ReadError("unexpected end of data")
                    remaining -= len(data)
                    yield data
                if member.size % tarfile.BLOCKSIZE:
                    yield b"\0" * (tarfile.BLOCKSIZE - member.size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _extract(stream: Any, dst_dir: str) -> None:
    """Into the host directory dst_dir, with Docker's untar rules (see the module doc)."""
    from ketch.errors import KetchError
    from ketch.util.tarball.extract import Limits, Options, apply_to

    try:
        fd = os.open(dst_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _failed("open", e, dst_dir) from None
    owner = (os.geteuid(), os.getegid())  # as the docker CLI: never the archive's, even -a
    try:
        apply_to(stream, fd, Limits(), Options(whiteouts=False, owner=owner, diff_id=False,
                                               cp_dest=clean(dst_dir),
                                               no_overwrite_dir_nondir=True))
    except KetchError as e:
        raise CLIError(str(e), 1) from None


def _write_tar(info: CopyInfo, first: str) -> Callable[[Callable[[bytes], object]], object]:
    """A function writing the tar of the local source to a sink, its first element
    named `first` (a symlink is archived as a symlink, never followed)."""
    from ketch.util.tarball.write import TarWriter

    def write(sink: Callable[[bytes], object]) -> int:
        writer = TarWriter(sink)
        parent, entry = split_dir_entry(info.path)
        if entry in (".", "/"):
            fd = os.open(info.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                writer.add_root(fd, first)
            finally:
                os.close(fd)
        else:
            fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                writer.add(fd, entry, first)
            finally:
                os.close(fd)
        writer.close()
        return writer.bytes_written

    return write


# -- cp ---------------------------------------------------------------------------------------


def _cp(ctx: Context, opts: Parsed) -> int:
    source, destination = opts.args
    if not source:
        raise CLIError("source can not be empty", 1)
    if not destination:
        raise CLIError("destination can not be empty", 1)
    # progress only for a terminal, unless -q says otherwise (docker 28)
    quiet = bool(opts.quiet) if "quiet" in opts.given else not sys.stdout.isatty()
    src_container, src_path = split_cp_arg(source)
    dst_container, dst_path = split_cp_arg(destination)
    if src_container and dst_container:
        raise CLIError("copying between containers is not supported", 1)
    if src_container:
        return _from_container(ctx, src_container, src_path, dst_path, bool(opts.follow_link),
                               quiet)
    if dst_container:
        return _to_container(ctx, dst_container, src_path, dst_path, bool(opts.follow_link),
                             bool(opts.archive), quiet)
    raise CLIError("must specify at least one container source", 1)


def _from_container(ctx: Context, container: str, src_path: str, dst_path: str,
                    follow: bool, quiet: bool) -> int:
    if dst_path != "-":
        dst_path = local_path(dst_path)
    validate_output_path(dst_path)
    client = ctx.client
    rebase = ""
    if follow:
        try:
            found = client.stat_path(container, src_path)
        except APIError:
            found = {}
        if int(found.get("mode", 0)) & _GO_SYMLINK:
            target = str(found.get("linkTarget", ""))
            if not target.startswith("/"):
                target = join(split_dir_entry(src_path)[0], target)
            src_path, rebase = rebase_name(src_path, target)
    resp, found = client.get_archive(container, src_path)
    try:
        if dst_path == "-":
            to_stdout(resp.iter_chunks())
            return 0
        content = _Chunks(resp.iter_chunks())
        error: CLIError | None = None
        try:
            src = CopyInfo(src_path, True, bool(int(found.get("mode", 0)) & _GO_DIR), rebase)
            renames = [(split_dir_entry(src.path)[1], rebase)] if rebase else []
            dst_dir, rename = prepare_copy(src, destination_info(dst_path))
            if rename:
                renames.append(rename)
            _extract(_Chunks(_rebased_tar(content, renames)), dst_dir)
        except CLIError as e:
            error = e
        if not quiet:
            sys.stderr.write(f"Successfully copied {human_size(content.count)} to "
                             f"{dst_path}\n")
        if error is not None:
            raise error
        return 0
    finally:
        resp.conn.close()


def _to_container(ctx: Context, container: str, src_path: str, dst_path: str, follow: bool,
                  archive: bool, quiet: bool) -> int:
    if src_path != "-":
        src_path = local_path(src_path)
    client = ctx.client
    dst = CopyInfo(dst_path)
    try:
        found: dict[str, Any] | None = client.stat_path(container, dst_path)
    except APIError:
        found = None
    if found is not None and int(found.get("mode", 0)) & _GO_SYMLINK:
        target = str(found.get("linkTarget", ""))
        if not target.startswith("/"):
            target = join(split_dir_entry(dst_path)[0], target)
        dst.path = target
        try:
            found = client.stat_path(container, target)
        except APIError:
            found = None
    if found is not None:
        mode = int(found.get("mode", 0))
        what = "got a device" if mode & _GO_DEVICE else (
            "got an irregular file" if mode & _GO_IRREGULAR else "")
        if what:
            raise CLIError(f'destination "{container}:{dst_path}" must be a directory or a '
                           f"regular file: {what}", 1)
        dst.exists, dst.is_dir = True, bool(mode & _GO_DIR)

    if src_path == "-":
        if not dst.is_dir:
            raise CLIError(f'destination "{container}:{dst_path}" must be a directory', 1)
        try:
            client.put_archive(container, dst.path, sys.stdin.buffer, copy_uid_gid=archive)
        finally:
            if not quiet:  # stdin is not counted (docker 28)
                sys.stderr.write(f"Successfully copied 0B to {container}:{dst.path}\n")
        return 0

    src = source_info(src_path, follow)
    dst_dir, rename = prepare_copy(src, dst)
    first = rename[1] if rename else (src.rebase or split_dir_entry(src.path)[1])
    write = _write_tar(src, first)
    sent = [0]

    def counted(sink: Callable[[bytes], object]) -> object:
        def count(chunk: bytes) -> object:
            sent[0] += len(chunk)
            return sink(chunk)
        return write(count)

    try:
        client.put_archive(container, dst_dir, counted, copy_uid_gid=archive)
    except OSError as e:
        raise _failed("read", e) from None
    finally:
        if not quiet:
            sys.stderr.write(f"Successfully copied {human_size(sent[0])} to "
                             f"{container}:{dst.path}\n")
    return 0


# -- export -----------------------------------------------------------------------------------


def _export(ctx: Context, opts: Parsed) -> int:
    output = opts.output or ""
    if not output and sys.stdout.isatty():
        raise CLIError(TO_TERMINAL, 1)
    if output:
        problem = destination_problem(output)
        if problem:
            raise CLIError(f"failed to export container: {problem}", 1)
    resp = ctx.client.export(opts.args[0])
    try:
        if output:
            write_atomically(output, resp.iter_chunks())
            return 0
        to_stdout(resp.iter_chunks())
        return 0
    finally:
        resp.conn.close()


CP = Command(
    name="cp",
    usage="ketch cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
          "\tketch cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    description="Copy files/folders between a container and the local filesystem\n\n"
                "Use '-' as the source to read a tar archive from stdin\n"
                "and extract it to a directory destination in a container.\n"
                "Use '-' as the destination to stream a tar archive of a\n"
                "container source to stdout.",
    flags=(Flag("archive", "a", help="Archive mode (copy all uid/gid information)"),
           Flag("follow-link", "L", help="Always follow symbol link in SRC_PATH"),
           Flag("quiet", "q", help="Suppress progress output during copy. Progress output is "
                                   "automatically suppressed if no terminal is attached")),
    handler=_cp, min_args=2, max_args=2, aliases="ketch container cp, ketch cp")
EXPORT = Command(
    name="export",
    usage="ketch export [OPTIONS] CONTAINER",
    description="Export a container's filesystem as a tar archive",
    flags=(Flag("output", "o", "string", help="Write to a file, instead of STDOUT"),),
    handler=_export, min_args=1, max_args=1, aliases="ketch container export, ketch export")
