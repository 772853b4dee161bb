"""Registry credentials where the docker CLI keeps them: `config.json` in the client config
directory (`--config`, else $DOCKER_CONFIG, else ~/.docker), its `auths` (base64 of
user:password), and the credential helpers named by `credsStore` / `credHelpers`
(`docker-credential-<name> get|store|erase`). Read and written as docker 28 does, so
`ketch login` and `docker login` share one file; keys ketch does not know are kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Store(Protocol):
        """A credentials store (configfile's credentials.Store)."""

        def get(self, server: str, strict: bool = True) -> AuthConfig: ...

        def store(self, auth: AuthConfig) -> bool: ...

        def erase(self, server: str) -> None: ...


INDEX_SERVER = "https://index.docker.io/v1/"
"""The key of Docker Hub's credentials (registry.IndexServer)."""
CONFIG_FILE = "config.json"
HELPER_PREFIX = "docker-credential-"
TOKEN_USERNAME = "<token>"  # a helper's username for an identity token
NOT_FOUND = "credentials not found in native keychain"

# ConfigFile's fields in docker's struct order: a file it wrote reads back byte for byte
_KNOWN_KEYS = ("auths", "HttpHeaders", "psFormat", "imagesFormat", "networksFormat",
               "pluginsFormat", "volumesFormat", "statsFormat", "detachKeys", "credsStore",
               "credHelpers", "serviceInspectFormat", "servicesFormat", "tasksFormat",
               "secretFormat", "configFormat", "nodesFormat", "pruneFilters", "proxies",
               "experimental", "currentContext", "cliPluginsExtraDirs", "plugins", "aliases",
               "features")

_config_dir_flag: str | None = None


class CredentialsError(Exception):
    """A credentials store failed; the message is the docker CLI's."""


def set_config_dir(path: str) -> None:
    """The global `--config` flag."""
    global _config_dir_flag
    _config_dir_flag = path


def config_dir() -> str:
    """config.Dir(): --config, else $DOCKER_CONFIG, else $HOME/.docker."""
    if _config_dir_flag:
        return _config_dir_flag
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return env
    home = os.environ.get("HOME")
    if not home:
        import pwd

        home = pwd.getpwuid(os.getuid()).pw_dir
    return os.path.join(home, ".docker")


@dataclass
class AuthConfig:
    """types.AuthConfig: what a store holds for one registry."""

    username: str = ""
    password: str = ""
    auth: str = ""
    email: str = ""
    server_address: str = ""
    identity_token: str = ""
    registry_token: str = ""

    def fields(self) -> dict[str, str]:
        """The JSON object docker sends (X-Registry-Auth, POST /auth): its struct order,
        empty fields left out."""
        pairs = (("username", self.username), ("password", self.password),
                 ("auth", self.auth), ("email", self.email),
                 ("serveraddress", self.server_address),
                 ("identitytoken", self.identity_token),
                 ("registrytoken", self.registry_token))
        return {key: value for key, value in pairs if value}


def convert_to_hostname(address: str) -> str:
    """credentials.ConvertToHostname: "https://host:5000/v2/" -> "host:5000"."""
    if "://" in address:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(address)
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if host:
            if port is None:
                return host
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return address.split("/", 1)[0]


def auth_config_key(domain: str) -> str:
    """getAuthConfigKey: Docker Hub's credentials live under its legacy index URL."""
    return INDEX_SERVER if domain in ("docker.io", "index.docker.io") else domain


def encode_auth(username: str, password: str) -> str:
    import base64

    if not username and not password:
        return ""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def decode_auth(text: str) -> tuple[str, str]:
    """configfile.decodeAuth: base64 of "user:password"."""
    import base64
    import binascii

    if not text:
        return "", ""
    try:
        decoded = base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"illegal base64 data: {exc}") from None
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        raise ValueError("Invalid auth configuration file")
    return user, password.strip("\x00")


