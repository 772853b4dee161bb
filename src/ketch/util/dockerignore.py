""".dockerignore as Docker reads and applies it: moby's patternmatcher and ignorefile.

Shared by the CLI (which leaves ignored files out of the build context it sends) and the
daemon (which drops the Dockerfile and .dockerignore from a context that ignores them).
The quirks are Docker's and kept on purpose, so that a context is the same whichever
client made it: a pattern is checked with Go's filepath.Match syntax but matched through
the regular expression moby builds from it (so `[` ... `]` and escapes follow Go regexp
rules), `**` spans directories, the last matching pattern wins, and a walk prunes an
ignored directory unless an exception pattern starts with the directory's path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ketch.errors import InvalidParameter
from ketch.util.gopath import clean

BAD_PATTERN = "syntax error in pattern"  # Go's filepath.ErrBadPattern
# Go's unicode.IsSpace, what strings.TrimSpace strips (str.strip strips \x1c-\x1f too)
_GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
             "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_REGEX_ESCAPED = set(".+()|{}$")  # escaped by moby: special in a regexp, plain in a pattern

MatchInfo = tuple[bool, ...]  # per pattern, whether it matched a directory (a walk's parent)


def trim_space(text: str) -> str:
    return text.strip(_GO_SPACE)


def read_patterns(text: str) -> list[str]:
    """ignorefile.ReadAll: one pattern a line; a UTF-8 BOM dropped; lines starting with
    `#` are comments (before any trimming); whitespace trimmed; each pattern cleaned
    (filepath.Clean) with one leading `/` dropped; `!` kept in front of exceptions."""
    patterns = []
    for number, line in enumerate(text.split("\n")):
        if number == 0:
            line = line.removeprefix("\ufeff")
        line = line.removesuffix("\r")  # bufio.ScanLines drops a CR before the LF
        if line.startswith("#"):
            continue
        pattern = trim_space(line)
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = trim_space(pattern[1:])
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


class Pattern:
    """One pattern: what it matches and whether it is an exception (`!`)."""

    def __init__(self, cleaned: str, exclusion: bool) -> None:
        self.cleaned = cleaned  # without the `!`: what moby's Pattern.String() returns
        self.exclusion = exclusion
        self.dirs = cleaned.split("/")
        self._kind, self._regex, self._error = _compile(cleaned)

    def __repr__(self) -> str:
        return f"Pattern({'!' if self.exclusion else ''}{self.cleaned})"

    def match(self, path: str) -> bool:
        kind = self._kind
        if kind == "exact":
            return path == self.cleaned
        if kind == "prefix":  # "foo/**": anything below foo
            return path.startswith(self.cleaned[:-2])
        if kind == "suffix":  # "**/foo": foo at any depth
            suffix = self.cleaned[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        if self._regex is None:
            # moby compiles lazily: a pattern Go's regexp refuses fails when first used
            raise InvalidParameter(self._error or BAD_PATTERN)
        return self._regex.match(path) is not None


class PatternMatcher:
    """patternmatcher.PatternMatcher over patterns as read_patterns returns them."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns: list[Pattern] = []
        self.exclusions = False  # whether any pattern is an exception
        for raw in patterns:
            text = trim_space(raw)
            if not text:
                continue
            text = clean(text)
            exclusion = text[0] == "!"
            if exclusion:
                if len(text) == 1:
                    raise InvalidParameter('illegal exclusion pattern: "!"')
                text = text[1:]
                self.exclusions = True
            check_syntax(text)
            self.patterns.append(Pattern(text, exclusion))

    def matches(self, path: str) -> bool:
        """MatchesOrParentMatches: whether path (slash-separated, relative to the context)
        is ignored, by a pattern matching it or any of its parent directories."""
        matched = False
        parent = _dir(path)
        parents = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:  # only a pattern that could change the answer
                continue
            match = pattern.match(path)
            if not match and parent != ".":
                match = any(pattern.match("/".join(parents[:i + 1]))
                            for i in range(len(parents)))
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_one_parent(self, path: str) -> bool:
        """The deprecated Matches (what the docker CLI still uses to decide whether the
        Dockerfile and .dockerignore need an exception): only the parent directory as
        deep as each pattern is tried, not all of them."""
        matched = False
        parent = _dir(path)
        parents = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(path)
            if not match and parent != "." and len(pattern.dirs) <= len(parents):
                match = pattern.match("/".join(parents[:len(pattern.dirs)]))
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_using_parent(self, path: str,
                             parent: MatchInfo | None = None) -> tuple[bool, MatchInfo]:
        """MatchesUsingParentResults, what a walk uses: parent is what this returned for
        the directory containing path (None at the top, where it is matches())."""
        matched = False
        info = []
        for i, pattern in enumerate(self.patterns):
            match = parent[i] if parent else False
            if not match:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                match = pattern.match(path)
                if not match and not parent:  # the top: every parent directory is tried
                    dirs = _dir(path)
                    if dirs != ".":
                        parts = dirs.split("/")
                        match = any(pattern.match("/".join(parts[:j + 1]))
                                    for j in range(len(parts)))
            info.append(match)
            if match:
                matched = not pattern.exclusion
        return matched, tuple(info)

    def may_have_exceptions_under(self, directory: str) -> bool:
        """Whether an ignored directory must still be walked: moby walks it only if some
        exception pattern starts with the directory's path (so `!**/keep` rescues nothing
        inside an ignored directory, as in Docker)."""
        if not self.exclusions:
            return False
        prefix = directory + "/"
        return any(p.exclusion and (p.cleaned + "/").startswith(prefix) for p in self.patterns)


