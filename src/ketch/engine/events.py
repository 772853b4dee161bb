"""The daemon's events (`GET /events`, `docker events`), as dockerd publishes them: what
happened to containers, images, networks and volumes, each with its actor's attributes;
the last 1024 kept in memory for `since`, the rest streamed to whoever listens."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Any

HISTORY = 1024  # events kept for `since` (dockerd keeps 256; more costs little)
QUEUE = 4096  # events a slow listener may fall behind by before it is dropped

Numbered = tuple[int, dict[str, Any]]


def record(kind: str, action: str, actor: str, attributes: dict[str, str],
           *, source: str = "") -> dict[str, Any]:
    """One event in the API's form (status/id/from too, for containers and images)."""
    now = time.time_ns()
    event: dict[str, Any] = {}
    if kind in ("container", "image"):
        event.update(status=action, id=actor)
        if source:
            event["from"] = source
    event.update(Type=kind, Action=action,
                 Actor={"ID": actor, "Attributes": dict(sorted(attributes.items()))},
                 scope="local", time=now // 1_000_000_000, timeNano=now)
    return event


def _exact(filters: dict[str, list[str]], key: str, value: str) -> bool:
    return not filters.get(key) or value in filters[key]


def _fuzzy(filters: dict[str, list[str]], key: str, value: str) -> bool:
    """Exact, or a prefix of value (an ID's first characters), as dockerd's FuzzyMatch."""
    return not filters.get(key) or any(value.startswith(v) for v in filters[key])


def _strip_tag(name: str) -> str:
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Whether the event passes the filters: values of one key are alternatives, keys all
    apply (dockerd's events.Filter)."""
    attributes = event["Actor"]["Attributes"]
    actor, action = event["Actor"]["ID"], event["Action"]
    name = attributes.get("name", "")

    def named(key: str) -> bool:
        return _fuzzy(filters, key, actor) or _fuzzy(filters, key, name)

    # health_status, exec_create, exec_start name actions with a ": detail" after them
    if set(filters.get("event", [])) & {"health_status", "exec_create", "exec_start"}:
        if not _fuzzy(filters, "event", action):
            return False
    elif not _exact(filters, "event", action):
        return False
    image = name if event["Type"] == "image" else attributes.get("image", "")
    images = filters.get("image")
    if images and not {actor, image, _strip_tag(actor), _strip_tag(image)} & set(images):
        return False
    return (_exact(filters, "type", event["Type"]) and _exact(filters, "scope", "local")
            and all(named(key) for key in ("container", "daemon", "network", "volume"))
            and all(attributes.get(k) == v if eq else k in attributes
                    for k, eq, v in (item.partition("=") for item in
                                     filters.get("label", []))))


class EventBus:
    """Events to whoever listens, in order, from the event loop or from a worker thread
    (image and volume stores run in threads). Each event has a sequence number, so that a
    listener reading the history and then its queue sees every event once."""

    def __init__(self) -> None:
        self.history: collections.deque[Numbered] = collections.deque(maxlen=HISTORY)
        self.listeners: set[asyncio.Queue[Numbered]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()
        self.sequence = 0

    def publish(self, kind: str, action: str, actor: str, attributes: dict[str, str],
                *, source: str = "") -> None:
        event = record(kind, action, actor, attributes, source=source)
        with self.lock:
            self.sequence += 1
            numbered = (self.sequence, event)
            self.history.append(numbered)
        if not self.listeners or self.loop is None:
            return
        try:
            in_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            in_loop = False
        if in_loop:
            self._deliver(numbered)
        else:
            self.loop.call_soon_threadsafe(self._deliver, numbered)

    def _deliver(self, numbered: Numbered) -> None:
        for queue in list(self.listeners):
            try:
                queue.put_nowait(numbered)
            except asyncio.QueueFull:
                self.listeners.discard(queue)  # it does not read: it misses the rest

    def subscribe(self) -> tuple[asyncio.Queue[Numbered], list[Numbered]]:
        """A queue of the events to come, and the ones kept from before."""
        self.loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Numbered] = asyncio.Queue(QUEUE)
        with self.lock:
            self.listeners.add(queue)
            return queue, list(self.history)

    def unsubscribe(self, queue: asyncio.Queue[Numbered]) -> None:
        self.listeners.discard(queue)
