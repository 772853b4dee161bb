"""`ketch pull` (and `image pull`): docker 28's pull through `POST /images/create`.

The reference is normalized first ("busybox" -> docker.io/library/busybox:latest, with
"Using default tag: latest"), the registry's credentials go in X-Registry-Auth, the
daemon's progress is shown as jsonmessage shows it, and the full reference is printed
last. `-a` pulls every tag (no `tag` parameter); `-q` prints only the reference. The
same pull serves `run`/`create` when their image is missing.
"""

from __future__ import annotations

import os

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, TextIO

    from ketch.cli.credentials import AuthConfig, ConfigFile
    from ketch.util.reference import Named


def load_config(ctx: Context) -> ConfigFile:
    """The client config, with docker's warning when it cannot be read."""
    from ketch.cli.credentials import ConfigFile

    config = ConfigFile.load()
    if config.error:
        ctx.err.write(f"WARNING: Error {config.error}\n")
    return config


def normalize(ctx: Context, remote: str, all_tags: bool, quiet: bool) -> Named:
    """The reference as pull and push take it: a tag, else `latest` (said unless -q), or
    none at all with -a."""
    from ketch.util.reference import ReferenceError, parse_normalized_named, with_tag

    try:
        named = parse_normalized_named(remote)
    except ReferenceError as exc:
        raise CLIError(str(exc)) from None
    name_only = not named.tag and not named.digest
    if all_tags and not name_only:
        raise CLIError("tag can't be used with --all-tags/-a")
    if not all_tags and name_only:
        named = with_tag(named, "latest")
        if not quiet:
            ctx.write("Using default tag: latest\n")
    return named


def full_reference(named: Named) -> str:
    """reference.String(): "docker.io/library/busybox:latest"."""
    text = named.name
    if named.tag:
        text += f":{named.tag}"
    if named.digest:
        text += f"@{named.digest}"
    return text


def encoded_auth(auth: AuthConfig) -> str:
    from ketch.client.api import registry_auth

    return registry_auth(auth.fields())


def with_login_retry(ctx: Context, config: ConfigFile, domain: str, verb: str,
                     auth: AuthConfig,
                     call: Callable[[str], Iterator[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Send with the stored credentials; on 401 ask for others once, as the docker CLI's
    RegistryAuthenticationPrivilegedFunc does (only where a user can answer)."""
    from ketch.cli.terminal import is_terminal
    from ketch.client.errors import APIError

    try:
        return call(encoded_auth(auth))
    except APIError as exc:
        if exc.status != 401 or not is_terminal(0):
            raise
    from ketch.cli.commands.login import default_auth_config, prompt_credentials
    from ketch.cli.credentials import INDEX_SERVER, auth_config_key

    key = auth_config_key(domain)
    ctx.write(f"\nLogin prior to {verb}:\n")
    ctx.flush()
    stored, error = default_auth_config(config, True, key, key == INDEX_SERVER)
    if error is not None:
        ctx.err.write(f"Unable to retrieve stored credentials for {key}, error: {error}.\n")
    fresh = prompt_credentials(ctx, "", "", stored.username, key)
    return call(encoded_auth(fresh))


def pull_image(ctx: Context, named: Named, out: TextIO | None, *, all_tags: bool = False,
               platform: str = "", config: ConfigFile | None = None) -> None:
    """`POST /images/create?fromImage=NAME&tag=TAG` and its progress shown on `out` (None:
    nothing shown); an error in the stream raises CLIError (exit 1)."""
    from ketch.cli.credentials import resolve_auth
    from ketch.cli.progress import StreamError, show_stream

    config = config or load_config(ctx)
    auth = resolve_auth(config, named.domain)
    tag = None if all_tags else (named.digest or named.tag)
    messages = with_login_retry(
        ctx, config, named.domain, "pull", auth,
        lambda header: ctx.client.pull(named.name, tag, platform.lower() or None, header))
    try:
        show_stream(messages, out)
    except StreamError as exc:
        raise CLIError(exc.message) from None


def _pull(ctx: Context, opts: Parsed) -> int:
    config = load_config(ctx)
    named = normalize(ctx, opts.args[0], bool(opts.all_tags), bool(opts.quiet))
    pull_image(ctx, named, None if opts.quiet else ctx.out, all_tags=bool(opts.all_tags),
               platform=opts.platform or "", config=config)
    ctx.write(full_reference(named) + "\n")
    return 0


PULL = Command(
    name="pull",
    usage="ketch pull [OPTIONS] NAME[:TAG|@DIGEST]",
    description="Download an image from a registry",
    flags=(
        Flag("all-tags", "a", help="Download all tagged images in the repository"),
        Flag("disable-content-trust", default=True, help="Skip image verification "
             "(default true)"),
        Flag("platform", kind="string", default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
             help="Set platform if server is multi-platform capable"),
        Flag("quiet", "q", help="Suppress verbose output"),
    ),
    handler=_pull, min_args=1, max_args=1,
    aliases="ketch image pull, ketch pull")
