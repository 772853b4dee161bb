"""What the builder needs from the engine, as the narrow interface moby's builder gets
(builder.Backend): build/ sits below engine/, so the engine implements this and hands it
in. Images are named by ID ("sha256:<hex>"); a parent of None is `FROM scratch`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

# (stream, data): 1 stdout, 2 stderr
Output = Callable[[int, bytes], Awaitable[None]]


@dataclass
class BaseImage:
    id: str
    config: dict[str, Any]  # the image's container config (the OCI config's "config")


@dataclass
class Commit:
    """How a step's image is recorded."""
    config: dict[str, Any]   # the new image's container config
    created_by: str          # its history line
    author: str = ""
    labels: dict[str, str] = field(default_factory=dict)


class BuildContainer(Protocol):
    """A container of the engine made from the current image, for one step."""
    id: str

    async def root(self) -> str:
        """Its root filesystem, mounted for the rest of the block."""
        ...

    async def run(self, output: Output) -> int:
        """Start its command, relay its output, wait; the exit code."""
        ...

    async def commit(self, commit: Commit) -> str:
        """Its changes as a layer on its image: the new image's ID."""
        ...


class Backend(Protocol):
    async def image(self, ref: str) -> BaseImage:
        """A local image by reference (NotFound if there is none)."""
        ...

    async def base(self, ref: str, pull: bool) -> BaseImage:
        """FROM's image: the local one, pulled first if it is missing (or if pull)."""
        ...

    def container(self, parent: str | None, run: dict[str, Any]
                  ) -> AbstractAsyncContextManager[BuildContainer]:
        """A container from parent with the create request's Config fields in `run`
        (Cmd, Env, WorkingDir, User, ...), removed when the block ends (unless the
        build keeps it: --rm=false)."""
        ...

    def image_root(self, image: str) -> AbstractAsyncContextManager[str]:
        """An image's files, mounted read-only for the block (COPY --from)."""
        ...

    async def new_image(self, parent: str | None, commit: Commit) -> str:
        """An image that only changes the configuration (no layer)."""
        ...

    async def exists(self, image: str) -> bool:
        ...

    async def lineage(self, refs: list[str]) -> set[str]:
        """The IDs of these images (those that exist) and of all their local parents."""
        ...

    async def tag(self, image: str, reference: str) -> None:
        ...
