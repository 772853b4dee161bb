"""`-p/--publish`, `--expose` -> ExposedPorts and PortBindings, parsed as the docker CLI 28
does (go-connections' nat.ParsePortSpecs and the CLI's --expose loop), quirks and error words
included: a spec like `8000-8002:80-82/tcp/udp` is accepted because Docker accepts it.
"""

from __future__ import annotations

from ketch.cli.command import CLIError

_DIGITS = frozenset("0123456789")
PROTOCOLS = ("tcp", "udp", "sctp")


class PortError(ValueError):
    """A spec Docker refuses; the message is Docker's."""


def parse_uint16(text: str) -> int:
    """strconv.ParseUint(text, 10, 16), with its error words."""
    if not text or not set(text) <= _DIGITS:
        raise PortError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 0xFFFF:
        raise PortError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_port_range(ports: str) -> tuple[int, int]:
    """nat.ParsePortRange: `80` or `8000-8010` (anything after a second `-` is ignored)."""
    if not ports:
        raise PortError("empty string specified for ports")
    if "-" not in ports:
        port = parse_uint16(ports)
        return port, port
    parts = ports.split("-")
    start, end = parse_uint16(parts[0]), parse_uint16(parts[1])
    if end < start:
        raise PortError(f"invalid range specified for port: {ports}")
    return start, end


def split_proto_port(raw: str) -> tuple[str, str]:
    """nat.SplitProtoPort: (proto, port); ("", "") when no port is given."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _split_parts(raw: str) -> tuple[str, str, str]:
    """(host IP, host port, container port): the last two `:` fields are ports."""
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _bracket_host(ip: str) -> str:
    """net.SplitHostPort(ip + ":")'s host for an `[addr]`, or its error."""
    hostport = ip + ":"
    last = hostport.rfind(":")
    end = hostport.find("]")
    why = ""
    if end < 0:
        why = "missing ']' in address"
    elif end + 1 == len(hostport):
        why = "missing port in address"
    elif end + 1 != last:
        why = "too many colons in address" if hostport[end + 1] == ":" else \
            "missing port in address"
    elif "[" in hostport[1:]:
        why = "unexpected '[' in address"
    elif "]" in hostport[end + 1:]:
        why = "unexpected ']' in address"
    if why:
        raise PortError(f"invalid IP address {ip}: address {hostport}: {why}")
    return hostport[1:end]


def parse_ip(text: str) -> str | None:
    """net.ParseIP(text).String(), or None if Go would not parse it (no zones)."""
    import ipaddress

    if "%" in text:
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)  # Go prints an IPv4-mapped address as IPv4
    return str(addr)


def parse_port_spec(raw: str) -> list[tuple[str, dict[str, str]]]:
    """nat.ParsePortSpec: [(`80/tcp`, {"HostIp": ..., "HostPort": ...}), ...]."""
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    if ip.startswith("["):
        ip = _bracket_host(ip)
    if ip and parse_ip(ip) is None:
        raise PortError(f"invalid IP address: {ip}")
    if not container_port:
        raise PortError(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except PortError:
        raise PortError(f"invalid containerPort: {container_port}") from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except PortError:
            raise PortError(f"invalid hostPort: {host_port}") from None
        # a host range with one container port is a range to pick a free port from
        if end - start != host_end - host_start and end != start:
            raise PortError("invalid ranges specified for container and host Ports: "
                            f"{container_port} and {host_port}")
    if proto.lower() not in PROTOCOLS:
        raise PortError(f"invalid proto: {proto}")
    mappings = []
    for i in range(end - start + 1):
        binding = ""
        if host_port:
            binding = str(host_start + i)
            if start == end and host_start != host_end:
                binding += f"-{host_end}"
        mappings.append((f"{start + i}/{proto.lower()}", {"HostIp": ip, "HostPort": binding}))
    return mappings


def _standard_notation(spec: str) -> str:
    """The long form `target=80,published=8080,protocol=udp` as `8080:80/udp`."""
    if "=" not in spec:
        return spec
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, eq, value = param.partition("=")
        if not eq or not key:
            raise PortError(f"invalid publish opts format (should be name=value but got "
                            f"'{param}')")
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def parse_publish(specs: list[str], expose: list[str]
                  ) -> tuple[dict[str, dict[str, object]], dict[str, list[dict[str, str]]]]:
    """(ExposedPorts, PortBindings) for `-p` and `--expose`, keys sorted as Go marshals a
    map; errors are CLIError(Docker's message, 125)."""
    exposed: dict[str, dict[str, object]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    try:
        for spec in specs:
            for port, binding in parse_port_spec(_standard_notation(spec)):
                exposed[port] = {}
                bindings.setdefault(port, []).append(binding)
        for item in expose:
            if ":" in item:
                raise PortError(f"invalid port format for --expose: {item}")
            proto, port_range = split_proto_port(item)
            try:
                start, end = parse_port_range(port_range)
            except PortError as exc:
                raise PortError(f"invalid range format for --expose: {item}, error: {exc}"
                                ) from None
            for number in range(start, end + 1):
                exposed.setdefault(f"{number}/{proto}", {})
    except PortError as exc:
        raise CLIError(str(exc), 125) from None
    return ({k: exposed[k] for k in sorted(exposed)},
            {k: bindings[k] for k in sorted(bindings)})
