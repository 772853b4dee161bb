"""The subset of Go's text/template that `--format` users write.

Supported: `{{.A.B}}`, `{{.}}`, `{{$}}`, variables (`$x := ...`, `range $k, $v := ...`),
`{{if}}`/`{{else}}`/`{{else if}}`/`{{end}}`, `{{range}}`, `{{with}}`, pipelines
(`{{.Name | upper}}`), parentheses, trim markers (`{{-`, `-}}`), string/number/bool
literals, methods with arguments on context objects (`{{.Label "com.x"}}`) and Docker's
functions: json, join, split, lower, upper, title, pad, truncate, index, len, print,
println, printf, eq, ne, lt, le, gt, ge, and, or, not, slice.
Values print like Go's `%v` (maps as `map[k:v]`, lists as `[a b]`).
"""

from __future__ import annotations

from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from re import Match
    from typing import Any


class TemplateError(Exception):
    """A template that does not parse or cannot be executed."""


class _Missing:
    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()

def go_value(value: Any) -> str:
    """Go's `%v` of a JSON-ish value."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_json(value: Any) -> str:
    """json.Marshal: compact, HTML characters escaped."""
    import json  # only templates that print JSON pay for its import

    if value is MISSING:
        value = None
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _json_default(obj: Any) -> Any:
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def truthy(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def _index(container: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(container, dict):
            container = container.get(key, MISSING)
        elif isinstance(container, list | tuple | str):
            try:
                container = container[int(key)]
            except (IndexError, ValueError) as exc:
                raise TemplateError(f"error calling index: index out of range: {key}") from exc
        else:
            raise TemplateError(f"can't index item of type {type(container).__name__}")
    return container


def _printf(fmt: str, *args: Any) -> str:
    import re

    it = iter(args)

    def repl(m: Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        value = next(it, MISSING)
        return go_json(value) if m.group(1) == "q" and isinstance(value, str) else go_value(value)

    return re.sub(r"%%|%[-+# 0-9.]*([vsdqtf])", repl, fmt)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def fn(a: Any, *others: Any) -> bool:
        return all(op(a, b) for b in others) if others else False
    return fn


FUNCS: dict[str, Callable[..., Any]] = {
    "json": go_json,
    "join": lambda items, sep: sep.join(go_value(i) for i in (items or [])),
    "split": lambda text, sep: go_value(text).split(sep),
    "lower": lambda v: go_value(v).lower(),
    "upper": lambda v: go_value(v).upper(),
    "title": lambda v: go_value(v).title(),
    "pad": lambda v, left, right: " " * int(left) + go_value(v) + " " * int(right),
    "truncate": lambda v, n: go_value(v)[: int(n)],
    "index": _index,
    "len": lambda v: len(v) if isinstance(v, list | tuple | dict | str) else 0,
    "print": lambda *a: "".join(go_value(v) for v in a),
    "println": lambda *a: " ".join(go_value(v) for v in a) + "\n",
    "printf": _printf,
    "eq": _cmp(lambda a, b: a == b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda v: not truthy(v),
    "and": lambda *a: next((v for v in a if not truthy(v)), a[-1] if a else None),
    "or": lambda *a: next((v for v in a if truthy(v)), a[-1] if a else None),
    "slice": lambda v, *ix: v[int(ix[0]) if ix else 0: int(ix[1]) if len(ix) > 1 else None],
}


# -- parsing ----------------------------------------------------------------------------------
class _Node:
    pass


class _Text(_Node):
    def __init__(self, text: str) -> None:
        self.text = text


class _Action(_Node):
    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe


class _Block(_Node):
    def __init__(self, kind: str, pipe: _Pipe) -> None:
        self.kind = kind
        self.pipe = pipe
        self.body: list[_Node] = []
        self.orelse: list[_Node] = []


class _Pipe:
    def __init__(self, decl: list[str], cmds: list[list[Any]]) -> None:
        self.decl = decl
        self.cmds = cmds


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split an action into (kind, text): str, num, decl, punct, word."""
    out: list[tuple[str, str]] = []
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch.isspace():
            pos += 1
        elif ch == '"':
            end = pos + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= n:
                raise TemplateError("unterminated quoted string")
            out.append(("str", text[pos:end + 1]))
            pos = end + 1
        elif ch == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise TemplateError("unterminated raw quoted string")
            out.append(("str", text[pos:end + 1]))
            pos = end + 1
        elif ch.isdigit() or (ch == "-" and pos + 1 < n and text[pos + 1].isdigit()):
            end = pos + 1
            while end < n and (text[end].isdigit() or text[end] == "."):
                end += 1
            out.append(("num", text[pos:end]))
            pos = end
        elif text.startswith(":=", pos):
            out.append(("decl", ":="))
            pos += 2
        elif ch == "=":
            out.append(("decl", "="))
            pos += 1
        elif ch in "|(),":
            out.append(("punct", ch))
            pos += 1
        else:
            end = pos
            while end < n and not text[end].isspace() and text[end] not in "|(),=":
                end += 1
            if text.startswith(":=", end - 1) and end - 1 > pos:
                end -= 1
            out.append(("word", text[pos:end]))
            pos = end
    return out


