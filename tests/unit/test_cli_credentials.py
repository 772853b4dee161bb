"""Registry credentials: config.json read and written as the docker CLI does (in tmp dirs),
credential helpers (a fake `docker-credential-fake` on PATH), the X-Registry-Auth
encoding, and `ketch login` / `logout` / `pull` / `push` against a canned daemon."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.cli import credentials
from ketch.cli.credentials import (
    INDEX_SERVER,
    AuthConfig,
    ConfigFile,
    CredentialsError,
    FileStore,
    NativeStore,
    convert_to_hostname,
    resolve_auth,
)
from ketch.client.api import registry_auth
from unit.test_client_fakedaemon import FakeDaemon, Reply

HELPER = """#!{python}
import json, os, sys
store = os.environ["FAKE_STORE"]
data = json.load(open(store)) if os.path.exists(store) else {{}}
action, given = sys.argv[1], sys.stdin.read()
with open(store + ".log", "a") as log:
    log.write(json.dumps([action, given]) + "\\n")
if action == "get":
    if given not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": given, **data[given]}}))
elif action == "store":
    creds = json.loads(given)
    data[creds["ServerURL"]] = {{"Username": creds["Username"], "Secret": creds["Secret"]}}
    json.dump(data, open(store, "w"))
elif action == "erase":
    if given not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    del data[given]
    json.dump(data, open(store, "w"))
"""


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`docker-credential-fake` on PATH, keeping its secrets in a JSON file (returned)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "docker-credential-fake"
    script.write_text(HELPER.format(python=sys.executable))
    script.chmod(0o755)
    store = tmp_path / "helper-store.json"
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_STORE", str(store))
    return store


def helper_calls(store: Path) -> list[list[str]]:
    return [json.loads(line) for line in Path(f"{store}.log").read_text().splitlines()]


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty client config directory as DOCKER_CONFIG; no default store is detected."""
    directory = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    monkeypatch.setattr(credentials, "detect_default_store", lambda store: store)
    return directory


