"""busybox:latest made from the host's busybox-static package.

The rootfs is the statically linked /bin/busybox, a symlink for each applet at the path
the binary itself lists (`busybox --list-full`), and the small skeleton of Docker's busybox
image (users, groups, /tmp, /root, ...). Nothing runs on the host but `--list-full`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from ketch.bootstrap.dpkg import installed_package
from ketch.bootstrap.metadata import DEFAULT_PATH, BaseImage, oci_platform
from ketch.bootstrap.output import Output
from ketch.bootstrap.tarball import sha256_file, write_tree_tar
from ketch.errors import Conflict, HostError

PACKAGE = "busybox-static"
BINARY = Path("/bin/busybox")
REFERENCE = "busybox:latest"
TARBALL = "busybox.tar"

# Directories of Docker's busybox image, with their modes; applet directories are added.
SKELETON_DIRS = {
    "bin": 0o755,
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o555,
    "root": 0o700,
    "sys": 0o555,
    "tmp": 0o1777,
    "usr": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "sbin": 0o755,
    "var": 0o755,
    "var/spool": 0o755,
    "var/spool/mail": 0o755,
    "var/www": 0o755,
}

# The same users and groups as Docker's busybox image (from buildroot's skeleton).
_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "bin:x:2:2:bin:/bin:/bin/false\n"
    "sys:x:3:3:sys:/dev:/bin/false\n"
    "sync:x:4:100:sync:/bin:/bin/sync\n"
    "mail:x:8:8:mail:/var/spool/mail:/bin/false\n"
    "www-data:x:33:33:www-data:/var/www:/bin/false\n"
    "operator:x:37:37:Operator:/var:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
)
_GROUP = (
    "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\n"
    "lp:x:7:\nmail:x:8:\nkmem:x:9:\nwheel:x:10:root\ncdrom:x:11:\ndialout:x:18:\n"
    "floppy:x:19:\nvideo:x:28:\naudio:x:29:\ntape:x:32:\nwww-data:x:33:\n"
    "operator:x:37:\nutmp:x:43:\nplugdev:x:46:\nstaff:x:50:\nlock:x:54:\n"
    "netdev:x:82:\nusers:x:100:\nnogroup:x:65534:\n"
)
_SHADOW = "".join(f"{entry.split(':')[0]}:*::0:::::\n" for entry in _PASSWD.splitlines())
SKELETON_FILES = {  # path: (mode, content)
    "etc/passwd": (0o644, _PASSWD),
    "etc/group": (0o644, _GROUP),
    "etc/shadow": (0o600, _SHADOW),  # every password locked
}

# `linuxrc` is the init of an initrd: meaningless in a container.
_SKIPPED_APPLETS = {"bin/busybox", "linuxrc"}


def applet_paths(binary: Path = BINARY) -> list[str]:
    """The applet paths the binary itself reports, relative to /, e.g. "bin/sh"."""
    try:
        result = subprocess.run(
            [str(binary), "--list-full"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise HostError(f"{binary} not found: apt-get install {PACKAGE}") from None
    if result.returncode != 0:
        raise HostError(f"{binary} --list-full failed: {result.stderr.strip()}")
    paths = []
    for line in result.stdout.split():
        path = PurePosixPath(line)
        if path.is_absolute() or ".." in path.parts:
            raise HostError(f"{binary} --list-full reported a strange path: {line}")
        if line not in _SKIPPED_APPLETS:
            paths.append(line)
    return paths


def make_busybox_rootfs(dest: Path) -> None:
    """Populate dest (missing or empty) with a busybox root filesystem.

    Applets are relative symlinks to /bin/busybox, so the tree works wherever it is
    mounted and `dest/bin/sh` runs on the host too. Ownership is the caller's.
    """
    installed_package(PACKAGE)  # not the `busybox` package: its binary is dynamic
    applets = applet_paths()
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise Conflict(f"cannot make a busybox rootfs in {dest}: directory is not empty")
    for directory in sorted({*SKELETON_DIRS, *(str(PurePosixPath(a).parent) for a in applets)}):
        if directory == ".":
            continue
        path = dest / directory
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(SKELETON_DIRS.get(directory, 0o755))  # explicit: the umask must not matter
    shutil.copyfile(BINARY, dest / "bin/busybox")
    (dest / "bin/busybox").chmod(0o755)
    for applet in applets:
        link = dest / applet
        link.symlink_to(os.path.relpath("bin/busybox", PurePosixPath(applet).parent))
    for name, (mode, content) in SKELETON_FILES.items():
        (dest / name).write_text(content)
        (dest / name).chmod(mode)


def recipe() -> str:
    """Digest of what shapes the rootfs besides the binary: a change means rebuild."""
    shape = json.dumps([SKELETON_DIRS, SKELETON_FILES, sorted(_SKIPPED_APPLETS), "symlinks"])
    return hashlib.sha256(shape.encode()).hexdigest()[:16]


def build_busybox(out: Output, force: bool = False) -> tuple[BaseImage, bool]:
    """Make busybox.tar in out unless it is current; returns (image, whether it was built)."""
    version, dpkg_arch = installed_package(PACKAGE)
    with out.locked():
        current = out.current(TARBALL)
        if (
            not force
            and current is not None
            and current.version == version
            and current.recipe == recipe()
        ):
            return current, False
        # The binary's mtime comes from the .deb, so the tar depends only on the package.
        epoch = int(BINARY.stat().st_mtime)
        architecture, variant = oci_platform(dpkg_arch)
        with tempfile.TemporaryDirectory() as scratch, out.partial(TARBALL) as tar_path:
            make_busybox_rootfs(Path(scratch, "rootfs"))
            with open(tar_path, "wb") as f:
                write_tree_tar(Path(scratch, "rootfs"), f, epoch)
            image = BaseImage(
                reference=REFERENCE,
                tarball=TARBALL,
                architecture=architecture,
                variant=variant,
                os="linux",
                created=datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                package=PACKAGE,
                version=version,
                diff_id=sha256_file(tar_path),
                size=tar_path.stat().st_size,
                cmd=("sh",),
                env=(DEFAULT_PATH,),
                recipe=recipe(),
            )
            out.publish(tar_path, image)
        return image, True
