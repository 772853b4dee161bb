"""The runc-compatible command line: flag syntax, aliases, signals, errors as one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ketch.errors import InvalidParameter
from ketch.runtime import cli, commands, mountopts
from ketch.runtime import linux as L
from ketch.util import jsonio


def test_flag_syntaxes() -> None:
    spec = cli.OPTIONS["create"]
    for argv in (["--bundle", "/b", "id"], ["-bundle", "/b", "id"], ["--bundle=/b", "id"],
                 ["-b", "/b", "id"]):
        args = cli.parse(argv, spec)
        assert args.get("bundle") == "/b" and args.rest == ["id"]


def test_flags_stop_at_the_first_positional() -> None:
    args = cli.parse(["-t", "ctr", "sh", "-c", "echo -d"], cli.OPTIONS["exec"])
    assert args.get("tty") is True and args.rest == ["ctr", "sh", "-c", "echo -d"]


def test_repeatable_and_boolean_values() -> None:
    args = cli.parse(["-e", "A=1", "--env", "B=2", "--detach=false", "c"], cli.OPTIONS["exec"])
    assert args.get("env") == ["A=1", "B=2"] and args.get("detach") is False


@pytest.mark.parametrize("argv", [["--nope", "x"], ["--bundle"]])
def test_bad_flags(argv: list[str]) -> None:
    with pytest.raises(InvalidParameter):
        cli.parse(argv, cli.OPTIONS["create"])


def test_signal_names() -> None:
    assert commands._parse_signal("KILL") == 9
    assert commands._parse_signal("sigterm") == 15
    assert commands._parse_signal("10") == 10
    for bad in ("NOPE", "SIG_DFL"):
        with pytest.raises(InvalidParameter):
            commands._parse_signal(bad)


def test_errors_are_one_line_without_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "ketch.runtime", "--root", "/nonexistent-x",
                           "state", "nope"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr == "ketch-runtime: container does not exist: nope\n"


def test_mount_options() -> None:
    opts = mountopts.MountOptions(["rbind", "ro", "nosuid", "rprivate", "size=1m", "mode=755",
                                   "rnoexec", "tmpcopyup"])
    assert opts.flags == L.MS_BIND | L.MS_REC | L.MS_RDONLY | L.MS_NOSUID
    assert opts.propagation == [L.MS_PRIVATE | L.MS_REC]
    assert opts.data == "size=1m,mode=755" and opts.tmpcopyup
    assert opts.attr_set == L.MOUNT_ATTR_NOEXEC and opts.is_bind and opts.needs_remount
    assert mountopts.MountOptions(["ro", "rw"]).flags == 0
    assert not mountopts.MountOptions(["bind"]).needs_remount


def test_jsonio_round_trip_and_errors() -> None:
    value = {"a": [1, 2.5, True, None, "é\n"], "b": {"c": -1}}
    assert jsonio.loads(jsonio.dumps(value)) == value
    assert jsonio.loads(b'  {"x": 1}\n') == {"x": 1}
    for bad in ("", "{", '{"a": 1} extra', "[1,]"):
        with pytest.raises(ValueError):
            jsonio.loads(bad)


def test_jsonio_indented_matches_json_module() -> None:
    import json

    value = [{"a": [1, 2, {"b": None, "c": "é<x>\n"}], "d": {}, "e": [], "f": True, "g": 1.5}]
    assert jsonio.dumps_indented(value) == json.dumps(value, indent=4, ensure_ascii=False)
    assert jsonio.raw_decode('{"x": 1} {"y"', 0) == ({"x": 1}, 8)