def write_config(directory: Path, doc: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


# -- where the file is ------------------------------------------------------------------------
def test_config_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert credentials.config_dir() == str(tmp_path / "home" / ".docker")
    monkeypatch.setenv("DOCKER_CONFIG", "/etc/dc")
    assert credentials.config_dir() == "/etc/dc"
    monkeypatch.setattr(credentials, "_config_dir_flag", "/from/flag")
    assert credentials.config_dir() == "/from/flag"


# -- the file store ---------------------------------------------------------------------------
def test_store_writes_the_file_docker_writes(cfg: Path) -> None:
    config = ConfigFile.load()
    assert config.auths == {} and not config.error
    plain = FileStore(config).store(AuthConfig(username="alice", password="s3cret",
                                               server_address="127.0.0.1:5000"))
    assert plain  # a password went into the file: the caller warns
    path = cfg / "config.json"
    # docker 28's bytes: tab-indented, no newline at the end, mode 0600 in a 0700 dir
    assert path.read_text() == ('{\n\t"auths": {\n\t\t"127.0.0.1:5000": {\n\t\t\t"auth": '
                                '"YWxpY2U6czNjcmV0"\n\t\t}\n\t}\n}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o700
    again = ConfigFile.load()
    assert again.get_auth("127.0.0.1:5000") == AuthConfig(
        username="alice", password="s3cret", server_address="127.0.0.1:5000")
    assert not FileStore(again).store(again.get_auth("127.0.0.1:5000"))  # unchanged: kept


def test_other_keys_and_entries_are_kept(cfg: Path) -> None:
    path = write_config(cfg, {"zzz": {"a": [1, 2]}, "psFormat": "table {{.ID}}",
                              "auths": {"b.example": {"auth": "eDp5", "email": "e@x"}},
                              "HttpHeaders": {"X-Meta": "<&>"}})
    config = ConfigFile.load()
    assert config.get_auth("b.example").username == "x"
    FileStore(config).store(AuthConfig(username="u", password="p", server_address="a.example",
                                       identity_token="tok"))
    doc = json.loads(path.read_text())
    # known keys in docker's order, unknown ones after; the untouched entry as it was
    assert list(doc) == ["auths", "HttpHeaders", "psFormat", "zzz"]
    assert doc["auths"] == {"a.example": {"auth": "dTpw", "identitytoken": "tok"},
                            "b.example": {"auth": "eDp5", "email": "e@x"}}
    assert doc["zzz"] == {"a": [1, 2]}
    assert '"X-Meta": "\\u003c\\u0026\\u003e"' in path.read_text()  # Go's HTML escaping
    FileStore(ConfigFile.load()).erase("a.example")
    assert json.loads(path.read_text())["auths"] == {"b.example": {"auth": "eDp5",
                                                                   "email": "e@x"}}


def test_a_url_key_still_matches_its_host(cfg: Path) -> None:
    write_config(cfg, {"auths": {"https://reg.example:5000/v2/": {"auth": "dTpw"}}})
    auth = ConfigFile.load().get_auth("reg.example:5000")
    assert (auth.username, auth.password) == ("u", "p")


def test_a_symlinked_config_keeps_its_link(cfg: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text('{"auths": {}}')
    cfg.mkdir()
    (cfg / "config.json").symlink_to(real)
    FileStore(ConfigFile.load()).store(AuthConfig(username="u", password="p",
                                                  server_address="r"))
    assert (cfg / "config.json").is_symlink()
    assert json.loads(real.read_text())["auths"] == {"r": {"auth": "dTpw"}}


def test_a_malformed_file_is_warned_about_and_never_overwritten(cfg: Path) -> None:
    path = write_config(cfg, "{not json")
    config = ConfigFile.load()
    assert config.error.startswith(f"parsing config file ({path}): ")
    with pytest.raises(CredentialsError):
        FileStore(config).store(AuthConfig(username="u", password="p", server_address="r"))
    assert path.read_text() == "{not json"
    write_config(cfg, {"auths": {"r": {"auth": "bm9jb2xvbg=="}}})  # "nocolon"
    assert "Invalid auth configuration file" in ConfigFile.load().error


def test_a_detected_default_store_is_recorded(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker-credential-secretservice").write_text("#!/bin/sh\nexit 1\n")
    (bindir / "docker-credential-secretservice").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))  # no `pass`: secretservice is Linux's default
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "c"))
    assert ConfigFile.load().creds_store == "secretservice"
    write_config(tmp_path / "c", {"auths": {"r": {}}})  # credentials known: no detection
    assert ConfigFile.load().creds_store == ""


# -- helpers ----------------------------------------------------------------------------------
def test_creds_store_runs_the_helper(cfg: Path, helper: Path) -> None:
    path = write_config(cfg, {"credsStore": "fake"})
    config = ConfigFile.load()
    assert isinstance(config.store_for("r:5000"), NativeStore)
    assert config.get_auth("r:5000") == AuthConfig()  # "not found" is no error
    assert not config.store_for("r:5000").store(
        AuthConfig(username="alice", password="s3cret", server_address="r:5000"))
    # the secret is the helper's; config.json keeps an empty entry, as docker's
    assert json.loads(helper.read_text()) == {"r:5000": {"Username": "alice",
                                                         "Secret": "s3cret"}}
    assert json.loads(path.read_text()) == {"auths": {"r:5000": {}}, "credsStore": "fake"}
    assert ConfigFile.load().get_auth("r:5000") == AuthConfig(
        username="alice", password="s3cret", server_address="r:5000")
    ConfigFile.load().store_for("r:5000").erase("r:5000")
    assert json.loads(helper.read_text()) == {}
    assert json.loads(path.read_text())["auths"] == {}
    assert helper_calls(helper) == [
        ["get", "r:5000"],
        ["store", '{"ServerURL":"r:5000","Username":"alice","Secret":"s3cret"}\n'],
        ["get", "r:5000"], ["erase", "r:5000"]]