def go_json_indent(value: object) -> str:
    """json.MarshalIndent(v, "", "\\t"): HTML characters escaped as Go does."""
    import json

    text = json.dumps(value, indent="\t", ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def detect_default_store(store: str) -> str:
    """credentials.DetectDefaultStore on Linux: `pass` if installed, else secretservice,
    provided its helper is on PATH."""
    if store:
        return store
    from shutil import which

    default = "pass" if which("pass") else "secretservice"
    return default if which(HELPER_PREFIX + default) else ""


class ConfigFile:
    """config.json: the document as read (every key kept) and its decoded `auths`."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.doc: dict[str, Any] = {}
        self.auths: dict[str, AuthConfig] = {}
        self.creds_store = ""
        self.cred_helpers: dict[str, str] = {}
        self.error = ""  # why the file could not be read: warned about, never overwritten
        self._changed: set[str] = set()

    @classmethod
    def load(cls, directory: str | None = None) -> ConfigFile:
        """LoadDefaultConfigFile: a missing file is an empty config; a bad one sets
        `error` (docker warns and goes on)."""
        config = cls(os.path.join(directory or config_dir(), CONFIG_FILE))
        try:
            with open(config.filename, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            config.error = (f"loading config file: open {config.filename}: "
                            f"{(exc.strerror or str(exc)).lower()}")
            data = None
        if data is not None:
            try:
                config._parse(data)
            except ValueError as exc:
                config.error = f"parsing config file ({config.filename}): {exc}"
        if not (config.creds_store or config.cred_helpers or config.auths):
            config.creds_store = detect_default_store(config.creds_store)
        return config

    def _parse(self, data: bytes) -> None:
        from ketch.util import jsonio

        doc = jsonio.loads(data) if data.strip() else {}
        if not isinstance(doc, dict):
            raise ValueError("json: cannot unmarshal into Go value of type "
                             "configfile.ConfigFile")
        auths = doc.get("auths") or {}
        store = doc.get("credsStore") or ""
        helpers = doc.get("credHelpers") or {}
        if not isinstance(auths, dict) or not all(isinstance(v, dict) for v in auths.values()):
            raise ValueError("json: cannot unmarshal auths")
        if not isinstance(store, str):
            raise ValueError("json: cannot unmarshal credsStore")
        if not isinstance(helpers, dict) or not all(isinstance(v, str)
                                                    for v in helpers.values()):
            raise ValueError("json: cannot unmarshal credHelpers")
        self.doc = doc
        self.creds_store = store
        self.cred_helpers = dict(helpers)
        for server, entry in auths.items():
            def text(key: str, entry: dict[str, Any] = entry) -> str:
                value = entry.get(key)
                return value if isinstance(value, str) else ""
            auth = AuthConfig(username=text("username"), password=text("password"),
                              email=text("email"), identity_token=text("identitytoken"),
                              registry_token=text("registrytoken"), server_address=server)
            if text("auth"):
                auth.username, auth.password = decode_auth(text("auth"))
            self.auths[server] = auth

    def store_for(self, server: str) -> Store:
        """GetCredentialsStore: the helper named for this server, else credsStore, else
        the file itself."""
        helper = self.cred_helpers.get(server) if server else None
        helper = helper or self.creds_store
        return NativeStore(self, helper) if helper else FileStore(self)

    def get_auth(self, server: str, strict: bool = True) -> AuthConfig:
        return self.store_for(server).get(server, strict)

    def set_auth(self, server: str, auth: AuthConfig | None) -> None:
        """Record an entry (None removes it) for the next save()."""
        if auth is None:
            self.auths.pop(server, None)
        else:
            self.auths[server] = auth
        self._changed.add(server)

    def save(self) -> None:
        """ConfigFile.Save: the whole document, tab-indented, atomically (a temporary file
        renamed over it, mode 0600, its owner kept); a symlink's target is replaced."""
        if self.error:
            raise CredentialsError(f"{self.error}: not overwriting it")
        text = go_json_indent(self._document())
        target = os.path.realpath(self.filename)
        directory = os.path.dirname(target)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        import tempfile

        fd, temp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(target))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            try:
                st = os.stat(target)
                os.chown(temp, st.st_uid, st.st_gid)
            except OSError:
                pass
            os.chmod(temp, 0o600)
            os.replace(temp, target)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise

    def _document(self) -> dict[str, Any]:
        old_auths = self.doc.get("auths") if isinstance(self.doc.get("auths"), dict) else {}
        assert isinstance(old_auths, dict)
        auths: dict[str, Any] = {}
        for server in sorted(self.auths):
            if server in self._changed or server not in old_auths:
                auths[server] = _file_entry(self.auths[server])
            else:  # untouched: kept as it was written
                auths[server] = old_auths[server]
        doc = dict(self.doc)
        doc["auths"] = auths
        if self.creds_store and not doc.get("credsStore"):
            doc["credsStore"] = self.creds_store  # a detected default store is recorded
        known = {key: doc[key] for key in _KNOWN_KEYS if key in doc}
        return {**known, **{key: value for key, value in doc.items() if key not in known}}


def _file_entry(auth: AuthConfig) -> dict[str, str]:
    """An `auths` entry as SaveToWriter writes it: user and password as `auth`."""
    pairs = (("auth", encode_auth(auth.username, auth.password)), ("email", auth.email),
             ("identitytoken", auth.identity_token), ("registrytoken", auth.registry_token))
    return {key: value for key, value in pairs if value}


