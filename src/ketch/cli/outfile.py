"""Where the verbs that write an archive (save, export) put it: with `-o FILE`, as the
docker CLI, a temporary file beside the target, made 0600, renamed over it only once
complete; else stdout, never a terminal."""

from __future__ import annotations

import os
import stat
import sys

from ketch.util.gopath import dirname

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


TO_TERMINAL = "cowardly refusing to save to a terminal. Use the -o flag or redirect"


def destination_problem(path: str) -> str | None:
    """atomicwriter's validateDestination: why `-o path` cannot be written, in the docker
    CLI's words (the caller puts "failed to save image: " or the like in front), or None."""
    parent = dirname(path)
    if parent not in ("", ".", ".."):
        try:
            st = os.stat(parent)
        except OSError as e:
            return f"invalid output path: stat {parent}: {(e.strerror or '').lower()}"
        if not stat.S_ISDIR(st.st_mode):
            return f"invalid output path: stat {parent}: not a directory"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"failed to stat output path: lstat {path}: {(e.strerror or '').lower()}"
    mode = st.st_mode
    if stat.S_ISREG(mode) and not mode & 0o7000:
        return None
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link directly"),
                        (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                        (stat.S_ISCHR, "a character device file"),
                        (stat.S_ISBLK, "a block device file")):
        if test(mode):
            return f"cannot write to {words}"
    if mode & stat.S_ISUID:
        return "cannot write to a setuid file"
    if mode & stat.S_ISGID:
        return "cannot write to a setgid file"
    return "cannot write to a sticky bit file"


def to_stdout(chunks: Iterable[bytes]) -> None:
    """The archive to stdout; a reader that went away (`| head`) ends it quietly."""
    out = sys.stdout.buffer
    try:
        for chunk in chunks:
            out.write(chunk)
        out.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_atomically(path: str, chunks: Iterable[bytes]) -> None:
    import tempfile

    target = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.path.basename(target)}",
                               dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
