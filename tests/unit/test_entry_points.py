"""The three commands exist and answer --version without a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ketch import __version__


@pytest.mark.parametrize(("module", "name"), [("ketch.cli.main", "ketch"),
                                              ("ketch.api.daemon", "ketchd")])
def test_version(module: str, name: str) -> None:
    proc = subprocess.run([sys.executable, "-c", f"from {module} import main; main()",
                           "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout == f"{name} version {__version__}\n"


def test_unavailable_commands_say_so_in_one_line() -> None:
    proc = subprocess.run([sys.executable, "-c", "from ketch.cli.main import main; main()",
                           "ps"], capture_output=True, text=True, check=False)
    assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1
