"""debian:bookworm-slim made with mmdebstrap from Debian's packages.

mmdebstrap builds a minbase chroot with merged /usr and streams it as a tar; this module
rewrites that stream into the layer tarball: names without "./", an empty /dev (no device
nodes from the host), and the files Docker's slim images leave out dropped even where
mmdebstrap's first extraction bypassed dpkg's path filters. The same filters stay in the
image (/etc/dpkg/dpkg.cfg.d/docker), so packages installed later are slim too.
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import subprocess
import tarfile
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import IO

from ketch.bootstrap.dpkg import native_architecture, require_tool
from ketch.bootstrap.metadata import DEFAULT_PATH, BaseImage, oci_platform
from ketch.bootstrap.output import Output
from ketch.bootstrap.tarball import sha256_file
from ketch.errors import HostError

SUITE = "bookworm"
REFERENCE = "debian:bookworm-slim"
TARBALL = "debian-bookworm-slim.tar"
FAILED_LOG = "debian-bookworm-slim.log"  # mmdebstrap's log, kept when a build fails
VERSION_PACKAGE = "base-files"  # its version is the Debian point release, e.g. 12.11
HOOKS = Path(__file__).with_name("debian_slim.sh")
MERGED_USR_HOOKS = Path("/usr/share/mmdebstrap/hooks/merged-usr")

# dpkg path filters of Docker's slim images (fnmatch, where "*" also matches "/").
SLIM_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/groff/*",
    "/usr/share/info/*",
    "/usr/share/linda/*",
    "/usr/share/lintian/overrides/*",
    "/usr/share/locale/*",
    "/usr/share/man/*",
)
SLIM_INCLUDES = (
    "/usr/share/doc/*/copyright",  # licences must ship with the binaries
    "/usr/share/doc/kde/HTML/C/*",
    "/usr/share/gnome/help/*/C/*",
    "/usr/share/locale/all_languages",
    "/usr/share/locale/currency/*",
    "/usr/share/locale/l10n/*",
    "/usr/share/locale/languages",
    "/usr/share/locale/locale.alias",
    "/usr/share/omf/*/*-C.emf",
)


def host_sources(suite: str = SUITE, apt_dir: Path = Path("/etc/apt")) -> list[str]:
    """The machine's own apt source files that serve `suite` (one-line or deb822 style).

    mmdebstrap pastes a MIRROR argument that names an existing file into the new
    system's sources, so the image comes from where this machine gets its packages.
    """
    candidates = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        candidates += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    found = []
    for path in candidates:
        try:
            words = path.read_text().replace("\n", " ").split()
        except OSError:
            continue
        if any(w == suite or w.startswith(f"{suite}-") for w in words):
            found.append(str(path))
    return found


def mmdebstrap_command(hooks: Path = HOOKS, sources: list[str] | None = None) -> list[str]:
    """The mmdebstrap command line that streams the slim rootfs tar to stdout.

    The mirrors are the machine's own apt sources for the suite; without any,
    mmdebstrap picks Debian's archive (plus updates and security) itself.
    """
    hook = shlex.quote(str(hooks))
    return [
        "mmdebstrap",
        "--variant=minbase",
        "--format=tar",
        # debootstrap's merged /usr, without pulling usrmerge and perl into the image
        f"--hook-dir={MERGED_USR_HOOKS}",
        "--skip=chroot/policy-rc.d",
        "--skip=cleanup/apt",  # done by the customize hook, see there
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in SLIM_EXCLUDES),
        *(f"--dpkgopt=path-include={pattern}" for pattern in SLIM_INCLUDES),
        f'--extract-hook=sh {hook} extract "$1"',
        f'--customize-hook=sh {hook} customize "$1"',
        SUITE,
        "-",
        *(host_sources() if sources is None else sources),
    ]


def recipe() -> str:
    """Digest of everything that shapes the image except the archive's current packages."""
    shape = json.dumps([mmdebstrap_command(Path("HOOKS"), sources=[]), HOOKS.read_text(),
                        "layer-v1"])
    return hashlib.sha256(shape.encode()).hexdigest()[:16]


def is_slimmed(path: str) -> bool:
    """Whether a slim image leaves out this absolute path (directories are always kept)."""
    return any(fnmatchcase(path, p) for p in SLIM_EXCLUDES) and not any(
        fnmatchcase(path, p) for p in SLIM_INCLUDES
    )


