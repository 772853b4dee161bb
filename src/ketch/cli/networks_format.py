"""The placeholders of Docker's network formatter (`network ls`)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
QUIET_FORMAT = "{{.ID}}"
RAW_FORMAT = "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n"
RAW_QUIET_FORMAT = "network_id: {{.ID}}"
TITLES = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
          "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
          "CreatedAt": "CREATED AT"}


def list_format(fmt: str, quiet: bool) -> str:
    """network.NewFormat: `table` and `raw` are names, anything else a template."""
    if not fmt or fmt == "table":
        return QUIET_FORMAT if quiet else DEFAULT_FORMAT
    if fmt == "raw":
        return RAW_QUIET_FORMAT if quiet else RAW_FORMAT
    return fmt


def go_time(rfc3339: str) -> str:
    """Go's time.Time.String() of an RFC 3339 timestamp, as decoded from the API:
    `2026-11-28 02:41:20.324184775 +0000 UTC` (a numeric offset names its zone by itself)."""
    date, sep, clock = rfc3339.partition("T")
    if not sep or len(date) != 10 or len(clock) < 9:
        return rfc3339
    if clock.endswith(("Z", "z")):
        clock, offset, zone = clock[:-1], "+0000", "UTC"
    elif len(clock) >= 14 and clock[-6] in "+-" and clock[-3] == ":":
        clock, offset = clock[:-6], clock[-6:-3] + clock[-2:]
        zone = offset
    else:
        return rfc3339
    whole, _, frac = clock.partition(".")
    frac = frac.rstrip("0")
    return f"{date} {whole}{'.' + frac if frac else ''} {offset} {zone}"


class NetworkRow:
    """The placeholders of one network summary."""

    def __init__(self, data: dict[str, Any], trunc: bool = True) -> None:
        self._n = data
        self._trunc = trunc
        self.Name = str(data.get("Name", ""))
        self.Driver = str(data.get("Driver", ""))
        self.Scope = str(data.get("Scope", ""))

    @property
    def ID(self) -> str:
        ident = str(self._n.get("Id", ""))
        return ident[:12] if self._trunc else ident

    def _flag(self, key: str) -> str:
        return "true" if self._n.get(key) else "false"

    @property
    def IPv4(self) -> str:
        return self._flag("EnableIPv4")

    @property
    def IPv6(self) -> str:
        return self._flag("EnableIPv6")

    @property
    def Internal(self) -> str:
        return self._flag("Internal")

    @property
    def Labels(self) -> str:
        # Docker walks a Go map (random order); sorted is one of its orders, and stable
        labels = self._n.get("Labels") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

    def Label(self, name: str) -> str:
        return str((self._n.get("Labels") or {}).get(name, ""))

    @property
    def CreatedAt(self) -> str:
        return go_time(str(self._n.get("Created", "")))

    def to_json(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in sorted(TITLES)}
