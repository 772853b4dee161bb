"""JSON for start-up-sensitive paths (the runtime, the CLI), through CPython's C accelerator.

`import json` costs ~5 ms because json.decoder and json.encoder import `re`
(and `re` imports `enum`); `ketch-runtime run` must start in a few ms. The C
scanner and encoder that json itself uses need no regular expressions, so we
drive them directly and fall back to the json module where they are missing.
Errors are still json.JSONDecodeError (ValueError), raised by the accelerator.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - not CPython
    _json = None  # type: ignore[assignment]


class _Context:
    """The attributes the C scanner reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan: Any = None if _json is None else _json.make_scanner(_Context())  # type: ignore[arg-type]
_encode: Any = None if _json is None else _json.make_encoder(
    None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, True)  # type: ignore[arg-type]
_WS = " \t\n\r"


def loads(data: bytes | str) -> Any:
    if _scan is None:  # pragma: no cover
        import json
        return json.loads(data)
    text = data.decode() if isinstance(data, bytes) else data
    if text.startswith("\ufeff"):  # a BOM, as "utf-8-sig" would drop (without its import)
        text = text[1:]
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _scan(text, start)
    except StopIteration as e:
        raise _error("Expecting value", text, e.value) from None
    rest = len(text.rstrip(_WS))
    if end != rest:
        raise _error("Extra data", text, end)
    return value


def raw_decode(text: str, start: int = 0) -> tuple[Any, int]:
    """The JSON value at `start` and where it ends (ValueError if there is none yet)."""
    if _scan is None:  # pragma: no cover
        import json
        value, end = json.JSONDecoder().raw_decode(text, start)
        return value, end
    try:
        value, end = _scan(text, start)
    except StopIteration as e:
        raise _error("Expecting value", text, e.value) from None
    return value, end


def dumps(value: Any) -> str:
    if _encode is None:  # pragma: no cover
        import json
        return json.dumps(value, separators=(",", ":"))
    return "".join(_encode(value, 0))


def _error(msg: str, text: str, pos: int) -> ValueError:
    from json import JSONDecodeError
    return JSONDecodeError(msg, text, pos)


def dumps_indented(value: Any, indent: str = "    ", _level: int = 0) -> str:
    """Like json.dumps(value, indent=..., ensure_ascii=False), without importing json."""
    pad = "\n" + indent * (_level + 1)
    if isinstance(value, dict) and value:
        items = (f"{_quote_raw(str(k))}: {dumps_indented(v, indent, _level + 1)}"
                 for k, v in value.items())
        return "{" + pad + ("," + pad).join(items) + "\n" + indent * _level + "}"
    if isinstance(value, list) and value:
        items = (dumps_indented(v, indent, _level + 1) for v in value)
        return "[" + pad + ("," + pad).join(items) + "\n" + indent * _level + "]"
    if isinstance(value, str):
        return _quote_raw(value)
    return dumps(value)


def _quote_raw(text: str) -> str:
    encode: Any = getattr(_json, "encode_basestring", None)
    if encode is None:  # pragma: no cover - not CPython
        import json
        return json.dumps(text, ensure_ascii=False)
    return str(encode(text))

