"""`run`/`create` flags -> the create request body (Config + HostConfig + NetworkingConfig),
shaped like the body the docker CLI 28 sends (see reference/captures/02-run-fg.txt)."""

from __future__ import annotations

import os

from ketch.cli.command import CLIError
from ketch.cli.envfile import parse_env_file, resolve_env
from ketch.cli.flags import Flag, Parsed
from ketch.cli.mountflags import mount_flag, tmpfs_flag, volume_flag
from ketch.cli.resourceflags import FLAGS as RESOURCE_FLAGS
from ketch.cli.resourceflags import host_config as resource_host_config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTAINER_FLAGS: tuple[Flag, ...] = (
    Flag("attach", "a", "list", help="Attach to STDIN, STDOUT or STDERR", metavar="list"),
    Flag("interactive", "i", help="Keep STDIN open even if not attached"),
    Flag("tty", "t", help="Allocate a pseudo-TTY"),
    Flag("rm", help="Automatically remove the container and its associated anonymous volumes "
                    "when it exits"),
    Flag("name", kind="string", help="Assign a name to the container"),
    Flag("env", "e", "list", help="Set environment variables", metavar="list"),
    Flag("env-file", kind="list", help="Read in a file of environment variables",
         metavar="list"),
    Flag("workdir", "w", "string", help="Working directory inside the container"),
    Flag("user", "u", "string", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("hostname", "h", "string", help="Container host name"),
    Flag("domainname", kind="string", help="Container NIS domain name"),
    Flag("entrypoint", kind="string", help="Overwrite the default ENTRYPOINT of the image"),
    Flag("network", kind="list", help="Connect a container to a network", metavar="network"),
    Flag("net", kind="list", hidden=True),
    Flag("network-alias", kind="list", help="Add network-scoped alias for the container",
         metavar="list"),
    Flag("net-alias", kind="list", hidden=True),
    Flag("ip", kind="string", help="IPv4 address (e.g., 172.30.100.104)"),
    Flag("ip6", kind="string", help="IPv6 address (e.g., 2001:db8::33)"),
    Flag("link-local-ip", kind="list", help="Container IPv4/IPv6 link-local addresses",
         metavar="list"),
    Flag("mac-address", kind="string", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Flag("link", kind="list", help="Add link to another container", metavar="list"),
    Flag("label", "l", "list", help="Set meta data on a container", metavar="list"),
    Flag("publish", "p", "list", help="Publish a container's port(s) to the host",
         metavar="list"),
    Flag("publish-all", "P", help="Publish all exposed ports to random ports"),
    Flag("expose", kind="list", help="Expose a port or a range of ports", metavar="list"),
    Flag("volume", "v", "list", help="Bind mount a volume", metavar="list"),
    Flag("mount", kind="list", help="Attach a filesystem mount to the container",
         metavar="mount"),
    Flag("tmpfs", kind="list", help="Mount a tmpfs directory", metavar="list"),
    Flag("volumes-from", kind="list", help="Mount volumes from the specified container(s)",
         metavar="list"),
    Flag("restart", kind="string", default="no",
         help="Restart policy to apply when a container exits"),
    Flag("health-cmd", kind="string", help="Command to run to check health"),
    Flag("health-interval", kind="string",
         help="Time between running the check (ms|s|m|h) (default 0s)"),
    Flag("health-timeout", kind="string",
         help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    Flag("health-start-period", kind="string",
         help="Start period for the container to initialize before starting health-retries "
              "countdown (ms|s|m|h) (default 0s)"),
    Flag("health-start-interval", kind="string",
         help="Time between running the check during the start period (ms|s|m|h) "
              "(default 0s)"),
    Flag("health-retries", kind="int", help="Consecutive failures needed to report unhealthy"),
    Flag("no-healthcheck", help="Disable any container-specified HEALTHCHECK"),
    Flag("privileged", help="Give extended privileges to this container"),
    Flag("read-only", help="Mount the container's root filesystem as read only"),
    Flag("init", help="Run an init inside the container that forwards signals and reaps "
                      "processes"),
    Flag("stop-signal", kind="string", help="Signal to stop the container"),
    Flag("stop-timeout", kind="int", help="Timeout (in seconds) to stop a container"),
    Flag("log-driver", kind="string", help="Logging driver for the container"),
    Flag("log-opt", kind="list", help="Log driver options", metavar="list"),
    Flag("cap-add", kind="list", help="Add Linux capabilities", metavar="list"),
    Flag("cap-drop", kind="list", help="Drop Linux capabilities", metavar="list"),
    Flag("add-host", kind="list", help="Add a custom host-to-IP mapping (host:ip)",
         metavar="list"),
    Flag("dns", kind="list", help="Set custom DNS servers", metavar="list"),
    Flag("dns-option", kind="list", help="Set DNS options", metavar="list"),
    Flag("dns-opt", kind="list", hidden=True),
    Flag("dns-search", kind="list", help="Set custom DNS search domains", metavar="list"),
    Flag("platform", kind="string", help="Set platform if server is multi-platform capable"),
    Flag("pull", kind="string", default="missing",
         help='Pull image before running ("always", "missing", "never")'),
    Flag("quiet", "q", help="Suppress the pull output"),
    Flag("cidfile", kind="string", help="Write the container ID to the file"),
    Flag("label-file", kind="list", help="Read in a line delimited file of labels",
         metavar="list"),
    Flag("runtime", kind="string", help="Runtime to use for this container"),
    Flag("storage-opt", kind="list", help="Storage driver options for the container",
         metavar="list"),
    Flag("pid", kind="string", help="PID namespace to use"),
    Flag("ipc", kind="string", help="IPC mode to use"),
    Flag("uts", kind="string", help="UTS namespace to use"),
    Flag("cgroupns", kind="string", help='Cgroup namespace to use (host|private)'),
    Flag("userns", kind="string", help="User namespace to use"),
    *RESOURCE_FLAGS,
)
# the namespace modes the docker CLI lets through (the daemon checks the rest)
_NS_FLAGS = {"pid": ("PidMode", "PID", ("", "host"), True),
             "ipc": ("IpcMode", "IPC", (), True),
             "uts": ("UTSMode", "UTS", ("", "host"), False),
             "cgroupns": ("CgroupnsMode", "CGROUP", ("", "host", "private"), False),
             "userns": ("UsernsMode", "USER", ("", "host"), False)}


def namespace_modes(opts: Any) -> dict[str, str]:
    """--pid, --ipc, --uts, --cgroupns, --userns as HostConfig fields, refused as the docker
    CLI refuses them ("--pid: invalid PID mode")."""
    out: dict[str, str] = {}
    for flag, (field, word, plain, joins) in _NS_FLAGS.items():
        value = getattr(opts, flag) or ""
        if plain and value not in plain and not (joins and value.startswith("container:")):
            raise CLIError(f"--{flag}: invalid {word} mode", 125)
        if value:
            out[field] = value
    return out


def label_file_lines(paths: list[str]) -> list[str]:
    """--label-file: `key=value` lines; blank ones, `#` comments and lines without `=`
    skipped, as the docker CLI's env-file reader does for labels."""
    lines: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise CLIError(f"open {path}: {(e.strerror or str(e)).lower()}", 125) from None
        except UnicodeDecodeError:
            raise CLIError(f"label file {path} contains invalid utf8 bytes", 125) from None
        for raw in text.removeprefix("\ufeff").splitlines():
            line = raw.lstrip()
            if "=" in line and not line.startswith("#"):
                lines.append(line)
    return lines


def storage_opts(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise CLIError(f"invalid storage option: {item}", 125)
        out[key] = value
    return out


def parse_labels(items: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def parse_ports(items: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """`-p` specs -> (ExposedPorts, PortBindings); see `ketch.cli.portspec`."""
    from ketch.cli.portspec import parse_publish

    return parse_publish(items, [])


def restart_policy(value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped", ""):
        raise CLIError(f"invalid restart policy format: {value}", 125)
    if count and name != "on-failure":
        raise CLIError(f"invalid restart policy format: maximum retry count can only be used "
                       f"with 'on-failure': {value}", 125)
    return {"Name": name or "no", "MaximumRetryCount": int(count) if count.isdigit() else 0}


def console_size() -> list[int]:
    try:
        size = os.get_terminal_size(1)
    except OSError:
        return [0, 0]
    return [size.lines, size.columns]


def endpoint_settings(aliases: list[str] | None = None, links: list[str] | None = None,
                      ipam: dict[str, Any] | None = None, mac: str = "",
                      driver_opts: dict[str, str] | None = None,
                      gw_priority: int = 0) -> dict[str, Any]:
    """An EndpointSettings as Go marshals it (empty fields and all)."""
    return {"IPAMConfig": ipam, "Links": links, "Aliases": aliases, "MacAddress": mac,
            "DriverOpts": driver_opts, "GwPriority": gw_priority, "NetworkID": "",
            "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": None}


def go_quote(text: str) -> str:
    """strconv.Quote for the printable text of flag values."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    for char, esc in (("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
        escaped = escaped.replace(char, esc)
    return f'"{escaped}"'


def log_config(driver: str, items: list[str]) -> dict[str, Any]:
    """--log-driver and --log-opt k=v as the CLI sends them (parseLoggingOpts)."""
    if driver == "none" and items:
        raise CLIError(f"invalid logging opts for driver {driver}", 125)
    options = {}
    for item in items:
        key, _, value = item.partition("=")
        options[key] = value
    return {"Type": driver, "Config": options}


def health_flags(opts: Any) -> dict[str, Any] | None:
    """The --health-* flags as Config.Healthcheck (durations in nanoseconds), with the
    docker CLI's checks."""
    from ketch.cli.timestamps import parse_duration

    given = [f for f in ("health_cmd", "health_interval", "health_timeout",
                         "health_start_period", "health_start_interval", "health_retries")
             if f in opts.given]
    if opts.no_healthcheck:
        if given:
            raise CLIError("--no-healthcheck conflicts with --health-* options", 125)
        return {"Test": ["NONE"]}
    if not given:
        return None
    check: dict[str, Any] = {}
    if opts.health_cmd:
        check["Test"] = ["CMD-SHELL", opts.health_cmd]
    for flag, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod"),
                      ("health_start_interval", "StartInterval")):
        text = getattr(opts, flag)
        if text:
            seconds = parse_duration(text)
            if seconds is None:
                raise _flag_error(text, "--" + flag.replace("_", "-"),
                                  f'time: invalid duration "{text}"')
            if seconds < 0:
                raise CLIError(f"--{flag.replace('_', '-')} cannot be negative", 125)
            check[key] = round(seconds * 1e9)
    if "health_retries" in opts.given:
        if opts.health_retries < 0:
            raise CLIError("--health-retries cannot be negative", 125)
        check["Retries"] = opts.health_retries
    return check


def _flag_error(value: str, flag: str, why: str) -> CLIError:
    """pflag's words for a value its validator refused."""
    return CLIError(f'invalid argument {go_quote(value)} for "{flag}" flag: {why}', 125)


def validate_dns(items: list[str]) -> list[str]:
    """opts.ValidateIPAddress: each server in Go's canonical form."""
    from ketch.cli.portspec import parse_ip

    out = []
    for item in items:
        ip = parse_ip(item.strip())
        if ip is None:
            raise _flag_error(item, "--dns", f"IP address is not correctly formatted: {item}")
        out.append(ip)
    return out


def validate_dns_search(items: list[str]) -> list[str]:
    """opts.ValidateDNSSearch: `.` or a domain (its trailing dot dropped)."""
    import re

    out = []
    # Docker's pattern, `(:?` typos included: they let a `:` precede a label
    label = r"(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    domain = re.compile(rf"(:?{label}(:?\.{label})*)\.?[\t\n\f\r ]*\Z")
    for item in items:
        value = item.strip(" ")
        if value == ".":
            out.append(value)
            continue
        match = domain.match(value) if re.search("[a-zA-Z]", value) else None
        if match is None or len(match.group(1)) >= 255:
            raise _flag_error(item, "--dns-search", f"{value} is not a valid domain")
        out.append(match.group(1))
    return out


def validate_extra_hosts(items: list[str]) -> list[str]:
    """opts.ValidateExtraHost: `host:ip` or `host=ip` (ip may be `[...]` or host-gateway),
    sent as `host:ip`."""
    from ketch.cli.portspec import parse_ip

    out = []
    for item in items:
        host, eq, ip = item.partition("=")
        if not eq:
            host, eq, ip = item.partition(":")
        if not eq or not host or ":" in host:
            raise _flag_error(item, "--add-host", f"bad format for add-host: {go_quote(item)}")
        if ip != "host-gateway":
            if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
                ip = ip[1:-1]
            if parse_ip(ip.strip()) is None:
                raise _flag_error(item, "--add-host",
                                  f"invalid IP address in add-host: {go_quote(ip)}")
        out.append(f"{host}:{ip}")
    return out


def validate_links(items: list[str]) -> list[str]:
    """opts.ValidateLink: `name` or `name:alias`, passed on as given."""
    for item in items:
        if not item:
            raise _flag_error(item, "--link", "empty string specified for links")
        if item.count(":") > 1:
            raise _flag_error(item, "--link", f"bad format for links: {item}")
    return list(items)


def _hex_pair(text: str, sep: str) -> bool:
    return (len(text) >= 2 and all(c in "0123456789abcdefABCDEF" for c in text[:2])
            and (len(text) == 2 or text[2] == sep))


def valid_mac(mac: str) -> bool:
    """net.ParseMAC: 6, 8 or 20 octets as `xx:xx..`, `xx-xx..` or `xxxx.xxxx..`."""
    if len(mac) < 14:
        return False
    if mac[2] in ":-":
        count = (len(mac) + 1) // 3
        return ((len(mac) + 1) % 3 == 0 and count in (6, 8, 20)
                and all(_hex_pair(mac[x:], mac[2]) for x in range(0, len(mac), 3)))
    if mac[4] == ".":
        count = 2 * (len(mac) + 1) // 5
        return ((len(mac) + 1) % 5 == 0 and count in (6, 8, 20)
                and all(_hex_pair(mac[x:x + 2], "") and _hex_pair(mac[x + 2:], ".")
                        for x in range(0, len(mac), 5)))
    return False


def is_user_defined(mode: str) -> bool:
    """container.NetworkMode.IsUserDefined: not default, bridge, host, none, container:."""
    return mode not in ("default", "bridge", "host", "none") and \
        not mode.startswith("container:")


class Attachment:
    """opts.NetworkAttachmentOpts: one `--network` value, short or long syntax."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.aliases: list[str] = []
        self.links: list[str] = []
        self.ipv4 = ""
        self.ipv6 = ""
        self.mac = ""
        self.link_local: list[str] = []
        self.driver_opts: dict[str, str] = {}
        self.gw_priority = 0

    @classmethod
    def parse(cls, value: str) -> Attachment:
        """`name=net,alias=a,ip=..,ip6=..,mac-address=..,link-local-ip=..,driver-opt=k=v,
        gw-priority=n` when the value looks like `\\w+=\\w+`, else a network name."""
        if not _long_syntax(value):
            return cls(value)
        att = cls("")
        for field in value.split(","):
            key, eq, val = field.lower().partition("=")  # Docker lower-cases the lot
            key, val = key.strip(), val.strip()
            if not eq or not key:
                raise CLIError(f"invalid argument \"{value}\" for \"--network\" flag: "
                               f"invalid field {field}", 125)
            if key == "name":
                att.target = val
            elif key == "alias":
                att.aliases.append(val)
            elif key == "ip":
                att.ipv4 = val
            elif key == "ip6":
                att.ipv6 = val
            elif key == "mac-address":
                att.mac = val
            elif key == "link-local-ip":
                att.link_local.append(val)
            elif key == "driver-opt":
                opt_key, opt_eq, opt_val = val.partition("=")
                if not opt_eq or not opt_key:
                    raise CLIError(f"invalid argument \"{value}\" for \"--network\" flag: "
                                   "invalid key value pair format in driver options", 125)
                att.driver_opts[opt_key.strip()] = opt_val.strip()
            elif key == "gw-priority":
                try:
                    att.gw_priority = int(val)
                except ValueError:
                    raise CLIError(f"invalid argument \"{value}\" for \"--network\" flag: "
                                   f"invalid gw-priority: {val}", 125) from None
            else:
                raise CLIError(f"invalid argument \"{value}\" for \"--network\" flag: "
                               f"invalid field key {key}", 125)
        if not att.target:
            raise CLIError(f"invalid argument \"{value}\" for \"--network\" flag: "
                           "network name/id is not specified", 125)
        return att

    def apply_flags(self, opts: Parsed) -> None:
        """applyContainerOptions: the short flags go to the first network."""
        aliases = opts.network_alias + opts.net_alias
        for mine, flag, what in ((self.aliases, aliases, "--network-alias and per-network alias"),
                                 (self.links, opts.link, "--link and per-network links"),
                                 (self.ipv4, opts.ip, "--ip and per-network IPv4 address"),
                                 (self.ipv6, opts.ip6, "--ip6 and per-network IPv6 address"),
                                 (self.mac, opts.mac_address,
                                  "--mac-address and per-network MAC address"),
                                 (self.link_local, opts.link_local_ip,
                                  "--link-local-ip and per-network link-local IP addresses")):
            if mine and flag:
                raise CLIError(f"conflicting options: cannot specify both {what}", 125)
        self.aliases = list(aliases) or self.aliases
        if is_user_defined(self.target) and opts.link:
            self.links = list(opts.link)  # on a user network a link is an alias
        self.ipv4 = opts.ip or self.ipv4
        self.ipv6 = opts.ip6 or self.ipv6
        self.mac = opts.mac_address or self.mac
        self.link_local = list(opts.link_local_ip) or self.link_local

    def endpoint(self) -> dict[str, Any] | None:
        """parseNetworkAttachmentOpt: its EndpointSettings, None when it sets nothing."""
        if not self.target.strip():
            raise CLIError("no name set for network", 125)
        if not is_user_defined(self.target):
            if self.aliases:
                raise CLIError("network-scoped aliases are only supported for user-defined "
                               "networks", 125)
            if self.links:
                raise CLIError("links are only supported for user-defined networks", 125)
        ipam: dict[str, Any] | None = None
        if self.ipv4 or self.ipv6 or self.link_local:
            ipam = {}
            if self.ipv4:
                ipam["IPv4Address"] = self.ipv4
            if self.ipv6:
                ipam["IPv6Address"] = self.ipv6
            if self.link_local:
                ipam["LinkLocalIPs"] = self.link_local
        if self.mac and not valid_mac(self.mac):
            raise CLIError(f"{self.mac} is not a valid mac address", 125)
        if not (self.aliases or self.links or ipam or self.mac or self.driver_opts
                or self.gw_priority):
            return None
        opts = {k: self.driver_opts[k] for k in sorted(self.driver_opts)} or None
        return endpoint_settings(self.aliases or None, self.links or None, ipam, self.mac,
                                 opts, self.gw_priority)


def _long_syntax(value: str) -> bool:
    """regexp `\\w+=\\w+` found anywhere in the value (Go's \\w is ASCII)."""
    word = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
    for i, char in enumerate(value):
        if char == "=" and 0 < i < len(value) - 1 and value[i - 1] in word \
                and value[i + 1] in word:
            return True
    return False


def networking(opts: Parsed) -> tuple[str, dict[str, Any]]:
    """(HostConfig.NetworkMode, NetworkingConfig.EndpointsConfig), as parseNetworkOpts."""
    attachments = [Attachment.parse(v) for v in opts.network + opts.net]
    mac = opts.mac_address
    if mac and not valid_mac(mac):
        raise CLIError(f"{mac} is not a valid mac address", 125)
    endpoints: dict[str, Any] = {}
    if not attachments:
        default = Attachment("default")
        default.apply_flags(opts)
        endpoints["default"] = default.endpoint() or endpoint_settings()
        return "default", endpoints
    user_defined = {is_user_defined(a.target) for a in attachments}
    for i, att in enumerate(attachments):
        if i == 0:
            att.apply_flags(opts)
        endpoint = att.endpoint()
        if att.target in endpoints:
            raise CLIError(f'network "{att.target}" is specified multiple times', 125)
        # a lone network without options gets its endpoint from the daemon
        if i == 0 and len(attachments) == 1 and endpoint is None:
            continue
        endpoints[att.target] = endpoint or endpoint_settings()
    if len(user_defined) > 1:
        raise CLIError("conflicting options: cannot attach both user-defined and "
                       "non-user-defined network-modes", 125)
    return attachments[0].target, endpoints


def build_create_body(opts: Parsed, image: str, cmd: list[str],
                      detach: bool = False) -> dict[str, Any]:
    """The JSON body of `POST /containers/create` for these flags."""
    env: list[str] = []
    for path in opts.env_file:
        env.extend(parse_env_file(path))
    env.extend(resolve_env(item) for item in opts.env)

    attach = [a.lower() for a in opts.attach]
    for stream in attach:
        if stream not in ("stdin", "stdout", "stderr"):
            raise CLIError(f"invalid argument \"{stream}\" for \"-a, --attach\" flag: valid "
                           f"streams are STDIN, STDOUT and STDERR", 125)
    if detach and attach:
        raise CLIError("conflicting options: cannot specify both --attach and --detach", 125)
    if attach:
        attach_stdin = "stdin" in attach
        attach_stdout, attach_stderr = "stdout" in attach, "stderr" in attach
    else:
        attach_stdin = bool(opts.interactive) and not detach
        attach_stdout = attach_stderr = not detach

    # the flag validators run first, as pflag runs them while parsing
    links = validate_links(opts.link) or None
    extra_hosts = validate_extra_hosts(opts.add_host) or None
    dns = validate_dns(opts.dns) if opts.dns else []
    dns_search = validate_dns_search(opts.dns_search) if opts.dns_search else []
    from ketch.cli.portspec import parse_publish

    exposed, bindings = parse_publish(opts.publish, opts.expose)
    binds = [volume_flag(v) for v in opts.volume if ":" in v] or None
    mounts = [mount_flag(m) for m in opts.mount] or None
    volumes: dict[str, Any] = {v: {} for v in opts.volume if ":" not in v}
    entrypoint = [opts.entrypoint] if "entrypoint" in opts.given else None
    network, endpoints = networking(opts)

    config: dict[str, Any] = {
        "Hostname": opts.hostname or "",
        "Domainname": opts.domainname or "",
        "User": opts.user or "",
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        **({"ExposedPorts": exposed} if exposed else {}),
        "Tty": bool(opts.tty),
        "OpenStdin": bool(opts.interactive),
        "StdinOnce": bool(opts.interactive) and attach_stdin,
        "Env": env or None,
        "Cmd": cmd or None,
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": opts.workdir or "",
        "Entrypoint": entrypoint,
        "OnBuild": None,
        "Labels": {**parse_labels(label_file_lines(opts.label_file)),
                   **parse_labels(opts.label)},
    }
    healthcheck = health_flags(opts)
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if "stop_timeout" in opts.given:
        config["StopTimeout"] = opts.stop_timeout
    host_config: dict[str, Any] = {
        "Binds": binds,
        "Mounts": mounts,
        "Tmpfs": tmpfs_flag(opts.tmpfs) or None,
        "ContainerIDFile": opts.cidfile or "",
        "LogConfig": log_config(opts.log_driver or "", opts.log_opt),
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": restart_policy(opts.restart),
        "AutoRemove": bool(opts.rm),
        "VolumeDriver": "",
        "VolumesFrom": opts.volumes_from or None,
        "ConsoleSize": console_size() if opts.tty else [0, 0],
        "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None,
        "Dns": dns,
        "DnsOptions": opts.dns_option + opts.dns_opt,
        "DnsSearch": dns_search,
        "ExtraHosts": extra_hosts,
        "Links": links,
        "Privileged": bool(opts.privileged),
        "PublishAllPorts": bool(opts.publish_all),
        "ReadonlyRootfs": bool(opts.read_only),
    }
    if opts.init:
        host_config["Init"] = True
    if opts.runtime:
        host_config["Runtime"] = opts.runtime
    if opts.storage_opt:
        host_config["StorageOpt"] = storage_opts(opts.storage_opt)
    host_config.update(namespace_modes(opts))
    host_config.update(resource_host_config(opts))
    return {**config, "HostConfig": host_config,
            "NetworkingConfig": {"EndpointsConfig": endpoints}}
