"""Env files in the compose format (`.env`, `--env-file`, `env_file`)."""

from __future__ import annotations

import pytest

from ketch.compose.envfile import parse_env
from ketch.compose.errors import ComposeError


def parse(text: str, env: dict[str, str] | None = None, file_first: bool = False
          ) -> dict[str, str]:
    return parse_env(text, ".env", (env or {}).get, file_first)


def test_the_specification_examples() -> None:
    text = "\n".join([
        "# Set Rails/Rack environment",
        "RACK_ENV=development",
        'VAR="quoted"',
        "A=VAL # comment",
        "B=VAL# not a comment",
        'C="VAL # not a comment"',
        'D="VAL" # comment',
        "E='$OTHER'",
        "F='${OTHER}'",
        r"G='Let\'s go!'",
        r'H="{\"hello\": \"json\"}"',
        r'I="some\tvalue"',
        r"J='some\tvalue'",
        r"K=some\tvalue",
        "L=",
        "",
    ])
    assert parse(text) == {
        "RACK_ENV": "development", "VAR": "quoted", "A": "VAL", "B": "VAL# not a comment",
        "C": "VAL # not a comment", "D": "VAL", "E": "$OTHER", "F": "${OTHER}",
        "G": "Let's go!", "H": '{"hello": "json"}', "I": "some\tvalue",
        "J": r"some\tvalue", "K": r"some\tvalue", "L": ""}


def test_export_prefix_blank_lines_and_crlf() -> None:
    assert parse("export A=1\r\n\r\n   B = 2  \r\nexport\tC=3\n") == \
        {"A": "1", "B": "2", "C": "3"}


def test_multiline_double_quoted_value() -> None:
    assert parse('KEY="line1\nline2"\nNEXT=x\n') == {"KEY": "line1\nline2", "NEXT": "x"}


def test_interpolation_sees_the_lookup_then_the_lines_above() -> None:
    text = "A=1\nB=${A}-$C\nC2=${MISSING:-dflt}\nD=\"$A\"\nE='$A'\n"
    assert parse(text, {"C": "c"}) == {"A": "1", "B": "1-c", "C2": "dflt", "D": "1",
                                       "E": "$A"}
    # the shell's value first (.env), or the file's first (a service's env_file)
    assert parse("A=1\nB=$A\n", {"A": "shell"})["B"] == "shell"
    assert parse("A=1\nB=$A\n", {"A": "shell"}, file_first=True)["B"] == "1"


def test_dollar_that_starts_no_variable_is_kept() -> None:
    assert parse("PASS=pa$1word\nP2=50$$\n") == {"PASS": "pa$1word", "P2": "50$"}


def test_bare_key_takes_the_lookup_value_or_is_left_out() -> None:
    assert parse("HOME\nNOPE\n", {"HOME": "/root"}) == {"HOME": "/root"}


def test_bom_is_dropped() -> None:
    assert parse("\ufeffA=1\n") == {"A": "1"}


@pytest.mark.parametrize(("text", "message"), [
    ("A B=1\n", ".env: line 1: unexpected character 'B' in variable name 'A'"),
    ('A="open\n', ".env: line 1: unterminated quoted value"),
    ("A='x' y\n", ".env: line 1: unexpected text 'y' after the quoted value of A"),
    ("=x\n", ".env: line 1: no variable name before '=x'"),
    ("A$=1\n", ".env: line 1: unexpected character '$' in variable name 'A$'"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        parse(text)
    assert str(info.value) == message
