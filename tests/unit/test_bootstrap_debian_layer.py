"""Unit tests for ketch.bootstrap.debian without mmdebstrap: the rewrite of its tar stream
into a slim layer, the slim path rules, dpkg status parsing and the command line it runs.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from ketch.bootstrap.debian import (
    SUITE,
    copy_slim_layer,
    host_sources,
    installed_versions,
    is_slimmed,
    mmdebstrap_command,
)
from ketch.errors import HostError

STATUS = """Package: base-files
Status: install ok installed
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
 This package contains: the basic filesystem hierarchy

Package: old-conf
Status: deinstall ok config-files
Version: 1.0

Package: bash
Status: install ok installed
Priority: required
Version: 5.2.15-2+b2
"""
LONG = "./usr/lib/" + "x" * 120 + "/file"


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data)
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, data


def _mmdebstrap_like_stream() -> io.BytesIO:
    """What mmdebstrap's tar output looks like: ./dev entries first, then the sorted tree."""
    members = [
        _member("./dev/", tarfile.DIRTYPE),
        _member("./dev/null", tarfile.CHRTYPE),
        _member("./dev/fd", tarfile.SYMTYPE, link="/proc/self/fd"),
        _member("./dev/pts/", tarfile.DIRTYPE),
        _member("./", tarfile.DIRTYPE),
        _member("./bin", tarfile.SYMTYPE, link="usr/bin"),
        _member("./boot/", tarfile.DIRTYPE),
        _member("./etc/", tarfile.DIRTYPE),
        _member("./etc/passwd", data=b"root:x:0:0:root:/root:/bin/bash\n"),
        _member("./etc/stray-fifo", tarfile.FIFOTYPE),
        _member("./usr/", tarfile.DIRTYPE),
        _member("./usr/bin/", tarfile.DIRTYPE),
        _member("./usr/bin/bash", data=b"\x7fELF"),
        _member("./usr/bin/sh-hard", tarfile.LNKTYPE, link="./usr/bin/bash"),
        _member(LONG, data=b"long"),
        _member("./usr/share/doc/", tarfile.DIRTYPE),
        _member("./usr/share/doc/bash/", tarfile.DIRTYPE),
        _member("./usr/share/doc/bash/changelog.Debian.gz", data=b"gz"),
        _member("./usr/share/doc/bash/copyright", data=b"GPL"),
        _member("./usr/share/doc/libgcc-s1", tarfile.SYMTYPE, link="gcc-12-base"),
        _member("./usr/share/locale/locale.alias", data=b"alias"),
        _member("./usr/share/locale/de/LC_MESSAGES/bash.mo", data=b"mo"),
        _member("./usr/share/man/man1/bash.1.gz", data=b"man"),
        _member("./var/lib/dpkg/status", data=STATUS.encode()),
    ]
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    stream.seek(0)
    return stream


def test_stream_becomes_a_slim_layer_without_devices() -> None:
    out = io.BytesIO()
    versions = copy_slim_layer(_mmdebstrap_like_stream(), out)
    assert versions == {"base-files": "12.4+deb12u5", "bash": "5.2.15-2+b2"}
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == [
            "bin",
            "boot",
            "dev",
            "etc",
            "etc/passwd",
            "usr",
            "usr/bin",
            "usr/bin/bash",
            "usr/bin/sh-hard",
            LONG[2:],
            "usr/share/doc",
            "usr/share/doc/bash",
            "usr/share/doc/bash/copyright",
            "usr/share/locale/locale.alias",
            "var/lib/dpkg/status",
        ]
        assert members["dev"].isdir()  # kept, emptied: the runtime populates /dev
        assert members["usr/bin/sh-hard"].islnk()
        assert members["usr/bin/sh-hard"].linkname == "usr/bin/bash"
        assert members["bin"].linkname == "usr/bin"
        contents = {
            "usr/bin/bash": b"\x7fELF",
            LONG[2:]: b"long",
            "var/lib/dpkg/status": STATUS.encode(),
        }
        for name, content in contents.items():
            data = tar.extractfile(name)
            assert data is not None and data.read() == content


def test_unsafe_member_names_are_refused() -> None:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        tar.addfile(_member("./etc/", tarfile.DIRTYPE)[0])
        tar.addfile(_member("./../escape", tarfile.DIRTYPE)[0])
    stream.seek(0)
    with pytest.raises(HostError, match="unsafe tar member"):
        copy_slim_layer(stream, io.BytesIO())


@pytest.mark.parametrize(
    ("path", "slimmed"),
    [
        ("/usr/share/doc/bash/changelog.Debian.gz", True),
        ("/usr/share/doc/bash/copyright", False),
        ("/usr/share/doc/libgcc-s1", True),
        ("/usr/share/man/man1/ls.1.gz", True),
        ("/usr/share/info/dir", True),
        ("/usr/share/locale/de/LC_MESSAGES/coreutils.mo", True),
        ("/usr/share/locale/locale.alias", False),
        ("/usr/share/lintian/overrides/bash", True),
        ("/usr/share/doc-base/bash", False),
        ("/usr/bin/man", False),
        ("/etc/passwd", False),
    ],
)
def test_slim_rules_follow_dockers_slim_images(path: str, slimmed: bool) -> None:
    assert is_slimmed(path) is slimmed


def test_installed_versions_skip_removed_packages() -> None:
    assert installed_versions(STATUS) == {"base-files": "12.4+deb12u5", "bash": "5.2.15-2+b2"}
    assert installed_versions("") == {}


def test_command_names_no_host_and_streams_a_minbase_tar() -> None:
    command = mmdebstrap_command(sources=["/etc/apt/sources.list.d/debian.sources"])
    assert command[0] == "mmdebstrap"
    assert command[-3:] == [SUITE, "-", "/etc/apt/sources.list.d/debian.sources"]
    assert "--variant=minbase" in command and "--format=tar" in command
    assert not any("://" in arg for arg in command)  # the machine's own sources, by file
    assert "--dpkgopt=path-include=/usr/share/doc/*/copyright" in command


def test_host_sources_for_the_suite(tmp_path: Path) -> None:
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (tmp_path / "sources.list").write_text("deb http://mirror.invalid/debian trixie main\n")
    (parts / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n")
    (parts / "security.sources").write_text("Types: deb\nSuites: bookworm-security\n")
    (parts / "other.list.disabled").write_text("deb http://mirror.invalid/x bookworm main\n")
    (parts / "ppa.list").write_text("deb http://mirror.invalid/ppa jammy main\n")
    assert host_sources("bookworm", tmp_path) == [str(parts / "debian.sources"),
                                                  str(parts / "security.sources")]
    assert host_sources("sid", tmp_path) == []
