"""Docker's word processing for Dockerfile instructions (buildkit's shell lexer): quotes,
escapes and variable substitution as `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
`${VAR:+word}`, `${VAR+word}`, `${VAR:?message}` and `${VAR?message}`.

Used for the instructions Docker expands itself (ENV, ARG, LABEL, COPY, ADD, FROM,
WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, ...); RUN, CMD and ENTRYPOINT are left to the
container's shell.
"""

from __future__ import annotations

from collections.abc import Mapping

from ketch.errors import InvalidParameter

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME = _NAME_START | frozenset("0123456789")
MAX_NESTING = 100  # ${A:-${B:-...}} levels


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str,
                 split: bool) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.split = split  # words split on unquoted whitespace (else one word)
        self.depth = 0  # ${...} nesting: bounded, the text is the client's

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self) -> list[str]:
        words: list[str] = []
        word: list[str] = []
        started = False  # a word exists once anything (even "") was quoted into it
        while self.pos < len(self.text):
            ch = self.next()
            if self.split and ch in " \t\r\n":
                if word or started:
                    words.append("".join(word))
                word, started = [], False
                continue
            started = True
            if ch == "'":
                word.append(self._single_quoted())
            elif ch == '"':
                word.append(self._double_quoted())
            elif ch == "$":
                value = self._variable()
                if self.split and value and any(c in value for c in " \t\r\n"):
                    # an unquoted expansion splits into words, as a shell does
                    parts = value.split()
                    if value[0] in " \t\r\n" and (word or started):
                        words.append("".join(word))
                        word = []
                    word.append(parts[0] if parts else "")
                    for part in parts[1:]:
                        words.append("".join(word))
                        word = [part]
                    if value[-1] in " \t\r\n":
                        words.append("".join(word))
                        word, started = [], False
                else:
                    word.append(value)
            elif ch == self.escape:
                if self.pos >= len(self.text):
                    word.append(ch)  # a lone escape at the end stays
                else:
                    word.append(self.next())
            else:
                word.append(ch)
        if word or started:
            words.append("".join(word))
        return words

    def _single_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidParameter(f"unexpected end of statement while looking for "
                                       f"matching single-quote: {self.text}")
            ch = self.next()
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def _double_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidParameter(f"unexpected end of statement while looking for "
                                       f"matching double-quote: {self.text}")
            ch = self.next()
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self._variable())
            elif ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.next())
            else:
                out.append(ch)

    def _variable(self) -> str:
        ch = self.peek()
        if ch == "{":
            self.next()
            return self._braced()
        if ch and ch in _NAME_START:
            start = self.pos
            while self.peek() and self.peek() in _NAME:
                self.next()
            return self.env.get(self.text[start:self.pos], "")
        return "$"  # not a variable: a literal dollar

    def _braced(self) -> str:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise InvalidParameter(f"failed to process \"{self.text[:80]}...\": "
                                       "substitutions nested too deeply")
            return self._braced_body()
        finally:
            self.depth -= 1

    def _braced_body(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in _NAME:
            self.next()
        name = self.text[start:self.pos]
        if not name:
            raise InvalidParameter(f"failed to process \"{self.text}\": bad substitution")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise InvalidParameter(f"failed to process \"{self.text}\": unsupported "
                                   f"modifier ({ch}) in substitution")
        word = self._modifier_word()
        value = self.env.get(name)
        is_set = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if is_set and value is not None else word
        if ch == "+":
            return word if is_set else ""
        if not is_set:  # "?"
            raise InvalidParameter(f"failed to process \"{self.text}\": {name}: "
                                   f"{word or 'is not allowed to be unset'}")
        return value or ""

    def _modifier_word(self) -> str:
        """The word after `:-` (up to the matching brace), itself expanded."""
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidParameter(f"failed to process \"{self.text}\": syntax error: "
                                       "missing '}'")
            ch = self.next()
            if ch == "}":
                return "".join(out)
            if ch == "$":
                out.append(self._variable())
            elif ch == "'":
                out.append(self._single_quoted())
            elif ch == '"':
                out.append(self._double_quoted())
            elif ch == self.escape and self.pos < len(self.text):
                out.append(self.next())
            else:
                out.append(ch)


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word, quotes removed and variables substituted (ENV values, paths)."""
    words = _Lexer(word, env, escape, split=False).words()
    return words[0] if words else ""


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Words split on unquoted whitespace, each expanded (EXPOSE, shell-form VOLUME)."""
    return _Lexer(text, env, escape, split=True).words()


def expand_heredoc(text: str, env: Mapping[str, str]) -> str:
    """A heredoc's content with an unquoted delimiter: variables substituted and `\\$`
    kept literal, quotes and everything else left as written (as a shell's here-document)."""
    lexer = _Lexer(text, env, "\\", split=False)
    out: list[str] = []
    while lexer.pos < len(text):
        ch = lexer.next()
        if ch == "$":
            out.append(lexer._variable())
        elif ch == "\\" and lexer.peek() in ("$", "\\"):
            out.append(lexer.next())
        else:
            out.append(ch)
    return "".join(out)
