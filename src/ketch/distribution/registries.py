"""Which endpoints serve a registry domain, Docker's way: Docker Hub through its
`registry-mirrors` first; HTTPS always tried first, plain HTTP allowed only for insecure
registries (loopback ones always, others only when `insecure-registries` in daemon.json
names them or a CIDR holding them)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ketch.distribution.client import Endpoint
from ketch.errors import InvalidParameter
from ketch.util.reference import DEFAULT_DOMAIN

HUB = "https://registry-1.docker.io"
INDEX_SERVER = "https://index.docker.io/v1/"  # how Docker names Hub in credentials
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _host(domain: str) -> str:
    if domain.startswith("["):
        return domain[1:].partition("]")[0]
    return domain.rpartition(":")[0] if domain.count(":") == 1 else domain


@dataclass
class RegistryConfig:
    insecure: list[str] = field(default_factory=list)  # "host:port" or CIDRs
    mirrors: list[str] = field(default_factory=list)   # URLs, for Docker Hub

    def __post_init__(self) -> None:
        for mirror in self.mirrors:
            if not mirror.startswith(("http://", "https://")):
                raise InvalidParameter(f"invalid mirror: unsupported scheme in {mirror!r}")

    def insecure_allowed(self, domain: str) -> bool:
        host = _host(domain)
        if host == "localhost" or domain in self.insecure or host in self.insecure:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        networks = list(_LOOPBACK)
        for entry in self.insecure:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        return any(address in net for net in networks)

    def endpoints(self, domain: str) -> list[Endpoint]:
        if domain == DEFAULT_DOMAIN:
            return [*(Endpoint(domain, m.rstrip("/"), mirror=True) for m in self.mirrors),
                    Endpoint(domain, HUB)]
        found = [Endpoint(domain, f"https://{domain}")]
        if self.insecure_allowed(domain):
            found.append(Endpoint(domain, f"http://{domain}"))
        return found


def credentials_key(domain: str) -> str:
    """The server address credentials are stored under (Hub's is its v1 index URL)."""
    return INDEX_SERVER if domain == DEFAULT_DOMAIN else domain