def test_an_identity_token_is_stored_as_the_token_user(cfg: Path, helper: Path) -> None:
    write_config(cfg, {"credHelpers": {"r": "fake"}})
    config = ConfigFile.load()
    assert isinstance(config.store_for("other"), FileStore)  # only "r" has a helper
    config.store_for("r").store(AuthConfig(username="u", password="", identity_token="T",
                                           server_address="r"))
    assert json.loads(helper.read_text()) == {"r": {"Username": "<token>", "Secret": "T"}}
    assert ConfigFile.load().get_auth("r") == AuthConfig(identity_token="T",
                                                         server_address="r")


def test_helper_failures_are_worded_as_docker(cfg: Path, helper: Path) -> None:
    write_config(cfg, {"credsStore": "missing"})
    config = ConfigFile.load()
    message = ('exec: "docker-credential-missing": executable file not found in $PATH, '
               "out: ``")
    with pytest.raises(CredentialsError, match=r"^error getting credentials - err: "):
        config.get_auth("r")
    with pytest.raises(CredentialsError) as caught:
        config.store_for("r").store(AuthConfig(username="u", password="p", server_address="r"))
    assert str(caught.value) == f"error storing credentials - err: {message}"
    write_config(cfg, {"credsStore": "fake"})
    with pytest.raises(CredentialsError) as caught:
        ConfigFile.load().store_for("r").erase("r")
    assert str(caught.value) == ("error erasing credentials - err: exit status 1, out: "
                                 "`credentials not found in native keychain`")
    # pull and push look up quietly: a failing helper means no credentials
    write_config(cfg, {"credsStore": "missing", "auths": {"r": {}}})
    assert resolve_auth(ConfigFile.load(), "r") == AuthConfig(server_address="r")


# -- what goes on the wire --------------------------------------------------------------------
def test_x_registry_auth_is_what_docker_sends() -> None:
    """The headers docker 28 sent in these cases, recorded."""
    assert registry_auth(AuthConfig().fields()) == "e30="
    assert registry_auth(AuthConfig(username="u", password="p",
                                    server_address="127.0.0.1:5000").fields()) == \
        "eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAiLCJzZXJ2ZXJhZGRyZXNzIjoiMTI3LjAuMC4xOjUwMDAifQ=="
    assert registry_auth(AuthConfig(username="x", identity_token="tok",
                                    server_address="reg.example.com").fields()) == \
        "eyJ1c2VybmFtZSI6IngiLCJzZXJ2ZXJhZGRyZXNzIjoicmVnLmV4YW1wbGUuY29tIiwiaWRlbnRpdHl0b2tlbiI6InRvayJ9"
    # base64url: "-" and "_" instead of "+" and "/"
    decoded = base64.urlsafe_b64decode(registry_auth({"password": "??>>"}))
    assert decoded == b'{"password":"??\\u003e\\u003e"}'


def test_resolve_auth_uses_docker_hubs_key(cfg: Path) -> None:
    write_config(cfg, {"auths": {INDEX_SERVER: {"auth": "dTpw"}}})
    assert resolve_auth(ConfigFile.load(), "docker.io").username == "u"
    assert resolve_auth(ConfigFile.load(), "index.docker.io").server_address == INDEX_SERVER
    assert resolve_auth(ConfigFile.load(), "127.0.0.1:5000") == AuthConfig()


@pytest.mark.parametrize(("given", "host"), [
    ("127.0.0.1:5000", "127.0.0.1:5000"), ("http://127.0.0.1:5000/", "127.0.0.1:5000"),
    ("https://reg.example/v2/", "reg.example"), ("reg.example/foo", "reg.example"),
    ("https://[::1]:5000/", "[::1]:5000"), (INDEX_SERVER, "index.docker.io")])
