"""Docker's detach keys: their syntax (term.ToBytes) and the proxy that finds them in a
stream of input (term.EscapeProxy), for the CLI and the daemon alike."""

from __future__ import annotations

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q


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


class EscapeProxy:
    """Finds the detach sequence in the input; holds back a partial match (term.EscapeProxy)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, whether the full sequence was typed)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            if self.matched:
                out += self.keys[:self.matched]
                self.matched = 0
                if byte == self.keys[0]:
                    self.matched = 1
                    continue
            out.append(byte)
        return bytes(out), False
