"""Docker's detach-key syntax (term.ToBytes), for the CLI's escape proxy and the API's check."""

from __future__ import annotations


def parse_detach_keys(spec: str) -> bytes:
    """Docker's `--detach-keys` syntax: `ctrl-p,ctrl-q`, `a,b`."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            codes = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in codes:
                out.append(codes[ch])
            else:
                raise ValueError(f"Unknown character: '{key}'")
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(out)
