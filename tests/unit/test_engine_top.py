"""`docker top`'s parsing of `ps` output (engine/top.py)."""

from __future__ import annotations

import pytest

from ketch.engine.top import parse
from ketch.errors import InvalidParameter

PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 09:00 ?        00:00:01 /sbin/init
root        4242       1  0 09:01 ?        00:00:00 sh -c sleep 300
root        4243    4242  0 09:01 ?        00:00:00 sleep 300
"""


def test_rows_of_the_container_only_and_the_command_whole() -> None:
    answer = parse(PS, {4242, 4243})
    assert answer["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert answer["Processes"] == [
        ["root", "4242", "1", "0", "09:01", "?", "00:00:00", "sh -c sleep 300"],
        ["root", "4243", "4242", "0", "09:01", "?", "00:00:00", "sleep 300"]]


def test_no_pid_column_is_an_error() -> None:
    with pytest.raises(InvalidParameter, match="Couldn't find PID field in ps output"):
        parse("COMMAND\nsleep\n", {1})
