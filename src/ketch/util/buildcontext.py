"""The build context of `build PATH`, made as the docker CLI makes it for POST /build.

What docker/cli's RunBuild does for a local directory: find the context and the Dockerfile
(GetContextFromLocalDir), check that every file that will be sent can be read
(ValidateContextDirectory), keep the Dockerfile and .dockerignore even when ignored
(TrimBuildFilesFromExcludes), and tar the directory (archive.TarWithOptions with
ChownOpts 0:0): names in lexical order, directories before their contents, symlinks as
symlinks, modes and whole-second mtimes kept, owner 0:0 with no names. A Dockerfile from
outside the context (or stdin) is added under a random name, `.dockerfile.<20 hex>`, and
that name appended to .dockerignore (AddDockerfileToBuildContext), so that the daemon
drops it from what COPY sees. The tar is written as the walk goes (never held whole).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from ketch.errors import InvalidParameter
from ketch.util.dockerignore import MatchInfo, PatternMatcher, read_patterns
from ketch.util.fswalk import DirPath
from ketch.util.gopath import clean
from ketch.util.tarball.write import TarWriter

DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"


def _go_error(e: OSError) -> str:
    """An OSError's reason as Go words it ("permission denied", lower case)."""
    reason = os.strerror(e.errno) if e.errno else str(e)
    return reason[:1].lower() + reason[1:]


# -- finding the context and the Dockerfile (GetContextFromLocalDir) ---------------------------


@dataclass
class LocalContext:
    """A local build context ready to send: its directory, the Dockerfile's name inside
    the tar (the `dockerfile` query parameter) and the ignore patterns to apply."""

    directory: str
    dockerfile: str  # relative to directory, slash-separated; "-" means stdin
    excludes: list[str] = field(default_factory=list)  # already trimmed (Dockerfile kept)
    dockerfile_path: str | None = None  # a Dockerfile outside the context: read from here

    @property
    def outside(self) -> bool:
        """Whether the Dockerfile travels under a random name (stdin or outside)."""
        return self.dockerfile == "-" or self.dockerfile_path is not None


