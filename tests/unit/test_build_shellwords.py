"""Word expansion limits (build/shellwords.py): hostile nesting, heredoc bodies."""

from __future__ import annotations

import pytest

from ketch.build.shellwords import expand, expand_heredoc
from ketch.errors import InvalidParameter


def test_nesting_is_bounded_and_heredocs_keep_quotes() -> None:
    deep = "${A:-" * 5000 + "x" + "}" * 5000  # hostile: no RecursionError, one clear error
    with pytest.raises(InvalidParameter, match="nested too deeply"):
        expand(deep, {})
    assert expand("${A:-${B:-${C:-deep}}}", {}) == "deep"
    assert expand_heredoc('echo "$A" \'$B\' \\$C ${D:-d}\n', {"A": "a", "B": "b"}) == \
        'echo "a" \'b\' $C d\n'
