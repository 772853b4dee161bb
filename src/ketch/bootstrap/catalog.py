"""The base images ketch can make, by name, and one entry point to build any of them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ketch.bootstrap.busybox import build_busybox
from ketch.bootstrap.debian import build_debian_slim
from ketch.bootstrap.metadata import BaseImage
from ketch.bootstrap.output import DEFAULT_OUT, Output
from ketch.errors import InvalidParameter, NotFound

Builder = Callable[[Output, bool], tuple[BaseImage, bool]]

BUILDERS: dict[str, Builder] = {
    "busybox": build_busybox,
    "debian:bookworm-slim": build_debian_slim,
}
ALIASES = {"busybox:latest": "busybox"}


@dataclass(frozen=True)
class BuildResult:
    image: BaseImage
    tarball: Path
    built: bool  # False: it was already there and current
    seconds: float


def resolve(name: str) -> list[str]:
    """Canonical names for a name given by a user ("all" means every image)."""
    if name == "all":
        return list(BUILDERS)
    name = ALIASES.get(name, name)
    if name not in BUILDERS:
        raise NotFound(f"no base image {name!r}: choose from {', '.join([*BUILDERS, 'all'])}")
    return [name]


def build(name: str, out_dir: Path = DEFAULT_OUT, force: bool = False) -> BuildResult:
    """Make one base image (canonical name or alias) in out_dir unless it is current."""
    names = resolve(name)
    if len(names) != 1:
        raise InvalidParameter(f"build one image at a time, not {name!r}")
    canonical = names[0]
    out = Output(out_dir)
    start = time.monotonic()
    image, built = BUILDERS[canonical](out, force)
    return BuildResult(image, out_dir / image.tarball, built, time.monotonic() - start)
