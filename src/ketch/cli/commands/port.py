"""`ketch port CONTAINER [PRIVATE_PORT[/PROTO]]`: a container's published ports, read from
`NetworkSettings.Ports` and printed as the docker CLI 28 prints them."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Parsed


def join_host_port(host: str, port: str) -> str:
    """net.JoinHostPort: an IPv6 host goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_lines(ports: dict[str, list[dict[str, str]] | None], private: str = "",
               container: str = "") -> list[str]:
    """The lines `docker port` prints, naturally sorted; CLIError when `private` (a port,
    or port/proto) is not published."""
    from ketch.cli.commands.volume import natural_key
    from ketch.cli.portspec import PortError, parse_uint16

    if private:
        port, _, proto = private.partition("/")
        try:
            parse_uint16(port)
        except PortError as exc:
            raise CLIError(f"Error: invalid port ({port}): {exc}", 1) from None
        frontends = ports.get(f"{port}/{proto or 'tcp'}") or []
        if not frontends:
            raise CLIError(f"Error: No public port '{private}' published for {container}", 1)
        out = [join_host_port(f.get("HostIp", ""), f.get("HostPort", "")) for f in frontends]
    else:
        out = [f"{key} -> {join_host_port(f.get('HostIp', ''), f.get('HostPort', ''))}"
               for key, frontends in ports.items() for f in frontends or []]
    return sorted(out, key=natural_key)


def _port(ctx: Context, opts: Parsed) -> int:
    container = opts.args[0]
    info = ctx.client.inspect_container(container)
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    lines = port_lines(ports, opts.args[1] if len(opts.args) > 1 else "", container)
    if lines:
        ctx.write("\n".join(lines) + "\n")
    return 0


class _RangeArgs(Command):
    """cli.RequiresRangeArgs: one message for too few and too many."""

    def check_args(self, args: list[str]) -> str | None:
        if self.min_args <= len(args) <= (self.max_args or len(args)):
            return None
        return (f"'ketch {self.name}' requires at least {self.min_args} and at most "
                f"{self.max_args} arguments")


PORT = _RangeArgs(
    name="port",
    usage="ketch port CONTAINER [PRIVATE_PORT[/PROTO]]",
    description="List port mappings or a specific mapping for the container",
    flags=(),
    handler=_port, min_args=1, max_args=2, aliases="ketch container port, ketch port")
