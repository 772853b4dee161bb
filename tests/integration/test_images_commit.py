"""`commit`: a container's changes as a new image, with Docker's config and history."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import docker as docker_py
import pytest

from support.daemon import Ketchd, api, docker, ok, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def inspect(kd: Ketchd, ref: str) -> dict[str, object]:
    result: list[dict[str, object]] = json.loads(ok(docker(kd, "image", "inspect", ref)))
    return result[0]


def layer_dirs(kd: Ketchd) -> list[str]:
    return sorted(os.listdir(kd.data_root / "image" / "layers"))


def test_commit_with_changes_message_and_author(kd: Ketchd) -> None:
    ok(docker(kd, "run", "--name", "c1", "-e", "A=1", "-w", "/tmp", "busybox", "sh", "-c",
              "mkdir /x && echo hi > /x/y && rm /etc/passwd"))
    out = ok(docker(kd, "commit", "-m", "a message", "-a", "Ann <ann@example.com>",
                    "-c", "ENV B=2", "-c", 'CMD ["cat", "/x/y"]', "c1", "made:1"))
    assert out.startswith("sha256:")
    image = inspect(kd, "made:1")
    config = image["Config"]
    assert isinstance(config, dict)
    assert config["Env"] == ["A=1", "B=2"] and config["Cmd"] == ["cat", "/x/y"]
    assert config["WorkingDir"] == "/tmp"
    assert image["Comment"] == "a message" and image["Author"] == "Ann <ann@example.com>"
    assert image["Container"] == ok(docker(kd, "inspect", "-f", "{{.Id}}", "c1")).strip()
    base = inspect(kd, "busybox")
    assert len(image["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1  # type: ignore[index]
    history = ok(docker(kd, "history", "--no-trunc", "--format",
                        "{{.CreatedBy}}|{{.Comment}}", "made:1")).splitlines()
    assert history[0] == "sh -c mkdir /x && echo hi > /x/y && rm /etc/passwd|a message"
    assert ok(docker(kd, "run", "--rm", "made:1")) == "hi\n"
    gone = docker(kd, "run", "--rm", "made:1", "ls", "/etc/passwd")
    assert gone.returncode == 1 and "No such file" in gone.stdout + gone.stderr


def test_commit_without_changes_adds_no_layer(kd: Ketchd) -> None:
    ok(docker(kd, "create", "--name", "c2", "busybox", "true"))
    before = layer_dirs(kd)
    image_id = ok(docker(kd, "commit", "c2")).strip()
    image = inspect(kd, image_id)
    assert image["RepoTags"] == []
    assert image["RootFS"] == inspect(kd, "busybox")["RootFS"]
    assert layer_dirs(kd) == before
    ok(docker(kd, "rmi", image_id))


def test_commit_of_a_running_container_keeps_it_running(kd: Ketchd) -> None:
    # each count is written aside and renamed into place: a commit that does not pause
    # (or a freeze between the shell's truncate and write) must not see a half-written file
    ok(docker(kd, "run", "-d", "--name", "c3", "busybox", "sh", "-c",
              "i=0; while true; do i=$((i+1)); echo $i > /next; mv /next /count; sleep 0.05;"
              " done"))
    time.sleep(0.3)
    ok(docker(kd, "commit", "c3", "running:1"))
    assert int(ok(docker(kd, "run", "--rm", "running:1", "cat", "/count"))) > 0
    assert ok(docker(kd, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "c3")) \
        .strip() == "running false"
    ok(docker(kd, "commit", "--pause=false", "c3", "running:2"))
    # thawed: it still counts
    first = ok(docker(kd, "run", "--rm", "running:2", "cat", "/count"))
    time.sleep(0.3)
    ok(docker(kd, "commit", "c3", "running:3"))
    assert int(ok(docker(kd, "run", "--rm", "running:3", "cat", "/count"))) > int(first)
    ok(docker(kd, "rm", "-f", "c3"))


def test_docker_py_commit_with_a_config(kd: Ketchd) -> None:
    ok(docker(kd, "run", "--name", "c4", "-e", "A=1", "--label", "l=1", "busybox", "true"))
    client = docker_py.DockerClient(base_url=kd.host)
    image = client.containers.get("c4").commit("py", "x", conf={"Cmd": ["true"]})
    assert image.attrs["Config"]["Cmd"] == ["true"]
    assert image.attrs["Config"]["Env"] == ["A=1"]  # merged from the container
    assert image.attrs["Config"]["Labels"] == {"l": "1"}
    assert image.tags == ["py:x"]
    client.close()


def test_bad_commits_fail_cleanly(kd: Ketchd, tmp_path: Path) -> None:
    before = (layer_dirs(kd), ok(docker(kd, "images", "-aq")))
    missing = docker(kd, "commit", "nope")
    assert missing.returncode == 1 and "No such container: nope" in missing.stderr
    ok(docker(kd, "run", "--name", "c5", "busybox", "sh", "-c", "echo x > /f"))
    bad = docker(kd, "commit", "-c", "FROBNICATE x", "c5")
    assert bad.returncode == 1 and "FROBNICATE" in bad.stderr.upper()
    status, body = api(kd, "POST", "/commit?container=c5", b"{not json")
    assert status == 400 and b"invalid JSON" in body
    status, body = api(kd, "POST", "/commit?container=c5&repo=UPPER", b"")
    assert status == 400
    assert (layer_dirs(kd), ok(docker(kd, "images", "-aq"))) == before