def _parse_pipe(text: str) -> _Pipe:
    toks = _tokens(text)
    decl: list[str] = []
    for i, (kind, _value) in enumerate(toks):
        if kind == "decl":
            decl = [v for k, v in toks[:i] if k == "word"]
            toks = toks[i + 1:]
            break
    pos = 0

    def command() -> list[Any]:
        nonlocal pos
        args: list[Any] = []
        while pos < len(toks):
            kind, value = toks[pos]
            if kind == "punct" and value in "|)":
                break
            pos += 1
            if kind == "punct" and value == "(":
                inner = pipeline()
                if pos >= len(toks) or toks[pos][1] != ")":
                    raise TemplateError("unclosed left paren")
                pos += 1
                args.append(inner)
            elif kind == "str":
                args.append(("lit", jsonio.loads(value) if value[0] == '"' else value[1:-1]))
            elif kind == "num":
                args.append(("lit", float(value) if "." in value else int(value)))
            elif kind == "punct":
                continue  # a comma between range variables
            else:
                args.append(("word", value))
        if not args:
            raise TemplateError("missing value for command")
        return args

    def pipeline() -> _Pipe:
        nonlocal pos
        cmds = [command()]
        while pos < len(toks) and toks[pos][1] == "|":
            pos += 1
            cmds.append(command())
        return _Pipe([], cmds)

    pipe = pipeline()
    if pos != len(toks):
        raise TemplateError(f"unexpected {toks[pos][1]!r} in operand")
    pipe.decl = decl
    return pipe


def _parse(source: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Block | None, list[_Node]]] = [(None, root)]
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            stack[-1][1].append(_Text(source[pos:]))
            break
        end = source.find("}}", start + 2)
        if end < 0:
            raise TemplateError("unclosed action")
        text = source[pos:start]
        inner = source[start + 2:end]
        pos = end + 2
        if inner.startswith("- ") or inner == "-":
            text = text.rstrip()
            inner = inner[1:]
        if inner.endswith(" -"):
            inner = inner[:-1]
            while pos < len(source) and source[pos].isspace():
                pos += 1
        stack[-1][1].append(_Text(text))
        inner = inner.strip()
        word, _, rest = inner.partition(" ")
        if inner.startswith("/*"):
            continue
        if word in ("if", "range", "with"):
            block = _Block(word, _parse_pipe(rest))
            stack[-1][1].append(block)
            stack.append((block, block.body))
        elif word == "else":
            block_top = stack[-1][0]
            if block_top is None:
                raise TemplateError("unexpected {{else}}")
            stack[-1] = (block_top, block_top.orelse)
            sub, _, cond = rest.strip().partition(" ")
            if sub in ("if", "with"):
                nested = _Block(sub, _parse_pipe(cond))
                block_top.orelse.append(nested)
                stack.append((nested, nested.body))
                nested.kind = sub + "-chain"
        elif word == "end":
            while True:
                if len(stack) == 1:
                    raise TemplateError("unexpected {{end}}")
                block_done, _ = stack.pop()
                if block_done is None or not block_done.kind.endswith("-chain"):
                    break
                block_done.kind = block_done.kind.removesuffix("-chain")
        else:
            stack[-1][1].append(_Action(_parse_pipe(inner)))
    if len(stack) != 1:
        raise TemplateError("unexpected EOF")
    return root


