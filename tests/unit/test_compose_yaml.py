"""Compose files are read safely: YAML 1.2 scalars, compose tags, hostile documents."""

from __future__ import annotations

import pytest

from ketch.compose.errors import ComposeError
from ketch.compose.yamlload import RESET, Override, load_bytes, load_documents


def load(text: str) -> object:
    documents = load_documents(text, "f.yml")
    assert len(documents) == 1
    return documents[0]


@pytest.mark.parametrize(("text", "value"), [
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"),
    ("true", True), ("False", False), ("TRUE", True),
    ("null", None), ("~", None), ("", None),
    ("22:22", "22:22"), ("8080:80", "8080:80"), ("2024-01-01", "2024-01-01"),
    ("1", 1), ("-3", -3), ("0755", 0o755), ("0o17", 15), ("0x1f", 31), ("1_000", 1000),
    ("089", 89.0), ("1.5", 1.5), ("1e3", 1000.0), (".inf", float("inf")),
    ("3.2-alpine", "3.2-alpine"), ("=", "="), ("<<", "<<"),
])
def test_plain_scalars_resolve_as_docker_compose_reads_them(text: str, value: object) -> None:
    assert load(f"k: {text}\n" if text != "<<" else "k: '<<'\n") == {"k": value}


def test_nan_is_a_float() -> None:
    result = load("k: .nan\n")
    assert isinstance(result, dict) and result["k"] != result["k"]


def test_quoted_scalars_stay_strings() -> None:
    assert load('a: "true"\nb: "1"\nc: \'null\'\n') == {"a": "true", "b": "1", "c": "null"}


def test_merge_keys_work() -> None:
    text = "x-base: &base {image: a, user: root}\nweb:\n  <<: *base\n  image: b\n"
    assert load(text) == {"x-base": {"image": "a", "user": "root"},
                          "web": {"image": "b", "user": "root"}}


def test_aliases_become_separate_copies() -> None:
    result = load("a: &x {k: [1]}\nb: *x\n")
    assert isinstance(result, dict)
    result["a"]["k"].append(2)
    assert result["b"] == {"k": [1]}


def test_keys_become_strings() -> None:
    assert load("1: a\ntrue: b\n1.5: c\n") == {"1": "a", "true": "b", "1.5": "c"}


def test_reset_and_override_tags() -> None:
    result = load("a: !reset []\nb: !override [x]\nc: !override {k: v}\nd: !override 3\n")
    assert result == {"a": RESET, "b": Override(["x"]), "c": Override({"k": "v"}),
                      "d": Override(3)}


def test_several_documents() -> None:
    assert load_documents("a: 1\n---\nb: 2\n", "f.yml") == [{"a": 1}, {"b": 2}]


def test_bom_is_dropped() -> None:
    assert load_bytes("\ufeffa: 1\n".encode(), "f.yml") == [{"a": 1}]


def error(text: str) -> str:
    with pytest.raises(ComposeError) as info:
        load_documents(text, "f.yml")
    return str(info.value)


def test_syntax_error_names_line_and_column() -> None:
    assert error("services:\n  web:\n   image: x\n  bad: : :\n") == \
        "f.yml: yaml: line 4, column 8: mapping values are not allowed here"


def test_unclosed_flow_sequence() -> None:
    assert error("a: [\n") == \
        "f.yml: yaml: line 2, column 1: expected the node content, but found '<stream end>'"


def test_duplicate_key_is_an_error() -> None:
    assert error("a: 1\nb: 2\na: 3\n") == \
        'f.yml: yaml: line 3, column 1: mapping key "a" already defined at line 1'


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/name:os.system",
                                 "!!python/object:os.system"])
def test_python_tags_are_refused(tag: str) -> None:
    message = error(f'a: {tag} ["echo pwned"]\n')
    assert message.startswith("f.yml: yaml: line 1, column 4: tag !!python/")
    assert message.endswith("is not allowed in a compose file")


def test_unknown_local_tag_is_refused() -> None:
    assert error("a: !foo x\n") == \
        "f.yml: yaml: line 1, column 4: tag !foo is not allowed in a compose file"


def test_billion_laughs_is_refused() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    message = error("\n".join(lines) + "\n")
    assert message == \
        "f.yml: document too large once its aliases are expanded (more than 200000 nodes)"


def test_billion_laughs_through_merge_keys_is_refused() -> None:
    lines = ["a0: &a0 {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1, k8: 1, k9: 1}"]
    for level in range(1, 8):
        refs = ", ".join(f"x{i}: *a{level - 1}" for i in range(10))
        lines.append(f"a{level}: &a{level} {{{refs}}}")
    assert "document too large" in error("\n".join(lines) + "\n")


def test_recursive_alias_is_refused() -> None:
    assert error("a: &a [*a]\n") == \
        "f.yml: yaml: line 1, column 4: recursive alias (a node that contains itself)"


def test_deep_nesting_is_refused() -> None:
    assert error("a: " + "[" * 5000 + "]" * 5000 + "\n") == \
        "f.yml: yaml: document nested too deeply"


def test_huge_integer_is_an_error_not_a_crash() -> None:
    assert error("a: " + "9" * 5000 + "\n").startswith("f.yml: yaml: ")


def test_not_utf8() -> None:
    with pytest.raises(ComposeError, match=r"^f.yml: not UTF-8 text \(byte 3\)$"):
        load_bytes(b"a: \xff\n", "f.yml")


def test_file_too_large_is_refused_unread() -> None:
    with pytest.raises(ComposeError, match="file too large"):
        load_bytes(b"#" * (9 * 1024 * 1024), "f.yml")
