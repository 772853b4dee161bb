"""The Dockerfile parser and Docker's word expansion."""

from __future__ import annotations

import pytest

from ketch.build.dockerfile import parse
from ketch.build.shellwords import expand, expand_words
from ketch.errors import InvalidParameter

TUTORIAL = """\
FROM debian:bookworm-slim

# install curl
RUN apt-get update && \\
    apt-get install -y curl
ENV SITE_URL https://google.com/
WORKDIR /data
VOLUME /data
CMD sh -c "curl -Lk $SITE_URL > /data/results"
"""


def test_the_tutorials_dockerfile() -> None:
    df = parse(TUTORIAL)
    assert [(i.cmd, i.line) for i in df.instructions] == [
        ("from", 1), ("run", 4), ("env", 6), ("workdir", 7), ("volume", 8), ("cmd", 9)]
    run = df.instructions[1]
    assert run.args == ["apt-get update &&     apt-get install -y curl"] and not run.json
    env = df.instructions[2]
    assert env.pairs == [("SITE_URL", "https://google.com/")]
    cmd = df.instructions[5]
    assert cmd.args == ['sh -c "curl -Lk $SITE_URL > /data/results"'] and not cmd.json


def test_exec_form_flags_and_case() -> None:
    df = parse('from --platform=linux/amd64 busybox AS base\n'
               'copy --from=base --chown=1:2 ["a b", "/dst/"]\n'
               'Entrypoint ["/bin/sh", "-c"]\n'
               'RUN [ "not", json ]\n'
               'HEALTHCHECK --interval=5s CMD curl -f http://localhost/\n'
               'HEALTHCHECK NONE\n'
               'ONBUILD RUN echo later\n')
    frm, copy, entry, run, hc, hc_none, onbuild = df.instructions
    assert frm.flags == {"platform": ["linux/amd64"]} and frm.args == ["busybox AS base"]
    assert copy.flags == {"from": ["base"], "chown": ["1:2"]}
    assert copy.args == ["a b", "/dst/"] and copy.json
    assert entry.args == ["/bin/sh", "-c"] and entry.json
    assert run.args == ['[ "not", json ]'] and not run.json  # not JSON: the shell form
    assert hc.args == ["CMD-SHELL", "curl -f http://localhost/"]
    assert hc.flags == {"interval": ["5s"]}
    assert hc_none.args == ["NONE"]
    assert onbuild.sub is not None and onbuild.sub.cmd == "run"
    assert onbuild.sub.args == ["echo later"]


def test_directives_comments_and_continuations() -> None:
    df = parse("# escape=`\n# syntax=docker/dockerfile:1\n\nFROM busybox\n"
               "RUN echo a `\n# a comment inside\n\n    b\n"
               "  # indented comment\nCOPY c:\\dir d\n")
    assert df.escape == "`" and df.directives["syntax"] == "docker/dockerfile:1"
    run, copy = df.instructions[1], df.instructions[2]
    assert run.args == ["echo a     b"]
    assert copy.args == ["c:\\dir", "d"]
    # a directive after the first line of content is a comment
    late = parse("FROM busybox\n# escape=`\nRUN echo \\\n x\n")
    assert late.escape == "\\" and late.instructions[1].args == ["echo  x"]


def test_env_label_arg_forms() -> None:
    df = parse('ENV A=1 B="two words" C=three\\ words\n'
               "ENV LEGACY value with spaces\n"
               'LABEL "com.example.vendor"="ACME" version=1.0\n'
               "ARG FIRST\nARG SECOND=2 THIRD=\"3 3\"\n")
    env, legacy, label, arg1, arg2 = df.instructions
    assert env.pairs == [("A", "1"), ("B", '"two words"'), ("C", "three\\ words")]
    assert [expand(v or "", {}) for _, v in env.pairs] == ["1", "two words", "three words"]
    assert legacy.pairs[0][0] == "LEGACY"
    assert expand(legacy.pairs[0][1] or "", {}) == "value with spaces"
    assert label.pairs == [('"com.example.vendor"', '"ACME"'), ("version", "1.0")]
    assert arg1.pairs == [("FIRST", None)]
    assert arg2.pairs == [("SECOND", "2"), ("THIRD", '"3 3"')]


def test_heredocs() -> None:
    df = parse("FROM busybox\nRUN <<EOF\necho one\necho $HOME\nEOF\n"
               "COPY <<-'CONF' /etc/app.conf\n\tkey=$value\n\tCONF\nRUN echo done\n")
    run, copy, last = df.instructions[1:]
    assert run.heredocs[0].name == "EOF" and run.heredocs[0].expand
    assert run.heredocs[0].content == "echo one\necho $HOME\n"
    assert copy.heredocs[0].content == "key=$value\n" and not copy.heredocs[0].expand
    assert copy.args == ["<<-'CONF'", "/etc/app.conf"]
    assert last.args == ["echo done"] and last.line == 9
    with pytest.raises(InvalidParameter, match="unterminated heredoc"):
        parse("FROM busybox\nRUN <<EOF\necho\n")


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\nFOO bar\n", "line 2: unknown instruction: FOO"),
    ("FROM busybox\nSHELL /bin/bash -c\n", "line 2: SHELL requires the arguments to be "
                                            "in JSON form"),
    ("FROM busybox\nCOPY onlyone\n", "line 2: COPY requires at least two arguments"),
    ("FROM busybox\nCOPY --bogus=1 a b\n", "line 2: unknown flag: bogus"),
    ("FROM busybox\nENV\n", "line 2: ENV requires at least one argument"),
    ("FROM busybox\nENV a=1 b\n", "line 2: Syntax error - can't find ="),
    ("FROM busybox\nRUN\n", "line 2: RUN requires at least one argument"),
    ("FROM busybox\nONBUILD ONBUILD RUN x\n", "line 2: Chaining ONBUILD"),
    ("FROM busybox\nHEALTHCHECK BOGUS x\n", 'line 2: Unknown type "BOGUS"'),
    ("# escape=x\nFROM busybox\n", "invalid escape token"),
])
def test_bad_dockerfiles_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(")):
        parse(text)


def test_expansion() -> None:
    env = {"A": "alpha", "EMPTY": "", "SP": "x y"}
    assert expand("$A/${A}/$$/\\$A", env) == "alpha/alpha/$$/$A"
    assert expand("${MISSING:-def}-${EMPTY:-def}-${EMPTY-def}", env) == "def-def-"
    assert expand("${A:+set}-${EMPTY:+set}-${EMPTY+set}-${MISSING+set}", env) == \
        "set--set-"
    assert expand("'$A' \"$A\" \"\\\"q\\\"\"", env) == '$A alpha "q"'
    assert expand("${A:-${MISSING:-deep}}", env) == "alpha"
    assert expand("${MISSING:-${A}}", env) == "alpha"
    assert expand("$1abc", env) == "$1abc"
    with pytest.raises(InvalidParameter, match="MISSING: must be set"):
        expand("${MISSING:?must be set}", env)
    with pytest.raises(InvalidParameter, match="bad substitution"):
        expand("${}", env)
    with pytest.raises(InvalidParameter, match="double-quote"):
        expand('"open', env)
    assert expand_words("80/tcp $SP '8 0'", env) == ["80/tcp", "x", "y", "8 0"]
    assert expand_words("a \"\" b", env) == ["a", "", "b"]
    assert expand("`$A", env, escape="`") == "$A"


def test_deeply_nested_json_is_the_shell_form() -> None:
    df = parse("FROM busybox\nRUN [" + "[" * 100000 + "]" * 100000 + "]\n")
    assert not df.instructions[1].json
