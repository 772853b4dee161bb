"""`docker commit`: a container's changes become a new image on top of its image.

The snapshot's changes are streamed as a layer tar (Snapshotter.diff_tar) through a pipe
straight into the layer store's extraction, so nothing is spooled. The new config is
Docker's: the request's config with `--change`s applied, then unset fields taken from the
container's config (daemon/commit.go merge); history gets one entry, created by the
container's command. A running container is frozen meanwhile unless pause=false.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from ketch import __version__
from ketch.engine.containers import Container
from ketch.errors import KetchError
from ketch.images.changes import apply_changes, validate_config
from ketch.images.image import Image, now_rfc3339
from ketch.images.reference import normalize
from ketch.images.store import host_architecture
from ketch.util.threads import piped

if TYPE_CHECKING:
    from ketch.engine.engine import Engine


def merge(user: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """Docker's merge(userConf, imageConf): what the committer did not set comes from the
    container's config."""
    result = dict(user)
    for key in ("User", "WorkingDir", "StopSignal", "Healthcheck", "OnBuild", "Shell"):
        if not result.get(key) and container.get(key):
            result[key] = container[key]
    env = list(result.get("Env") or [])
    keys = {e.partition("=")[0] for e in env}
    env += [e for e in container.get("Env") or [] if e.partition("=")[0] not in keys]
    if env:
        result["Env"] = env
    for key in ("Labels", "ExposedPorts", "Volumes"):
        merged = {**(container.get(key) or {}), **(result.get(key) or {})}
        if merged:
            result[key] = merged
    if not result.get("Entrypoint"):
        if not result.get("Cmd") and container.get("Cmd"):
            result["Cmd"] = container["Cmd"]
        if result.get("Entrypoint") is None and container.get("Entrypoint"):
            result["Entrypoint"] = container["Entrypoint"]
    return result


def image_config(base: Image | None, c: Container | None, config: dict[str, Any],
                 diff_id: str | None, comment: str, author: str, *,
                 created_by: str | None = None, created: str | None = None
                 ) -> dict[str, Any]:
    """Docker's NewChildImage: base (None: scratch) plus one history entry and maybe a
    layer. `c` is the committed container (a build's images leave it out, as moby 25+)."""
    when = created or now_rfc3339()
    parent = base.config if base else {"architecture": host_architecture(), "os": "linux"}
    if created_by is None:
        created_by = " ".join(c.config.get("Cmd") or []) if c else ""
    history: dict[str, Any] = {"created": when, "created_by": created_by}
    for key, value in (("author", author), ("comment", comment)):
        if value:
            history[key] = value
    if diff_id is None:
        history["empty_layer"] = True
    diff_ids = (list(base.diff_ids) if base else []) + ([diff_id] if diff_id else [])
    result: dict[str, Any] = {"architecture": parent.get("architecture", "")}
    if parent.get("variant"):
        result["variant"] = parent["variant"]
    if author:
        result["author"] = author
    if comment:
        result["comment"] = comment
    result["config"] = config
    if c is not None:
        result.update(container=c.id, container_config=copy.deepcopy(c.config))
    result.update(
        created=when,
        docker_version=__version__,
        history=[*(parent.get("history") or []), history],
        os=parent.get("os", "linux"),
        rootfs={"type": "layers", "diff_ids": diff_ids},
    )
    return result


def commit(engine: Engine, c: Container, *, reference: str | None, comment: str,
           author: str, pause: bool, changes: list[str],
           config: dict[str, Any] | None) -> Image:
    """Runs in a worker thread."""
    if reference:
        normalize(reference)  # a bad name fails before any work
    base = engine.images.get(c.record["Image"])
    # no config in the request (the docker CLI's case): the container's own is the base
    user = apply_changes(c.config if config is None else validate_config(config), changes)
    wanted = merge(user, c.config)
    paused = False
    if pause and c.running:
        paused = _freeze(engine, c.id)
    try:
        return commit_layer(engine, c, base, reference, lambda diff_id: image_config(
            base, c, wanted, diff_id, comment, author))
    finally:
        if paused:
            _thaw(engine, c.id)


def commit_layer(engine: Engine, c: Container, base: Image, reference: str | None,
                 make_config: Callable[[str | None], dict[str, Any]],
                 mtime_clamp: int | None = None) -> Image:
    """The container's changes as a layer on base, with the config make_config(diffID)
    gives (diffID None: no changes, no layer)."""
    def consume(stream: BinaryIO, finished: Callable[[], None]) -> Image:
        def build(diff_id: str | None) -> dict[str, Any]:
            finished()  # a stream cut by a failure may still look like a whole tar
            return make_config(diff_id)

        return engine.images.commit_layer(stream, base, build, reference)

    return piped(lambda write: engine.snapshots.diff_tar(c.id, write, mtime_clamp), consume,
                 f"commit-{c.id[:12]}")


def _runtime(engine: Engine) -> Any:
    from ketch.runtime.container import Runtime

    return Runtime(os.path.join(engine.exec_root, "runtime"), warn=lambda msg: None)


def _freeze(engine: Engine, cid: str) -> bool:
    """Freeze the container's processes (its cgroup) so the layer is one moment's."""
    try:
        _runtime(engine).pause(cid)
    except KetchError:  # it stopped meanwhile (or is going): nothing to freeze, as dockerd
        return False   # goes on when its pause fails
    return True


def _thaw(engine: Engine, cid: str) -> None:
    try:
        _runtime(engine).resume(cid)
    except KetchError:
        pass