def _dir(path: str) -> str:
    """filepath.Dir."""
    return clean(path[:path.rfind("/") + 1])


def matches(path: str, patterns: Sequence[str]) -> bool:
    """patternmatcher.MatchesOrParentMatches(path, patterns) (the function): "." is never
    ignored. The daemon uses this to drop Dockerfile and .dockerignore from a context."""
    path = clean(path)
    return path != "." and PatternMatcher(patterns).matches(path)


# -- Go's filepath.Match syntax --------------------------------------------------------------


def check_syntax(pattern: str) -> None:
    """Raise InvalidParameter("syntax error in pattern") where filepath.Match would return
    ErrBadPattern: a `[` class left open or empty, a range missing an end, a trailing `\\`."""
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges:
                    i += 1
                    break
                i = _class_char(pattern, i)
                if pattern[i] == "-":
                    i = _class_char(pattern, i + 1)
                ranges += 1
        elif c == "\\":
            if i + 1 >= n:
                raise InvalidParameter(BAD_PATTERN)
            i += 2
        else:
            i += 1


def _class_char(pattern: str, i: int) -> int:
    """filepath's getEsc: one (possibly escaped) character of a class; something must
    follow it (the class has to close)."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise InvalidParameter(BAD_PATTERN)
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            raise InvalidParameter(BAD_PATTERN)
    i += 1
    if i >= n:
        raise InvalidParameter(BAD_PATTERN)
    return i


# -- moby's pattern -> regexp, read the way Go's regexp reads it ------------------------------


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None, str | None]:
    """(kind, regex, error) as Pattern.compile decides them: "exact", "prefix" (`x/**`),
    "suffix" (`**/x`) or "regexp". The regexp is built exactly as moby builds its Go one,
    then translated into Python's syntax (see _go_regexp)."""
    out = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    first = True
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # "**/" is "**"
                    i += 1
                if i >= n:  # trailing "**": everything below, as in .gitignore
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regexp"
                else:
                    out.append("(.*/)?")
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regexp"
        elif c == "?":
            out.append("[^/]")
            kind = "regexp"
        elif c in _REGEX_ESCAPED:
            out.append("\\" + c)
        elif c == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = "regexp"
            else:
                out.append("\\")
        elif c in "[]":
            out.append(c)
            kind = "regexp"
        else:
            out.append(c)
        first = False
    if kind != "regexp":
        return kind, None, None
    out.append("$")
    try:
        return kind, re.compile(_go_regexp("".join(out)), re.ASCII), None
    except (ValueError, re.error):
        return kind, None, BAD_PATTERN  # moby answers ErrBadPattern for any compile error


