"""What ketch knows of a layer's life in registries (Docker's distribution metadata): for
a diffID, the digest and size of its compressed blob and the repositories known to hold
it. Pull records it; push uses it to skip uploads (the blob is there already) or to mount
it from another repository of the same registry instead of uploading."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

from ketch.images.fsutil import atomic_write

_LOCK = threading.Lock()
MAX_REPOS = 50  # remembered per blob, newest last


@dataclass
class BlobRecord:
    digest: str
    size: int
    repos: list[str]  # "127.0.0.1:5000/team/app", "docker.io/library/busybox"


class DistributionMetadata:
    def __init__(self, data_root: str) -> None:
        self.directory = os.path.join(data_root, "distribution")

    def _path(self, diff_id: str) -> str:
        return os.path.join(self.directory, diff_id.removeprefix("sha256:"))

    def get(self, diff_id: str) -> BlobRecord | None:
        try:
            with open(self._path(diff_id), "rb") as f:
                doc = json.load(f)
            return BlobRecord(str(doc["digest"]), int(doc["size"]),
                              [str(r) for r in doc.get("repos", [])])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def add(self, diff_id: str, digest: str, size: int, repo: str) -> None:
        with _LOCK:
            record = self.get(diff_id)
            if record is None or record.digest != digest:
                record = BlobRecord(digest, size, [])
            if repo in record.repos:
                record.repos.remove(repo)
            record.repos = [*record.repos, repo][-MAX_REPOS:]
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            atomic_write(self._path(diff_id), json.dumps(
                {"digest": record.digest, "size": record.size, "repos": record.repos}).encode())
