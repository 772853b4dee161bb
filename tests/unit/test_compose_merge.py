"""Merging compose files and `extends`, by the compose specification's rules, checked on
the raw merge and on the loaded project."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ketch.compose import ProjectOptions, load_project
from ketch.compose.merge import merge_models, merge_service
from ketch.compose.model import Project
from ketch.compose.yamlload import RESET, Override


def project(tmp_path: Path, texts: dict[str, str], **options: Any) -> Project:
    for name, text in texts.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    names = [name for name in texts if name.endswith((".yml", ".yaml"))
             and not name.startswith("common/")]
    options.setdefault("files", names)
    options.setdefault("environ", {"HOME": "/home/me"})
    return load_project(ProjectOptions(cwd=str(tmp_path), **options))


def test_mappings_merge_scalars_replace() -> None:
    base = {"image": "a", "user": "root", "deploy": {"mode": "replicated", "replicas": 2}}
    other = {"image": "b", "deploy": {"replicas": 3}}
    assert merge_service(base, other) == {
        "image": "b", "user": "root", "deploy": {"mode": "replicated", "replicas": 3}}


def test_command_entrypoint_and_healthcheck_test_are_replaced() -> None:
    base = {"command": ["echo", "foo"], "entrypoint": ["sh", "-c"],
            "healthcheck": {"test": ["CMD", "a"], "interval": "10s"}}
    other = {"command": ["echo", "bar"], "entrypoint": "bash",
             "healthcheck": {"test": ["CMD", "b"]}}
    assert merge_service(base, other) == {
        "command": ["echo", "bar"], "entrypoint": "bash",
        "healthcheck": {"test": ["CMD", "b"], "interval": "10s"}}


def test_environment_labels_and_sysctls_merge_by_key_in_either_syntax() -> None:
    base = {"environment": ["A=1", "B=2", "BARE"], "labels": {"x": "1"},
            "sysctls": ["net.core.somaxconn=1024"]}
    other = {"environment": {"B": 3, "C": None}, "labels": ["y=2", "x=9"],
             "sysctls": {"net.ipv4.tcp_syncookies": 0}}
    assert merge_service(base, other) == {
        "environment": {"A": "1", "B": 3, "BARE": None, "C": None},
        "labels": {"x": "9", "y": "2"},
        "sysctls": {"net.core.somaxconn": "1024", "net.ipv4.tcp_syncookies": 0}}


def test_ports_merge_by_ip_target_published_protocol() -> None:
    merged = merge_service({"ports": ["8080:80", "9090:90", "3000-3001"]},
                           {"ports": ["8080:80/udp", {"target": 90, "published": "9090",
                                                      "protocol": "tcp", "name": "new"},
                                      3001]})
    assert merged["ports"] == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
        {"target": 90, "published": "9090", "protocol": "tcp", "name": "new"},
        {"mode": "ingress", "target": 3000, "protocol": "tcp"},
        {"mode": "ingress", "target": 3001, "protocol": "tcp"},
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "udp"}]


def test_volumes_secrets_configs_merge_by_target() -> None:
    merged = merge_service(
        {"volumes": ["foo:/work", "./a:/a"], "secrets": ["s1", {"source": "s2", "target": "x"}],
         "configs": ["c1"]},
        {"volumes": ["bar:/work", {"type": "tmpfs", "target": "/t"}],
         "secrets": [{"source": "s3", "target": "/run/secrets/s1"}, "s2"],
         "configs": [{"source": "c2", "target": "/c1"}]})
    assert merged["volumes"] == ["bar:/work", "./a:/a", {"type": "tmpfs", "target": "/t"}]
    assert merged["secrets"] == [{"source": "s3", "target": "/run/secrets/s1"},
                                 {"source": "s2", "target": "x"}, "s2"]
    assert merged["configs"] == [{"source": "c2", "target": "/c1"}]


def test_sequences_append_without_duplicates() -> None:
    merged = merge_service({"dns": "1.1.1.1", "cap_add": ["NET_ADMIN"], "profiles": ["a"]},
                           {"dns": ["8.8.8.8", "1.1.1.1"], "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
                            "profiles": ["b"]})
    assert merged == {"dns": ["1.1.1.1", "8.8.8.8"], "cap_add": ["NET_ADMIN", "SYS_ADMIN"],
                      "profiles": ["a", "b"]}


def test_depends_on_and_networks_merge_as_mappings() -> None:
    merged = merge_service(
        {"depends_on": ["db", "cache"], "networks": ["front"]},
        {"depends_on": {"db": {"condition": "service_healthy"}},
         "networks": {"front": {"aliases": ["web"]}, "back": None}})
    assert merged == {"depends_on": {"db": {"condition": "service_healthy"}, "cache": None},
                      "networks": {"front": {"aliases": ["web"]}, "back": None}}


def test_logging_merges_only_for_the_same_driver() -> None:
    base = {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}}
    assert merge_service(base, {"logging": {"options": {"max-file": "3"}}}) == {
        "logging": {"driver": "json-file", "options": {"max-size": "1m", "max-file": "3"}}}
    assert merge_service(base, {"logging": {"driver": "syslog"}}) == {
        "logging": {"driver": "syslog"}}


def test_ulimits_entries_replaced_whole_and_build_string_merges() -> None:
    merged = merge_service(
        {"ulimits": {"nofile": {"soft": 1, "hard": 2}, "nproc": 5},
         "build": "./app"},
        {"ulimits": {"nofile": 10}, "build": {"args": ["A=1"], "target": "prod"}})
    assert merged == {"ulimits": {"nofile": 10, "nproc": 5},
                      "build": {"context": "./app", "args": ["A=1"], "target": "prod"}}


def test_reset_and_override() -> None:
    base = {"services": {"app": {"image": "myapp", "ports": ["8080:80"],
                                 "environment": {"FOO": "BAR", "KEEP": "1"}}}}
    other = {"services": {"app": {"ports": RESET, "environment": {"FOO": RESET}}}}
    assert merge_models(base, other) == {
        "services": {"app": {"image": "myapp", "environment": {"KEEP": "1"}}}}
    other = {"services": {"app": {"ports": Override(["8443:443"])}}}
    assert merge_models(base, other)["services"]["app"]["ports"] == ["8443:443"]


def test_top_level_resources_merge() -> None:
    merged = merge_models({"volumes": {"data": {"driver": "local"}, "keep": None},
                           "networks": {"front": None}, "name": "one"},
                          {"volumes": {"data": None, "new": {}},
                           "networks": {"front": {"driver": "bridge"}}, "name": "two"})
    assert merged == {"volumes": {"data": {"driver": "local"}, "keep": None, "new": {}},
                      "networks": {"front": {"driver": "bridge"}}, "name": "two"}


def test_override_files_on_a_project(tmp_path: Path) -> None:
    loaded = project(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: web:1\n    command: echo a\n"
                        "    environment: [A=1, B=2]\n    ports: ['8080:80']\n",
        "compose.override.yaml": "services:\n  web:\n    command: [echo, b]\n"
                                 "    environment: {B: '3'}\n    ports: ['8080:80/udp']\n",
    }, files=[])
    web = loaded.services["web"]
    assert web["command"] == ["echo", "b"]
    assert web["environment"] == {"A": "1", "B": "3"}
    assert [(p["published"], p["protocol"]) for p in web["ports"]] == \
        [("8080", "tcp"), ("8080", "udp")]
    assert loaded.config_files == [str(tmp_path / "compose.yaml"),
                                   str(tmp_path / "compose.override.yaml")]


def test_later_file_paths_are_relative_to_the_project_directory(tmp_path: Path) -> None:
    loaded = project(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: x\n",
        "sub/extra.yml": "services:\n  web:\n    build: ./app\n    volumes: ['./data:/data']\n",
    }, files=["compose.yaml", "sub/extra.yml"])
    web = loaded.services["web"]
    assert web["build"]["context"] == str(tmp_path / "app")
    assert web["volumes"][0]["source"] == str(tmp_path / "data")


def test_extends_in_the_same_file_and_chained(tmp_path: Path) -> None:
    loaded = project(tmp_path, {"compose.yaml": """