_POSIX = {  # Go regexp's [:name:] classes, as Python class contents
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_PERL = {"d": "0-9", "s": "\\t\\n\\f\\r ", "w": "0-9A-Za-z_"}  # Go's are ASCII only
_CONTROL = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}


def _go_regexp(expr: str) -> str:
    """The subset of Go regexp syntax moby's expressions use, in Python's: literals,
    escapes, `^ $ . * ? ( ) |` passed on, and character classes parsed as Go parses them
    (`]` first is literal, `[` inside is literal, POSIX `[:name:]`, `\\d`-style classes).
    Anything Go would refuse raises ValueError."""
    out = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c == "\\":
            piece, i = _escape(expr, i + 1)
            out.append(piece)
        elif c == "[":
            piece, i = _class(expr, i + 1)
            out.append(piece)
        else:
            out.append("\\Z" if c == "$" else c)  # Python's $ also matches before a final \n
            i += 1
    return "".join(out)


def _escape(expr: str, i: int) -> tuple[str, int]:
    """The escape whose backslash is just before expr[i], outside a class: Python text
    and the index after it. Go refuses an escaped letter it does not know, and so do we
    (octal, \\x, \\p and \\Q are refused too: not worth translating)."""
    if i >= len(expr):
        raise ValueError("trailing backslash")
    c = expr[i]
    if c < "\x80" and not c.isalnum():
        return re.escape(c), i + 1
    if c in _CONTROL:
        return re.escape(_CONTROL[c]), i + 1
    if c.lower() in _PERL:
        return ("[^{}]" if c.isupper() else "[{}]").format(_PERL[c.lower()]), i + 1
    if c in "bBA":
        return "\\" + c, i + 1
    if c == "z":
        return "\\Z", i + 1
    raise ValueError(f"unsupported escape \\{c}")


def _class(expr: str, i: int) -> tuple[str, int]:
    """A class whose `[` is just before expr[i], translated; and the index after its `]`."""
    n = len(expr)
    out = ["["]
    if i < n and expr[i] == "^":
        out.append("^")
        i += 1
    first = True
    while True:
        if i >= n:
            raise ValueError("missing closing ]")
        if expr[i] == "]" and not first:
            return "".join(out) + "]", i + 1
        first = False
        if expr.startswith("[:", i):
            end = expr.find(":]", i + 2)
            if end >= 0:
                name = expr[i + 2:end]
                negated = name.startswith("^")
                body = _POSIX.get(name.removeprefix("^"))
                if body is None or negated:
                    raise ValueError(f"invalid character class range [:{name}:]")
                out.append(body)
                i = end + 2
                continue
        lo, i, body = _member(expr, i)
        if body is not None:  # a \d-style class
            out.append(body)
            continue
        text = _class_text(lo)
        if i + 1 < n and expr[i] == "-" and expr[i + 1] != "]":
            hi, i, body = _member(expr, i + 1)
            if body is not None or hi < lo:
                raise ValueError("invalid character class range")
            text += "-" + _class_text(hi)
        out.append(text)


def _member(expr: str, i: int) -> tuple[str, int, str | None]:
    """One member of a class at expr[i]: the character and the index after it, or a
    Perl class's (`\\d`) Python body as the third item."""
    c = expr[i]
    if c != "\\":
        return c, i + 1, None
    if i + 1 >= len(expr):
        raise ValueError("trailing backslash")
    e = expr[i + 1]
    if e in _PERL and e.islower():
        return "", i + 2, _PERL[e]
    if e in _CONTROL:
        return _CONTROL[e], i + 2, None
    if e < "\x80" and not e.isalnum():
        return e, i + 2, None
    raise ValueError(f"unsupported escape \\{e} in a class")


def _class_text(char: str) -> str:
    """A literal character inside a Python class (punctuation escaped: Python warns about
    `[[`, `--`, `&&` and the like, which Go reads as plain characters)."""
    return "\\" + char if char < "\x80" and not char.isalnum() else char
