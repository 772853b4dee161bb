"""`ketchd`: the daemon. Serves the Docker Engine API on a unix socket.

    ketchd [-H unix:///run/ketch/ketch.sock] [--data-root /var/lib/ketch]
           [--exec-root /run/ketch] [--config-file /etc/ketch/daemon.json]
           [-s overlay2|vfs]

Options come from the config file first (the same keys as Docker's daemon.json:
"hosts", "data-root", "exec-root", "storage-driver"), then from the command line.
Without a storage driver, overlay2 is used where overlayfs works, else vfs (copies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from ketch import __version__

DEFAULTS = {"hosts": ["unix:///run/ketch/ketch.sock"], "data-root": "/var/lib/ketch",
            "exec-root": "/run/ketch", "storage-driver": "", "bridge": "ketch0",
            "insecure-registries": [], "registry-mirrors": [], "log-driver": "json-file",
            "log-opts": {}, "mtu": 0, "dns": [], "dns-search": [], "dns-opts": [],
            "default-address-pools": []}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ketchd", description="ketch's container engine")
    parser.add_argument("-H", "--host", action="append", help="unix:///path of the API socket")
    parser.add_argument("--data-root", help="where images and containers live")
    parser.add_argument("--exec-root", help="where runtime state lives")
    parser.add_argument("--config-file", default="/etc/ketch/daemon.json")
    parser.add_argument("-s", "--storage-driver", help="overlay2 or vfs")
    parser.add_argument("-b", "--bridge", help="the default bridge's interface name "
                        "(also names ketch's nftables table and marks its interfaces)")
    parser.add_argument("--insecure-registry", action="append", default=[],
                        help="a registry (host:port or CIDR) that may be plain HTTP")
    parser.add_argument("--registry-mirror", action="append", default=[],
                        help="a mirror of Docker Hub (URL)")
    parser.add_argument("--log-driver", help="the containers' default log driver")
    parser.add_argument("--log-opt", action="append", default=[],
                        help="an option of the default log driver (key=value)")
    parser.add_argument("--mtu", type=int, help="the default bridge's MTU (0: 1500)")
    parser.add_argument("--dns", action="append", default=[],
                        help="a DNS server for containers that name none")
    parser.add_argument("--dns-search", action="append", default=[],
                        help="a DNS search domain for containers that name none")
    parser.add_argument("--dns-opt", action="append", default=[],
                        help="a DNS option for containers that name none")
    parser.add_argument("--default-address-pool", action="append", default=[],
                        help="where new networks' subnets come from (base=CIDR,size=N)")
    parser.add_argument("-v", "--version", action="store_true")
    return parser.parse_args(argv)


def load_config(path: str, explicit: bool) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read())
    except FileNotFoundError:
        if explicit:
            raise SystemExit(f"ketchd: config file {path} does not exist") from None
        return {}
    except ValueError as e:
        raise SystemExit(f"ketchd: config file {path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise SystemExit(f"ketchd: config file {path} must hold a JSON object")
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise SystemExit(f"ketchd: unknown options in {path}: {', '.join(sorted(unknown))}")
    return config


def _raise_open_files_limit() -> None:
    """Up to the hard limit, as dockerd's unit does: streams, snapshots and walks of deep
    container trees each hold descriptors (containers get their own limit from the spec)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    _raise_open_files_limit()
    if args.version:
        sys.stdout.write(f"ketchd version {__version__}\n")
        sys.exit(0)
    explicit = any(a == "--config-file" or a.startswith("--config-file=")
                   for a in (argv or sys.argv))
    settings = {**DEFAULTS, **load_config(args.config_file, explicit)}
    hosts = args.host or settings["hosts"]
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, list):
        raise SystemExit("ketchd: \"hosts\" must be a list of unix:// addresses")
    if len(hosts) != 1 or not str(hosts[0]).startswith("unix://"):
        raise SystemExit("ketchd: exactly one unix:// host is supported")
    socket_path = str(hosts[0]).removeprefix("unix://")
    data_root = os.path.abspath(str(args.data_root or settings["data-root"]))
    exec_root = os.path.abspath(str(args.exec_root or settings["exec-root"]))
    storage_driver = args.storage_driver or settings["storage-driver"]
    if not isinstance(storage_driver, str):
        raise SystemExit("ketchd: \"storage-driver\" must be a string")
    bridge = str(args.bridge or settings["bridge"])
    if not 0 < len(bridge) < 16 or not bridge.replace("-", "").replace("_", "").isalnum():
        raise SystemExit(f"ketchd: invalid bridge name {bridge!r}")
    registries = {}
    for key, extra in (("insecure-registries", args.insecure_registry),
                       ("registry-mirrors", args.registry_mirror)):
        value = settings[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SystemExit(f"ketchd: \"{key}\" must be a list of strings")
        registries[key] = [*value, *extra]
    mtu = args.mtu if args.mtu is not None else settings["mtu"]
    if not isinstance(mtu, int) or isinstance(mtu, bool) or mtu < 0 or 0 < mtu < 68 \
            or mtu > 65535:
        raise SystemExit(f"ketchd: invalid MTU {mtu!r}: 0 (the default, 1500) or 68 to 65535")
    lists = {}
    for key, extra in (("dns", args.dns), ("dns-search", args.dns_search),
                       ("dns-opts", args.dns_opt)):
        value = settings[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SystemExit(f"ketchd: \"{key}\" must be a list of strings")
        lists[key] = tuple(extra or value)  # flags replace the file's, as dockerd's
    pools = args.default_address_pool or settings["default-address-pools"]
    if not isinstance(pools, list):
        raise SystemExit("ketchd: \"default-address-pools\" must be a list of "
                         "{\"base\": CIDR, \"size\": N}")
    log_opts = settings["log-opts"]
    if not isinstance(log_opts, dict):
        raise SystemExit("ketchd: \"log-opts\" must be an object of strings")
    log_opts = {**log_opts, **dict(o.partition("=")[::2] for o in args.log_opt)}
    log_config = {"Type": args.log_driver or settings["log-driver"], "Config": log_opts}
    if os.geteuid() != 0:
        raise SystemExit("ketchd: must run as root")
    from ketch.api.server import serve
    from ketch.distribution.registries import RegistryConfig
    from ketch.engine.engine import Engine
    from ketch.engine.logconfig import check as check_log_config
    from ketch.errors import KetchError
    from ketch.network.defaults import NetworkDefaults, check_nameservers, parse_pool
    try:
        check_nameservers(list(lists["dns"]))
        network = NetworkDefaults(mtu or 1500, lists["dns"], lists["dns-search"],
                                  lists["dns-opts"], tuple(parse_pool(p) for p in pools))
        log_config = check_log_config({"LogConfig": log_config})
        config = RegistryConfig(registries["insecure-registries"],
                                registries["registry-mirrors"])
        asyncio.run(serve(Engine(data_root, exec_root, storage_driver or None,
                                 bridge, config, log_config, network), socket_path))
    except KetchError as e:
        raise SystemExit(f"ketchd: {e}") from None
    except KeyboardInterrupt:
        pass
