"""Pull, push and login through a private ketchd against real registries on loopback
(Debian's docker-registry: open, with htpasswd basic auth, with bearer tokens from a
token server the test runs), the real docker CLI and docker-py as clients, a private
dockerd for round trips with Docker, and a hostile registry: every failure one clear
error and nothing partial left in the store."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli
from support.dockerd import running_dockerd
from support.fakeregistry import FakeRegistry
from support.registry import Registry, running_registry
from support.tokenserver import TokenServer

pytestmark = pytest.mark.integration
USERS = {"alice": "wonderland"}


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    os.environ["KETCH_REGISTRY_TIMEOUT"] = "2"  # the hanging registry fails fast
    try:
        with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
            yield daemon
    finally:
        os.environ.pop("KETCH_REGISTRY_TIMEOUT", None)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("basic"), users=USERS) as reg:
        yield reg


def cli(kd: Ketchd, *args: str, config: Path | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    env = {**kd.env(), **({"DOCKER_CONFIG": str(config)} if config else {})}
    # no stdin: a CLI that wanted to prompt for a login would fail, not wait
    return docker_cli(kd, *args, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def store_state(kd: Ketchd) -> tuple[list[str], list[str]]:
    """The images and the layer directories (pending ones included) of the daemon."""
    layers = sorted(os.listdir(kd.data_root / "image" / "layers"))
    return ok(cli(kd, "images", "-aq", "--no-trunc")).split(), layers


def test_push_pull_round_trip_is_bit_identical(kd: Ketchd, registry: Registry) -> None:
    name = f"{registry.host}/team/busybox:v1"
    ok(cli(kd, "tag", "busybox", name))
    pushed = ok(cli(kd, "push", name))
    assert f"The push refers to repository [{registry.host}/team/busybox]" in pushed
    digest = pushed.split("digest: ")[1].split()[0]
    image_id = ok(cli(kd, "image", "inspect", "-f", "{{.Id}}", name)).strip()
    assert ok(cli(kd, "push", name)).count("Layer already exists") == 1
    ok(cli(kd, "rmi", name, "busybox"))
    assert cli(kd, "image", "inspect", image_id).returncode != 0  # gone, layers too
    pulled = ok(cli(kd, "pull", name))
    assert "Pull complete" in pulled and f"Digest: {digest}" in pulled
    assert f"Status: Downloaded newer image for {name}" in pulled
    inspect = json.loads(ok(cli(kd, "image", "inspect", name)))[0]
    assert inspect["Id"] == image_id  # the same config bytes
    assert inspect["RepoDigests"] == [f"{registry.host}/team/busybox@{digest}"]
    assert ok(cli(kd, "run", "--rm", "--network", "none", name, "echo", "ran")) == "ran\n"
    again = ok(cli(kd, "pull", name))
    assert f"Status: Image is up to date for {name}" in again and "Pull complete" not in again
    by_digest = ok(cli(kd, "pull", f"{registry.host}/team/busybox@{digest}"))
    assert "Image is up to date" in by_digest
    # cross-repository: the registry has the blob under team/busybox
    ok(cli(kd, "tag", name, f"{registry.host}/other/copy:1"))
    assert "Mounted from team/busybox" in ok(cli(kd, "push", f"{registry.host}/other/copy:1"))
    ok(cli(kd, "tag", name, "busybox"))


def test_all_tags_and_errors(kd: Ketchd, registry: Registry) -> None:
    repo = f"{registry.host}/many"
    for tag in ("a", "b"):
        ok(cli(kd, "tag", "busybox", f"{repo}:{tag}"))
    pushed = ok(cli(kd, "push", "--all-tags", repo))
    assert "a: digest:" in pushed and "b: digest:" in pushed
    ok(cli(kd, "rmi", f"{repo}:a", f"{repo}:b"))
    pulled = ok(cli(kd, "pull", "--all-tags", repo))
    assert "a: Pulling from many" in pulled and "b: Pulling from many" in pulled
    tags = ok(cli(kd, "images", "--format", "{{.Tag}}", repo)).split()
    assert sorted(tags) == ["a", "b"]
    before = store_state(kd)
    missing = cli(kd, "pull", f"{registry.host}/nothing:here")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        f"Error response from daemon: manifest for {registry.host}/nothing:here not found: "
        "manifest unknown: manifest unknown")
    refused = cli(kd, "pull", "127.0.0.1:1/x")
    assert refused.returncode == 1 and "connection refused" in refused.stderr
    assert store_state(kd) == before


def test_basic_auth_and_login(kd: Ketchd, basic: Registry, tmp_path: Path) -> None:
    name = f"{basic.host}/private/app:1"
    ok(cli(kd, "tag", "busybox", name))
    denied = cli(kd, "push", name, config=tmp_path)
    assert denied.returncode == 1 and "no basic auth credentials" in denied.stderr
    def login(password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "login", "-u", "alice", "--password-stdin",
                               basic.host], input=password, capture_output=True, text=True,
                              timeout=60, env={**kd.env(), "DOCKER_CONFIG": str(tmp_path)})

    wrong = login("not-it")
    assert wrong.returncode == 1 and "unauthorized" in wrong.stderr.lower(), wrong.stderr
    assert not (tmp_path / "config.json").exists()
    good = login("wonderland")
    assert good.returncode == 0 and "Login Succeeded" in good.stdout, good.stderr
    assert basic.host in json.loads((tmp_path / "config.json").read_text())["auths"]
    ok(cli(kd, "push", name, config=tmp_path))
    ok(cli(kd, "rmi", name))
    assert cli(kd, "pull", name).returncode == 1  # no credentials: refused
    assert "Downloaded newer image" in ok(cli(kd, "pull", name, config=tmp_path))
    # docker-py: X-Registry-Auth built from auth_config
    client = docker.APIClient(base_url=kd.host, version="1.41")
    try:
        client.remove_image(name)
        lines = list(client.pull(f"{basic.host}/private/app", tag="1", stream=True,
                                 decode=True, auth_config={"username": "alice",
                                                           "password": "wonderland"}))
        assert any(line.get("status", "").startswith("Digest:") for line in lines)
        answer = client.login("alice", "wonderland", registry=basic.host, reauth=True)
        assert answer["Status"] == "Login Succeeded"
        with pytest.raises(docker.errors.APIError) as bad:
            client.login("alice", "nope", registry=basic.host, reauth=True)
        assert bad.value.status_code == 401
    finally:
        client.close()


def test_bearer_tokens(kd: Ketchd, tmp_path: Path) -> None:
    tokens = TokenServer(tmp_path, users=USERS)
    try:
        with running_registry(tmp_path / "reg", token=tokens.registry_config) as reg:
            name = f"{reg.host}/tokens/app:1"
            ok(cli(kd, "tag", "busybox", name))
            auth = {"username": "alice", "password": "wonderland"}
            client = docker.APIClient(base_url=kd.host, version="1.41")
            try:
                out = list(client.push(name, stream=True, decode=True, auth_config=auth))
                assert not [line for line in out if "error" in line], out
                scopes = [s for r in tokens.requests for s in r["scope"]]
                assert "repository:tokens/app:pull,push" in scopes
                assert all(r["auth"].startswith("Basic ") for r in tokens.requests)
                client.remove_image(name)
                out = list(client.pull(f"{reg.host}/tokens/app", tag="1", stream=True,
                                       decode=True, auth_config=auth))
                assert any("Downloaded newer image" in line.get("status", "") for line in out)
                tokens.fail = True
                client.remove_image(name)
                before = store_state(kd)
                with pytest.raises(docker.errors.APIError) as failed:
                    list(client.pull(f"{reg.host}/tokens/app", tag="1", stream=True,
                                     decode=True, auth_config=auth))
                assert "failed to fetch token" in str(failed.value)
                assert store_state(kd) == before
            finally:
                client.close()
    finally:
        tokens.stop()


def test_round_trips_with_docker(kd: Ketchd, registry: Registry,
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_dockerd(tmp_path_factory.mktemp("dockerd")) as dockerd:
        dockerd.import_busybox()
        theirs = f"{registry.host}/from/docker:1"
        assert dockerd("tag", "busybox", theirs).returncode == 0
        assert dockerd("push", theirs).returncode == 0
        ok(cli(kd, "pull", theirs))
        assert ok(cli(kd, "run", "--rm", "--network", "none", theirs, "echo", "hi")) == "hi\n"
        ours = f"{registry.host}/from/ketch:1"
        ok(cli(kd, "tag", "busybox", ours))
        ok(cli(kd, "push", ours))
        pulled = dockerd("pull", ours)
        assert pulled.returncode == 0, pulled.stderr
        run = dockerd("run", "--rm", "--network", "none", ours, "echo", "there")
        assert run.stdout == "there\n", run.stderr
        ours_id = ok(cli(kd, "image", "inspect", "-f", "{{.Id}}", ours)).strip()
        assert dockerd("image", "inspect", "-f", "{{.Id}}", ours).stdout.strip() == ours_id


@pytest.fixture
def fake() -> Iterator[tuple[FakeRegistry, FakeRegistry]]:
    files = {"busybox": Path("/bin/busybox").read_bytes()}  # busybox-static: runs alone
    elsewhere = FakeRegistry(files)
    main = FakeRegistry(files, redirect_to=f"http://{elsewhere.host}", password="pw")
    yield main, elsewhere
    main.stop()
    elsewhere.stop()


def _pull(kd: Ketchd, ref: str) -> tuple[bool, str]:
    client = docker.APIClient(base_url=kd.host, version="1.41", timeout=60)
    try:
        name, _, tag = ref.rpartition(":")
        lines = list(client.pull(name, tag=tag, stream=True, decode=True,
                                 auth_config={"username": "u", "password": "pw"}))
        errors = [str(line["error"]) for line in lines if "error" in line]
        return not errors, " ".join(errors)
    except docker.errors.APIError as e:
        return False, str(e)
    finally:
        client.close()


def test_hostile_registries(kd: Ketchd, fake: tuple[FakeRegistry, FakeRegistry]) -> None:
    main, elsewhere = fake
    before = store_state(kd)
    for name, message in (("badblob", "filesystem layer verification failed"),
                          ("bigmanifest", "manifest too large"),
                          ("malformed", "invalid manifest"),
                          ("hang", "failed to download")):
        done, error = _pull(kd, f"{main.host}/{name}:1")
        assert not done and message in error, (name, error)
        assert store_state(kd) == before, name
    # a manifest fetched by digest must hash to it
    client = docker.APIClient(base_url=kd.host, version="1.41", timeout=60)
    try:
        manifest_digest = "sha256:" + hashlib.sha256(main.manifest).hexdigest()
        with pytest.raises(docker.errors.APIError, match="manifest verification failed"):
            list(client.pull(f"{main.host}/baddigest@{manifest_digest}", stream=True,
                             decode=True, auth_config={"username": "u", "password": "pw"}))
        # ... and a manifest by tag is checked as parsed (nothing fetched on its word)
    finally:
        client.close()
    assert store_state(kd) == before
    # a blob redirected to another host: followed, without the credentials
    done, error = _pull(kd, f"{main.host}/redirect:1")
    assert done, error
    sent = [s for s in elsewhere.seen if "/blobs/" in s["path"]]
    assert sent and not any(s["auth"] for s in sent)
    assert ok(cli(kd, "run", "--rm", "--network", "none", f"{main.host}/redirect:1",
                  "/busybox", "echo", "hello")) == "hello\n"
    # a blob cut short: resumed where it stopped (the same image again, its layer gone)
    ok(cli(kd, "rmi", f"{main.host}/redirect:1"))
    done, error = _pull(kd, f"{main.host}/resume:1")
    assert done, error
    assert any(s["range"].startswith("bytes=") and s["range"] != "bytes=0-"
               for s in main.seen if "/resume/blobs/" in s["path"])


def test_docker_hub_through_a_mirror(registry: Registry, tmp_path: Path) -> None:
    """registry-mirrors serve Docker Hub's names: `busybox` is asked of the mirror."""
    (tmp_path / "kd").mkdir()
    with running_ketchd(tmp_path / "kd", config={
            "registry-mirrors": [f"http://{registry.host}"]}) as own:
        ok(cli(own, "tag", "busybox", f"{registry.host}/library/busybox:mirrored"))
        ok(cli(own, "push", f"{registry.host}/library/busybox:mirrored"))
        pulled = ok(cli(own, "pull", "busybox:mirrored"))
        assert "mirrored: Pulling from library/busybox" in pulled
        assert "docker.io/library/busybox:mirrored" in pulled
        tags = ok(cli(own, "image", "inspect", "-f", "{{json .RepoTags}}", "busybox:mirrored"))
        assert "busybox:mirrored" in json.loads(tags)


