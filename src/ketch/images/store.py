"""The image store: image configs by content address, tags, and the layers they use.

    <root>/image/content/sha256/<hex>   an image config, byte for byte (image ID = its sha256)
    <root>/image/layers/<chainID-hex>/  read-only layers (see layers.py)
    <root>/image/repositories.json      {"Repositories": {"busybox": {"busybox:latest": id}},
                                          "LastTagTime": {id: time}}
    <root>/image/parent/<hex>           the local parent of an image made here (commit,
                                        build): its ID. As Docker's, an untagged parent is
                                        an intermediate image: listed only with --all, not
                                        dangling, and removed with its last child

Reads are served from memory (tags reloaded when the file changes; configs never change).
Changes hold a thread lock and a file lock (a bootstrap import may run beside the daemon)
and every file is written atomically, so a crash leaves the old state or the new one.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from ketch.errors import Conflict, InvalidParameter, KetchError, NotFound
from ketch.images.changes import apply_changes, validate_config
from ketch.images.fsutil import HEX64, atomic_write, hex_of
from ketch.images.image import Image, now_rfc3339
from ketch.images.layers import LayerStore, PendingLayer, chain_id
from ketch.images.reference import DEFAULT_TAG, full_name, normalize, parse
from ketch.images.snapshots import snapshot_layers
from ketch.util.tarball.extract import Limits

DEFAULT_ROOT = "/var/lib/ketch"
_FULL_ID = re.compile(r"(?:sha256:)?([a-f0-9]{64})", re.ASCII)
_ID_PREFIX = re.compile(r"(?:sha256:)?([a-f0-9]+)", re.ASCII)
MAX_LAYERS = 128  # as Docker's overlay2 (maxDepth): overlayfs stacks no more lowers
# the diffID of a tar with nothing in it (1024 zero bytes), a layer Docker never stores
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}

# A container using an image: (container ID, running?), for rmi's conflict rules.
ContainerUsing = tuple[str, bool]
# in_use(image_id): a container using it, or None. A bare container ID (or True) is read
# as a stopped container, so simpler callers still get the right refusals.
InUse = Callable[[str], "ContainerUsing | str | bool | None"]


def host_architecture() -> str:
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


@dataclass
class PreparedImage:
    """An image checked and ready to enter the store: its config's exact bytes, its
    extracted layers (lowest first) and tags."""

    data: bytes
    config: dict[str, Any]
    layers: list[PendingLayer]
    tags: list[tuple[str, str]]


class _Tags:
    """The tag map (and the digest references: "repo@sha256:..." of images pulled or
    pushed), immutable once loaded; changes make a new one."""

    def __init__(self, repositories: dict[str, dict[str, str]], tag_times: dict[str, str],
                 digests: dict[str, dict[str, str]] | None = None):
        self.repositories = repositories
        self.tag_times = tag_times
        self.digests = digests or {}
        self.by_id: dict[str, list[str]] = {}
        self.digests_by_id: dict[str, list[str]] = {}
        self._index()

    def _index(self) -> None:
        self.by_id = {}
        for refs in self.repositories.values():
            for ref, image_id in refs.items():
                self.by_id.setdefault(image_id, []).append(ref)
        for refs_of in self.by_id.values():  # Docker's order: by full name
            refs_of.sort(key=lambda r: full_name(r.rpartition(":")[0]) + ":" + r.rpartition(":")[2])
        self.digests_by_id = {}
        for refs in self.digests.values():
            for ref, image_id in refs.items():
                self.digests_by_id.setdefault(image_id, []).append(ref)
        for refs_of in self.digests_by_id.values():
            refs_of.sort()

    def lookup_digest(self, repo: str, digest: str) -> str | None:
        return self.digests.get(repo, {}).get(f"{repo}@{digest}")

    def set_digest(self, repo: str, digest: str, image_id: str) -> None:
        self.digests.setdefault(repo, {})[f"{repo}@{digest}"] = image_id
        self._index()

    def unset_digest(self, ref: str) -> None:
        repo = ref.partition("@")[0]
        refs = self.digests.get(repo, {})
        refs.pop(ref, None)
        if not refs:
            self.digests.pop(repo, None)
        self._index()

    def references(self, image_id: str) -> bool:
        """Anything names the image: a tag or a digest reference."""
        return bool(self.by_id.get(image_id) or self.digests_by_id.get(image_id))

    def lookup(self, repo: str, tag: str) -> str | None:
        return self.repositories.get(repo, {}).get(f"{repo}:{tag}")

    def to_json(self) -> bytes:
        return json.dumps({"Repositories": self.repositories, "LastTagTime": self.tag_times,
                           "Digests": self.digests}, indent=1, sort_keys=True).encode()

    def copy(self) -> _Tags:
        return _Tags({r: dict(t) for r, t in self.repositories.items()}, dict(self.tag_times),
                     {r: dict(d) for r, d in self.digests.items()})

    def set(self, repo: str, tag: str, image_id: str) -> None:
        self.repositories.setdefault(repo, {})[f"{repo}:{tag}"] = image_id
        self.tag_times[image_id] = now_rfc3339()
        self._index()

    def unset(self, ref: str) -> None:
        repo = ref.rpartition(":")[0]
        refs = self.repositories.get(repo, {})
        refs.pop(ref, None)
        if not refs:
            self.repositories.pop(repo, None)
        self._index()


class ImageStore:
    def __init__(self, root: str = DEFAULT_ROOT, limits: Limits | None = None) -> None:
        self.root = root
        self.limits = limits or Limits()
        self._dir = os.path.join(root, "image")
        self._content = os.path.join(self._dir, "content", "sha256")
        self._tags_path = os.path.join(self._dir, "repositories.json")
        self._parents = os.path.join(self._dir, "parent")
        for path in (root, self._dir, self._content, self._parents):
            os.makedirs(path, mode=0o700, exist_ok=True)
        self.layers = LayerStore(os.path.join(self._dir, "layers"))
        self._lock = threading.RLock()
        self._tags = _Tags({}, {})
        self._tags_key: tuple[int, int, int] | None = None
        self._configs: dict[str, dict[str, Any]] = {}
        with self._mutating():
            self.layers.sweep()

    # -- state ------------------------------------------------------------------------------

    def _read_tags(self) -> _Tags:
        try:
            st = os.stat(self._tags_path)
        except FileNotFoundError:
            return _Tags({}, {})
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._tags_key:
                try:
                    with open(self._tags_path, "rb") as f:
                        data = json.load(f)
                    tags = _Tags(
                        {str(r): {str(k): str(v) for k, v in refs.items()}
                         for r, refs in data.get("Repositories", {}).items()},
                        {str(k): str(v) for k, v in data.get("LastTagTime", {}).items()},
                        {str(r): {str(k): str(v) for k, v in refs.items()}
                         for r, refs in data.get("Digests", {}).items()},
                    )
                except (OSError, ValueError, AttributeError):
                    tags = _Tags({}, {})
                self._tags, self._tags_key = tags, key
            return self._tags

    def _write_tags(self, tags: _Tags) -> None:
        atomic_write(self._tags_path, tags.to_json())
        st = os.stat(self._tags_path)
        self._tags, self._tags_key = tags, (st.st_ino, st.st_mtime_ns, st.st_size)

    @contextmanager
    def _mutating(self) -> Iterator[_Tags]:
        """Exclusive access (threads and processes); yields a copy of the tags to change."""
        with self._lock:
            fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield self._read_tags().copy()
            finally:
                os.close(fd)

    def _ids(self) -> list[str]:
        return [f"sha256:{n}" for n in os.listdir(self._content) if HEX64.fullmatch(n)]

    def _config(self, image_id: str) -> dict[str, Any]:
        config = self._configs.get(image_id)
        if config is None:
            try:
                with open(os.path.join(self._content, hex_of(image_id)), "rb") as f:
                    config = json.load(f)
            except (FileNotFoundError, ValueError):
                raise NotFound(f"No such image: {image_id}") from None
            if not isinstance(config, dict):
                raise NotFound(f"No such image: {image_id}")
            self._configs[image_id] = config
        return config

    def config_bytes(self, image_id: str) -> bytes:
        """The image config exactly as stored (its sha256 is the image ID)."""
        try:
            with open(os.path.join(self._content, hex_of(image_id)), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None

    def _parent(self, image_id: str) -> str:
        try:
            with open(os.path.join(self._parents, hex_of(image_id)), "rb") as f:
                parent = f.read(100).decode(errors="replace")
        except FileNotFoundError:
            return ""
        return parent if _FULL_ID.fullmatch(parent) else ""

    def _set_parent(self, image_id: str, parent: str) -> None:
        path = os.path.join(self._parents, hex_of(image_id))
        if parent and parent != image_id and not os.path.exists(path):
            atomic_write(path, parent.encode())

    def parents(self) -> set[str]:
        """The images some other image names as its parent (those with children)."""
        found = set()
        for name in os.listdir(self._parents):
            if HEX64.fullmatch(name) and os.path.exists(os.path.join(self._content, name)):
                parent = self._parent("sha256:" + name)
                if parent:
                    found.add(parent)
        return found

    def _image(self, image_id: str, tags: _Tags) -> Image:
        config = self._config(image_id)
        chains: list[str] = []
        for diff_id in config.get("rootfs", {}).get("diff_ids", []):
            chains.append(chain_id(chains[-1] if chains else None, diff_id))
        layers = [self.layers.get(c) for c in chains]
        return Image(
            id=image_id,
            config=config,
            repo_tags=list(tags.by_id.get(image_id, [])),
            repo_digests=list(tags.digests_by_id.get(image_id, [])),
            size=sum(layer.size for layer in layers),
            layers=[layer.diff for layer in layers],
            chain_ids=chains,
            last_tag_time=tags.tag_times.get(image_id, "0001-01-01T00:00:00Z"),
            parent=self._parent(image_id),
        )

    # -- lookups ----------------------------------------------------------------------------

    def _resolve(self, ref: str, tags: _Tags) -> str:
        """An image ID for a name[:tag], a full ID, or a unique ID prefix, as Docker does."""
        full = _FULL_ID.fullmatch(ref)
        if full:
            image_id = f"sha256:{full.group(1)}"
            if os.path.exists(os.path.join(self._content, full.group(1))):
                return image_id
            raise NotFound(f"No such image: {image_id}")
        parsed = parse(ref)
        if not parsed.digest:
            found = tags.lookup(parsed.repository, parsed.tag or DEFAULT_TAG)
            if found is not None:
                return found
        else:
            found = tags.lookup_digest(parsed.repository, parsed.digest)
            if found is not None:
                return found
        prefix = _ID_PREFIX.fullmatch(ref)
        if prefix:
            matches = [i for i in self._ids() if i[7:].startswith(prefix.group(1))]
            if len(matches) == 1:
                return matches[0]
        shown = parsed.repository + (f":{parsed.tag or DEFAULT_TAG}" if not parsed.digest
                                     or parsed.tag else "")
        raise NotFound(f"No such image: {shown}{'@' + parsed.digest if parsed.digest else ''}")

    def get(self, ref: str) -> Image:
        """By name[:tag], "sha256:<hex>", bare hex, or a unique ID prefix."""
        tags = self._read_tags()
        return self._image(self._resolve(ref, tags), tags)

    def references(self, names: builtins.list[str]) -> builtins.list[tuple[Image, str | None]]:
        """`docker save`'s selection: (image, "repo:tag" or None) for each name; a
        repository name without a tag stands for all its tags, an ID for the image alone."""
        tags = self._read_tags()
        chosen: builtins.list[tuple[Image, str | None]] = []
        for name in names:
            named: builtins.list[tuple[str, str | None]] = []
            if not _FULL_ID.fullmatch(name):
                parsed = parse(name)
                if not parsed.tag and not parsed.digest:
                    repo = tags.repositories.get(parsed.repository, {})
                    named = [(image_id, ref) for ref, image_id in sorted(repo.items())]
                elif parsed.tag and not parsed.digest:
                    found = tags.lookup(parsed.repository, parsed.tag)
                    if found is not None:
                        named = [(found, f"{parsed.repository}:{parsed.tag}")]
            if not named:
                named = [(self._resolve(name, tags), None)]
            for image_id, ref in named:
                if (image_id, ref) not in [(i.id, r) for i, r in chosen]:
                    chosen.append((self._image(image_id, tags), ref))
        return chosen

    def list(self) -> list[Image]:
        """All images, dangling ones too, newest first."""
        tags = self._read_tags()
        images = []
        for image_id in self._ids():
            try:
                images.append(self._image(image_id, tags))
            except KetchError:
                continue  # a half-deleted image: not listed
        images.sort(key=lambda i: (i.created, i.id), reverse=True)
        return images

    # -- changes ----------------------------------------------------------------------------

    def create(self, config: dict[str, Any], reference: str | None = None,
               parent: str = "") -> Image:
        """Store an image config whose layers are in the store already; tag it if asked;
        parent: the local image it was made from."""
        name = normalize(reference) if reference else None
        with self._mutating() as tags:
            image = self._create_locked(config, name, tags)
            self._set_parent(image.id, parent)
            return image

    def _create_locked(self, config: dict[str, Any], name: tuple[str, str] | None,
                       tags: _Tags, data: bytes | None = None) -> Image:
        """Store config (as data, its exact bytes, when given) and tag it."""
        chain: str | None = None
        for diff_id in config.get("rootfs", {}).get("diff_ids", []):
            chain = chain_id(chain, diff_id)
            if not self.layers.exists(chain):
                raise NotFound(f"layer does not exist: {chain}")
        if data is None:
            data = json.dumps(config, separators=(",", ":")).encode()
        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        path = os.path.join(self._content, hex_of(image_id))
        if not os.path.exists(path):
            atomic_write(path, data)
        if name is not None:
            tags.set(*name, image_id)
            self._write_tags(tags)
        return self._image(image_id, tags)

    def import_tar(
        self,
        stream: BinaryIO,
        *,
        reference: str | None = None,
        config: dict[str, Any] | None = None,
        changes: builtins.list[str] | None = None,
        message: str = "",
        architecture: str | None = None,
        variant: str = "",
        os_name: str = "linux",
        created: str | None = None,
        created_by: str = "",
    ) -> Image:
        """`docker import`: one layer from a root filesystem tar (plain, gzip, bzip2, xz, zstd)."""
        container_config = apply_changes(validate_config(config or {}), changes or [])
        when = created or now_rfc3339()
        history: dict[str, Any] = {"created": when}
        if created_by:
            history["created_by"] = created_by
        if message:
            history["comment"] = message

        def build(diff_id: str | None) -> dict[str, Any]:
            image_config: dict[str, Any] = {"architecture": architecture or host_architecture()}
            if variant:
                image_config["variant"] = variant
            if message:
                image_config["comment"] = message
            image_config.update(
                config=container_config,
                created=when,
                history=[history],
                os=os_name,
                rootfs={"type": "layers", "diff_ids": [diff_id]},
            )
            return image_config

        return self.commit_layer(stream, None, build, reference, keep_empty=True)

    def commit_layer(self, stream: BinaryIO, parent: Image | None,
                     build: Callable[[str | None], dict[str, Any]],
                     reference: str | None = None, *, keep_empty: bool = False) -> Image:
        """A new image: parent's layers and the layer tar read from stream, with the
        config build(diffID) makes. An empty layer is not stored (build gets None) unless
        keep_empty, as Docker's commit skips it and its import keeps it."""
        name = normalize(reference) if reference else None
        if parent is not None and len(parent.chain_ids) >= MAX_LAYERS:
            raise InvalidParameter(f"max depth exceeded: an image has at most {MAX_LAYERS} "
                                   "layers")
        pending = self.layers.extract(stream, self.limits)
        diff_id: str | None = pending.diff_id
        if diff_id == EMPTY_LAYER and not keep_empty:
            diff_id = None
        try:
            config = build(diff_id)
        except BaseException:
            self.layers.discard(pending)
            raise
        with self._mutating() as tags:
            try:
                if diff_id is None:
                    self.layers.discard(pending)
                else:
                    top = parent.chain_ids[-1] if parent is not None and parent.chain_ids \
                        else None
                    self.layers.commit(pending, top)
                image = self._create_locked(config, name, tags)
                if parent is not None:
                    self._set_parent(image.id, parent.id)
                return image
            except BaseException:
                self.layers.discard(pending)
                self._gc_locked(tags)
                raise

    def add_images(self, images: builtins.list[PreparedImage]) -> builtins.list[str]:
        """Put checked images in the store: layers, configs, tags. Returns `docker load`'s
        lines. On failure nothing new stays (the caller discards the pending layers)."""
        uses: dict[str, int] = {}
        for image in images:
            for layer in image.layers:
                uses[layer.tmp] = uses.get(layer.tmp, 0) + 1
        lines: builtins.list[str] = []
        created: builtins.list[str] = []  # configs this call wrote: gone again on failure
        with self._mutating() as tags:
            try:
                for image in images:
                    new_id = "sha256:" + hashlib.sha256(image.data).hexdigest()
                    if not os.path.exists(os.path.join(self._content, hex_of(new_id))):
                        created.append(new_id)
                    parent: str | None = None
                    for layer in image.layers:
                        uses[layer.tmp] -= 1
                        parent = self.layers.commit(layer, parent,
                                                    keep=uses[layer.tmp] > 0).chain_id
                    stored = self._create_locked(image.config, None, tags, image.data)
                    for repo, tag in image.tags:
                        old = tags.lookup(repo, tag)
                        if old is not None and old != stored.id:
                            lines.append(f"The image {repo}:{tag} already exists, renaming the "
                                         f"old one with ID {old} to empty string")
                        tags.set(repo, tag, stored.id)
                        lines.append(f"Loaded image: {repo}:{tag}")
                    if not image.tags:
                        lines.append(f"Loaded image ID: {stored.id}")
                self._write_tags(tags)
            except BaseException:
                for image_id in created:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self._content, hex_of(image_id)))
                    self._configs.pop(image_id, None)
                self._gc_locked(self._read_tags())
                raise
        return lines

    def add_pulled(self, data: bytes, config: dict[str, Any],
                   layers: builtins.list[PendingLayer | None], repo: str, tag: str,
                   digest: str) -> tuple[Image, bool]:
        """A pulled image: its config's exact bytes, its layers (None: in the store
        already), tagged repo:tag (unless tag is "") and named repo@digest. Returns the
        image and whether the name points to a new image. The pending layers are the
        caller's to discard if this fails; nothing else stays."""
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(layers):
            raise InvalidParameter("the image's layers do not match its config's diff_ids")
        with self._mutating() as tags:
            new_id = "sha256:" + hashlib.sha256(data).hexdigest()
            created = not os.path.exists(os.path.join(self._content, hex_of(new_id)))
            old = tags.lookup(repo, tag) if tag else tags.lookup_digest(repo, digest)
            try:
                parent: str | None = None
                for diff_id, pending in zip(diff_ids, layers, strict=True):
                    if pending is None:
                        parent = chain_id(parent, diff_id)
                        self.layers.get(parent)  # NotFound if it went meanwhile
                    else:
                        parent = self.layers.commit(pending, parent).chain_id
                stored = self._create_locked(config, None, tags, data)
                if tag:
                    tags.set(repo, tag, stored.id)
                tags.set_digest(repo, digest, stored.id)
                self._write_tags(tags)
            except BaseException:
                if created:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self._content, hex_of(new_id)))
                    self._configs.pop(new_id, None)
                self._gc_locked(self._read_tags())
                raise
        return self._image(stored.id, self._read_tags()), old != stored.id

    def name_digest(self, image_id: str, repo: str, digest: str) -> None:
        """Record repo@digest for the image (a push's manifest)."""
        with self._mutating() as tags:
            tags.set_digest(repo, digest, image_id)
            self._write_tags(tags)

    def tag(self, ref: str, new_ref: str) -> None:
        """`docker tag`: new_ref names the image ref names (moving the tag if it existed)."""
        repo, tag = normalize(new_ref)
        with self._mutating() as tags:
            image_id = self._resolve(ref, tags)
            tags.set(repo, tag, image_id)
            self._write_tags(tags)

    def remove(self, ref: str, *, force: bool = False, in_use: InUse | None = None,
               prune_parents: bool = True) -> builtins.list[dict[str, str]]:
        """`docker rmi`: untag, and delete the image when nothing names it any more, then
        its untagged parents that nothing else needs (unless noprune).

        in_use(image_id) answers a container using the image, as (container ID, running),
        or None. Returns the API's records: [{"Untagged": ...}, {"Deleted": ...}, ...].
        """
        with self._mutating() as tags:
            image_id = self._resolve(ref, tags)
            refs = list(tags.by_id.get(image_id, [])) + list(tags.digests_by_id.get(image_id, []))
            user = _container_using(in_use(image_id)) if in_use is not None else None
            records: builtins.list[dict[str, str]] = []
            if not _is_id_prefix(image_id, ref):
                parsed = parse(ref)  # not normalize: an old tag it would refuse must go too
                repo = parsed.repository
                if not force and len(refs) == 1 and user is not None:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force) '
                        f"- container {user[0][:12]} is using its referenced image "
                        f"{image_id[7:19]}"
                    )
                if parsed.digest:
                    records.append(self._untag(tags, f"{repo}@{parsed.digest}"))
                else:
                    records.append(self._untag(tags, f"{repo}:{parsed.tag or DEFAULT_TAG}"))
                    if not any(r.rpartition(":")[0] == repo
                               for r in tags.by_id.get(image_id, [])):
                        # the repository's last tag: its digest references go with it
                        records += [self._untag(tags, d)
                                    for d in list(tags.digests_by_id.get(image_id, []))
                                    if d.partition("@")[0] == repo]
                if tags.references(image_id):
                    self._write_tags(tags)
                    return records
                conflict = self._delete_conflict(image_id, tags, force, user)
                if conflict is not None or self._children(image_id):
                    # it stays: dangling for its container, or an intermediate image
                    self._write_tags(tags)
                    return records
            else:
                if self._children(image_id):
                    raise Conflict(f"conflict: unable to delete {image_id[7:19]} (cannot be "
                                   "forced) - image has dependent child images")
                if len(refs) == 1:
                    conflict = self._delete_conflict(image_id, _Tags({}, {}), force, user)
                    if conflict is not None:
                        raise conflict
                    records.append(self._untag(tags, refs[0]))
                conflict = self._delete_conflict(image_id, tags, force, user)
                if conflict is not None:
                    raise conflict
            for remaining in [*tags.by_id.get(image_id, []),
                              *tags.digests_by_id.get(image_id, [])]:
                records.append(self._untag(tags, remaining))
            tags.tag_times.pop(image_id, None)
            self._write_tags(tags)
            self._delete_config(image_id)
            records.append({"Deleted": image_id})
            parent = self._unlink_parent(image_id)
            while parent and prune_parents and self._unneeded(parent, tags, in_use):
                self._delete_config(parent)
                records.append({"Deleted": parent})
                parent = self._unlink_parent(parent)
            records.extend({"Deleted": c} for c in self._gc_locked(tags))
            return records

    @staticmethod
    def _untag(tags: _Tags, ref: str) -> dict[str, str]:
        """Remove one reference, a tag or a digest one; rmi's record of it."""
        if "@" in ref:
            tags.unset_digest(ref)
        else:
            tags.unset(ref)
        return {"Untagged": ref}

    def _delete_config(self, image_id: str) -> None:
        os.unlink(os.path.join(self._content, hex_of(image_id)))
        self._configs.pop(image_id, None)

    def _unlink_parent(self, image_id: str) -> str:
        """Forget image_id's parent; returns it."""
        parent = self._parent(image_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self._parents, hex_of(image_id)))
        return parent

    def _children(self, image_id: str) -> bool:
        return image_id in self.parents()

    def _unneeded(self, image_id: str, tags: _Tags, in_use: InUse | None) -> bool:
        """An intermediate image left behind: present, untagged, childless, unused."""
        return (os.path.exists(os.path.join(self._content, hex_of(image_id)))
                and not tags.references(image_id) and not self._children(image_id)
                and (in_use is None or _container_using(in_use(image_id)) is None))

    def _delete_conflict(self, image_id: str, tags: _Tags, force: bool,
                         user: ContainerUsing | None) -> Conflict | None:
        """Docker's checkImageDeleteConflict: running containers always; else unless forced."""
        short = image_id[7:19]
        if user is not None and user[1]:
            return Conflict(f"conflict: unable to delete {short} (cannot be forced) - image is "
                            f"being used by running container {user[0][:12]}")
        if force:
            return None
        if tags.references(image_id):
            return Conflict(f"conflict: unable to delete {short} (must be forced) - image is "
                            "referenced in multiple repositories")
        if user is not None:
            return Conflict(f"conflict: unable to delete {short} (must be forced) - image is "
                            f"being used by stopped container {user[0][:12]}")
        return None

    def gc(self) -> builtins.list[str]:
        """Delete layers no image and no snapshot uses; returns their chainIDs."""
        with self._mutating() as tags:
            return self._gc_locked(tags)

    def _gc_locked(self, tags: _Tags) -> builtins.list[str]:
        used = snapshot_layers(self.root)
        for image_id in self._ids():
            try:
                diff_ids = self._config(image_id).get("rootfs", {}).get("diff_ids", [])
            except NotFound:
                continue
            chain: str | None = None
            for diff_id in diff_ids:
                chain = chain_id(chain, diff_id)
                used.add(chain)
        removed = []
        for chain in self.layers.list():
            if chain not in used:
                self.layers.delete(chain)
                removed.append(chain)
        return removed


def _container_using(answer: ContainerUsing | str | bool | None) -> ContainerUsing | None:
    if answer is None or answer is False:
        return None
    if answer is True:
        return ("", False)
    if isinstance(answer, str):
        return (answer, False)
    return answer


def _is_id_prefix(image_id: str, ref: str) -> bool:
    """Docker's isImageIDPrefix: was the image named by (a prefix of) its ID?"""
    return image_id.startswith(ref) or image_id[7:].startswith(ref)


