"""Health checks, as dockerd runs them: the image's HEALTHCHECK, overridden field by field
by the container's (`--health-*`; `NONE` turns it off); a probe every Interval (every
StartInterval while the start period lasts), run as an exec in the container, at most
Timeout long; its last 5 results (4 KiB of output each) in State.Health, `healthy` after a
success, `unhealthy` after Retries failures in a row (failures in the start period do not
count until the first success).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ketch.errors import InvalidParameter

if TYPE_CHECKING:
    from ketch.engine.containers import Container
    from ketch.engine.engine import Engine

SECOND = 1_000_000_000
DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "StartPeriod": 0,
            "StartInterval": 5 * SECOND, "Retries": 3}
MAX_LOG = 5
MAX_OUTPUT = 4096


def check(healthcheck: Any) -> None:
    """Config.Healthcheck's bad input, in dockerd's words."""
    if healthcheck is None:
        return
    if not isinstance(healthcheck, dict):
        raise InvalidParameter("invalid Healthcheck: must be an object")
    test = healthcheck.get("Test")
    if test is not None and not (isinstance(test, list) and all(isinstance(t, str)
                                                                for t in test)):
        raise InvalidParameter("invalid Healthcheck.Test: must be a list of strings")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = healthcheck.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidParameter(f"invalid Healthcheck.{key}: must be a number")
        if value != 0 and value < 1_000_000:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    retries = healthcheck.get("Retries") or 0
    if not isinstance(retries, int) or isinstance(retries, bool):
        raise InvalidParameter("invalid Healthcheck.Retries: must be a number")
    if retries < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")


def effective(image: dict[str, Any] | None, container: dict[str, Any] | None
              ) -> dict[str, Any] | None:
    """The check that applies, defaults filled in; None if there is none."""
    merged = dict(image or {})
    for key, value in (container or {}).items():
        if value:  # a zero field of the container's keeps the image's
            merged[key] = value
    test = merged.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    return {**DEFAULTS, **{k: v for k, v in merged.items() if v}}


def go_duration(nanoseconds: int) -> str:
    """time.Duration.String() for whole milliseconds and up: "500ms", "1s", "1m30s"."""
    if nanoseconds < SECOND:
        return f"{nanoseconds // 1_000_000}ms"
    seconds = nanoseconds / SECOND
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:g}s"
    if hours or minutes:
        text = f"{int(minutes)}m" + text
    if hours:
        text = f"{int(hours)}h" + text
    return text


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


async def monitor(engine: Engine, c: Container, check: dict[str, Any]) -> None:
    """Probe until cancelled (the container stops) or the container is gone."""
    health = c.state["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": []}
    c.save()
    test = check["Test"]
    shell = list(c.config.get("Shell") or ["/bin/sh", "-c"])
    cmd = list(test[1:]) if test[0] == "CMD" else [*shell, " ".join(test[1:])]
    started = time.monotonic()
    while True:
        in_start = time.monotonic() - started < check["StartPeriod"] / SECOND
        pause = check["StartInterval"] if in_start and health["Status"] == "starting" \
            else check["Interval"]
        await asyncio.sleep(pause / SECOND)
        if not c.running or c.id not in engine.containers.by_id:
            return
        if c.state.get("Paused"):
            continue
        begun = _now()
        code, output = await engine.execs.probe(c, cmd, check["Timeout"] / SECOND,
                                                go_duration(check["Timeout"]))
        health["Log"] = [*health["Log"], {"Start": begun, "End": _now(), "ExitCode": code,
                                          "Output": output[:MAX_OUTPUT]}][-MAX_LOG:]
        in_start = time.monotonic() - started < check["StartPeriod"] / SECOND
        before = health["Status"]
        if code == 0:
            health.update(Status="healthy", FailingStreak=0)
        elif not (in_start and health["Status"] == "starting"):
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= check["Retries"]:
                health["Status"] = "unhealthy"
        if c.id in engine.containers.by_id:
            c.save()
            if health["Status"] != before:
                engine.container_event(c, f"health_status: {health['Status']}")
