"""A small JSON-schema checker for compose files, with docker compose's error words.

It understands the part of JSON schema that the compose specification's schema uses:
`type`, `enum`, `pattern`, `minimum`/`maximum`, `properties`, `patternProperties`,
`additionalProperties`, `required`, `items`, `uniqueItems` and `oneOf`. Every problem
is collected with its key path; the one reported is the most specific (the deepest,
a wrong type first), worded as docker compose words it:

    services.web Additional property foo is not allowed
    services.web.ports.0 must be a number, string or mapping
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ketch.compose.errors import key_path
from ketch.compose.yamlload import Override, Reset

Schema = dict[str, Any]

_TYPE_WORDS = {"object": "mapping", "array": "list"}


@dataclass(frozen=True)
class Problem:
    """One way in which a value breaks the schema."""

    path: tuple[str | int, ...]
    kind: str  # "type", "additional", "required", "enum", "pattern", "unique", "range"
    text: str

    def __str__(self) -> str:
        return f"{key_path(self.path)} {self.text}"


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float)
    return False


def type_words(names: list[str]) -> str:
    """`["number", "string", "object"]` -> `number, string or mapping`."""
    words: list[str] = []
    for name in names:
        word = _TYPE_WORDS.get(name, name)
        if word not in words:
            words.append(word)
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _types_of(schema: Schema) -> list[str]:
    if "oneOf" in schema:
        return [name for option in schema["oneOf"] for name in _types_of(option)]
    return list(schema.get("type", ()))


def _accepts_type(schema: Schema, value: Any) -> bool:
    types = _types_of(schema)
    return not types or any(_is_type(value, name) for name in types)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return ("{", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("[", tuple(_freeze(v) for v in value))
    return (type(value).__name__, value) if isinstance(value, bool) else value


def problems(value: Any, schema: Schema, path: tuple[str | int, ...] = ()) -> Iterator[Problem]:
    """Every problem of `value` against `schema`."""
    if isinstance(value, Reset):
        return
    if isinstance(value, Override):
        value = value.value
    if "oneOf" in schema:
        options = [option for option in schema["oneOf"] if _accepts_type(option, value)]
        if not options:
            yield Problem(path, "type", f"must be a {type_words(_types_of(schema))}")
            return
        found: list[Problem] = []
        for option in options:
            found = list(problems(value, option, path))
            if not found:
                return
        yield from list(problems(value, options[0], path))
        return
    types = schema.get("type")
    if types and not any(_is_type(value, name) for name in types):
        yield Problem(path, "type", f"must be a {type_words(list(types))}")
        return
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(f'"{choice}"' for choice in schema["enum"])
        yield Problem(path, "enum", f"must be one of the following: {choices}")
    if "pattern" in schema and isinstance(value, str) and \
            not re.search(schema["pattern"], value):
        yield Problem(path, "pattern", f"Does not match pattern '{schema['pattern']}'")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield Problem(path, "range", f"must be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            yield Problem(path, "range", f"must be less than or equal to {schema['maximum']}")
    if isinstance(value, dict):
        yield from _mapping_problems(value, schema, path)
    elif isinstance(value, list):
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                yield from problems(item, items, (*path, index))
        if schema.get("uniqueItems"):
            seen: dict[Any, int] = {}
            for index, item in enumerate(value):
                if isinstance(item, Reset | Override):
                    continue
                key = _freeze(item)
                if key in seen:
                    yield Problem(path, "unique",
                                  f"array items[{seen[key]},{index}] must be unique")
                    break
                seen[key] = index


def _mapping_problems(value: dict[str, Any], schema: Schema,
                      path: tuple[str | int, ...]) -> Iterator[Problem]:
    for name in schema.get("required", ()):
        if name not in value:
            yield Problem(path, "required", f"{name} is required")
    properties: dict[str, Schema] = schema.get("properties", {})
    patterns: dict[str, Schema] = schema.get("patternProperties", {})
    additional = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            yield from problems(item, properties[key], (*path, key))
            continue
        matched = False
        for pattern, sub in patterns.items():
            if re.search(pattern, key):
                matched = True
                yield from problems(item, sub, (*path, key))
        if matched:
            continue
        if additional is False:
            yield Problem(path, "additional", f"Additional property {key} is not allowed")
        elif isinstance(additional, dict):
            yield from problems(item, additional, (*path, key))


def most_specific(found: list[Problem]) -> Problem | None:
    """The problem to report: the deepest; among equals a wrong type, else the first."""
    best: Problem | None = None
    for problem in found:
        if best is None or len(problem.path) > len(best.path) or (
                len(problem.path) == len(best.path) and problem.kind == "type"
                and best.kind != "type"):
            best = problem
    return best


def first_problem(value: Any, schema: Schema) -> Problem | None:
    return most_specific(list(problems(value, schema)))
