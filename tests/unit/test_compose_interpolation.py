"""Variable substitution by the compose specification's rules."""

from __future__ import annotations

import pytest

from ketch.compose.errors import ComposeError
from ketch.compose.interpolation import InvalidFormat, interpolate, substitute
from ketch.compose.yamlload import RESET, Override

ENV = {"SET": "value", "EMPTY": "", "OTHER": "other", "NUM": "3"}


def run(text: str, env: dict[str, str] | None = None) -> str:
    return substitute(text, (ENV if env is None else env).get)


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("a${SET}b", "avalueb"),
    ("$SET-x", "value-x"),
    ("$SET.x", "value.x"),
    ("${UNSET}", ""),
    ("$UNSET", ""),
    ("${EMPTY}", ""),
    # :- and -
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${SET:-default}", "value"),
    ("${UNSET-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${SET-default}", "value"),
    ("${UNSET:-}", ""),
    ("${UNSET:-a b c}", "a b c"),
    ("${UNSET:-a:b}", "a:b"),
    # :+ and +
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${UNSET:+alt}", ""),
    ("${SET+alt}", "alt"),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    # ? and :? when set
    ("${SET:?err}", "value"),
    ("${SET?err}", "value"),
    ("${EMPTY?err}", ""),
    # $$ is a literal $
    ("$$", "$"),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("a$$$SET", "a$value"),
    ("price: 5$$", "price: 5$"),
    # nesting
    ("${UNSET:-${SET}}", "value"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-$OTHER}", "other"),
    ("${UNSET:-x${SET}y}", "xvaluey"),
    ("${SET:+${OTHER}}", "other"),
    ("${UNSET:-$${SET}}", "${SET}"),
    ("${UNSET:-{a}}", "{a}"),  # the first `}` ends the default; the second is text
    ("${_X1:-u}", "u"),
    ("${NUM}0", "30"),
])
def test_substitution_table(text: str, expected: str) -> None:
    assert run(text) == expected


@pytest.mark.parametrize("text", ["$", "a $ b", "$1", "${}", "${", "${SET", "${1A}",
                                  "${SET:x}", "${SET/a/b}", "${SET^}", "$-", "${ SET}"])
def test_invalid_formats(text: str) -> None:
    with pytest.raises(InvalidFormat):
        run(text)


@pytest.mark.parametrize(("text", "message"), [
    ("${UNSET:?it must be set}", "required variable UNSET is missing a value: it must be set"),
    ("${EMPTY:?empty!}", "required variable EMPTY is missing a value: empty!"),
    ("${UNSET?needed}", "required variable UNSET is missing a value: needed"),
    ("${UNSET:?}", "required variable UNSET is missing a value"),
    ("${UNSET?}", "required variable UNSET is missing a value"),
    ("${UNSET:?set ${OTHER} first}", "required variable UNSET is missing a value: "
                                     "set other first"),
])
def test_required_variables(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        run(text)
    assert str(info.value) == message


def test_default_is_not_evaluated_when_unused() -> None:
    assert run("${SET:-${UNSET:?never}}") == "value"


def test_unset_variables_warn_once_per_use() -> None:
    warnings: list[str] = []
    substitute("${A}$B${C:-x}${SET}", ENV.get, warnings.append)
    assert warnings == ['The "A" variable is not set. Defaulting to a blank string.',
                        'The "B" variable is not set. Defaulting to a blank string.']


def test_tree_values_are_interpolated_keys_are_not() -> None:
    tree = {"services": {"web": {"image": "app:${SET}", "labels": {"$SET": "$OTHER"},
                                 "ports": ["${NUM}000:80"], "x-n": 3, "tty": True}}}
    assert interpolate(tree, ENV.get) == {
        "services": {"web": {"image": "app:value", "labels": {"$SET": "other"},
                             "ports": ["3000:80"], "x-n": 3, "tty": True}}}


def test_tree_markers_pass_through() -> None:
    tree = {"a": RESET, "b": Override(["$SET"])}
    assert interpolate(tree, ENV.get) == {"a": RESET, "b": Override(["value"])}


def test_tree_error_names_the_key_path() -> None:
    with pytest.raises(ComposeError) as info:
        interpolate({"services": {"web": {"command": ["echo", "$1"]}}}, ENV.get)
    assert str(info.value) == ('invalid interpolation format for services.web.command.1: '
                               '"$1". You may need to escape any $ with another $')


def test_nesting_is_limited() -> None:
    assert run("${A:-" * 10 + "x" + "}" * 10) == "x"
    with pytest.raises(InvalidFormat):
        run("${A:-" * 50 + "x" + "}" * 50)
    with pytest.raises(InvalidFormat):  # unclosed, long: one scan, no recursion
        run("${A:-" * 100_000)