def test_convert_to_hostname(given: str, host: str) -> None:
    assert convert_to_hostname(given) == host


# -- the commands against a canned daemon -----------------------------------------------------
@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    fake = FakeDaemon(tmp_path / "fake.sock", api_version="1.44")
    yield fake
    fake.stop()


def ketch(daemon: FakeDaemon, config: Path, *args: str,
          stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETCH_NO_AUTOSTART": "1", "DOCKER_CONFIG": str(config),
           "PATH": os.environ["PATH"]}
    env.pop("DOCKER_HOST", None)
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", "-H", daemon.host, *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=30,
                          check=False)


def test_login_stores_what_the_daemon_accepted(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("POST", "/auth", Reply(200, {"Status": "Login Succeeded",
                                              "IdentityToken": ""}))
    cfg = tmp_path / "c"
    proc = ketch(daemon, cfg, "login", "-u", "alice", "--password-stdin",
                 "http://127.0.0.1:5000/", stdin="s3cret\n")
    assert (proc.returncode, proc.stdout) == (0, "Login Succeeded\n")
    assert proc.stderr == (f"\nWARNING! Your credentials are stored unencrypted in "
                           f"'{cfg}/config.json'.\nConfigure a credential helper to remove "
                           "this warning. See\nhttps://docs.docker.com/go/credential-store/"
                           "\n\n")
    request = daemon.requests[-1]
    assert request.path == "/v1.44/auth"
    assert request.body == (b'{"username":"alice","password":"s3cret",'
                            b'"serveraddress":"127.0.0.1:5000"}\n')
    assert json.loads((cfg / "config.json").read_text()) == {
        "auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"}}}

    # no flags: the stored credentials are tried (no terminal is needed for that)
    proc = ketch(daemon, cfg, "login", "127.0.0.1:5000")
    assert (proc.returncode, proc.stdout) == (0, "Login Succeeded\n")
    assert proc.stderr == ("Authenticating with existing credentials... [Username: alice]\n\n"
                           " Info -> To login with a different account, run 'ketch logout' "
                           "followed by 'ketch login'\n\n\n")

    # the pull sends them
    daemon.route("POST", "/images/create", Reply(200, chunks=[b'{"status":"ok"}\n']))
    proc = ketch(daemon, cfg, "pull", "127.0.0.1:5000/app")
    assert proc.stdout == "Using default tag: latest\nok\n127.0.0.1:5000/app:latest\n"
    request = daemon.requests[-1]
    assert request.path == "/v1.44/images/create?fromImage=127.0.0.1%3A5000%2Fapp&tag=latest"
    assert json.loads(base64.urlsafe_b64decode(request.headers["x-registry-auth"])) == {
        "username": "alice", "password": "s3cret", "serveraddress": "127.0.0.1:5000"}

    proc = ketch(daemon, cfg, "logout", "127.0.0.1:5000")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0, "Removing login credentials for 127.0.0.1:5000\n", "")
    assert (cfg / "config.json").read_text() == '{\n\t"auths": {}\n}'


def test_login_refused(daemon: FakeDaemon, tmp_path: Path) -> None:
    message = 'Get "http://r:5000/v2/": unauthorized: authentication required'
    daemon.route("POST", "/auth", Reply(401, {"message": message}))
    cfg = tmp_path / "c"
    proc = ketch(daemon, cfg, "login", "-u", "alice", "-p", "bad", "r:5000")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("WARNING! Using --password via the CLI is insecure. Use "
                           f"--password-stdin.\nError response from daemon: {message}\n")
    assert not (cfg / "config.json").exists()
    write_config(cfg, {"auths": {"r:5000": {"auth": "YWxpY2U6YmFk"}}})
    proc = ketch(daemon, cfg, "login", "r:5000")
    assert proc.returncode == 1
    assert proc.stderr.endswith("Stored credentials invalid or expired\n"
                                "Error: Cannot perform an interactive login from a non TTY "
                                "device\n")


