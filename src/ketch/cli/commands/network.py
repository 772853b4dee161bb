"""`ketch network create|ls|inspect|rm|prune|connect|disconnect`, with the docker CLI 28's
request bodies, output and error words."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters
from ketch.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one "
                 "container.\nAre you sure you want to continue?")


def usage_error(command: Command, message: str) -> CLIError:
    """A flag value pflag's validator refused: the message, the usage, exit 125."""
    return CLIError(f"{message}\n\nUsage:  {command.usage}\n\n"
                    f"Run 'ketch {command.name} --help' for more information", 125)


def strings(items: list[str]) -> list[str]:
    """pflag's `strings` flags: each value is a comma-separated list."""
    return [part for item in items for part in item.split(",") if item]


def key_values(items: list[str]) -> dict[str, str]:
    """opts.MapOpts / ConvertKVStringsToMap (`k` alone is `k=""`), keys sorted as Go
    marshals a map."""
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return {k: out[k] for k in sorted(out)}


# -- create -------------------------------------------------------------------------------
class IPAMError(ValueError):
    """createIPAMConfig's refusal, worded as Docker's."""


def _cidr(text: str) -> Any:
    """net.ParseCIDR's network (host bits allowed), or its error."""
    import ipaddress

    addr, slash, bits = text.partition("/")
    try:
        if not slash or "%" in addr or not bits.isdigit():
            raise ValueError(text)
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise IPAMError(f"invalid CIDR address: {text}") from None


def _subnet_matches(subnet: str, data: str) -> bool:
    """subnetMatches: is data (an address or a CIDR) inside subnet?"""
    import ipaddress

    try:
        network = _cidr(subnet)
    except IPAMError as exc:
        raise IPAMError(f"invalid subnet: {exc}") from None
    if "/" in data:
        _cidr(data)  # its error as is; Go then takes the address part, host bits and all
        data = data.partition("/")[0]
    try:
        address = ipaddress.ip_address(data) if "%" not in data else None
    except ValueError:  # net.ParseIP's nil, which no network contains
        return False
    return address is not None and address.version == network.version and address in network


