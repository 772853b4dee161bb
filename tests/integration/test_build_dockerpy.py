"""docker-py 7 (the reference client) building against a private ketchd: the low-level
`APIClient.build` stream and `images.build`, with what Docker answers — .dockerignore as
docker-py sends it, proxies as build args, --cache-from as the only cache source, the
build's network and extra hosts, stderr's colour codes, gzip contexts, Dockerfiles
inside and outside the context, labels and args on scratch, errors, prune_builds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.utils.proxy import ProxyConfig

from support.daemon import Ketchd, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


@pytest.fixture
def api(kd: Ketchd) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=kd.host, version="1.41")
    yield client
    client.close()


def script(*lines: str) -> io.BytesIO:
    return io.BytesIO("\n".join(lines).encode())


def stream(api: docker.APIClient, **kwargs: Any) -> list[dict[str, Any]]:
    return list(api.build(decode=True, **kwargs))


def output(api: docker.APIClient, image: str, cmd: str) -> bytes:
    container = api.create_container(image, cmd)
    try:
        api.start(container)
        api.wait(container)
        return bytes(api.logs(container))
    finally:
        api.remove_container(container, force=True)


def files(base: Path, tree: dict[str, str]) -> None:
    for name, text in tree.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_dockerignore_as_docker_py_sends_it(api: docker.APIClient, tmp_path: Path) -> None:
    files(tmp_path, {
        "Dockerfile": "FROM busybox\nADD . /test\n",
        ".dockerignore": "ignored\nDockerfile\n.dockerignore\n ignored-spaced \n"
                         "!ignored/sub/kept\n\n#comment\n",
        "not-ignored": "x", "#hash.txt": "x", "ignored-spaced": "x",
        "ignored/sub/dropped": "x", "ignored/sub/kept": "x"})
    last = stream(api, path=str(tmp_path), tag="pyignore")[-1]
    assert last["stream"].startswith("Successfully tagged pyignore")
    found = output(api, "pyignore", "find /test -type f").decode().split()
    # docker-py always sends .dockerignore and the Dockerfile; the daemon drops both,
    # since the context's own .dockerignore names them
    assert sorted(found) == ["/test/#hash.txt", "/test/ignored/sub/kept", "/test/not-ignored"]


def test_proxies_reach_run_steps_but_not_history(api: docker.APIClient) -> None:
    api._proxy_configs = ProxyConfig(ftp="a", http="b", https="c", no_proxy="d")
    try:
        logs = stream(api, fileobj=script(
            "FROM busybox", 'RUN env | grep "^HTTP_PROXY=b$"', 'RUN env | grep "^ftp_proxy=X$"',
            'RUN env | grep "^no_proxy=d$"'), buildargs={"ftp_proxy": "X"}, tag="pyproxy")
    finally:
        api._proxy_configs = ProxyConfig()
    assert not [line for line in logs if "errorDetail" in line], logs
    history = [h["CreatedBy"] for h in api.history("pyproxy")]
    assert any("grep" in h for h in history)
    assert not any(h.startswith("|") for h in history)  # no "|N HTTP_PROXY=b ..." prefix


def test_cache_from_is_the_only_cache_source(api: docker.APIClient) -> None:
    dockerfile = ("FROM busybox", "ENV FOO=bar", "RUN touch baz", "RUN touch bax")
    stream(api, fileobj=script(*dockerfile), tag="cache1")

    def hits(**kwargs: Any) -> int:
        return sum("Using cache" in line.get("stream", "")
                   for line in stream(api, fileobj=script(*dockerfile), **kwargs))

    assert hits(tag="cache2", cache_from=["cache1"]) == 3
    assert hits(tag="cache2", cache_from=["nosuchtag"]) == 0
    assert hits(tag="cache2") == 3


def test_network_mode_and_extra_hosts(api: docker.APIClient) -> None:
    network = api.create_network("pybuildnet")["Id"]
    target = api.create_container("busybox", "sleep 60")
    try:
        api.start(target)
        api.connect_container_to_network(target, network, aliases=["pingtarget.test"])
        ping = script("FROM busybox", "RUN ping -c1 -W2 pingtarget.test")
        assert "errorDetail" not in stream(api, fileobj=ping, network_mode=network,
                                           tag="pynet")[-1]
        ping.seek(0)
        logs = stream(api, fileobj=ping, network_mode="none", nocache=True, tag="pynone")
        assert logs[-1]["errorDetail"]["code"] == 1  # the failed RUN's exit code
        with pytest.raises(docker.errors.ImageNotFound):
            api.inspect_image("pynone")
    finally:
        api.remove_container(target, force=True)
        api.remove_network(network)
    logs = stream(api, fileobj=script("FROM busybox", "RUN ping -c1 -W2 extra.test",
                                      "RUN cp /etc/hosts /hosts-file"),
                  extra_hosts={"extra.test": "127.0.0.1"}, tag="pyhosts")
    assert "errorDetail" not in logs[-1], logs
    assert b"127.0.0.1\textra.test" in output(api, "pyhosts", "cat /hosts-file")


def test_stderr_is_red_and_gzip_contexts_work(api: docker.APIClient, tmp_path: Path) -> None:
    snippet = "to stderr (with brackets)"
    lines = [line.get("stream") for line in stream(api, fileobj=script(
        "FROM busybox", f"RUN sh -c \">&2 echo '{snippet}'\""), nocache=True)]
    assert f"\x1b[91m{snippet}\n\x1b[0m" in lines
    files(tmp_path, {"Dockerfile": "FROM busybox\nADD . /test\n", ".dockerignore": " \n\t\n"})
    last = stream(api, path=str(tmp_path), gzip=True, nocache=True)[-1]
    assert last["stream"].startswith("Successfully built ")


@pytest.mark.parametrize(("where", "listing"), [
    ("outside", [".", "..", "file.txt"]),
    ("nested", [".", "..", "file.txt", "hello"]),
    ("absolute", [".", "..", "custom.dockerfile", "file.txt"]),
])
def test_dockerfile_inside_and_outside_the_context(api: docker.APIClient, tmp_path: Path,
                                                   where: str, listing: list[str]) -> None:
    context = tmp_path / "ctx"
    files(context, {"file.txt": "hello"})
    text = "FROM busybox\nCOPY . /src\nWORKDIR /src\n"
    if where == "outside":
        (context / ".dockerignore").write_text(".dockerignore\n")
        dockerfile = tmp_path / "elsewhere" / "Dockerfile"
    elif where == "nested":
        dockerfile = context / "hello" / "world" / "custom.dockerfile"
    else:
        dockerfile = context / "custom.dockerfile"
    dockerfile.parent.mkdir(parents=True, exist_ok=True)
    dockerfile.write_text(text)
    name = f"pydf-{where}"
    chosen = str(dockerfile) if where != "nested" else "hello/world/custom.dockerfile"
    last = stream(api, path=str(context), dockerfile=chosen, tag=name)[-1]
    assert last["stream"].startswith(f"Successfully tagged {name}")
    assert sorted(output(api, name, "ls -a").decode().split()) == listing


def test_scratch_args_labels_and_images_build(kd: Ketchd, api: docker.APIClient) -> None:
    stream(api, fileobj=script("FROM scratch", "ARG test", "USER $test"), tag="pyargs",
           buildargs={"test": "OK"})
    assert api.inspect_image("pyargs")["Config"]["User"] == "OK"
    stream(api, fileobj=script("FROM scratch"), tag="pylabels", labels={"test": "OK"},
           shmsize=134217728, isolation="default")
    assert api.inspect_image("pylabels")["Config"]["Labels"] == {"test": "OK"}
    client = docker.DockerClient(base_url=kd.host)
    try:
        image, _ = client.images.build(fileobj=script(
            "FROM busybox", 'CMD echo "Successfully built abcd1234"'), tag="pysuccess")
        assert image.tags == ["pysuccess:latest"]
        with pytest.raises(docker.errors.BuildError) as failed:
            client.images.build(fileobj=script("FROM busybox", "RUN exit 7"))
        assert "returned a non-zero code: 7" in str(failed.value)
    finally:
        client.close()
    pruned = api.prune_builds()
    assert isinstance(pruned["SpaceReclaimed"], int)
    with pytest.raises(docker.errors.APIError, match="unknown operating system"):
        stream(api, fileobj=script("FROM busybox"), platform="foobar")
