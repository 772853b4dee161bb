"""The three commands exist and answer --version without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketch import __version__


@pytest.mark.parametrize(("module", "name"), [("ketch.cli.main", "ketch"),
                                              ("ketch.api.daemon", "ketchd")])
def test_version(module: str, name: str) -> None:
    proc = subprocess.run([sys.executable, "-c", f"from {module} import main; main()",
                           "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout == f"{name} version {__version__}\n"


def test_no_daemon_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "KETCH_NO_AUTOSTART": "1", "KETCH_HOST": f"unix://{tmp_path}/none.sock"}
    proc = subprocess.run([sys.executable, "-c", "from ketch.cli.main import main; main()",
                           "ps"], capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    assert "Cannot connect to the ketch daemon" in proc.stderr
