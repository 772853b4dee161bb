"""Unit tests for `python -m ketch.bootstrap`: failures are one clear line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ketch.bootstrap", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_missing_mmdebstrap_names_the_package_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = _run(
        "--out",
        str(tmp_path / "out"),
        "debian:bookworm-slim",
        env={**os.environ, "PATH": str(empty)},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "ketch: mmdebstrap is not installed: apt-get install mmdebstrap\n"
    assert not (tmp_path / "out").exists()


def test_unknown_image_is_one_line(tmp_path: Path) -> None:
    result = _run("--out", str(tmp_path), "alpine")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "ketch: no base image 'alpine': choose from busybox, debian:bookworm-slim, all"
    ]


def test_bad_option_is_one_line(tmp_path: Path) -> None:
    result = _run("--out", str(tmp_path), "--frobnicate")
    assert result.returncode == 2
    assert result.stderr == "ketch: unrecognized arguments: --frobnicate\n"
