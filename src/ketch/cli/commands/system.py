"""`ketch version` and `ketch info`, laid out like Docker's."""

from __future__ import annotations

import platform
import re
from datetime import datetime

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.cli.tabwriter import tabulate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def ansic(value: str) -> str:
    """An RFC 3339 build time in Go's ANSIC layout ("Thu May  7 21:09:36 2026")."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return value
    return moment.strftime("%a %b ") + f"{moment.day:2d}" + moment.strftime(" %H:%M:%S %Y")


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def client_block(api_version: str, default_version: str) -> str:
    from ketch import __version__

    downgraded = f" (downgraded from {default_version})" if api_version != default_version else ""
    lines = ["Client:",
             f" Version:\t{__version__}",
             f" API version:\t{api_version}{downgraded}",
             f" Python version:\t{platform.python_version()}",
             f" OS/Arch:\tlinux/{_arch()}",
             " Context:\tdefault"]
    return "\n".join(lines) + "\n"


def server_block(version: dict[str, Any]) -> str:
    name = (version.get("Platform") or {}).get("Name") or ""
    lines = ["Server:" + (f" {name}" if name else "")]
    components = version.get("Components") or [
        {"Name": "Engine", "Version": version.get("Version", ""),
         "Details": {k: str(version.get(k, "")) for k in
                     ("ApiVersion", "MinAPIVersion", "GoVersion", "GitCommit", "BuildTime",
                      "Os", "Arch", "Experimental")}}]
    for comp in components:
        details = {k: str(v) for k, v in (comp.get("Details") or {}).items()}
        lines.append(f" {comp.get('Name', '')}:")
        lines.append(f"  Version:\t{comp.get('Version', '')}")
        if comp.get("Name") == "Engine":
            lines.append(f"  API version:\t{details.get('ApiVersion', '')} "
                         f"(minimum version {details.get('MinAPIVersion', '')})")
            for label, key in (("Go version", "GoVersion"), ("Python version", "PythonVersion"),
                               ("Git commit", "GitCommit"), ("Built", "BuildTime")):
                if key in details:
                    value = ansic(details[key]) if key == "BuildTime" else details[key]
                    lines.append(f"  {label}:\t{value}")
            lines.append(f"  OS/Arch:\t{details.get('Os', '')}/{details.get('Arch', '')}")
            lines.append(f"  Experimental:\t{details.get('Experimental', 'false')}")
        else:
            lines.extend(f"  {key}:\t{value}" for key, value in details.items())
    return "\n".join(lines) + "\n"


def _version(ctx: Context, opts: Parsed) -> int:
    from ketch.client.session import MAX_API_VERSION

    if opts.format:
        from ketch.cli.gotemplate import Template, TemplateError

        data = {"Client": {"Version": _client_version(), "ApiVersion": MAX_API_VERSION,
                           "Os": "linux", "Arch": _arch()},
                "Server": ctx.client.version()}
        try:
            ctx.write(Template(opts.format).execute(data) + "\n")
        except TemplateError as exc:
            raise CLIError(f"template: {exc}", 1) from None
        return 0
    try:
        client = ctx.client
        api_version = client.api_version
    except Exception:
        ctx.write(tabulate(client_block(MAX_API_VERSION, MAX_API_VERSION), 20, 1) + "\n")
        ctx.flush()
        raise
    text = client_block(api_version, MAX_API_VERSION) + "\n" + server_block(client.version())
    ctx.write(tabulate(text, 20, 1))
    return 0


def _client_version() -> str:
    from ketch import __version__

    return __version__


def _human_bytes(size: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def info_text(info: dict[str, Any]) -> str:
    lines = ["Client:", f" Version:    {_client_version()}", " Context:    default",
             " Debug Mode: false", "", "Server:"]

    def add(label: str, key: str, indent: int = 1) -> None:
        if key in info and info[key] is not None:
            value = info[key]
            if isinstance(value, bool):
                value = "true" if value else "false"
            lines.append(f"{' ' * indent}{label}: {value}")

    add("Containers", "Containers")
    add("Running", "ContainersRunning", 2)
    add("Paused", "ContainersPaused", 2)
    add("Stopped", "ContainersStopped", 2)
    add("Images", "Images")
    add("Server Version", "ServerVersion")
    add("Storage Driver", "Driver")
    for pair in info.get("DriverStatus") or []:
        if isinstance(pair, list) and len(pair) == 2:
            lines.append(f"  {pair[0]}: {pair[1]}")
    add("Logging Driver", "LoggingDriver")
    add("Cgroup Driver", "CgroupDriver")
    add("Cgroup Version", "CgroupVersion")
    if info.get("Runtimes"):
        lines.append(" Runtimes: " + " ".join(sorted(info["Runtimes"])))
    add("Default Runtime", "DefaultRuntime")
    add("Kernel Version", "KernelVersion")
    add("Operating System", "OperatingSystem")
    add("OSType", "OSType")
    add("Architecture", "Architecture")
    add("CPUs", "NCPU")
    if info.get("MemTotal"):
        lines.append(f" Total Memory: {_human_bytes(float(info['MemTotal']))}")
    add("Name", "Name")
    add("ID", "ID")
    add("Docker Root Dir", "DockerRootDir")
    add("Debug Mode", "Debug")
    add("Experimental", "ExperimentalBuild")
    add("Live Restore Enabled", "LiveRestoreEnabled")
    for warning in info.get("Warnings") or []:
        lines.append(warning)
    return "\n".join(lines) + "\n\n"


def _info(ctx: Context, opts: Parsed) -> int:
    info = ctx.client.info()
    if opts.format:
        from ketch.cli.gotemplate import Template, TemplateError

        try:
            ctx.write(Template(opts.format).execute(info) + "\n")
        except TemplateError as exc:
            raise CLIError(f"template: {exc}", 1) from None
        return 0
    ctx.write(info_text(info))
    return 0


VERSION = Command(
    name="version", usage="ketch version [OPTIONS]",
    description="Show the ketch version information",
    flags=(Flag("format", "f", "string", help="Format output using a custom template"),),
    handler=_version, max_args=0)
INFO = Command(
    name="info", usage="ketch info [OPTIONS]", description="Display system-wide information",
    flags=(Flag("format", "f", "string", help="Format output using a custom template"),),
    handler=_info, max_args=0, aliases="ketch system info, ketch info")

