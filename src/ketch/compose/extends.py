"""`extends`: a service built on another one, of the same file or of another file.

The base service (itself resolved first, as deep as the chain goes) is merged under
the extending one with the same rules as override files. A base taken from another
file brings its relative host paths (build context, env files, bind mounts) made
absolute against that file's directory. A cycle, a missing service or a missing file
is an error naming the service.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ketch.compose.errors import ComposeError
from ketch.compose.merge import merge_service
from ketch.compose.mounts import MountError, parse_volume
from ketch.compose.paths import resolve_context, resolve_host_path

# path of a compose file -> its model, interpolated and validated (cached by the caller)
LoadFile = Callable[[str], dict[str, Any]]


def resolve_extends(model: dict[str, Any], file: str, load_file: LoadFile) -> dict[str, Any]:
    """`model` (one compose file's) with every `extends` of its services resolved."""
    services = model.get("services")
    if not isinstance(services, dict) or not any(
            isinstance(s, dict) and "extends" in s for s in services.values()):
        return model
    resolved = {name: _resolve(name, file, services, load_file, ())
                for name in services}
    return {**model, "services": resolved}


def _resolve(name: str, file: str, services: dict[str, Any], load_file: LoadFile,
             chain: tuple[tuple[str, str], ...]) -> Any:
    service = services[name]
    if not isinstance(service, dict) or "extends" not in service:
        return service
    here = (file, name)
    if here in chain:
        names = " -> ".join(n for _, n in (*chain[chain.index(here):], here))
        raise ComposeError(f"services.{name}.extends: circular reference: {names}")
    extends = service["extends"]
    base_name = extends if isinstance(extends, str) else str(extends.get("service", ""))
    base_file_ref = None if isinstance(extends, str) else extends.get("file")
    if base_file_ref:
        base_file = resolve_host_path(str(base_file_ref), os.path.dirname(file))
        base_services = load_file(base_file).get("services") or {}
    else:
        base_file, base_services = file, services
    if base_name not in base_services:
        raise ComposeError(f"services.{name}.extends: cannot extend service "
                           f'"{base_name}": no such service in {base_file}')
    base = _resolve(base_name, base_file, base_services, load_file, (*chain, here))
    if not isinstance(base, dict):
        raise ComposeError(f"services.{name}.extends: service \"{base_name}\" in "
                           f"{base_file} is not a mapping")
    if base_file != file:
        base = rebase_paths(base, os.path.dirname(base_file))
    own = {key: value for key, value in service.items() if key != "extends"}
    base = {key: value for key, value in base.items() if key != "extends"}
    return merge_service(base, own, ("services", name))


def rebase_paths(service: dict[str, Any], base_dir: str) -> dict[str, Any]:
    """A service's relative host paths made absolute against `base_dir`."""
    out = dict(service)
    build = out.get("build")
    if isinstance(build, str):
        out["build"] = {"context": resolve_context(build, base_dir)}
    elif isinstance(build, dict):
        build = dict(build)
        build["context"] = resolve_context(str(build.get("context") or "."), base_dir)
        extra = build.get("additional_contexts")
        if isinstance(extra, dict):
            build["additional_contexts"] = {
                k: resolve_context(str(v), base_dir) if isinstance(v, str) else v
                for k, v in extra.items()}
        out["build"] = build
    env_file = out.get("env_file")
    if env_file is not None:
        entries = env_file if isinstance(env_file, list) else [env_file]
        out["env_file"] = [
            {**e, "path": resolve_host_path(str(e.get("path", "")), base_dir)}
            if isinstance(e, dict) else resolve_host_path(str(e), base_dir)
            for e in entries]
    label_file = out.get("label_file")
    if label_file is not None:
        entries = label_file if isinstance(label_file, list) else [label_file]
        out["label_file"] = [resolve_host_path(str(e), base_dir) for e in entries]
    volumes = out.get("volumes")
    if isinstance(volumes, list):
        out["volumes"] = [_rebase_mount(v, base_dir) for v in volumes]
    return out


def _rebase_mount(item: Any, base_dir: str) -> Any:
    if isinstance(item, str):
        try:
            mount = parse_volume(item)
        except MountError:
            return item  # normalize reports it, with its place
        if mount.get("type") != "bind" or "source" not in mount:
            return item
        mount["source"] = resolve_host_path(mount["source"], base_dir)
        return dict(mount)
    if isinstance(item, dict) and item.get("type") == "bind" and \
            isinstance(item.get("source"), str):
        return {**item, "source": resolve_host_path(item["source"], base_dir)}
    return item
