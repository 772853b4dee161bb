"""The output directory of base images: locking, partial files and atomic publishing.

A tarball is written under a hidden temporary name and renamed into place only when
complete; its metadata is written last, so a tarball without metadata (a crash between
the two) reads as "not built" and is rebuilt. Builds into one directory are serialised.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ketch.bootstrap.metadata import BaseImage, metadata_path, read_metadata, write_metadata
from ketch.errors import HostError

DEFAULT_OUT = Path("/var/cache/ketch/base")
_PARTIAL = ".partial"


class Output:
    """A directory holding <name>.tar and <name>.json for each base image."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock; also sweeps partial files left by killed builds."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise HostError(f"cannot use output directory {self.directory}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            for leftover in self.directory.glob(f".*{_PARTIAL}"):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
            yield
        finally:
            os.close(fd)

    def current(self, tarball: str) -> BaseImage | None:
        """The published image for tarball, if its metadata and tar are both intact."""
        path = self.directory / tarball
        image = read_metadata(metadata_path(path))
        try:
            if image is None or image.tarball != tarball or path.stat().st_size != image.size:
                return None
        except FileNotFoundError:
            return None
        return image

    @contextmanager
    def partial(self, tarball: str, suffix: str = "") -> Iterator[Path]:
        """A fresh hidden temporary path beside tarball, removed unless it was published."""
        fd, name = tempfile.mkstemp(
            dir=self.directory, prefix=f".{tarball}.", suffix=f"{suffix}{_PARTIAL}"
        )
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def publish(self, partial: Path, image: BaseImage) -> Path:
        """Move a complete tarball into place and write its metadata; returns the tar path."""
        final = self.directory / image.tarball
        with open(partial, "rb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp made it private
            os.fsync(f.fileno())
        metadata = metadata_path(final)
        metadata.unlink(missing_ok=True)
        os.replace(partial, final)
        write_metadata(metadata, image)
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final