def resolve_context_dir(path: str) -> str:
    """ResolveAndValidateContextPath: absolute, symlinks resolved, a directory."""
    absolute = os.path.abspath(path)
    try:
        resolved = _eval_symlinks(absolute)
    except InvalidParameter as e:
        raise InvalidParameter(f"unable to evaluate symlinks in context path: {e}") from None
    try:
        st = os.lstat(resolved)
    except OSError as e:
        raise InvalidParameter(f'unable to stat context directory "{resolved}": '
                               f"lstat {resolved}: {_go_error(e)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidParameter(f"context must be a directory: {resolved}")
    return resolved


def dockerfile_rel_path(context_dir: str, dockerfile: str | None) -> str:
    """getDockerfileRelPath: the Dockerfile relative to the (resolved) context directory,
    "../..." when it is outside. No -f means `Dockerfile`, or `dockerfile` if only that
    exists; a relative -f is relative to the current directory, not the context."""
    if dockerfile == "-":
        return "-"
    if not dockerfile:
        path = os.path.join(context_dir, DEFAULT_DOCKERFILE)
        if not os.path.lexists(path):
            lower = os.path.join(context_dir, DEFAULT_DOCKERFILE.lower())
            if os.path.lexists(lower):
                path = lower
    else:
        path = os.path.abspath(dockerfile)
    try:
        path = _eval_symlinks(path)
    except InvalidParameter as e:
        raise InvalidParameter(f"unable to evaluate symlinks in Dockerfile path: {e}") from None
    return os.path.relpath(path, context_dir)


def context_from_local_dir(context: str, dockerfile: str | None = None) -> LocalContext:
    """Everything the docker CLI does with a local context before it sends anything: the
    directory and Dockerfile found, .dockerignore read, the context checked (check_context)
    and the patterns trimmed so that the Dockerfile and .dockerignore are sent. Errors are
    worded as `docker build` prints them."""
    try:
        directory = resolve_context_dir(context)
        relative = dockerfile_rel_path(directory, dockerfile)
    except InvalidParameter as e:
        raise InvalidParameter(f"unable to prepare context: {e}") from None
    outside = None
    if relative.startswith("../") and dockerfile:
        outside = dockerfile  # opened as given on the command line, as the CLI does
        try:
            with open(outside, "rb"):
                pass
        except OSError as e:
            raise InvalidParameter(
                f"unable to open Dockerfile: open {outside}: {_go_error(e)}") from None
    excludes = read_dockerignore(directory)
    check_context(directory, excludes)
    excludes = trim_build_files(excludes, relative, from_stdin=relative == "-")
    return LocalContext(directory, relative, excludes, outside)


def _eval_symlinks(path: str) -> str:
    """filepath.EvalSymlinks, with its error for a part that is missing ("lstat PATH: no
    such file or directory", PATH resolved as far as it got)."""
    try:
        return os.path.realpath(path, strict=True)
    except OSError as e:
        raise InvalidParameter(f"lstat {e.filename or path}: {_go_error(e)}") from None


# -- .dockerignore -----------------------------------------------------------------------------


def read_dockerignore(directory: str) -> list[str]:
    """The patterns of directory/.dockerignore ([] if there is none)."""
    path = os.path.join(directory, DOCKERIGNORE)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise InvalidParameter(f"open {path}: {_go_error(e)}") from None
    return read_patterns(data.decode("utf-8", "surrogateescape"))


def trim_build_files(excludes: list[str], dockerfile: str, *,
                     from_stdin: bool = False) -> list[str]:
    """TrimBuildFilesFromExcludes: exceptions appended for .dockerignore and the
    Dockerfile when the patterns ignore them (decided with the deprecated one-parent
    Matches, as the CLI does; a bad pattern decides nothing here, check_context reports
    it), so the daemon gets both and removes them itself."""
    result = list(excludes)
    if _ignored_one_parent(DOCKERIGNORE, excludes):
        result.append("!" + DOCKERIGNORE)
    if not from_stdin and _ignored_one_parent(dockerfile, excludes):
        result.append("!" + dockerfile)
    return result


def _ignored_one_parent(path: str, excludes: list[str]) -> bool:
    try:
        path = clean(path)
        return path != "." and PatternMatcher(excludes).matches_one_parent(path)
    except InvalidParameter:
        return False


def daemon_removals(excludes: list[str], dockerfile: str) -> list[str]:
    """What the daemon drops from a received context after reading the Dockerfile
    (moby's removeDockerfile): .dockerignore and the Dockerfile, each if the context's own
    .dockerignore ignores it (MatchesOrParentMatches)."""
    try:
        matcher = PatternMatcher(excludes)
    except InvalidParameter:
        return []
    removed = []
    for name in (DOCKERIGNORE, dockerfile):
        path = clean(name)
        try:
            if path != "." and matcher.matches(path):
                removed.append(name)
        except InvalidParameter:
            pass
    return removed


# -- checking the context (ValidateContextDirectory) -------------------------------------------


def check_context(directory: str, excludes: list[str]) -> None:
    """Every file that will be sent can be read, as the CLI checks before it sends
    anything. Errors read "error checking context: can't stat '<path>'" (a directory that
    cannot be listed, even an ignored one: the CLI lists before it matches) or
    "... no permission to read from '<path>'" (a file). Ignored files are not opened;
    symlinks and FIFOs are not followed or opened."""
    root = clean(directory)
    try:
        matcher = PatternMatcher(excludes)
    except InvalidParameter as e:
        raise InvalidParameter(f"error checking context: {e}") from None

    def fail(reason: str) -> InvalidParameter:
        return InvalidParameter(f"error checking context: {reason}")

    def listing(path: str) -> list[str]:
        try:
            return sorted(os.listdir(path), key=os.fsencode)
        except OSError as e:
            raise _walk_error(e, path, fail) from None

    pending = [(root, "", iter(listing(root)))]
    while pending:
        path, relative, names = pending[-1]
        name = next(names, None)
        if name is None:
            pending.pop()
            continue
        child = f"{path}/{name}"
        child_relative = f"{relative}{name}"
        try:
            st = os.lstat(child)
        except OSError as e:
            raise _walk_error(e, child, fail) from None
        is_dir = stat.S_ISDIR(st.st_mode)
        entries = listing(child) if is_dir else []  # Go's Walk lists before it matches
        try:
            ignored = matcher.matches(child_relative)
        except InvalidParameter as e:  # a pattern Go's regexp refuses, found when used
            raise fail(str(e)) from None
        if ignored:
            continue
        if is_dir:
            pending.append((child, child_relative + "/", iter(entries)))
        elif stat.S_ISREG(st.st_mode):
            try:
                os.close(os.open(child, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW
                                 | os.O_CLOEXEC))
            except PermissionError:
                raise fail(f"no permission to read from '{child}'") from None
            except OSError:
                pass  # gone, or swapped meanwhile: the tar skips it
        elif (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and not os.access(
                child, os.R_OK, effective_ids=os.access in os.supports_effective_ids):
            raise fail(f"no permission to read from '{child}'")


def _walk_error(e: OSError, path: str,
                fail: Callable[[str], InvalidParameter]) -> InvalidParameter:
    if e.errno in (errno.EACCES, errno.EPERM):
        return fail(f"can't stat '{path}'")
    if e.errno == errno.ENOENT:
        return fail(f"file ('{path}') not found or excluded by .dockerignore")
    return fail(f"lstat {path}: {_go_error(e)}")


# -- the tar ------------------------------------------------------------------------------------


def random_dockerfile_name() -> str:
    """`.dockerfile.` and 20 hex digits of a stringid.GenerateRandomID (which never
    starts with 12 decimal digits)."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return ".dockerfile." + value[:20]


def write_context(directory: str, dockerfile: str = DEFAULT_DOCKERFILE, *, out: BinaryIO,
                  excludes: list[str] | None = None,
                  dockerfile_content: bytes | None = None) -> str:
    """Write the build context tar of directory to out, as the docker CLI sends it, and
    return the Dockerfile's name inside it (the `dockerfile` parameter of POST /build).

    excludes are the patterns of directory's .dockerignore, read here if None, then
    trimmed so that dockerfile and .dockerignore are kept. With dockerfile_content (a
    Dockerfile from stdin or from outside the context) that content goes in under a
    random name, last, and the name is appended to .dockerignore's content (a
    .dockerignore made up if there is none), as AddDockerfileToBuildContext does. Run
    check_context first (context_from_local_dir does): a file that cannot be read fails
    here too, but after part of the tar was written."""
    if excludes is None:
        excludes = trim_build_files(read_dockerignore(directory), dockerfile,
                                    from_stdin=dockerfile_content is not None)
    matcher = PatternMatcher(excludes)
    extra = random_dockerfile_name() if dockerfile_content is not None else None
    writer = TarWriter(out.write, owner=(0, 0))
    root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        seen_dockerignore = _walk(root, matcher, writer, extra, directory)
    finally:
        os.close(root)
    if extra is not None and dockerfile_content is not None:
        writer.add_bytes(extra, dockerfile_content, mtime=_now(), mode=0o600)
        if not seen_dockerignore:
            writer.add_bytes(DOCKERIGNORE, f"{DOCKERIGNORE}\n{extra}\n".encode(),
                             mtime=_now(), mode=0o600)
    writer.close()
    out.flush()
    return extra if extra is not None else dockerfile


def _now() -> int:
    return int(time.time())


def _walk(root: int, matcher: PatternMatcher, writer: TarWriter, extra: str | None,
          directory: str) -> bool:
    """Tarballer.Do's walk: depth first in byte order of names; an ignored directory is
    pruned unless an exception may match below it, and then it is walked but its own
    entry is left out. Returns whether .dockerignore was written (with `extra` appended
    to its content when extra is set)."""
    seen_dockerignore = False
    with DirPath(root) as path:
        pending: list[tuple[str, MatchInfo | None, list[str]]] = [
            ("", None, _names(root))]
        while pending:
            prefix, parent_info, names = pending[-1]
            if not names:
                pending.pop()
                if pending:
                    path.leave()
                continue
            base = names.pop()
            parent_fd = path.fd()
            if parent_fd is None:  # moved away meanwhile: the rest of it is skipped
                names.clear()
                continue
            relative = prefix + base
            try:
                st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            skip, info = matcher.matches_using_parent(relative, parent_info)
            is_dir = stat.S_ISDIR(st.st_mode)
            if skip and not (is_dir and matcher.may_have_exceptions_under(relative)):
                continue
            if is_dir:
                if not skip:
                    writer.add(parent_fd, base, relative, recursive=False)
                opened = path.enter(base)
                if opened is not None:
                    pending.append((relative + "/", info, _names(opened[0])))
                continue
            if extra is not None and relative == DOCKERIGNORE and stat.S_ISREG(st.st_mode):
                with open(os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  dir_fd=parent_fd), "rb") as f:
                    content = f.read() + f"\n{extra}\n".encode()
                writer.add_bytes(DOCKERIGNORE, content, mtime=int(st.st_mtime),
                                 mode=stat.S_IMODE(st.st_mode))
                seen_dockerignore = True
                continue
            try:
                writer.add(parent_fd, base, relative, recursive=False)
            except PermissionError:
                raise InvalidParameter("error checking context: no permission to read "
                                       f"from '{directory}/{relative}'") from None
            seen_dockerignore = seen_dockerignore or relative == DOCKERIGNORE
    return seen_dockerignore


def _names(fd: int) -> list[str]:
    """The entries of the directory fd in reverse byte order (popped from the end), as
    Go's ReadDir sorts them: by bytes, not by code points of surrogate-escaped names."""
    with os.scandir(fd) as it:
        return sorted((entry.name for entry in it), key=os.fsencode, reverse=True)
