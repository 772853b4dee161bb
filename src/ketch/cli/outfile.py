"""Where the verbs that write an archive (save, export) put it: with `-o FILE`, as the
docker CLI, a temporary file beside the target, made 0600, renamed over it only once
complete; else stdout, never a terminal."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


TO_TERMINAL = "cowardly refusing to save to a terminal. Use the -o flag or redirect"


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
