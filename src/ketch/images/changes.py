"""`docker import -c` / `docker commit -c`: Dockerfile instructions applied to an image config.

Only the instructions Docker accepts as changes are allowed (CMD, ENTRYPOINT, ENV, EXPOSE,
LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); the result is the `config` section of
an image config (the container defaults: Cmd, Env, WorkingDir, ...).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from typing import Any

from ketch.errors import InvalidParameter

# image config "config" fields a caller may set, and the JSON type each must have
CONFIG_FIELDS: dict[str, type | tuple[type, ...]] = {
    "User": str,
    "ExposedPorts": dict,
    "Env": list,
    "Cmd": list,
    "Healthcheck": dict,
    "ArgsEscaped": bool,
    "Volumes": dict,
    "WorkingDir": str,
    "Entrypoint": list,
    "OnBuild": list,
    "Labels": dict,
    "StopSignal": str,
    "StopTimeout": int,
    "Shell": list,
}
_STRING_LISTS = ("Env", "Cmd", "Entrypoint", "OnBuild", "Shell")
_ESCAPED_DOLLAR = "\x00"  # a "\\$" kept literal through quote removal, until expansion
_VAR = re.compile(r"\\\$|\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Check a caller's config fields; returns a copy without nulls. InvalidParameter if bad."""
    clean: dict[str, Any] = {}
    for key, value in config.items():
        if key not in CONFIG_FIELDS:
            continue  # container-only fields (Hostname, Tty, Image, ...) are not image config
        if value is None:
            continue
        strings = not isinstance(value, list) or all(isinstance(v, str) for v in value)
        if not isinstance(value, CONFIG_FIELDS[key]) or (key in _STRING_LISTS and not strings):
            raise InvalidParameter(f"invalid image config: {key} has the wrong type")
        clean[key] = value
    return clean


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Apply Dockerfile-style instructions, in order, to a copy of config."""
    result: dict[str, Any] = json.loads(json.dumps(config))
    for change in changes:
        line = change.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if "\t" in keyword:
            keyword, _, tail = keyword.partition("\t")
            rest = f"{tail} {rest}"
        handler = _HANDLERS.get(keyword.lower())
        if handler is None:
            raise InvalidParameter(f"{keyword.upper()} is not a valid change command")
        rest = rest.strip()
        try:
            handler(result, rest)
        except InvalidParameter:
            raise
        except ValueError as e:
            raise InvalidParameter(f"{keyword.upper()}: {e}") from None
    return result


def _env_map(config: dict[str, Any]) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in config.get("Env") or [])


def expand(text: str, env: dict[str, str]) -> str:
    """Dockerfile variable substitution: $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}, \\$."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "\\$":
            return "$"
        value = env.get(m.group(1) or m.group(4), "")
        if m.group(2) == "-":
            return value or m.group(3)
        if m.group(2) == "+":
            return (m.group(3) or "") if value else ""
        return value

    return _VAR.sub(sub, text).replace(_ESCAPED_DOLLAR, "$")


def _json_strings(rest: str) -> list[str] | None:
    """The JSON form ["a", "b"] of an instruction's argument, or None if it is not one."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    """JSON form ["a", "b"] or shell form (run by /bin/sh -c)."""
    value = _json_strings(rest)
    if value is not None:
        return value
    if not rest:
        raise ValueError("requires at least one argument")
    return ["/bin/sh", "-c", rest]


def _pairs(rest: str, instruction: str) -> list[tuple[str, str]]:
    """`K=V K2="v 2"` or the legacy one-pair form `K value with spaces`."""
    if not rest:
        raise ValueError("requires at least one argument")
    rest = rest.replace("\\$", _ESCAPED_DOLLAR)
    if "=" not in rest.split(None, 1)[0]:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise ValueError("requires at least two arguments")
        return [(key, value.strip())]
    pairs = []
    for word in shlex.split(rest, posix=True):
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ValueError(f"{instruction} must have two arguments: {word!r}")
        pairs.append((key, value))
    return pairs


def _cmd(config: dict[str, Any], rest: str) -> None:
    config["Cmd"] = _command(rest) if rest != "[]" else []


def _entrypoint(config: dict[str, Any], rest: str) -> None:
    config["Entrypoint"] = _command(rest) if rest != "[]" else []


def _env(config: dict[str, Any], rest: str) -> None:
    env = config.get("Env") or []
    for key, value in _pairs(rest, "ENV"):
        value = expand(value, _env_map({"Env": env}))
        env = [item for item in env if item.partition("=")[0] != key] + [f"{key}={value}"]
    config["Env"] = env


def _label(config: dict[str, Any], rest: str) -> None:
    labels = dict(config.get("Labels") or {})
    env = _env_map(config)
    for key, value in _pairs(rest, "LABEL"):
        labels[expand(key, env)] = expand(value, env)
    config["Labels"] = labels


def _expose(config: dict[str, Any], rest: str) -> None:
    ports = dict(config.get("ExposedPorts") or {})
    words = expand(rest, _env_map(config)).split()
    if not words:
        raise ValueError("requires at least one argument")
    for word in words:
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        low, _, high = port.partition("-")
        numeric = low.isdigit() and (not high or high.isdigit())
        if proto not in ("tcp", "udp", "sctp") or not numeric:
            raise ValueError(f"invalid containerPort: {word}")
        first, last = int(low), int(high or low)
        if not 0 < first <= last <= 65535:
            raise ValueError(f"invalid port range: {word}")
        for number in range(first, last + 1):
            ports[f"{number}/{proto}"] = {}
    config["ExposedPorts"] = ports


def _user(config: dict[str, Any], rest: str) -> None:
    if not rest:
        raise ValueError("requires exactly one argument")
    config["User"] = expand(rest, _env_map(config))


def _workdir(config: dict[str, Any], rest: str) -> None:
    if not rest:
        raise ValueError("requires exactly one argument")
    path = expand(rest, _env_map(config))
    config["WorkingDir"] = posixpath.normpath(
        posixpath.join("/", config.get("WorkingDir") or "/", path)
    )


def _volume(config: dict[str, Any], rest: str) -> None:
    paths = _json_strings(rest) or []
    if not paths:
        paths = expand(rest, _env_map(config)).split()
    if not paths or any(not p.strip() for p in paths):
        raise ValueError("volume specification can not be empty")
    volumes = dict(config.get("Volumes") or {})
    volumes.update({p: {} for p in paths})
    config["Volumes"] = volumes


def _stopsignal(config: dict[str, Any], rest: str) -> None:
    if not rest or " " in rest:
        raise ValueError("requires exactly one argument")
    config["StopSignal"] = expand(rest, _env_map(config))


def _onbuild(config: dict[str, Any], rest: str) -> None:
    keyword = rest.split(None, 1)[0].upper() if rest else ""
    if keyword in ("", "ONBUILD", "FROM", "MAINTAINER"):
        raise ValueError(f"{keyword or 'ONBUILD'} isn't allowed as an ONBUILD trigger")
    config["OnBuild"] = [*(config.get("OnBuild") or []), rest]


_HANDLERS = {
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "env": _env,
    "label": _label,
    "expose": _expose,
    "user": _user,
    "workdir": _workdir,
    "volume": _volume,
    "stopsignal": _stopsignal,
    "onbuild": _onbuild,
}
