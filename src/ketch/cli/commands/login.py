"""`ketch login` and `ketch logout`, as docker 28 does them.

login: the daemon checks the credentials against the registry (`POST /auth`); stored ones
are tried first when none are given; on success they go to the credentials store named
by config.json (a `docker-credential-*` helper, else the file itself, with docker's
warning) and the daemon's status ("Login Succeeded") is printed. Without a terminal the
user and password must come from flags or --password-stdin. logout erases the entry
under each spelling docker ever wrote it with.
"""

from __future__ import annotations

import sys

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from ketch.cli.credentials import AuthConfig, ConfigFile, CredentialsError

REGISTER_SUGGEST = ("Log in with your Docker ID or email address to push and pull images "
                    "from Docker Hub. If you don't have a Docker ID, head over to "
                    "https://hub.docker.com/ to create one.")
PAT_SUGGEST = ("You can log in with your password or a Personal Access Token (PAT). Using "
               "a limited-scope PAT grants better security and is required for "
               "organizations using SSO. Learn more at "
               "https://docs.docker.com/go/access-tokens/")
UNENCRYPTED = ("\nWARNING! Your credentials are stored unencrypted in '{}'.\n"
               "Configure a credential helper to remove this warning. See\n"
               "https://docs.docker.com/go/credential-store/\n\n")
NON_TTY = "Error: Cannot perform an interactive login from a non TTY device"


def _env_bool(name: str, default: bool) -> bool:
    """strconv.ParseBool of an environment variable; unset or unparsable: default."""
    import os

    value = os.environ.get(name, "")
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    return default


def print_note(out: TextIO, text: str) -> None:
    """tui's PrintNote: " Info -> " (an "i Info →" badge on a terminal) before the first
    line, the others indented under it."""
    from ketch.cli.terminal import is_terminal

    try:
        terminal = is_terminal(out.fileno())
    except (AttributeError, OSError, ValueError):
        terminal = False
    header = (" Info -> " if not terminal else
              "\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo → \x1b[0m\x1b[0m")
    out.write("\n" + header)
    for index, line in enumerate(text.split("\n")):
        if index:
            out.write(" " * 9)
        out.write((f"\x1b[3m{line}\x1b[0m" if terminal else line) + "\n")


def read_input(ctx: Context, message: str) -> str:
    """prompt.ReadInput: the message on stdout, one line from stdin, trimmed."""
    ctx.write(message)
    ctx.flush()
    return sys.stdin.readline().strip()


def _read_password(ctx: Context, server: str) -> str:
    """The password prompt, the terminal's echo off meanwhile (DisableInputEcho)."""
    import termios

    from ketch.cli.credentials import INDEX_SERVER

    try:
        saved = termios.tcgetattr(0)
    except termios.error as exc:
        raise CLIError(str(exc.args[-1]).lower()) from None
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(0, termios.TCSANOW, quiet)
    try:
        if server == INDEX_SERVER:
            print_note(ctx.err, "A Personal Access Token (PAT) can be used instead.\n"
                                "To create a PAT, visit https://app.docker.com/settings\n\n")
        password = read_input(ctx, "Password: ")
        ctx.write("\n")
    finally:
        termios.tcsetattr(0, termios.TCSANOW, saved)
    return password


def prompt_credentials(ctx: Context, user: str, password: str, default_user: str,
                       server: str) -> AuthConfig:
    """PromptUserForCredentials: asks for what the flags did not give."""
    from ketch.cli.credentials import INDEX_SERVER, AuthConfig

    user = user.strip()
    if not user:
        if server == INDEX_SERVER:
            ctx.write(REGISTER_SUGGEST + "\n")
            if _env_bool("DOCKER_CLI_HINTS", True):
                ctx.write(PAT_SUGGEST + "\n\n")
        default_user = default_user.strip()
        user = read_input(ctx, f"Username ({default_user}): " if default_user
                          else "Username: ") or default_user
        if not user:
            raise CLIError("Error: Non-null Username Required")
    if not password.strip():
        password = _read_password(ctx, server)
        if not password:
            raise CLIError("Error: Password Required")
    return AuthConfig(username=user, password=password, server_address=server)


def default_auth_config(config: ConfigFile, check_store: bool, server: str,
                        is_default: bool) -> tuple[AuthConfig, CredentialsError | None]:
    """GetDefaultAuthConfig: the stored credentials for a login to `server` (its host name
    unless Docker Hub), and the store's error if it failed."""
    from ketch.cli.credentials import AuthConfig, CredentialsError, convert_to_hostname

    if not is_default:
        server = convert_to_hostname(server)
    if not check_store:
        return AuthConfig(server_address=server), None
    try:
        stored = config.get_auth(server)
    except CredentialsError as exc:
        return AuthConfig(server_address=server), exc
    return AuthConfig(username=stored.username, password=stored.password,
                      auth=stored.auth, registry_token=stored.registry_token,
                      server_address=server), None


