"""Questions to the host's dpkg: which version of a package is installed, which architecture.

Base images are made from the host's Debian packages, so a missing package is a host
problem whose message names the apt package to install.
"""

from __future__ import annotations

import shutil
import subprocess

from ketch.errors import HostError


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        raise HostError(f"{argv[0]} not found: base images are made from Debian packages")
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def installed_package(package: str) -> tuple[str, str]:
    """Return (version, architecture) of an installed package, or say how to install it."""
    fmt = "${db:Status-Status}\t${Version}\t${Architecture}"
    result = _run(["dpkg-query", "--show", f"--showformat={fmt}", package])
    fields = result.stdout.split("\t")
    if result.returncode != 0 or len(fields) != 3 or fields[0] != "installed":
        raise HostError(f"{package} is not installed: apt-get install {package}")
    return fields[1], fields[2]


def native_architecture() -> str:
    """The host's Debian architecture, e.g. amd64."""
    result = _run(["dpkg", "--print-architecture"])
    if result.returncode != 0 or not result.stdout.strip():
        raise HostError(f"dpkg --print-architecture failed: {result.stderr.strip()}")
    return result.stdout.strip()


def require_tool(command: str, package: str) -> str:
    """Path of command, or a HostError naming the apt package that provides it."""
    path = shutil.which(command)
    if path is None:
        raise HostError(f"{command} is not installed: apt-get install {package}")
    return path
