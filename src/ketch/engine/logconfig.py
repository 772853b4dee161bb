"""HostConfig.LogConfig (`--log-driver`, `--log-opt`) as dockerd checks it: json-file (the
default), local (json-file's format here, with local's rotation defaults) and none; the
rotation options max-size and max-file. The supervisor does the writing and rotating."""

from __future__ import annotations

import re
from typing import Any

from ketch.errors import InvalidParameter

OPTIONS = {
    "json-file": {"max-size", "max-file", "compress", "labels", "labels-regex", "env",
                  "env-regex", "tag"},
    "local": {"max-size", "max-file", "compress"},
    "none": set(),
}
LOCAL_DEFAULTS = {"max-size": "20m", "max-file": "5"}  # dockerd's local driver keeps 100 MB
_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?")
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def human_size(text: str) -> int:
    """go-units FromHumanSize: decimal multiples ("10k" is 10000 bytes)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidParameter(f"invalid size: '{text}'")
    return int(float(match.group(1)) * _DECIMAL[(match.group(2) or "").lower()])


def check(host: dict[str, Any], default: dict[str, Any] | None = None) -> dict[str, Any]:
    """The LogConfig to store: {"Type": driver, "Config": options}; no driver means the
    daemon's default (log-driver), whose options (log-opts) fill in those not given, as
    dockerd merges them."""
    config = host.get("LogConfig") or {}
    if not isinstance(config, dict):
        raise InvalidParameter("invalid HostConfig.LogConfig: must be an object")
    default = default or {"Type": "json-file", "Config": {}}
    driver = config.get("Type") or default["Type"]
    options = config.get("Config") or {}
    if isinstance(options, dict) and driver == default["Type"]:
        options = {**default["Config"], **options}
    if not isinstance(driver, str) or not isinstance(options, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        raise InvalidParameter("invalid HostConfig.LogConfig: Type must be a string and "
                               "Config an object of strings")
    if driver not in OPTIONS:
        raise InvalidParameter(f"logger: no log driver named '{driver}' is registered")
    for key in options:
        if key not in OPTIONS[driver]:
            raise InvalidParameter(f"unknown log opt '{key}' for {driver} log driver")
    rotation({"Type": driver, "Config": options})
    return {"Type": driver, "Config": dict(options)}


def rotation(config: dict[str, Any]) -> tuple[int, int]:
    """(max-size in bytes, 0 for none; max-file) of a stored LogConfig."""
    options = {**(LOCAL_DEFAULTS if config.get("Type") == "local" else {}),
               **(config.get("Config") or {})}
    size = 0
    if "max-size" in options:
        size = human_size(options["max-size"])
        if size <= 0:
            raise InvalidParameter("max-size must be a positive number")
    files = 1
    if "max-file" in options:
        text = options["max-file"]
        if not text.lstrip("-").isdigit():
            raise InvalidParameter(f'strconv.Atoi: parsing "{text}": invalid syntax')
        files = int(text)
        if files < 1:
            raise InvalidParameter("max-file cannot be less than 1")
    return size, files
