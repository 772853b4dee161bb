"""What each instruction that changes only the image's configuration does to it, as
Docker's builder dispatches them: ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL,
CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER. (RUN, COPY and ADD change
the filesystem and belong to the builder.)

`apply` takes the image config (the OCI image's `config` object, Docker's field names)
and returns the history text the legacy builder records for the step.
"""

from __future__ import annotations

import json
import posixpath
import re
import signal
from dataclasses import dataclass, field
from typing import Any

from ketch.build.dockerfile import Instruction
from ketch.build.shellwords import expand, expand_words
from ketch.errors import InvalidParameter

DEFAULT_SHELL = ["/bin/sh", "-c"]
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}


@dataclass
class StageState:
    """A stage's configuration while it is built."""
    config: dict[str, Any]
    author: str = ""
    cmd_set: bool = False  # CMD given in this stage (ENTRYPOINT then keeps it)
    args: dict[str, str] = field(default_factory=dict)  # ARGs in scope, with values

    def env(self) -> dict[str, str]:
        """What `$VAR` sees: the ARGs in scope, then ENV (which wins), as Docker does."""
        values = dict(self.args)
        for item in self.config.get("Env") or []:
            key, _, value = item.partition("=")
            values[key] = value
        return values

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)


def go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds ("1m30s", "500ms", "0")."""
    if text in ("0", ""):
        return 0
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    total, pos = 0.0, 0
    for found in _DURATION.finditer(body):
        if found.start() != pos:
            break
        total += float(found.group(1)) * _UNITS[found.group(2)]
        pos = found.end()
    if pos != len(body) or not body:
        raise InvalidParameter(f'time: invalid duration "{text}"')
    return sign * int(total)


def _signal_ok(name: str) -> bool:
    if name.isdigit():
        return 0 < int(name) < 65
    upper = name.upper()
    upper = upper if upper.startswith("SIG") else "SIG" + upper
    return hasattr(signal.Signals, upper) or upper.startswith("SIGRTM")


def _set_env(config: dict[str, Any], key: str, value: str) -> None:
    env = list(config.get("Env") or [])
    for i, item in enumerate(env):
        if item.partition("=")[0] == key:
            env[i] = f"{key}={value}"
            break
    else:
        env.append(f"{key}={value}")
    config["Env"] = env


def _command(inst: Instruction, state: StageState) -> list[str]:
    return list(inst.args) if inst.json else [*state.shell(), *inst.args]


def _go_list(values: list[str]) -> str:
    """How the legacy builder prints a list in history: [a b] (Go's %v)."""
    return "[" + " ".join(values) + "]"


def _go_quoted(values: list[str]) -> str:
    """... and a command: ["a" "b"] (Go's %q)."""
    return "[" + " ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def apply(inst: Instruction, state: StageState, escape: str = "\\") -> str:
    """Apply a configuration instruction to state; returns its history text."""
    config = state.config
    env = state.env()
    cmd = inst.cmd
    if cmd == "env":
        parts = []
        for key, value in inst.pairs:
            name = expand(key, env, escape)
            text = expand(value or "", env, escape)
            _set_env(config, name, text)
            env[name] = text
            parts.append(f"{name}={text}")
        return "ENV " + " ".join(parts)
    if cmd == "label":
        labels = dict(config.get("Labels") or {})
        parts = []
        for key, value in inst.pairs:
            name, text = expand(key, env, escape), expand(value or "", env, escape)
            labels[name] = text
            parts.append(f"{name}={text}")
        config["Labels"] = labels
        return "LABEL " + " ".join(parts)
    if cmd == "maintainer":
        state.author = expand(inst.args[0], env, escape)
        return f"MAINTAINER {state.author}"
    if cmd == "workdir":
        path = expand(inst.args[0], env, escape)
        base = config.get("WorkingDir") or "/"
        config["WorkingDir"] = posixpath.normpath(posixpath.join(base, path))
        return f"WORKDIR {config['WorkingDir']}"
    if cmd == "user":
        config["User"] = expand(inst.args[0], env, escape)
        return f"USER {config['User']}"
    if cmd == "expose":
        ports = dict(config.get("ExposedPorts") or {})
        added = []
        for word in expand_words(inst.args[0], env, escape):
            for key in _port_keys(word, inst):
                ports[key] = {}
                added.append(key)
        config["ExposedPorts"] = ports
        return "EXPOSE " + " ".join(added)
    if cmd == "volume":
        paths = ([expand(a, env, escape) for a in inst.args] if inst.json
                 else expand_words(inst.args[0], env, escape))
        volumes = dict(config.get("Volumes") or {})
        for path in paths:
            if not path.strip():
                raise inst.error("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
        return "VOLUME " + _go_list(paths)
    if cmd == "stopsignal":
        sig = expand(inst.args[0], env, escape)
        if not _signal_ok(sig):
            raise inst.error(f"Invalid signal: {sig}")
        config["StopSignal"] = sig
        return f"STOPSIGNAL {sig}"
    if cmd == "cmd":
        config["Cmd"] = _command(inst, state)
        state.cmd_set = True
        return "CMD " + _go_quoted(config["Cmd"])
    if cmd == "entrypoint":
        config["Entrypoint"] = _command(inst, state) if inst.args else None
        if not state.cmd_set:  # an inherited CMD does not outlive a new ENTRYPOINT
            config["Cmd"] = None
        return "ENTRYPOINT " + _go_quoted(config["Entrypoint"] or [])
    if cmd == "shell":
        config["Shell"] = list(inst.args)
        return "SHELL " + _go_list(inst.args)
    if cmd == "healthcheck":
        config["Healthcheck"] = _healthcheck(inst)
        return "HEALTHCHECK &{" + json.dumps(config["Healthcheck"]["Test"]) + "}"
    if cmd == "onbuild":
        trigger = inst.original.split(None, 1)[1].strip()
        config["OnBuild"] = [*(config.get("OnBuild") or []), trigger]
        return f"ONBUILD {trigger}"
    raise inst.error(f"{cmd.upper()} does not only change the configuration")


def _port_keys(word: str, inst: Instruction) -> list[str]:
    """EXPOSE 80, 80/udp, 8000-8002/tcp: the ExposedPorts keys, ranges expanded."""
    ports, _, proto = word.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise inst.error(f"invalid proto: {proto}")
    low, dash, high = ports.partition("-")
    try:
        first = int(low)
        last = int(high) if dash else first
    except ValueError:
        raise inst.error(f"invalid containerPort: {ports}") from None
    if not (0 < first <= last < 65536):
        raise inst.error(f"invalid containerPort: {ports}")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def _healthcheck(inst: Instruction) -> dict[str, Any]:
    if inst.args == ["NONE"]:
        return {"Test": ["NONE"]}
    check: dict[str, Any] = {"Test": list(inst.args)}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        if flag in inst.flags:
            value = go_duration(inst.flags[flag][-1])
            if value != 0 and value < 1_000_000:
                raise inst.error(f"{key} \"{inst.flags[flag][-1]}\" cannot be less than 1ms")
            if value:
                check[key] = value
    if "retries" in inst.flags:
        try:
            retries = int(inst.flags["retries"][-1])
        except ValueError:
            raise inst.error(f"invalid retries: {inst.flags['retries'][-1]}") from None
        if retries < 0:
            raise inst.error("--retries cannot be negative")
        if retries:
            check["Retries"] = retries
    return check
