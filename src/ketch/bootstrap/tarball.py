"""Plain, reproducible layer tarballs: sorted entries, fixed mtimes, numeric owners 0:0.

The same directory tree always gives the same bytes, hence the same diff_id, whatever the
host's clock, umask or user names.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO


def tar_info(path: Path, arcname: str, mtime: int) -> tarfile.TarInfo:
    """A TarInfo for path, stripped of everything that differs between hosts."""
    st = path.lstat()
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
    else:
        raise ValueError(f"cannot put {path} in a layer: not a file, directory or symlink")
    return info


def write_tree_tar(root: Path, out: BinaryIO, mtime: int) -> None:
    """Write the tree under root (not root itself) to out as a tar, depth first, sorted."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def add_children(directory: Path, prefix: str) -> None:
            for name in sorted(os.listdir(directory)):
                path = directory / name
                info = tar_info(path, prefix + name, mtime)
                if info.isreg():
                    with open(path, "rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)
                if info.isdir():
                    add_children(path, f"{info.name}/")

        add_children(root, "")


def sha256_file(path: Path) -> str:
    """The file's digest as "sha256:<hex>", the form image configs use for diff_ids."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
