"""Go's path rules as Docker's code applies them to `cp` paths (filepath.Clean, Base, Dir,
Join, and the archive package's trailing "/" and "/." rules), for the CLI and the daemon
alike: both ends of `docker cp` must read a path the same way."""

from __future__ import annotations

import posixpath


def clean(path: str) -> str:
    """filepath.Clean: posixpath.normpath, but any run of leading slashes is one."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def base(path: str) -> str:
    """filepath.Base: "" is ".", only slashes is "/"."""
    if not path:
        return "."
    return path.rstrip("/").rpartition("/")[2] or "/"


def dirname(path: str) -> str:
    """filepath.Dir."""
    return clean(path[: path.rfind("/") + 1])


def join(*parts: str) -> str:
    """filepath.Join: the non-empty parts, cleaned (an absolute part does not reset)."""
    kept = [p for p in parts if p]
    return clean("/".join(kept)) if kept else ""


def current_dir(path: str) -> bool:
    return base(path) == "."


def preserve_trailing(cleaned: str, original: str) -> str:
    """archive.PreserveTrailingDotOrSeparator: a trailing "/." or "/" of the original
    survives the cleaning, because it changes what is meant."""
    if current_dir(original) and not current_dir(cleaned):
        cleaned = (cleaned if cleaned.endswith("/") else cleaned + "/") + "."
    if original.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def split_dir_entry(path: str) -> tuple[str, str]:
    """archive.SplitPathDirEntry: cleaned, but a trailing "." is kept."""
    cleaned = clean(path)
    if current_dir(path):
        cleaned += "/."
    return dirname(cleaned), base(cleaned)
