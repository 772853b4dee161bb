"""The placeholders of Docker's volume formatter (`volume ls`, `system df -v`)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TITLES = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
          "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
          "Group": "GROUP", "Availability": "AVAILABILITY", "Status": "STATUS"}


class VolumeRow:
    """The placeholders of Docker's volume formatter; cluster fields are N/A locally."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._v = data
        self.Name = str(data.get("Name", ""))
        self.Driver = str(data.get("Driver", ""))
        self.Scope = str(data.get("Scope", ""))
        self.Mountpoint = str(data.get("Mountpoint", ""))

    @property
    def Labels(self) -> str:
        labels = self._v.get("Labels") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

    def Label(self, name: str) -> str:
        return str((self._v.get("Labels") or {}).get(name, ""))

    @property
    def Links(self) -> str:
        count = (self._v.get("UsageData") or {}).get("RefCount", -1)
        return "N/A" if count == -1 else str(count)

    @property
    def Size(self) -> str:
        from ketch.cli.units import human_size

        size = (self._v.get("UsageData") or {}).get("Size", -1)
        return "N/A" if size == -1 else human_size(float(size), 4)

    @property
    def Group(self) -> str:
        return "N/A"

    Availability = Group
    Status = Group

    def to_json(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in sorted(TITLES)}