def ipam_config(subnets: list[str], ranges: list[str], gateways: list[str],
                aux: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """createIPAMConfig (docker CLI 28): one entry per subnet, in the order given."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise IPAMError("every ip-range or gateway must have a corresponding subnet")
    data: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        for known in data:
            if _subnet_matches(subnet, known) or _subnet_matches(known, subnet):
                raise IPAMError("multiple overlapping subnet configuration is not supported")
        data[subnet] = {"Subnet": subnet}
    for field, values, what, words in (
            ("IPRange", ranges, "range", "cannot configure multiple ranges ({0}, {1}) on the "
                                         "same subnet ({2})"),
            ("Gateway", gateways, "gateway", "cannot configure multiple gateways ({0}, {1}) "
                                             "for the same subnet ({2})")):
        for value in values:
            if field == "IPRange":
                _cidr(value)  # a range must be a CIDR (a gateway that is no IP just misses)
            match = False
            for subnet in subnets:
                if not _subnet_matches(subnet, value):
                    continue
                if data[subnet].get(field):
                    raise IPAMError(words.format(value, data[subnet][field], subnet))
                data[subnet][field] = value
                match = True
            if not match:
                raise IPAMError(f"no matching subnet for {what} {value}")
    for key, address in aux:
        match = False
        for subnet in subnets:
            if _subnet_matches(subnet, address):
                data[subnet].setdefault("AuxiliaryAddresses", {})[key] = address
                match = True
        if not match:
            raise IPAMError(f"no matching subnet for aux-address {address}")
    for entry in data.values():  # Go's field order: Subnet, IPRange, Gateway, AuxiliaryAddresses
        for field in ("IPRange", "Gateway", "AuxiliaryAddresses"):
            if field in entry:
                entry[field] = entry.pop(field)
    return list(data.values())


def create_body(opts: Parsed) -> dict[str, Any]:
    """The body of `POST /networks/create` as the docker CLI 28 sends it (the client adds
    CheckDuplicate for an older daemon)."""
    for label in opts.label:
        if not label.partition("=")[0].strip():
            from ketch.cli.containerconfig import go_quote

            raise usage_error(CREATE, f'invalid argument {go_quote(label)} for "--label" '
                                      f"flag: invalid label '{label}': empty name")
    aux = [(k, v) for k, _, v in (item.partition("=") for item in opts.aux_address)]
    try:
        config = ipam_config(strings(opts.subnet), strings(opts.ip_range),
                             strings(opts.gateway), aux)
    except IPAMError as exc:
        raise CLIError(str(exc), 1) from None
    body: dict[str, Any] = {"Driver": opts.driver, "Scope": opts.scope or ""}
    if "ipv4" in opts.given:  # only a flag given on the command line is sent
        body["EnableIPv4"] = bool(opts.ipv4)
    if "ipv6" in opts.given:
        body["EnableIPv6"] = bool(opts.ipv6)
    body["IPAM"] = {"Driver": opts.ipam_driver, "Options": key_values(opts.ipam_opt),
                    "Config": config}
    body.update({"Internal": bool(opts.internal), "Attachable": bool(opts.attachable),
                 "Ingress": bool(opts.ingress), "ConfigOnly": bool(opts.config_only),
                 "ConfigFrom": {"Network": opts.config_from} if opts.config_from else None,
                 "Options": key_values(opts.opt), "Labels": key_values(opts.label),
                 "Name": opts.args[0]})
    return body


def _create(ctx: Context, opts: Parsed) -> int:
    answer = ctx.client.create_network(create_body(opts))
    ctx.write(f"{answer.get('Id', '')}\n")
    return 0


# -- ls, inspect --------------------------------------------------------------------------
def _ls(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.volume import natural_key
    from ketch.cli.formatter import render
    from ketch.cli.networks_format import TITLES, NetworkRow, list_format

    networks = sorted(ctx.client.networks(parse_filters(opts.filter)),
                      key=lambda n: natural_key(str(n.get("Name", ""))))
    fmt = list_format(opts.format or "", bool(opts.quiet))
    ctx.write(render(fmt, [NetworkRow(n, not opts.no_trunc) for n in networks], TITLES))
    return 0


def _inspect(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.inspect import inspect_each

    return inspect_each(ctx, opts.args, opts.format,
                        lambda name: ctx.client.inspect_network(name, bool(opts.verbose)),
                        all_errors=True)


# -- rm, prune ----------------------------------------------------------------------------
def _rm(ctx: Context, opts: Parsed) -> int:
    failed = False
    for name in opts.args:
        try:
            ctx.client.remove_network(name)
        except APIError as exc:
            if opts.force and exc.status == 404:
                continue
            ctx.flush()
            ctx.err.write(f"{exc}\n")  # each failure as it comes, as Docker does
            failed = True
            continue
        ctx.write(f"{name}\n")
    if failed:
        ctx.flush()
        raise CLIError("exit status 1", 1)  # Docker's bare StatusError says this too
    return 0


def _prune(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.prune import confirm

    filters = parse_filters(opts.filter)
    if not opts.force and not confirm(ctx, PRUNE_WARNING):
        return 0
    deleted = ctx.client.prune_networks(filters).get("NetworksDeleted") or []
    if deleted:
        ctx.write("Deleted Networks:\n" + "".join(f"{name}\n" for name in deleted) + "\n")
    return 0


# -- connect, disconnect ------------------------------------------------------------------
def endpoint_config(opts: Parsed) -> dict[str, Any]:
    """The EndpointConfig `docker network connect` sends: every field, empty ones too."""
    from ketch.cli.containerconfig import endpoint_settings

    for link in opts.link:
        why = ("empty string specified for links" if not link else
               f"bad format for links: {link}" if link.count(":") > 1 else "")
        if why:
            from ketch.cli.containerconfig import go_quote

            raise usage_error(CONNECT, f'invalid argument {go_quote(link)} for "--link" flag: '
                                       f"{why}")
    driver_opts: dict[str, str] = {}
    for item in strings(opts.driver_opt):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise CLIError("invalid key/value pair format in driver options", 1)
        driver_opts[key.strip()] = value.strip()
    ipam: dict[str, Any] = {}
    if opts.ip:
        ipam["IPv4Address"] = opts.ip
    if opts.ip6:
        ipam["IPv6Address"] = opts.ip6
    if opts.link_local_ip:
        ipam["LinkLocalIPs"] = strings(opts.link_local_ip)
    return endpoint_settings(strings(opts.alias), list(opts.link) or None, ipam, "",
                             {k: driver_opts[k] for k in sorted(driver_opts)},
                             opts.gw_priority or 0)


def _connect(ctx: Context, opts: Parsed) -> int:
    network, container = opts.args
    ctx.client.connect_network(network, container, endpoint_config(opts))
    return 0


def _disconnect(ctx: Context, opts: Parsed) -> int:
    network, container = opts.args
    ctx.client.disconnect_network(network, container, bool(opts.force))
    return 0


_FORMAT_HELP = "Format output using a custom template"
CREATE = Command(
    name="network create",
    usage="ketch network create [OPTIONS] NETWORK",
    description="Create a network",
    flags=(Flag("attachable", help="Enable manual container attachment"),
           Flag("aux-address", kind="list", metavar="map",
                help="Auxiliary IPv4 or IPv6 addresses used by Network driver (default map[])"),
           Flag("config-from", kind="string",
                help="The network from which to copy the configuration"),
           Flag("config-only", help="Create a configuration only network"),
           Flag("driver", "d", "string", default="bridge",
                help='Driver to manage the Network (default "bridge")'),
           Flag("gateway", kind="list", metavar="strings",
                help="IPv4 or IPv6 Gateway for the master subnet"),
           Flag("ingress", help="Create swarm routing-mesh network"),
           Flag("internal", help="Restrict external access to the network"),
           Flag("ip-range", kind="list", metavar="strings",
                help="Allocate container ip from a sub-range"),
           Flag("ipam-driver", kind="string", default="default",
                help='IP Address Management Driver (default "default")'),
           Flag("ipam-opt", kind="list", metavar="map",
                help="Set IPAM driver specific options (default map[])"),
           Flag("ipv4", default=True,
                help="Enable or disable IPv4 address assignment (default true)"),
           Flag("ipv6", help="Enable or disable IPv6 address assignment"),
           Flag("label", kind="list", help="Set metadata on a network", metavar="list"),
           Flag("opt", "o", "list", help="Set driver specific options (default map[])",
                metavar="map"),
           Flag("scope", kind="string", help="Control the network's scope"),
           Flag("subnet", kind="list", metavar="strings",
                help="Subnet in CIDR format that represents a network segment")),
    handler=_create, min_args=1, max_args=1)
LS = Command(
    name="network ls",
    usage="ketch network ls [OPTIONS]",
    description="List networks",
    flags=(Flag("filter", "f", "list", help='Provide filter values (e.g. "driver=bridge")',
                metavar="filter"),
           Flag("format", kind="string", help=_FORMAT_HELP),
           Flag("no-trunc", help="Do not truncate the output"),
           Flag("quiet", "q", help="Only display network IDs")),
    handler=_ls, max_args=0, aliases="ketch network ls, ketch network list")
INSPECT = Command(
    name="network inspect",
    usage="ketch network inspect [OPTIONS] NETWORK [NETWORK...]",
    description="Display detailed information on one or more networks",
    flags=(Flag("format", "f", "string", help=_FORMAT_HELP),
           Flag("verbose", "v", help="Verbose output for diagnostics")),
    handler=_inspect, min_args=1)
RM = Command(
    name="network rm",
    usage="ketch network rm NETWORK [NETWORK...]",
    description="Remove one or more networks",
    flags=(Flag("force", "f", help="Do not error if the network does not exist"),),
    handler=_rm, min_args=1, aliases="ketch network rm, ketch network remove")
PRUNE = Command(
    name="network prune",
    usage="ketch network prune [OPTIONS]",
    description="Remove all unused networks",
    flags=(Flag("filter", kind="list", help='Provide filter values (e.g. "until=<timestamp>")',
                metavar="filter"),
           Flag("force", "f", help="Do not prompt for confirmation")),
    handler=_prune, max_args=0)
CONNECT = Command(
    name="network connect",
    usage="ketch network connect [OPTIONS] NETWORK CONTAINER",
    description="Connect a container to a network",
    flags=(Flag("alias", kind="list", metavar="strings",
                help="Add network-scoped alias for the container"),
           Flag("driver-opt", kind="list", metavar="strings",
                help="driver options for the network"),
           Flag("gw-priority", kind="int", default=0,
                help="Highest gw-priority provides the default gateway. Accepts positive "
                     "and negative values."),
           Flag("ip", kind="string", help='IPv4 address (e.g., "172.30.100.104")'),
           Flag("ip6", kind="string", help='IPv6 address (e.g., "2001:db8::33")'),
           Flag("link", kind="list", help="Add link to another container", metavar="list"),
           Flag("link-local-ip", kind="list", metavar="strings",
                help="Add a link-local address for the container")),
    handler=_connect, min_args=2, max_args=2)
DISCONNECT = Command(
    name="network disconnect",
    usage="ketch network disconnect [OPTIONS] NETWORK CONTAINER",
    description="Disconnect a container from a network",
    flags=(Flag("force", "f", help="Force the container to disconnect from a network"),),
    handler=_disconnect, min_args=2, max_args=2)
