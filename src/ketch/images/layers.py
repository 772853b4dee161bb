"""Read-only image layers, stored once each under their chainID.

    image/layers/<chainID-hex>/diff      the extracted layer (an overlayfs lower dir)
                              /diff_id   sha256 of the layer's uncompressed tar
                              /size      bytes of content
                              /parent    chainID of the layer below (absent for a base layer)
                              /tar-split the layer's tar without file content (see
                                         util/tarball/split.py), to give back the exact
                                         tar for `save` and `push`

A layer is extracted into a private temporary directory and renamed into place only when
complete, so a failed or interrupted import leaves no layer; identical layers (same chainID)
are kept once. Deleting renames the layer away first, then removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from ketch.errors import HostError, NotFound
from ketch.images.fsutil import HEX64, hex_of, pid_alive, syncfs
from ketch.util.files import fsync_dir, mark_top_directory
from ketch.util.fswalk import remove_tree
from ketch.util.tarball.extract import Limits, Options, apply_layer
from ketch.util.tarball.split import assemble, length

_TMP = ".tmp-"
_DEL = ".del-"
TAR_SPLIT = "tar-split"


def chain_id(parent: str | None, diff_id: str) -> str:
    """OCI ChainID: the diffID for a base layer, else sha256("<parent chainID> <diffID>")."""
    if not parent:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Layer:
    chain_id: str
    diff_id: str
    size: int
    parent: str | None
    path: str  # layers/<hex>

    @property
    def diff(self) -> str:
        return os.path.join(self.path, "diff")


    def tar(self, sink: Callable[[bytes], object]) -> int:
        """Write the layer's tar, byte for byte the one it came from; returns its size."""
        return assemble(os.path.join(self.path, TAR_SPLIT), self.diff, sink, self.diff_id)

    def tar_size(self) -> int:
        return length(os.path.join(self.path, TAR_SPLIT))


@dataclass(frozen=True)
class PendingLayer:
    """An extracted layer not yet in the store (a layer is the same whatever its parent;
    the parent only decides its chainID)."""

    tmp: str
    diff_id: str
    size: int


class LayerStore:
    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, mode=0o700, exist_ok=True)
        mark_top_directory(root)
        self._cache: dict[str, Layer] = {}

    def path(self, chain: str) -> str:
        return os.path.join(self.root, hex_of(chain))

    def get(self, chain: str) -> Layer:
        layer = self._cache.get(chain)
        if layer is not None:
            return layer
        path = self.path(chain)
        try:
            with open(os.path.join(path, "diff_id")) as f:
                diff_id = f.read().strip()
            with open(os.path.join(path, "size")) as f:
                size = int(f.read())
            try:
                with open(os.path.join(path, "parent")) as f:
                    parent: str | None = f.read().strip()
            except FileNotFoundError:
                parent = None
        except (FileNotFoundError, ValueError):
            raise NotFound(f"layer does not exist: {chain}") from None
        layer = Layer(chain, diff_id, size, parent, path)
        self._cache[chain] = layer
        return layer

    def exists(self, chain: str) -> bool:
        try:
            self.get(chain)
        except NotFound:
            return False
        return True

    def list(self) -> list[str]:
        return [f"sha256:{n}" for n in os.listdir(self.root) if HEX64.fullmatch(n)]

    def extract(self, stream: BinaryIO, limits: Limits | None = None) -> PendingLayer:
        """Extract a layer tar (plain or compressed) into a temporary directory."""
        tmp = os.path.join(self.root, f"{_TMP}{os.getpid()}-{secrets.token_hex(6)}")
        os.mkdir(tmp, 0o700)
        try:
            os.mkdir(os.path.join(tmp, "diff"), 0o755)
            applied = apply_layer(stream, os.path.join(tmp, "diff"), limits,
                                  Options(tar_split=os.path.join(tmp, TAR_SPLIT)))
            for name, value in (("diff_id", applied.diff_id), ("size", str(applied.size))):
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(value)
            syncfs(tmp)
        except BaseException:
            remove_tree(tmp)
            raise
        return PendingLayer(tmp, applied.diff_id, applied.size)

    def commit(self, pending: PendingLayer, parent: str | None = None, *,
               keep: bool = False) -> Layer:
        """Put an extracted layer in place on top of parent (a chainID), or drop it if the
        same layer is there already. keep: the pending layer stays for another commit
        (the same layer on another parent), so it is copied, not moved."""
        chain = chain_id(parent, pending.diff_id)
        final = self.path(chain)
        if os.path.isdir(final):
            if not keep:
                remove_tree(pending.tmp)
            return self.get(chain)
        if parent is not None:
            self.get(parent)
        source = pending.tmp
        if keep:
            source = os.path.join(self.root, f"{_TMP}{os.getpid()}-{secrets.token_hex(6)}")
            copied = subprocess.run(["cp", "-a", "--", pending.tmp, source],
                                    stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if copied.returncode != 0:
                remove_tree(source)
                raise HostError(f"cannot copy a layer: {copied.stderr.decode(errors='replace')}"
                                .strip())
        parent_file = os.path.join(source, "parent")
        if parent is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(parent_file)
        else:
            with open(parent_file, "w") as f:
                f.write(parent)
        try:
            os.rename(source, final)
        except OSError:
            if not os.path.isdir(final):
                raise
            remove_tree(source)  # another process stored it first
        fsync_dir(self.root)
        return self.get(chain)

    def discard(self, pending: PendingLayer) -> None:
        remove_tree(pending.tmp)

    def delete(self, chain: str) -> None:
        path = self.path(chain)
        self._cache.pop(chain, None)
        doomed = os.path.join(self.root, f"{_DEL}{hex_of(chain)}-{secrets.token_hex(4)}")
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            return
        remove_tree(doomed)

    def sweep(self) -> None:
        """Remove what killed imports and deletions left behind."""
        for name in os.listdir(self.root):
            if name.startswith(_DEL):
                remove_tree(os.path.join(self.root, name))
            elif name.startswith(_TMP):
                pid = name[len(_TMP):].partition("-")[0]
                if pid.isdigit() and not pid_alive(int(pid)):
                    remove_tree(os.path.join(self.root, name))