# -- execution --------------------------------------------------------------------------------
class Template:
    """A parsed template; `execute(data)` returns the text."""

    def __init__(self, source: str, funcs: dict[str, Callable[..., Any]] | None = None) -> None:
        self.source = source
        self.funcs = {**FUNCS, **(funcs or {})}
        self.nodes = _parse(source)

    def execute(self, data: Any) -> str:
        out: list[str] = []
        self._run(self.nodes, data, {"$": data}, out)
        return "".join(out)

    def _run(self, nodes: list[_Node], dot: Any, env: dict[str, Any], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                value = self._pipe(node.pipe, dot, env)
                if not node.pipe.decl:
                    out.append(go_value(value))
            elif isinstance(node, _Block):
                self._block(node, dot, env, out)

    def _block(self, node: _Block, dot: Any, env: dict[str, Any], out: list[str]) -> None:
        kind = node.kind.removesuffix("-chain")
        value = self._pipe(node.pipe, dot, dict(env) if kind == "range" else env, bind=False)
        if kind == "if":
            self._run(node.body if truthy(value) else node.orelse, dot, env, out)
        elif kind == "with":
            if truthy(value):
                self._run(node.body, value, env, out)
            else:
                self._run(node.orelse, dot, env, out)
        else:
            items: list[tuple[Any, Any]]
            if isinstance(value, dict):
                items = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list | tuple):
                items = list(enumerate(value))
            elif not truthy(value):
                items = []
            else:
                raise TemplateError(f"range can't iterate over {go_value(value)}")
            if not items:
                self._run(node.orelse, dot, env, out)
            for key, item in items:
                scope = dict(env)
                names = node.pipe.decl
                if len(names) == 1:
                    scope[names[0]] = item
                elif len(names) >= 2:
                    scope[names[0]], scope[names[1]] = key, item
                self._run(node.body, item, scope, out)

    def _pipe(self, pipe: _Pipe, dot: Any, env: dict[str, Any], bind: bool = True) -> Any:
        value: Any = MISSING
        for i, cmd in enumerate(pipe.cmds):
            value = self._command(cmd, dot, env, [] if i == 0 else [value])
        if bind and pipe.decl:
            env[pipe.decl[0]] = value
        return value

    def _command(self, cmd: list[Any], dot: Any, env: dict[str, Any], extra: list[Any]) -> Any:
        head = cmd[0]
        if isinstance(head, tuple) and head[0] == "word" and head[1] in self.funcs:
            args = [self._arg(a, dot, env) for a in cmd[1:]] + extra
            try:
                return self.funcs[head[1]](*args)
            except TemplateError:
                raise
            except Exception as exc:
                raise TemplateError(f"error calling {head[1]}: {exc}") from exc
        if isinstance(head, tuple) and head[0] == "word" and (len(cmd) > 1 or extra):
            target = self._arg(head, dot, env, call=False)
            if callable(target):
                return target(*[self._arg(a, dot, env) for a in cmd[1:]], *extra)
            raise TemplateError(f"can't give argument to non-function {head[1]}")
        return self._arg(head, dot, env)

    def _arg(self, arg: Any, dot: Any, env: dict[str, Any], call: bool = True) -> Any:
        if isinstance(arg, _Pipe):
            return self._pipe(arg, dot, env)
        kind, value = arg
        if kind == "lit":
            return value
        if value in ("true", "false"):
            return value == "true"
        if value == "nil":
            return None
        if value == ".":
            return dot
        if value.startswith("$"):
            name, _, path = value.partition(".")
            if name not in env:
                raise TemplateError(f'undefined variable "{name}"')
            return self._field(env[name], path.split(".") if path else [], call)
        if value.startswith("."):
            return self._field(dot, value[1:].split("."), call)
        if value in self.funcs:
            return self.funcs[value]()
        raise TemplateError(f'function "{value}" not defined')

    @staticmethod
    def _field(obj: Any, path: list[str], call: bool = True) -> Any:
        for i, name in enumerate(path):
            if isinstance(obj, dict):
                found = obj.get(name, MISSING)
                if found is MISSING:  # Docker's Go field beside its JSON key: APIVersion
                    lower = name.lower()  # for "ApiVersion"
                    found = next((v for k, v in obj.items()
                                  if isinstance(k, str) and k.lower() == lower), MISSING)
                obj = found
            elif obj is MISSING or obj is None:
                return MISSING
            else:
                attr = getattr(obj, name, MISSING) if not name.startswith("_") else MISSING
                if attr is MISSING:
                    raise TemplateError(f"can't evaluate field {name} in type "
                                        f"{type(obj).__name__}")
                last = i == len(path) - 1
                obj = attr() if callable(attr) and (call or not last) else attr
        return obj


def render(source: str, data: Any) -> str:
    return Template(source).execute(data)
