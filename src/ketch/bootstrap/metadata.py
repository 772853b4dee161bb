"""The record kept beside each base image tarball: what the image is and where it came from.

The image store will turn a tarball plus this record into a real image: the tar is the
image's only layer (its diff_id is the tar's sha256) and the rest fills the image config.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch.errors import HostError

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Debian architecture -> (GOARCH, variant), the names OCI image configs use.
_DPKG_TO_OCI = {
    "amd64": ("amd64", ""),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", ""),
    "ppc64el": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64el": ("mips64le", ""),
}


def oci_platform(dpkg_architecture: str) -> tuple[str, str]:
    """Return (architecture, variant) in OCI terms for a Debian architecture name."""
    try:
        return _DPKG_TO_OCI[dpkg_architecture]
    except KeyError:
        raise HostError(f"unsupported Debian architecture: {dpkg_architecture}") from None


@dataclass(frozen=True)
class BaseImage:
    """One base image tarball and the facts needed to make an image of it."""

    reference: str  # e.g. "busybox:latest"
    tarball: str  # file name, beside the metadata file
    architecture: str  # GOARCH, e.g. "amd64"
    variant: str  # "" or e.g. "v8"
    os: str
    created: str  # RFC 3339, UTC
    package: str  # the Debian package whose version names the image's content
    version: str
    diff_id: str  # "sha256:<hex>" of the uncompressed tar
    size: int
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    recipe: str  # digest of how it was made; a change means "rebuild"

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "reference": self.reference,
            "tarball": self.tarball,
            "architecture": self.architecture,
        }
        if self.variant:
            record["variant"] = self.variant
        record.update(
            os=self.os,
            created=self.created,
            package=self.package,
            version=self.version,
            diff_id=self.diff_id,
            size=self.size,
            config={"Cmd": list(self.cmd), "Env": list(self.env)},
            recipe=self.recipe,
        )
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> BaseImage:
        """Parse a record; raises KeyError, TypeError or ValueError if it is malformed."""
        config = record["config"]
        image = cls(
            reference=str(record["reference"]),
            tarball=str(record["tarball"]),
            architecture=str(record["architecture"]),
            variant=str(record.get("variant", "")),
            os=str(record["os"]),
            created=str(record["created"]),
            package=str(record["package"]),
            version=str(record["version"]),
            diff_id=str(record["diff_id"]),
            size=int(record["size"]),
            cmd=tuple(str(arg) for arg in config["Cmd"]),
            env=tuple(str(var) for var in config["Env"]),
            recipe=str(record["recipe"]),
        )
        if "/" in image.tarball or not image.diff_id.startswith("sha256:"):
            raise ValueError("bad tarball name or diff_id")
        return image


def metadata_path(tarball: Path) -> Path:
    """busybox.tar -> busybox.json"""
    return tarball.with_suffix(".json")


def read_metadata(path: Path) -> BaseImage | None:
    """The record at path, or None if it is missing or unreadable (then: rebuild)."""
    try:
        record = json.loads(path.read_text())
        return BaseImage.from_json(record)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_metadata(path: Path, image: BaseImage) -> None:
    """Write the record atomically: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(image.to_json(), f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
