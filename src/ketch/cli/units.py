"""Docker's human units (go-units): durations like "2 minutes" and sizes like "1.98MB"."""

from __future__ import annotations

from ketch.util.humanize import human_duration, human_size

__all__ = ["ellipsis", "go_quote", "human_duration", "human_size"]


def go_quote(text: str) -> str:
    """strconv.Quote: double quotes, backslash escapes, printable Unicode kept."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def ellipsis(text: str, width: int) -> str:
    """Cut `text` to `width` characters, the last one "…" when something was cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return text[0]
    return text[: width - 1] + "…"
