"""Stages, ARGs before FROM, and --target."""

from __future__ import annotations

import pytest

from ketch.build.dockerfile import parse
from ketch.build.stages import plan
from ketch.errors import InvalidParameter

MULTI = """\
ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest} AS Build
ARG TAG
RUN echo $TAG
FROM scratch
COPY --from=build /x /x
FROM build AS final
"""


def test_stages_meta_args_and_targets() -> None:
    p = plan(parse(MULTI), {"TAG": "1.36", "UNUSED": "x", "HTTP_PROXY": "p"})
    assert [(s.index, s.base, s.name) for s in p.stages] == [
        (0, "busybox:1.36", "build"), (1, "scratch", ""), (2, "build", "final")]
    assert p.meta_args == {"BASE": "busybox", "TAG": "1.36"}
    assert [i.cmd for i in p.stages[0].instructions] == ["arg", "run"]
    assert p.find("BUILD") is p.stages[0] and p.find("1") is p.stages[1]
    assert p.find("nope") is None
    assert p.target("") == 2 and p.target("build") == 0
    with pytest.raises(InvalidParameter, match="failed to reach build target nope"):
        p.target("nope")
    assert p.unused({"TAG": "1", "UNUSED": "x", "HTTP_PROXY": "p"}) == ["UNUSED"]
    defaults = plan(parse(MULTI), {})
    assert defaults.stages[0].base == "busybox:latest"


@pytest.mark.parametrize(("text", "message"), [
    ("", "file with no instructions"),
    ("RUN echo\n", "line 1: no build stage in current context"),
    ("ARG A\n", "no build stage in current context"),
    ("FROM a AS x\nFROM b AS x\n", "line 2: duplicate name x"),
    ("FROM a AS 1x\n", "invalid name for build stage"),
    ("FROM a b\n", "FROM requires either one or three arguments"),
    ("ARG E\nFROM $E\n", r"base name \(\$E\) should not be blank"),
])
def test_bad_stages(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        plan(parse(text), {})
