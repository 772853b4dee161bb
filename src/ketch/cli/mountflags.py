"""`-v`, `--mount` and `--tmpfs` as the docker CLI turns them into the API's HostConfig:
relative `-v` host paths made absolute, `--mount`'s CSV read into a Mount object."""

from __future__ import annotations

import os

from ketch.cli.command import CLIError

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
          "g": 1024**3, "gb": 1024**3, "t": 1024**4, "tb": 1024**4}
_TRUE = {"", "1", "true", "t", "yes", "y"}


def volume_flag(value: str) -> str:
    """`-v ./dir:/x` means the directory here, as docker 23+ reads it."""
    source, sep, rest = value.partition(":")
    if sep and (source in (".", "..") or source.startswith(("./", "../"))):
        return os.path.abspath(source) + ":" + rest
    return value


def _bool(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in ("0", "false", "f", "no", "n"):
        return False
    raise CLIError(f'invalid argument "{key}={value}" for "--mount" flag: '
                   f"invalid value for {key}: {value}", 125)


def _bytes(text: str) -> int:
    number = text.rstrip("bBkKmMgGtT")
    unit = text[len(number):].lower()
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        raise CLIError(f'invalid argument "tmpfs-size={text}" for "--mount" flag: '
                       "invalid size", 125) from None


def mount_flag(value: str) -> dict[str, object]:
    """A `--mount type=bind,source=/a,target=/b,readonly` as the API's Mount."""
    mount: dict[str, object] = {"Type": "volume"}
    volume: dict[str, object] = {}
    for field in value.split(","):
        key, sep, val = field.partition("=")
        key = key.strip().lower()
        if key in ("type",):
            mount["Type"] = val
        elif key in ("source", "src"):
            mount["Source"] = val
        elif key in ("target", "destination", "dst"):
            mount["Target"] = val
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool(key, val)
        elif key == "bind-propagation":
            mount.setdefault("BindOptions", {})["Propagation"] = val  # type: ignore[index]
        elif key == "volume-nocopy":
            volume["NoCopy"] = _bool(key, val)
        elif key == "volume-label":
            name, _, label = val.partition("=")
            volume.setdefault("Labels", {})[name] = label  # type: ignore[index]
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = val  # type: ignore[index]
        elif key == "volume-opt":
            name, _, option = val.partition("=")
            config = volume.setdefault("DriverConfig", {})
            config.setdefault("Options", {})[name] = option  # type: ignore[attr-defined]
        elif key == "tmpfs-size":
            mount.setdefault("TmpfsOptions", {})["SizeBytes"] = _bytes(val)  # type: ignore[index]
        elif key == "tmpfs-mode":
            try:
                mode = int(val, 8)
            except ValueError:
                raise CLIError(f'invalid argument "{field}" for "--mount" flag: '
                               "invalid tmpfs-mode", 125) from None
            mount.setdefault("TmpfsOptions", {})["Mode"] = mode  # type: ignore[index]
        elif key == "consistency":
            mount["Consistency"] = val
        else:
            raise CLIError(f'invalid argument "{value}" for "--mount" flag: '
                           f"unexpected key '{key}' in '{field}'", 125)
        if not sep and key not in ("readonly", "ro", "volume-nocopy"):
            raise CLIError(f'invalid argument "{value}" for "--mount" flag: invalid field '
                           f"'{field}' must be a key=value pair", 125)
    if volume:
        mount["VolumeOptions"] = volume
    if not mount.get("Target"):
        raise CLIError(f'invalid argument "{value}" for "--mount" flag: target is required',
                       125)
    return mount


def tmpfs_flag(values: list[str]) -> dict[str, str]:
    """`--tmpfs /run:size=1m` as HostConfig.Tmpfs."""
    result: dict[str, str] = {}
    for value in values:
        path, _, options = value.partition(":")
        result[path] = options
    return result