services:
  base:
    image: busybox
    user: root
    environment: {TZ: utc, PORT: 80}
    security_opt: [label:role:ROLE]
  common:
    extends: base
    image: busybox:1
  cli:
    extends:
      service: common
    environment: [PORT=8080]
    security_opt: [label:user:USER]
"""})
    cli = loaded.services["cli"]
    assert cli["image"] == "busybox:1"
    assert cli["user"] == "root"
    assert cli["environment"] == {"TZ": "utc", "PORT": "8080"}
    assert cli["security_opt"] == ["label:role:ROLE", "label:user:USER"]
    assert "extends" not in cli


def test_extends_another_file_rebases_its_paths(tmp_path: Path) -> None:
    loaded = project(tmp_path, {
        "common/base.yml": """
services:
  webapp:
    build: ./web
    env_file: ./web.env
    volumes: ["./data:/data", "cache:/cache"]
    extends: root
  root:
    image: busybox
""",
        "common/web.env": "FROM_FILE=1\n",
        "compose.yaml": """
services:
  web:
    extends: {file: common/base.yml, service: webapp}
    volumes: ["./mine:/data"]
volumes:
  cache:
""",
    })
    web = loaded.services["web"]
    common = tmp_path / "common"
    assert web["build"] == {"context": str(common / "web"), "dockerfile": "Dockerfile"}
    assert web["env_file"] == [{"path": str(common / "web.env"), "required": True}]
    assert web["environment"] == {"FROM_FILE": "1"}
    assert web["image"] == "busybox"
    assert [v.get("source") for v in web["volumes"]] == [str(tmp_path / "mine"), "cache"]


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  a: {extends: b, image: x}\n  b: {extends: a}\n",
     "services.a.extends: circular reference: a -> b -> a"),
    ("services:\n  a: {extends: a, image: x}\n",
     "services.a.extends: circular reference: a -> a"),
    ("services:\n  a: {extends: nope, image: x}\n",
     'services.a.extends: cannot extend service "nope": no such service in {dir}/compose.yaml'),
    ("services:\n  a: {extends: {file: missing.yml, service: b}, image: x}\n",
     "open {dir}/missing.yml: no such file or directory"),
])
def test_extends_errors(tmp_path: Path, text: str, message: str) -> None:
    from ketch.compose.errors import ComposeError

    with pytest.raises(ComposeError) as info:
        project(tmp_path, {"compose.yaml": text})
    assert str(info.value) == message.format(dir=os.fspath(tmp_path))


def test_reset_and_override_tags_in_an_override_file(tmp_path: Path) -> None:
    loaded = project(tmp_path, {
        "compose.yaml": "services:\n  app:\n    image: myapp\n    ports: ['8080:80']\n"
                        "    environment: {FOO: BAR, KEEP: '1'}\n    dns: [1.1.1.1]\n",
        "compose.override.yaml": "services:\n  app:\n    ports: !reset []\n"
                                 "    environment:\n      FOO: !reset null\n"
                                 "    dns: !override [8.8.8.8]\n",
    }, files=[])
    app = loaded.services["app"]
    assert "ports" not in app
    assert app["environment"] == {"KEEP": "1"}
    assert app["dns"] == ["8.8.8.8"]


def test_three_files_merge_in_order(tmp_path: Path) -> None:
    loaded = project(tmp_path, {
        "a.yml": "services:\n  s:\n    image: a\n    labels: [x=a]\n",
        "b.yml": "services:\n  s:\n    image: b\n    labels: {y: b}\n",
        "c.yml": "services:\n  s:\n    labels: [x=c]\n",
    }, files=["a.yml", "b.yml", "c.yml"])
    assert loaded.services["s"]["image"] == "b"
    assert loaded.services["s"]["labels"] == {"x": "c", "y": "b"}
