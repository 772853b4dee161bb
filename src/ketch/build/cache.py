"""The build cache: which image a step made on top of which parent.

A step's key is the sha256 of its parent image ID and a description of the step (the
instruction as evaluated: its history text, the build args it saw, the resulting config,
and for COPY and ADD a checksum of the sources' content and metadata). The map lives in
one JSON file under the data root, rewritten atomically, so it survives a restart; an
entry whose image has been removed is a miss. `builder prune` empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any

from ketch.runtime.state import write_atomic

_LOCK = threading.Lock()  # one writer at a time (builds run side by side)


def step_key(parent: str | None, description: Any) -> str:
    text = json.dumps([parent or "", description], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class BuildCache:
    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, "cache.json")
        self.directory = directory

    def _read(self) -> dict[str, str]:
        try:
            with open(self.path, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # a damaged cache is an empty one: builds just run again
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
            if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def put(self, key: str, image_id: str) -> None:
        with _LOCK:
            entries = self._read()
            entries[key] = image_id
            self._write(entries)

    def forget(self, image_ids: set[str]) -> None:
        with _LOCK:
            entries = self._read()
            kept = {k: v for k, v in entries.items() if v not in image_ids}
            if len(kept) != len(entries):
                self._write(kept)

    def prune(self) -> int:
        """Empty the cache; returns how many entries it had."""
        with _LOCK:
            count = len(self._read())
            self._write({})
            return count

    def image_ids(self) -> set[str]:
        return set(self._read().values())

    def _write(self, entries: dict[str, str]) -> None:
        os.makedirs(self.directory, exist_ok=True)
        write_atomic(self.path, json.dumps(entries, sort_keys=True).encode())