def test_platform_from_an_index_and_chunked_uploads(kd: Ketchd, registry: Registry,
                                                    fake: tuple[FakeRegistry, FakeRegistry],
                                                    tmp_path: Path) -> None:
    main, _ = fake
    done, error = _pull(kd, f"{main.host}/multi:1")  # linux/amd64 chosen from the index
    assert done, error
    assert ok(cli(kd, "run", "--rm", "--network", "none", f"{main.host}/multi:1",
                  "/busybox", "echo", "chosen")) == "chosen\n"
    client = docker.APIClient(base_url=kd.host, version="1.41", timeout=60)
    try:
        lines = list(client.pull(f"{main.host}/multi", tag="1", platform="linux/arm64",
                                 stream=True, decode=True,
                                 auth_config={"username": "u", "password": "pw"}))
        raise AssertionError(lines)
    except docker.errors.APIError as e:
        assert "manifest unknown" in str(e)  # the arm64 entry's manifest is not there
    finally:
        client.close()
    # a layer over the monolithic limit goes up in chunks, and comes back the same
    ctx = tmp_path / "big"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN head -c 12582912 /dev/urandom > /big\n")
    ok(cli(kd, "build", "-q", "-t", f"{registry.host}/big/image:1", str(ctx)))
    pushed = ok(cli(kd, "push", f"{registry.host}/big/image:1"))
    image_id = ok(cli(kd, "image", "inspect", "-f", "{{.Id}}",
                      f"{registry.host}/big/image:1")).strip()
    ok(cli(kd, "rmi", f"{registry.host}/big/image:1"))
    pulled = ok(cli(kd, "pull", f"{registry.host}/big/image:1"))
    assert pushed.split("digest: ")[1].split()[0] in pulled
    assert ok(cli(kd, "image", "inspect", "-f", "{{.Id}}",
                  f"{registry.host}/big/image:1")).strip() == image_id


