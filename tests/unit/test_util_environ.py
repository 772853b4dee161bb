"""getenv without `import os`: the startup environment, or os.environ once os is loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketch.util.environ import getenv

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_reads_the_environment_without_loading_os() -> None:
    code = (f"import sys; sys.path.insert(0, {SRC!r}); from ketch.util.environ import getenv; "
            "print(getenv('KETCH_T'), getenv('KETCH_UNSET', 'dflt'), 'os' in sys.modules)")
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True,
                         env={"KETCH_T": "caf\u00e9 /x", "LANG": "C.UTF-8"}, check=True).stdout
    assert out == "caf\u00e9 /x dflt False\n"


def test_follows_os_environ_once_os_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "os" in sys.modules and os.environ is not None
    monkeypatch.setenv("KETCH_T", "changed")
    assert getenv("KETCH_T") == "changed"
    monkeypatch.delenv("KETCH_T")
    assert getenv("KETCH_T", "gone") == "gone"
