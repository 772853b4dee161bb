"""`run`/`create` flags -> the create request body (Config + HostConfig + NetworkingConfig),
shaped like the body the docker CLI 28 sends (see reference/captures/02-run-fg.txt)."""

from __future__ import annotations

import os

from ketch.cli.command import CLIError
from ketch.cli.envfile import parse_env_file, resolve_env
from ketch.cli.flags import Flag, Parsed
from ketch.cli.mountflags import mount_flag, tmpfs_flag, volume_flag

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
    Flag("network", kind="string", default="default",
         help="Connect a container to a network", metavar="network"),
    Flag("net", kind="string", hidden=True),
    Flag("label", "l", "list", help="Set meta data on a container", metavar="list"),
    Flag("publish", "p", "list", help="Publish a container's port(s) to the host",
         metavar="list"),
    Flag("expose", kind="list", help="Expose a port or a range of ports", metavar="list"),
    Flag("volume", "v", "list", help="Bind mount a volume", metavar="list"),
    Flag("mount", kind="list", help="Attach a filesystem mount to the container",
         metavar="mount"),
    Flag("tmpfs", kind="list", help="Mount a tmpfs directory", metavar="list"),
    Flag("volumes-from", kind="list", help="Mount volumes from the specified container(s)",
         metavar="list"),
    Flag("restart", kind="string", default="no",
         help="Restart policy to apply when a container exits"),
    Flag("privileged", help="Give extended privileges to this container"),
    Flag("read-only", help="Mount the container's root filesystem as read only"),
    Flag("init", help="Run an init inside the container that forwards signals and reaps "
                      "processes"),
    Flag("stop-signal", kind="string", help="Signal to stop the container"),
    Flag("stop-timeout", kind="int", help="Timeout (in seconds) to stop a container"),
    Flag("cap-add", kind="list", help="Add Linux capabilities", metavar="list"),
    Flag("cap-drop", kind="list", help="Drop Linux capabilities", metavar="list"),
    Flag("add-host", kind="list", help="Add a custom host-to-IP mapping (host:ip)",
         metavar="list"),
    Flag("dns", kind="list", help="Set custom DNS servers", metavar="list"),
    Flag("platform", kind="string", help="Set platform if server is multi-platform capable"),
    Flag("pull", kind="string", default="missing",
         help='Pull image before running ("always", "missing", "never")'),
    Flag("quiet", "q", help="Suppress the pull output"),
)


def parse_labels(items: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def parse_ports(items: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """`-p [ip:][hostport:]containerport[/proto]` -> (ExposedPorts, PortBindings)."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for item in items:
        spec, _, proto = item.partition("/")
        proto = proto or "tcp"
        if spec.startswith("["):  # [::1]:80:80
            end = spec.find("]")
            host_ip, rest = spec[1:end], spec[end + 2:]
            host_port, _, container_port = rest.rpartition(":")
        else:
            parts = spec.split(":")
            if len(parts) > 3 or not parts[-1]:
                raise CLIError(f"invalid publish opts format (should be "
                               f"name=value but got '{item}')", 125)
            container_port = parts[-1]
            host_port = parts[-2] if len(parts) >= 2 else ""
            host_ip = parts[0] if len(parts) == 3 else ""
        if not container_port.isdigit():
            raise CLIError(f"invalid containerPort: {container_port}", 125)
        key = f"{container_port}/{proto}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    return exposed, bindings


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


def endpoint_settings() -> dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "",
            "DriverOpts": None, "GwPriority": 0, "NetworkID": "", "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}


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

    exposed, bindings = parse_ports(opts.publish)
    for port in opts.expose:
        exposed[port if "/" in port else f"{port}/tcp"] = {}
    binds = [volume_flag(v) for v in opts.volume if ":" in v] or None
    mounts = [mount_flag(m) for m in opts.mount] or None
    volumes: dict[str, Any] = {v: {} for v in opts.volume if ":" not in v}
    entrypoint = [opts.entrypoint] if "entrypoint" in opts.given else None
    network = opts.net if "net" in opts.given else opts.network

    config: dict[str, Any] = {
        "Hostname": opts.hostname or "",
        "Domainname": opts.domainname or "",
        "User": opts.user or "",
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
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
        "Labels": parse_labels(opts.label),
    }
    if exposed:
        config["ExposedPorts"] = exposed
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if "stop_timeout" in opts.given:
        config["StopTimeout"] = opts.stop_timeout
    host_config: dict[str, Any] = {
        "Binds": binds,
        "Mounts": mounts,
        "Tmpfs": tmpfs_flag(opts.tmpfs) or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": restart_policy(opts.restart),
        "AutoRemove": bool(opts.rm),
        "VolumeDriver": "",
        "VolumesFrom": opts.volumes_from or None,
        "ConsoleSize": console_size() if opts.tty else [0, 0],
        "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None,
        "Dns": opts.dns,
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": opts.add_host or None,
        "Privileged": bool(opts.privileged),
        "ReadonlyRootfs": bool(opts.read_only),
    }
    if opts.init:
        host_config["Init"] = True
    return {**config, "HostConfig": host_config,
            "NetworkingConfig": {"EndpointsConfig": {network: endpoint_settings()}}}