@pytest.mark.parametrize(("args", "error"), [
    (["--password-stdin"], "the --password-stdin option requires --username to be set"),
    (["-u", "a", "-p", "b", "--password-stdin"],
     "conflicting options: cannot specify both --password and --password-stdin"),
    (["-u", "", "-p", "b"], "username is empty"),
    (["-u", "a", "-p", ""], "password is empty"),
    ([], "Error: Cannot perform an interactive login from a non TTY device"),
])
def test_login_flag_errors(daemon: FakeDaemon, tmp_path: Path, args: list[str],
                           error: str) -> None:
    proc = ketch(daemon, tmp_path / "c", "login", *args, "r:5000")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", error + "\n")
    assert not [r for r in daemon.requests if r.path.endswith("/auth")]


def test_login_through_a_helper_and_logout(daemon: FakeDaemon, tmp_path: Path,
                                           helper: Path) -> None:
    daemon.route("POST", "/auth", Reply(200, {"Status": "Login Succeeded"}))
    cfg = tmp_path / "c"
    write_config(cfg, {"credsStore": "fake"})
    proc = ketch(daemon, cfg, "login", "-u", "alice", "--password-stdin", "r:5000",
                 stdin="pw")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "Login Succeeded\n", "")
    assert json.loads(helper.read_text()) == {"r:5000": {"Username": "alice", "Secret": "pw"}}
    proc = ketch(daemon, cfg, "logout", "https://r:5000/")
    assert proc.returncode == 0 and proc.stderr == ""  # one spelling was erased
    assert json.loads(helper.read_text()) == {}
    assert [call[1] for call in helper_calls(helper) if call[0] == "erase"] == [
        "https://r:5000/", "r:5000", "http://r:5000", "https://r:5000"]
    proc = ketch(daemon, cfg, "logout", "https://r:5000/")  # none left: docker's warning
    assert proc.stderr.splitlines()[0] == "WARNING: could not erase credentials:"
    assert len(proc.stderr.splitlines()) == 5 and proc.returncode == 0


def test_pull_and_push_requests(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("POST", "/images/create", Reply(200, chunks=[b'{"status":"ok"}\n']))
    daemon.route("POST", "/images/docker.io/library/busybox/push", Reply(200, chunks=[
        b'{"status":"The push refers to repository [docker.io/library/busybox]"}\n',
        b'{"errorDetail":{"message":"denied"},"error":"denied"}\n']))
    cfg = tmp_path / "c"
    write_config(cfg, {"auths": {INDEX_SERVER: {"auth": "dTpw"}}})
    proc = ketch(daemon, cfg, "pull", "-a", "--platform", "Linux/AMD64", "busybox")
    assert (proc.returncode, proc.stdout) == (0, "ok\ndocker.io/library/busybox\n")
    request = daemon.requests[-1]
    assert request.path == ("/v1.44/images/create?fromImage=docker.io%2Flibrary%2Fbusybox"
                            "&platform=linux%2Famd64")
    assert json.loads(base64.urlsafe_b64decode(request.headers["x-registry-auth"])) == {
        "username": "u", "password": "p", "serveraddress": INDEX_SERVER}
    proc = ketch(daemon, cfg, "push", "busybox")
    assert (proc.returncode, proc.stderr) == (1, "denied\n")
    assert proc.stdout == ("Using default tag: latest\nThe push refers to repository "
                           "[docker.io/library/busybox]\n")
    assert daemon.requests[-1].path == ("/v1.44/images/docker.io/library/busybox/push"
                                         "?tag=latest")
    proc = ketch(daemon, cfg, "pull", "-a", "busybox:1")
    assert (proc.returncode, proc.stderr) == (1, "tag can't be used with --all-tags/-a\n")
    proc = ketch(daemon, cfg, "push", "busybox@sha256:" + "a" * 64)
    assert (proc.returncode, proc.stderr) == (1, "cannot push a digest reference\n")
