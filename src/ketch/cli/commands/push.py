"""`ketch push` (and `image push`): docker 28's push through `POST /images/{name}/push`.

The full name goes in the path ("docker.io/library/busybox"), the tag in the
query (`latest` when none is given, no tag at all with -a: every tag), the registry's
credentials in X-Registry-Auth. The daemon's progress is shown as jsonmessage shows it;
`-q` prints only the full reference once the push succeeded.
"""

from __future__ import annotations

import os

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed


def _push(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.pull import full_reference, load_config, normalize, with_login_retry
    from ketch.cli.credentials import resolve_auth
    from ketch.cli.progress import StreamError, show_stream
    from ketch.client.session import version_tuple

    config = load_config(ctx)
    named = normalize(ctx, opts.args[0], bool(opts.all_tags), bool(opts.quiet))
    if named.digest:
        raise CLIError("cannot push a digest reference")
    if opts.platform:  # a single platform's manifest: API 1.46, newer than ours
        version = ctx.client.api_version
        if version_tuple(version) < (1, 46):
            raise CLIError(f'"--platform" requires API version 1.46, but the Docker daemon '
                           f"API version is {version}")
    auth = resolve_auth(config, named.domain)
    tag = None if opts.all_tags else named.tag
    messages = with_login_retry(
        ctx, config, named.domain, "push", auth,
        lambda header: ctx.client.push(named.name, tag, header))
    try:
        show_stream(messages, None if opts.quiet else ctx.out)
    except StreamError as exc:
        raise CLIError(exc.message) from None
    if opts.quiet:
        ctx.write(full_reference(named) + "\n")
    return 0


PUSH = Command(
    name="push",
    usage="ketch push [OPTIONS] NAME[:TAG]",
    description="Upload an image to a registry",
    flags=(
        Flag("all-tags", "a", help="Push all tags of an image to the repository"),
        Flag("disable-content-trust", default=True, help="Skip image signing (default true)"),
        Flag("platform", kind="string", default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
             help="Push a platform-specific manifest as a single-platform image to the "
                  "registry"),
        Flag("quiet", "q", help="Suppress verbose output"),
    ),
    handler=_push, min_args=1, max_args=1,
    aliases="ketch image push, ketch push")
