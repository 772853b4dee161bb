"""`ketch bootstrap [IMAGE...]`: make base images offline from Debian's packages and
import them into the daemon (busybox from busybox-static, debian:bookworm-slim with
mmdebstrap); there is no Docker Hub to pull them from."""

from __future__ import annotations

import json

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.errors import KetchError


def _bootstrap(ctx: Context, opts: Parsed) -> int:
    from ketch.bootstrap import build
    from ketch.bootstrap.catalog import resolve

    names = opts.args or ["all"]
    try:
        wanted = [n for name in names for n in resolve(name)]
    except KetchError as e:
        raise CLIError(str(e), 1) from None
    for name in wanted:
        try:
            result = build(name, force=bool(opts.force))
        except KetchError as e:
            raise CLIError(str(e), 1) from None
        image = result.image
        if _present(ctx, image.reference, image.diff_id):
            ctx.write(f"{image.reference}: already there\n")
            continue
        changes = [f"CMD {json.dumps(list(image.cmd))}",
                   *(f"ENV {item}" for item in image.env)]
        with open(result.tarball, "rb") as tar:
            stream = ctx.client.import_image(tar, "-", image.reference, None, changes,
                                             f"ketch bootstrap from {image.package} "
                                             f"{image.version}")
            for message in stream:
                if message.get("error"):
                    raise CLIError(str(message["error"]), 1)
                if message.get("status"):
                    ctx.write(f"{image.reference}: {message['status']}\n")
    return 0


def _present(ctx: Context, reference: str, diff_id: str) -> bool:
    """The daemon has this reference with exactly this layer (from an earlier bootstrap)."""
    from ketch.client.errors import APIError

    try:
        found = ctx.client.inspect_image(reference)
    except APIError:
        return False
    return bool((found.get("RootFS") or {}).get("Layers") == [diff_id])


BOOTSTRAP = Command(
    name="bootstrap",
    usage="ketch bootstrap [OPTIONS] [IMAGE...]",
    description="Make base images (busybox, debian:bookworm-slim) from Debian's packages",
    flags=(Flag("force", "f", help="Rebuild the tarball even if it is current"),),
    handler=_bootstrap, min_args=0, aliases="ketch bootstrap")
