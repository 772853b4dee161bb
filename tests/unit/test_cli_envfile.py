"""--env-file and -e by Docker's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.cli.command import CLIError
from ketch.cli.envfile import parse_env_file, resolve_env


def test_env_file_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTVAR", "from host")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    path = tmp_path / "env"
    path.write_bytes("\ufeffA=1\n# comment\n\n   B=two words  \nHOSTVAR\nUNSET_VAR\r\n"
                     "C=\nD==x\n  # indented comment\n".encode())
    assert parse_env_file(str(path)) == ["A=1", "B=two words  ", "HOSTVAR=from host",
                                         "UNSET_VAR", "C=", "D==x"]


def test_env_file_bad_name(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("BAD NAME=1\n")
    with pytest.raises(CLIError) as info:
        parse_env_file(str(path))
    assert info.value.message == ("poorly formatted environment: variable 'BAD NAME' contains "
                                  "whitespaces")
    assert info.value.code == 125


def test_env_file_missing(tmp_path: Path) -> None:
    with pytest.raises(CLIError) as info:
        parse_env_file(str(tmp_path / "nope"))
    assert info.value.message == f"open {tmp_path}/nope: no such file or directory"


def test_resolve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X", "1")
    monkeypatch.delenv("Y", raising=False)
    assert [resolve_env(v) for v in ("A=b=c", "X", "Y", "E=")] == ["A=b=c", "X=1", "Y", "E="]