class FileStore:
    """Credentials in config.json itself (credentials.fileStore)."""

    def __init__(self, config: ConfigFile) -> None:
        self.config = config

    def get(self, server: str, strict: bool = True) -> AuthConfig:
        auth = self.config.auths.get(server)
        if auth is None:  # a key written as a URL ("https://host/v1/") still matches
            for key in sorted(self.config.auths):
                if convert_to_hostname(key) == server:
                    auth = self.config.auths[key]
                    break
        return replace(auth) if auth is not None else AuthConfig()

    def store(self, auth: AuthConfig) -> bool:
        """Save unless nothing changed; True when a password went into the file."""
        if self.config.auths.get(auth.server_address) == auth:
            return False
        self.config.set_auth(auth.server_address, replace(auth))
        self.config.save()
        return bool(auth.password)

    def erase(self, server: str) -> None:
        if server not in self.config.auths:
            return
        self.config.set_auth(server, None)
        self.config.save()


class NativeStore:
    """Credentials kept by `docker-credential-<helper>`; config.json keeps an empty entry
    per registry (credentials.nativeStore)."""

    def __init__(self, config: ConfigFile, helper: str) -> None:
        self.file = FileStore(config)
        self.program = HELPER_PREFIX + helper

    def get(self, server: str, strict: bool = True) -> AuthConfig:
        auth = self.file.get(server)
        try:
            found = self._get(server)
        except CredentialsError:
            if strict:
                raise
            return auth
        auth.username, auth.password = found.username, found.password
        auth.identity_token, auth.server_address = found.identity_token, found.server_address
        return auth

    def store(self, auth: AuthConfig) -> bool:
        from ketch.client.api import go_json

        username, secret = auth.username, auth.password
        if auth.identity_token:
            username, secret = TOKEN_USERNAME, auth.identity_token
        payload = go_json({"ServerURL": auth.server_address, "Username": username,
                           "Secret": secret}, sort_keys=False) + "\n"
        self._run("store", payload, "storing")
        self.file.store(replace(auth, username="", password="", identity_token=""))
        return False

    def erase(self, server: str) -> None:
        self._run("erase", server, "erasing")
        self.file.erase(server)

    def _get(self, server: str) -> AuthConfig:
        """getCredentialsFromStore: not found is no error, just no credentials."""
        from ketch.util import jsonio

        try:
            out = self._run("get", server, "getting")
        except _NotFound:
            return AuthConfig()
        try:
            doc = jsonio.loads(out)
        except ValueError as exc:
            raise CredentialsError(str(exc)) from None
        fields = {str(k).lower(): v for k, v in doc.items()} if isinstance(doc, dict) else {}
        username, secret = str(fields.get("username") or ""), str(fields.get("secret") or "")
        if username == TOKEN_USERNAME:
            return AuthConfig(identity_token=secret, server_address=server)
        return AuthConfig(username=username, password=secret, server_address=server)

    def _run(self, action: str, data: str, verb: str) -> str:
        """The helper's stdout; its failure worded as docker-credential-helpers' client."""
        import subprocess

        try:
            proc = subprocess.run([self.program, action], input=data.encode(),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  check=False)
        except OSError as exc:
            reason = (f'exec: "{self.program}": executable file not found in $PATH'
                      if isinstance(exc, FileNotFoundError | PermissionError)
                      else f'exec: "{self.program}": {(exc.strerror or str(exc)).lower()}')
            raise CredentialsError(f"error {verb} credentials - err: {reason}, out: ``") \
                from None
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode == 0:
            return out
        message = out.strip()
        if message in ("no credentials server URL", "no credentials username"):
            raise CredentialsError(message)
        if action == "get" and message == NOT_FOUND:
            raise _NotFound
        status = (f"exit status {proc.returncode}" if proc.returncode > 0
                  else f"signal: {_signal_name(-proc.returncode)}")
        raise CredentialsError(f"error {verb} credentials - err: {status}, out: `{message}`")


class _NotFound(Exception):
    pass


def _signal_name(number: int) -> str:
    import signal

    try:
        return {signal.SIGKILL: "killed", signal.SIGTERM: "terminated",
                signal.SIGINT: "interrupt", signal.SIGSEGV: "segmentation fault"}.get(
            signal.Signals(number), signal.Signals(number).name)
    except ValueError:
        return f"signal {number}"


def resolve_auth(config: ConfigFile, domain: str) -> AuthConfig:
    """ResolveAuthConfig: the credentials for a registry's images (pull, push, run); a
    failing helper means none, as for docker."""
    auth = config.get_auth(auth_config_key(domain), strict=False)
    return AuthConfig(username=auth.username, password=auth.password,
                      server_address=auth.server_address, auth=auth.auth,
                      identity_token=auth.identity_token, registry_token=auth.registry_token)