def test_distribution_inspect(kd: Ketchd, registry: Registry,
                              fake: tuple[FakeRegistry, FakeRegistry]) -> None:
    """`GET /distribution/{name}/json` (docker-py's inspect_distribution): the manifest's
    descriptor and its platforms, from an image's config or from an index's entries."""
    name = f"{registry.host}/dist/busybox:1"
    ok(cli(kd, "tag", "busybox", name))
    digest = ok(cli(kd, "push", name)).split("digest: ")[1].split()[0]
    client = docker.APIClient(base_url=kd.host, version="1.41", timeout=60)
    try:
        found = client.inspect_distribution(name)
        assert found["Descriptor"]["digest"] == digest
        assert found["Descriptor"]["mediaType"] == \
            "application/vnd.docker.distribution.manifest.v2+json"
        assert found["Descriptor"]["size"] > 0
        assert found["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
        assert client.inspect_distribution(f"{registry.host}/dist/busybox@{digest}"
                                           )["Descriptor"]["digest"] == digest
        main, _ = fake
        index = client.inspect_distribution(f"{main.host}/multi:1",
                                            auth_config={"username": "u", "password": "pw"})
        assert {(p["os"], p["architecture"]) for p in index["Platforms"]} >= \
            {("linux", "amd64"), ("linux", "arm64")}
        with pytest.raises(docker.errors.NotFound):
            client.inspect_distribution(f"{registry.host}/dist/busybox:nope")
        with pytest.raises(docker.errors.APIError) as bad:
            client.inspect_distribution("in-valid:tag:x")
        assert bad.value.status_code == 400
    finally:
        client.close()
        ok(cli(kd, "rmi", name))