def _layer_name(name: str) -> str:
    """ "./usr/bin/" -> "usr/bin"; "." for the root. Refuses names that escape the root."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise HostError(f"mmdebstrap produced an unsafe tar member: {name}")
    return str(path)


def installed_versions(dpkg_status: str) -> dict[str, str]:
    """Package -> version for every installed package of a /var/lib/dpkg/status file."""
    versions = {}
    for paragraph in dpkg_status.split("\n\n"):
        fields = {}
        for line in paragraph.splitlines():
            key, sep, value = line.partition(": ")
            if sep and not line.startswith(" "):  # indented lines continue a field
                fields[key] = value
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            versions[fields["Package"]] = fields.get("Version", "")
    return versions


def copy_slim_layer(source: IO[bytes], dest: IO[bytes]) -> dict[str, str]:
    """Rewrite mmdebstrap's tar stream into a layer tar; returns the installed packages.

    Keeps the order of mmdebstrap's sorted output, placing the emptied /dev where it sorts.
    """
    status = ""
    dev: tarfile.TarInfo | None = None
    dev_written = False
    with (
        tarfile.open(fileobj=source, mode="r|") as src,
        tarfile.open(fileobj=dest, mode="w|", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src:
            name = _layer_name(member.name)
            top = name.split("/", 1)[0]
            if top == "dev":
                if name == "dev" and member.isdir():
                    dev = member
                continue  # device nodes and /proc symlinks: the runtime makes /dev
            if name == "." or member.isdev():
                continue  # the root's own entry; device nodes or fifos outside /dev
            if not member.isdir() and is_slimmed("/" + name):
                continue
            if not dev_written and top > "dev":
                dst.addfile(_empty_dev(dev))
                dev_written = True
            member.name = name
            member.pax_headers = {
                k: v for k, v in member.pax_headers.items() if k not in ("path", "linkpath")
            }
            if member.islnk():
                member.linkname = _layer_name(member.linkname)
            if member.isreg():
                data = src.extractfile(member)
                assert data is not None  # a regular file always has data
                if name == "var/lib/dpkg/status":
                    raw = data.read()
                    status = raw.decode("utf-8", "replace")
                    data = io.BufferedReader(io.BytesIO(raw))
                dst.addfile(member, data)
            else:
                dst.addfile(member)
        if not dev_written:
            dst.addfile(_empty_dev(dev))
    return installed_versions(status)


def _empty_dev(seen: tarfile.TarInfo | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = seen.mtime if seen is not None else 0
    return info


def build_debian_slim(out: Output, force: bool = False) -> tuple[BaseImage, bool]:
    """Make debian-bookworm-slim.tar in out unless a tar of the same recipe is there.

    Returns (image, whether it was built). Rebuilding to pick up new package versions
    from the archive is explicit (force): the point of a base image is to be stable.
    """
    require_tool("mmdebstrap", "mmdebstrap")
    if not MERGED_USR_HOOKS.is_dir():
        raise HostError(f"{MERGED_USR_HOOKS} is missing: apt-get install --reinstall mmdebstrap")
    with out.locked():
        current = out.current(TARBALL)
        if not force and current is not None and current.recipe == recipe():
            return current, False
        architecture, variant = oci_platform(native_architecture())
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with out.partial(TARBALL) as tar_path, out.partial(TARBALL, ".log") as log_path:
            packages = _run_mmdebstrap(tar_path, log_path, out.directory / FAILED_LOG)
            missing = [p for p in (VERSION_PACKAGE, "bash") if p not in packages]
            if missing:
                raise HostError(f"mmdebstrap's rootfs lacks packages: {', '.join(missing)}")
            image = BaseImage(
                reference=REFERENCE,
                tarball=TARBALL,
                architecture=architecture,
                variant=variant,
                os="linux",
                created=created,
                package=VERSION_PACKAGE,
                version=packages[VERSION_PACKAGE],
                diff_id=sha256_file(tar_path),
                size=tar_path.stat().st_size,
                cmd=("bash",),
                env=(DEFAULT_PATH,),
                recipe=recipe(),
            )
            out.publish(tar_path, image)
        (out.directory / FAILED_LOG).unlink(missing_ok=True)
        return image, True


def _run_mmdebstrap(tar_path: Path, log_path: Path, kept_log: Path) -> dict[str, str]:
    """Run mmdebstrap into tar_path; on failure keep its log as kept_log and say why."""
    with open(log_path, "wb") as log, open(tar_path, "wb") as tar:
        # stdin is not inherited: mmdebstrap must not read a sources.list from a pipe
        process = subprocess.Popen(
            mmdebstrap_command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
        )
        assert process.stdout is not None
        layer_error: Exception | None = None
        try:
            packages = copy_slim_layer(process.stdout, tar)
        except (tarfile.TarError, HostError, OSError) as e:
            layer_error = e
            packages = {}
        except BaseException:
            process.terminate()  # lets mmdebstrap unmount and remove its chroot
            process.wait()
            raise
        finally:
            process.stdout.close()
        returncode = process.wait()
    if returncode == 0 and layer_error is None:
        return packages
    log_path.replace(kept_log)
    if isinstance(layer_error, HostError):
        raise layer_error  # our own check failed (mmdebstrap then dies of a closed pipe)
    if returncode != 0:
        reason = _last_error(kept_log) or f"exit status {returncode}"
        raise HostError(f"mmdebstrap failed: {reason} (log: {kept_log})")
    raise HostError(f"cannot read mmdebstrap's tar output: {layer_error} (log: {kept_log})")


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    errors = [line for line in lines if line.startswith("E: ")]
    return (errors or [line for line in lines if line] or [""])[-1]
