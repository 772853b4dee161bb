""".dockerignore reading and matching, with cases modelled on the behaviour moby's
patternmatcher and ignorefile tests pin down (our own tables, not theirs)."""

from __future__ import annotations

import pytest

from ketch.errors import InvalidParameter
from ketch.util.dockerignore import PatternMatcher, matches, read_patterns


def test_read_patterns_comments_blank_trim_and_clean() -> None:
    text = ("\ufeff# comment\n\n  *.log  \n/build/\n! /tmp/./keep \n  # not a comment\r\n"
            "./a/../b\n!\n")
    assert read_patterns(text) == ["*.log", "build", "!tmp/keep", "# not a comment", "b", "!"]


def test_read_patterns_root_slash_and_crlf() -> None:
    assert read_patterns("/\r\n//x\r\n") == ["/", "x"]


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("**", "file", True), ("**", "dir/file", True), ("**/", "file", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/a/b", True), ("dir/**", "dir", False),
    ("**/dir", "dir", True), ("**/dir", "a/b/dir", True), ("**/dir", "dir/file", True),
    ("**/d2/*", "d1/d2/f", True), ("**/d2/**", "d1/d2/d3/f", True),
    ("**file", "file", True), ("**file", "a/b/file", True),
    ("**/file*.txt", "a/b/file1.txt", True), ("**/**/*.txt", "x.txt", True),
    ("**/**/*.txt2", "a/x.txt", False), ("a**/*.txt", "a/b/c/x.txt", True),
    ("a/*.txt", "a/b/x.txt", False), ("a/*.txt", "a/x.txt", True),
    ("a[b-d]e", "ace", True), ("a[b-d]e", "ae", False), ("a[^b-d]e", "aze", True),
    ("a[^b-d]e", "ace", False), (".*", ".git", True), (".*", "git", False),
    ("abc.def", "abcXdef", False), ("abc?def", "abcXdef", True), ("abc?def", "abc/def", False),
    ("a(b)c/def", "a(b)c/def", True), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/x-1.0+g1-py3-none-any.whl", True),
    ("a\\*b", "a*b", True), ("a\\*b", "axb", False), ("a\\\\", "a\\", True),
    ("*", "a/b", True),  # a parent matches
    ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False),
    ("a?b", "a☺b", True), ("[\\]a]", "]", True), ("[x\\-]", "-", True),
    ("docs", "docs/sub/README.md", True), ("*.go", "pkg/x.go", False),
    ("fo?", "foo\n", False),  # Go's $ is the very end
    ("[[:digit:]]x", "7x", True),  # Go's regexp reads [[:digit:]] as a POSIX class
])
def test_single_pattern(pattern: str, path: str, expected: bool) -> None:
    assert PatternMatcher([pattern]).matches(path) is expected


@pytest.mark.parametrize(("patterns", "path", "expected"), [
    (["*.go", "!keep.go"], "keep.go", False),
    (["!keep.go", "*.go"], "keep.go", True),  # the last matching pattern wins
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/other.md", True),
    (["**", "!util/web"], "util/web/foo", False),
    (["**", "!util/web", "util/web/foo"], "util/web/foo", True),
    (["**", "!dist/*.whl"], "dist/a.whl", False),
])
def test_several_patterns(patterns: list[str], path: str, expected: bool) -> None:
    assert PatternMatcher(patterns).matches(path) is expected


def test_dot_is_never_ignored() -> None:
    assert not matches(".", ["*"])
    assert matches("./x.go", ["*.go"])


@pytest.mark.parametrize("pattern", [
    "[", "[^", "[^bc", "a[", "\\", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "*[", "a/[",
])
def test_bad_patterns_are_refused_with_gos_words(pattern: str) -> None:
    with pytest.raises(InvalidParameter, match=r"^syntax error in pattern$"):
        PatternMatcher([pattern])


def test_lone_exclamation_mark() -> None:
    with pytest.raises(InvalidParameter, match=r'^illegal exclusion pattern: "!"$'):
        PatternMatcher(["!"])


def test_pattern_gos_regexp_refuses_fails_when_used() -> None:
    matcher = PatternMatcher(["\\q*"])  # filepath.Match accepts it, Go's regexp does not
    with pytest.raises(InvalidParameter, match="syntax error in pattern"):
        matcher.matches("x")


def test_patterns_are_trimmed_cleaned_and_exceptions_noted() -> None:
    matcher = PatternMatcher(["docs", "  !docs/./README.md  ", ""])
    assert matcher.exclusions
    assert [(p.cleaned, p.exclusion) for p in matcher.patterns] == [
        ("docs", False), ("docs/README.md", True)]


def test_one_parent_matching_is_the_deprecated_behaviour() -> None:
    # Matches (used by the CLI for Dockerfile/.dockerignore) tries only the parent as deep
    # as the pattern; MatchesOrParentMatches tries every parent
    matcher = PatternMatcher(["a/b"])
    assert matcher.matches("a/b/c/d")
    assert not matcher.matches_one_parent("x/a/b/c")
    assert matcher.matches_one_parent("a/b/c/d")
    assert not PatternMatcher(["a"]).matches_one_parent("x/a/c") and not \
        PatternMatcher(["a"]).matches("x/a/c")


def test_walk_results_use_the_parent() -> None:
    matcher = PatternMatcher(["a/b", "!a"])
    top, info = matcher.matches_using_parent("a")
    assert not top
    below, info = matcher.matches_using_parent("a/b", info)
    assert below  # and the walk prunes it: "!a" does not start with "a/b/"
    assert not matcher.may_have_exceptions_under("a/b")
    assert PatternMatcher(["a", "!a/b/c"]).may_have_exceptions_under("a/b")
    assert not PatternMatcher(["a", "!**/c"]).may_have_exceptions_under("a")
