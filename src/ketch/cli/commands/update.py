"""`ketch update`: new resource limits or restart policy for containers, sent as the
docker CLI sends them (POST /containers/{id}/update), each name printed once done."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FLAGS = (
    Flag("blkio-weight", kind="int",
         help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)"),
    Flag("cpu-period", kind="int", help="Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("cpu-quota", kind="int", help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("cpu-shares", "c", "int", help="CPU shares (relative weight)"),
    Flag("cpus", kind="string", help="Number of CPUs", metavar="decimal"),
    Flag("cpuset-cpus", kind="string", help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag("cpuset-mems", kind="string", help="MEMs in which to allow execution (0-3, 0,1)"),
    Flag("memory", "m", "string", help="Memory limit", metavar="bytes"),
    Flag("memory-reservation", kind="string", help="Memory soft limit", metavar="bytes"),
    Flag("memory-swap", kind="string", metavar="bytes",
         help="Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
    Flag("pids-limit", kind="int", help="Tune container pids limit (set -1 for unlimited)"),
    Flag("restart", kind="string", help="Restart policy to apply when a container exits"),
)


def update_body(opts: Parsed) -> dict[str, Any]:
    from ketch.cli.containerconfig import restart_policy
    from ketch.cli.resourceflags import nano_cpus, ram_in_bytes

    body: dict[str, Any] = {
        "BlkioWeight": opts.blkio_weight or 0, "CpuShares": opts.cpu_shares or 0,
        "CpuPeriod": opts.cpu_period or 0, "CpuQuota": opts.cpu_quota or 0,
        "CpusetCpus": opts.cpuset_cpus or "", "CpusetMems": opts.cpuset_mems or "",
        "NanoCpus": nano_cpus(opts.cpus) if opts.cpus else 0,
        "Memory": ram_in_bytes(opts.memory, "-m, --memory") if opts.memory else 0,
        "MemoryReservation": ram_in_bytes(opts.memory_reservation, "--memory-reservation")
        if opts.memory_reservation else 0,
        "MemorySwap": (-1 if opts.memory_swap == "-1" else
                       ram_in_bytes(opts.memory_swap, "--memory-swap"))
        if opts.memory_swap else 0,
        "RestartPolicy": restart_policy(opts.restart) if opts.restart
        else {"Name": "", "MaximumRetryCount": 0},
    }
    if "pids_limit" in opts.given:
        body["PidsLimit"] = opts.pids_limit
    return body


def _update(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.lifecycle import for_each

    if not opts.given:
        raise CLIError("you must provide one or more flags when using this command", 1)
    body = update_body(opts)
    warnings: list[str] = []

    def one(name: str) -> None:
        answer = ctx.client.update(name, body)
        warnings.extend(answer.get("Warnings") or [])

    try:
        return for_each(ctx, opts.args, one)
    finally:
        for warning in warnings:  # after the names, on stdout, as the docker CLI
            ctx.write(f"{warning}\n")


UPDATE = Command(
    name="update", usage="ketch update [OPTIONS] CONTAINER [CONTAINER...]",
    description="Update configuration of one or more containers", flags=FLAGS,
    handler=_update, min_args=1, aliases="ketch container update, ketch update")
