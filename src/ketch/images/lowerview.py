"""The read-only view of an image's stacked layers, as overlayfs shows it, without a mount.

Layers are extracted in overlay format (image/layers/<chainID>/diff): a 0:0 character device
named X deletes X from the layers below, a directory with trusted.overlay.opaque=y hides
everything below it. A directory of the view is the list of layer directories that make it
(top first); looking a name up in it is a few lstat calls, so a container's changes can be
compared with the image without walking the whole image.
"""

from __future__ import annotations

import os
import stat

from ketch.util.tarball import OPAQUE_XATTR

LayerDirs = list[str]  # the layer directories that make one directory of the view, top first


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | int) -> bool:
    """The directory (a path, or an open fd) hides what the layers below have there."""
    try:
        if isinstance(path, int):
            return os.getxattr(path, OPAQUE_XATTR) == b"y"
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def root_dirs(layers: list[str]) -> LayerDirs:
    """The view's root from the layer directories, top first (an opaque root ends it)."""
    dirs = []
    for layer in layers:
        dirs.append(layer)
        if is_opaque(layer):
            break
    return dirs


def lookup(dirs: LayerDirs, name: str) -> tuple[os.stat_result, str] | None:
    """The entry `name` of a directory of the view and the path it comes from, or None."""
    for directory in dirs:
        path = os.path.join(directory, name)
        st = _lstat(path)
        if st is None:
            continue
        if is_whiteout(st):
            return None
        return st, path
    return None


def descend(dirs: LayerDirs, name: str) -> LayerDirs:
    """The layer directories that make the subdirectory `name` (empty if it is not one)."""
    found: LayerDirs = []
    for directory in dirs:
        path = os.path.join(directory, name)
        st = _lstat(path)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            break  # a whiteout or a file hides the directories below
        found.append(path)
        if is_opaque(path):
            break
    return found


def listing(dirs: LayerDirs) -> dict[str, tuple[os.stat_result, str]]:
    """Every entry of a directory of the view: name -> (lstat, the path it comes from)."""
    entries: dict[str, tuple[os.stat_result, str]] = {}
    hidden: set[str] = set()
    for directory in dirs:
        with os.scandir(directory) as it:
            for entry in it:
                if entry.name in entries or entry.name in hidden:
                    continue
                st = entry.stat(follow_symlinks=False)
                if is_whiteout(st):
                    hidden.add(entry.name)
                else:
                    entries[entry.name] = (st, entry.path)
    return entries
