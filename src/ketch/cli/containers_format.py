"""`ps` rows: the placeholders of Docker's container formatter over `GET /containers/json`."""

from __future__ import annotations

import time

from ketch.cli.units import ellipsis, go_quote, human_duration, human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}"
                  "\t{{.Ports}}\t{{.Names}}")
QUIET_FORMAT = "{{.ID}}"
TITLES = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
          "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
          "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
          "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM"}


def short_id(ident: str) -> str:
    ident = ident.removeprefix("sha256:")
    return ident[:12]


def format_ports(ports: list[dict[str, Any]] | None) -> str:
    """DisplayablePorts, without range folding: `0.0.0.0:8080->80/tcp, 443/tcp`."""
    out: list[str] = []
    for port in sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0),
                                                   p.get("Type", ""), p.get("IP", ""))):
        private, proto = port.get("PrivatePort", 0), port.get("Type", "tcp")
        ip = port.get("IP", "")
        if port.get("PublicPort"):
            host = f"[{ip}]" if ":" in ip else ip
            text = f"{host}:{port['PublicPort']}->{private}/{proto}"
        else:
            text = f"{private}/{proto}"
        if text not in out:
            out.append(text)
    return ", ".join(out)


class ContainerRow:
    """The placeholders of one container (`.ID`, `.Image`, `.Command`, ...)."""

    def __init__(self, data: dict[str, Any], trunc: bool = True,
                 now: float | None = None) -> None:
        self._c = data
        self._trunc = trunc
        self._now = time.time() if now is None else now

    @property
    def ID(self) -> str:
        ident = str(self._c.get("Id", ""))
        return short_id(ident) if self._trunc else ident

    @property
    def Image(self) -> str:
        image = str(self._c.get("Image") or "")
        if not image:
            return "<no image>"
        if self._trunc:
            if short_id(str(self._c.get("ImageID", ""))) == short_id(image):
                return short_id(image)
            image = image.split("@", 1)[0]
        return image

    @property
    def Command(self) -> str:
        command = str(self._c.get("Command", ""))
        return go_quote(ellipsis(command, 20) if self._trunc else command)

    @property
    def CreatedAt(self) -> str:
        created = float(self._c.get("Created", 0))
        return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created))

    @property
    def RunningFor(self) -> str:
        created = float(self._c.get("Created", 0))
        return human_duration(self._now - created) + " ago"

    @property
    def Ports(self) -> str:
        return format_ports(self._c.get("Ports"))

    @property
    def State(self) -> str:
        return str(self._c.get("State", ""))

    @property
    def Status(self) -> str:
        return str(self._c.get("Status", ""))

    @property
    def Size(self) -> str:
        rw, root = self._c.get("SizeRw", 0) or 0, self._c.get("SizeRootFs", 0) or 0
        if root <= 0:  # df -v shows no virtual size
            return human_size(rw)
        return f"{human_size(rw)} (virtual {human_size(root)})"

    @property
    def Names(self) -> str:
        names = []
        for name in self._c.get("Names") or []:
            stripped = name[1:] if name.startswith("/") else name
            if self._trunc and "/" in stripped:
                continue  # a link alias, not the container's own name
            names.append(stripped)
        return ",".join(names)

    @property
    def Labels(self) -> str:
        labels = self._c.get("Labels") or {}
        return ",".join(f"{k}={v}" for k, v in labels.items())

    def Label(self, name: str) -> str:
        return str((self._c.get("Labels") or {}).get(name, ""))

    @property
    def Mounts(self) -> str:
        names = []
        for mount in self._c.get("Mounts") or []:
            name = mount.get("Name") or mount.get("Source", "")
            names.append(ellipsis(name, 15) if self._trunc else name)
        return ",".join(names)

    @property
    def Networks(self) -> str:
        networks = (self._c.get("NetworkSettings") or {}).get("Networks") or {}
        return ",".join(sorted(networks))

    @property
    def LocalVolumes(self) -> str:
        mounts = self._c.get("Mounts") or []
        return str(sum(1 for m in mounts if m.get("Driver") == "local"))

    @property
    def Platform(self) -> None:
        return None  # the docker CLI's *Platform, nil from a local daemon

    def to_json(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in sorted(TITLES)}
