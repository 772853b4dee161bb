"""Read a compose file's YAML: safely, as docker compose reads it, and without letting a
hostile file take the machine.

- Only the safe constructors (no Python object tags); the compose tags `!reset` and
  `!override` become the markers `RESET` and `Override(value)`; any other tag is refused.
- Plain scalars resolve as docker compose's YAML library does (YAML 1.2's core schema):
  `yes`, `on`, `22:22` and `2024-01-01` stay strings; `0755` and `0o755` are octal ints.
- A document's size is counted with its aliases expanded, and refused past
  `MAX_NODES` ("billion laughs"); a recursive alias and a duplicate key are errors.
- The result is a fresh tree of dicts, lists and scalars: an alias used twice becomes
  two copies, so that later steps may change one without changing the other.
- Errors name the file, the line and the column.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ketch.compose.errors import ComposeError

MAX_NODES = 200_000  # nodes in a document once its aliases are expanded
MAX_BYTES = 8 * 1024 * 1024  # a compose file larger than this is refused unread


class Reset:
    """`!reset`: the key is removed from the model built so far."""

    _instance: Reset | None = None

    def __new__(cls) -> Reset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "RESET"


RESET = Reset()


class Override:
    """`!override VALUE`: VALUE replaces what the files before set, unmerged."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Override({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Override) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and the two compose tags."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Keys as strings while the mapping is built (`1:` and `true:` stay apart)."""
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict | set) or not _is_scalar(key):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found a mapping key that is not a scalar", key_node.start_mark)
            mapping[_key(key)] = self.construct_object(value_node, deep=deep)
        return mapping


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Loader.add_implicit_resolver(  # before float: the first resolver that matches wins
    "tag:yaml.org,2002:int",
    re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0[0-7_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$"),
    list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _construct_reset(loader: yaml.SafeLoader, node: Node) -> Reset:
    return RESET


def _construct_override(loader: yaml.SafeLoader, node: Node) -> Override:
    if isinstance(node, MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    assert isinstance(node, ScalarNode)
    tag = loader.resolve(ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
    return Override(loader.construct_object(ScalarNode(tag, node.value, node.start_mark,
                                                       node.end_mark, node.style)))


def _refuse_tag(loader: yaml.SafeLoader, tag_suffix: str, node: Node) -> Any:
    tag = str(node.tag)
    shown = "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") \
        else tag
    raise yaml.constructor.ConstructorError(
        None, None, f"tag {shown} is not allowed in a compose file", node.start_mark)


_Loader.add_constructor("!reset", _construct_reset)
_Loader.add_constructor("!override", _construct_override)
# SafeLoader already refuses unknown tags; these prefixes get a plainer word
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _refuse_tag)
_Loader.add_multi_constructor("!", _refuse_tag)


def _where(source: str, mark: Any) -> str:
    if mark is None:
        return f"{source}: yaml"
    return f"{source}: yaml: line {mark.line + 1}, column {mark.column + 1}"


def _check_document(node: Node, source: str) -> None:
    """Count the nodes with aliases expanded; refuse recursion and duplicate keys."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(current: Node) -> int:
        key = id(current)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in open_nodes:
            raise ComposeError(f"{_where(source, current.start_mark)}: "
                               "recursive alias (a node that contains itself)")
        open_nodes.add(key)
        total = 1
        if isinstance(current, SequenceNode):
            for child in current.value:
                total += size(child)
        elif isinstance(current, MappingNode):
            seen: dict[str, Any] = {}
            for key_node, value_node in current.value:
                if isinstance(key_node, ScalarNode) and key_node.tag != \
                        "tag:yaml.org,2002:merge":
                    first = seen.get(key_node.value)
                    if first is not None:
                        raise ComposeError(
                            f"{_where(source, key_node.start_mark)}: mapping key "
                            f'"{key_node.value}" already defined at line {first.line + 1}')
                    seen[key_node.value] = key_node.start_mark
                total += size(key_node) + size(value_node)
                if total > MAX_NODES:
                    break
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise ComposeError(f"{source}: document too large once its aliases are "
                               f"expanded (more than {MAX_NODES} nodes)")
        sizes[key] = total
        return total

    size(node)


def _unshare(value: Any, depth: int = 0) -> Any:
    """A copy in which every alias is its own object, and every mapping key a string."""
    if isinstance(value, dict):
        return {_key(k): _unshare(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshare(v, depth + 1) for v in value]
    if isinstance(value, Override):
        return Override(_unshare(value.value, depth + 1))
    return value


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, str):
        return key
    if isinstance(key, int | float):
        return str(key)
    raise ComposeError(f"non-scalar mapping key {key!r}")


def load_documents(text: str, source: str) -> list[Any]:
    """Every YAML document of `text` (a file holds one, or several separated by `---`)."""
    if len(text) > MAX_BYTES:
        raise ComposeError(f"{source}: file too large (more than {MAX_BYTES} bytes)")
    loader = _Loader(text)
    documents: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_document(node, source)
            documents.append(_unshare(loader.construct_document(node)))
    except yaml.MarkedYAMLError as exc:
        raise ComposeError(f"{_where(source, exc.problem_mark)}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"{source}: yaml: {exc}") from None
    except RecursionError:
        raise ComposeError(f"{source}: yaml: document nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise ComposeError(f"{source}: yaml: {exc}") from None
    finally:
        loader.dispose()
    return documents


def read_compose_file(path: str) -> list[Any]:
    """The documents of the file at `path` (UTF-8; a BOM is dropped)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ComposeError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    return load_bytes(data, path)


def load_bytes(data: bytes, source: str) -> list[Any]:
    if len(data) > MAX_BYTES:
        raise ComposeError(f"{source}: file too large (more than {MAX_BYTES} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ComposeError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    return load_documents(text.removeprefix("\ufeff"), source)
