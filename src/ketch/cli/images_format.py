"""`images` rows: one per repository:tag of each image from `GET /images/json`, like Docker's
image formatter (dangling images show as <none> <none>)."""

from __future__ import annotations

import time

from ketch.cli.units import human_duration, human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGEST_FORMAT = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}"
                 "\t{{.Size}}")
QUIET_FORMAT = "{{.ID}}"
TITLES = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
          "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
          "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE",
          "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


def familiar_name(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def split_reference(ref: str) -> tuple[str, str]:
    """("repo", "tag") of "repo:tag"; the tag is "" if there is none."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, ""


class ImageRow:
    """The placeholders of one image row."""

    def __init__(self, data: dict[str, Any], repo: str, tag: str, digest: str,
                 trunc: bool = True, now: float | None = None) -> None:
        self._i = data
        self.Repository = repo
        self.Tag = tag
        self.Digest = digest
        self._trunc = trunc
        self._now = time.time() if now is None else now

    @property
    def ID(self) -> str:
        ident = str(self._i.get("Id", ""))
        return ident.removeprefix("sha256:")[:12] if self._trunc else ident

    @property
    def CreatedSince(self) -> str:
        created = float(self._i.get("Created", 0) or 0)
        if created <= 0:
            return "N/A"
        return human_duration(self._now - created) + " ago"

    @property
    def CreatedAt(self) -> str:
        created = float(self._i.get("Created", 0) or 0)
        return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created))

    @property
    def Size(self) -> str:
        return human_size(float(self._i.get("Size", 0) or 0))

    @property
    def VirtualSize(self) -> str:
        return human_size(float(self._i.get("VirtualSize", self._i.get("Size", 0)) or 0), 4)

    @property
    def SharedSize(self) -> str:
        shared = self._i.get("SharedSize", -1)
        return "N/A" if shared is None or shared < 0 else human_size(float(shared), 4)

    @property
    def UniqueSize(self) -> str:
        shared = self._i.get("SharedSize", -1)
        if shared is None or shared < 0:
            return "N/A"
        return human_size(float(self._i.get("Size", 0) or 0) - float(shared), 4)

    @property
    def Containers(self) -> str:
        count = self._i.get("Containers", -1)
        return "N/A" if count is None or count < 0 else str(count)

    def to_json(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in sorted(TITLES)}


def is_dangling(image: dict[str, Any]) -> bool:
    tags, digests = image.get("RepoTags") or [], image.get("RepoDigests") or []
    if not tags and not digests:
        return True
    return tags == ["<none>:<none>"] and digests == ["<none>@<none>"]


def image_rows(images: list[dict[str, Any]], digests: bool = False, trunc: bool = True,
               now: float | None = None) -> list[ImageRow]:
    """imageFormatTaggedAndDigest: a row per repo:tag (and per digest with --digests)."""
    rows: list[ImageRow] = []
    for image in images:
        if is_dangling(image):
            rows.append(ImageRow(image, "<none>", "<none>", "<none>", trunc, now))
            continue
        repo_tags: dict[str, list[str]] = {}
        for ref in image.get("RepoTags") or []:
            if ref == "<none>:<none>":
                continue
            repo, tag = split_reference(ref)
            if tag:
                repo_tags.setdefault(familiar_name(repo), []).append(tag)
        repo_digests: dict[str, list[str]] = {}
        for ref in image.get("RepoDigests") or []:
            repo, _, digest = ref.partition("@")
            if digest and repo != "<none>":
                repo_digests.setdefault(familiar_name(repo), []).append(digest)
        for repo, tags in repo_tags.items():
            found = repo_digests.pop(repo, [])
            for tag in tags:
                for digest in (found if digests and found else ["<none>"]):
                    rows.append(ImageRow(image, repo, tag, digest, trunc, now))
        for repo, found in repo_digests.items():
            if digests:
                rows.extend(ImageRow(image, repo, "<none>", d, trunc, now) for d in found)
            else:
                rows.append(ImageRow(image, repo, "<none>", "", trunc, now))
    return rows