def _store_credentials(ctx: Context, config: ConfigFile, auth: AuthConfig) -> None:
    from ketch.cli.credentials import CredentialsError

    try:
        plain = config.store_for(auth.server_address).store(auth)
    except (CredentialsError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise CLIError(f"Error saving credentials: {reason}") from None
    if plain:
        ctx.err.write(UNENCRYPTED.format(config.filename))


def _with_token(auth: AuthConfig, response: dict[str, object]) -> AuthConfig:
    """A registry's identity token replaces the password in what is stored."""
    token = response.get("IdentityToken")
    if isinstance(token, str) and token:
        auth.password, auth.identity_token = "", token
    return auth


def _login_stored(ctx: Context, config: ConfigFile, auth: AuthConfig) -> tuple[str, bool]:
    """loginWithStoredCredentials: (the daemon's status, whether it failed)."""
    from ketch.client.errors import APIError, DaemonUnavailable

    ctx.err.write("Authenticating with existing credentials..." +
                  (f" [Username: {auth.username}]" if auth.username else "") + "\n")
    print_note(ctx.err, "To login with a different account, run 'ketch logout' followed by "
                        "'ketch login'")
    ctx.err.write("\n\n")
    failed = False
    response: dict[str, object] = {}
    try:
        response = ctx.client.auth(auth.fields())
    except APIError as exc:
        failed = True
        ctx.err.write("Stored credentials invalid or expired\n" if exc.status == 401
                      else f"Login did not succeed, error: {exc}\n")
    except DaemonUnavailable as exc:
        failed = True
        ctx.err.write(f"Login did not succeed, error: {exc}\n")
    _store_credentials(ctx, config, _with_token(auth, response))
    return str(response.get("Status") or ""), failed


def _login_user(ctx: Context, config: ConfigFile, user: str, password: str,
                default_user: str, server: str) -> str:
    """loginUser: prompt for what is missing (a terminal is needed), log in, store."""
    from ketch.cli.credentials import INDEX_SERVER
    from ketch.cli.terminal import is_terminal

    if (not user or not password) and not is_terminal(0):
        raise CLIError(NON_TTY)
    if server == INDEX_SERVER and not user and not password and \
            not _env_bool("DOCKER_CLI_DISABLE_OAUTH_LOGIN", False):
        # Docker Hub's web-based device login needs Docker's servers: not offered here
        ctx.err.write("Failed to start web-based login - falling back to command line "
                      "login...\n\n")
    auth = prompt_credentials(ctx, user, password, default_user, server)
    response = ctx.client.auth(auth.fields())
    _store_credentials(ctx, config, _with_token(auth, response))
    return str(response.get("Status") or "")


def _check_flags(opts: Parsed) -> None:
    """verifyLoginFlags: a flag given empty is an error, not a prompt."""
    given = opts.given
    if "password_stdin" in given:
        if "password" in given:
            raise CLIError("conflicting options: cannot specify both --password and "
                           "--password-stdin")
        if "username" not in given:
            raise CLIError("the --password-stdin option requires --username to be set")
    if "username" in given and not opts.username:
        raise CLIError("username is empty")
    if "password" in given and not opts.password:
        raise CLIError("password is empty")


def _login(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.pull import load_config
    from ketch.cli.credentials import INDEX_SERVER

    config = load_config(ctx)
    _check_flags(opts)
    user, password = opts.username or "", opts.password or ""
    if password:
        ctx.err.write("WARNING! Using --password via the CLI is insecure. "
                      "Use --password-stdin.\n")
    if opts.password_stdin:
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    server = opts.args[0] if opts.args and opts.args[0] != "docker.io" else INDEX_SERVER
    auth, error = default_auth_config(config, not user and not password, server,
                                      server == INDEX_SERVER)
    status, failed = "", error is not None
    if error is None and auth.username and auth.password:
        status, failed = _login_stored(ctx, config, auth)
    if failed or not auth.username or not auth.password:
        status = _login_user(ctx, config, user, password, auth.username,
                             auth.server_address)
    if status:
        ctx.write(status + "\n")
    return 0


def _logout(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.pull import load_config
    from ketch.cli.credentials import INDEX_SERVER, CredentialsError, convert_to_hostname

    config = load_config(ctx)
    server = opts.args[0] if opts.args else ""
    is_default = not server
    hostname = server = server or INDEX_SERVER
    spellings = [server]
    if not is_default:  # every spelling docker ever stored the registry under
        hostname = convert_to_hostname(server)
        spellings += [hostname, f"http://{hostname}", f"https://{hostname}"]
    else:
        try:  # docker's OAuth manager looks at Docker Hub's stored tokens first
            config.get_auth(INDEX_SERVER)
        except CredentialsError as exc:
            ctx.err.write(f"WARNING: {exc}\n")
    ctx.write(f"Removing login credentials for {hostname}\n")
    errors: dict[str, str] = {}
    for name in spellings:
        try:
            config.store_for(name).erase(name)
        except (CredentialsError, OSError) as exc:
            errors[name] = exc.strerror if isinstance(exc, OSError) and exc.strerror \
                else str(exc)
    # docker compares its error map with the list: a spelling listed twice never warns
    if len(errors) == len(spellings):
        ctx.flush()
        ctx.err.write("WARNING: could not erase credentials:\n")
        for name, reason in errors.items():
            ctx.err.write(f"{name}: {reason}\n")
    return 0


LOGIN = Command(
    name="login",
    usage="ketch login [OPTIONS] [SERVER]",
    description="Authenticate to a registry.\nDefaults to Docker Hub if no server is "
                "specified.",
    flags=(
        Flag("password", "p", "string", help="Password or Personal Access Token (PAT)"),
        Flag("password-stdin", help="Take the Password or Personal Access Token (PAT) "
             "from stdin"),
        Flag("username", "u", "string", help="Username"),
    ),
    handler=_login, max_args=1)

LOGOUT = Command(
    name="logout",
    usage="ketch logout [SERVER]",
    description="Log out from a registry.\nIf no server is specified, the default is "
                "defined by the daemon.",
    flags=(),
    handler=_logout, max_args=1)
