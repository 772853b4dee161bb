"""Normalisation: every short syntax to the long one, values to their types, defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ketch.compose import ProjectOptions, load_project
from ketch.compose.model import Project


def load(tmp_path: Path, model: dict[str, Any], environ: dict[str, str] | None = None,
         extra: dict[str, str] | None = None) -> Project:
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(model))
    for name, text in (extra or {}).items():
        (tmp_path / name).write_text(text)
    return load_project(ProjectOptions(cwd=str(tmp_path), project_name="proj",
                                       environ=environ or {"HOME": "/home/me"}))


def service(tmp_path: Path, definition: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"services": {"web": {"image": "x", **definition}}}
    model.update(kwargs.pop("top", {}))
    return load(tmp_path, model, **kwargs).services["web"]


def test_environment_list_and_map_and_bare_keys(tmp_path: Path) -> None:
    env = {"HOME": "/h", "FROM_SHELL": "shell"}
    assert service(tmp_path, {"environment": ["A=1", "B=", "C=x=y", "FROM_SHELL", "UNSET"]},
                   environ=env)["environment"] == \
        {"A": "1", "B": "", "C": "x=y", "FROM_SHELL": "shell", "UNSET": None}
    assert service(tmp_path, {"environment": {"A": 1, "B": True, "C": 1.5, "D": None,
                                              "FROM_SHELL": None}}, environ=env)["environment"] \
        == {"A": "1", "B": "true", "C": "1.5", "D": None, "FROM_SHELL": "shell"}


def test_env_file_forms_and_precedence(tmp_path: Path) -> None:
    extra = {"a.env": "A=a\nB=a\nREF=${A}-${SHELLVAR}\n", "b.env": "B=b\n"}
    web = service(tmp_path, {"env_file": ["a.env", {"path": "b.env", "required": True},
                                          {"path": "missing.env", "required": False}],
                             "environment": {"B": "env"}},
                  environ={"SHELLVAR": "s"}, extra=extra)
    assert web["env_file"] == [{"path": str(tmp_path / "a.env"), "required": True},
                               {"path": str(tmp_path / "b.env"), "required": True},
                               {"path": str(tmp_path / "missing.env"), "required": False}]
    assert web["environment"] == {"A": "a", "B": "env", "REF": "a-s"}
    assert service(tmp_path, {"env_file": "b.env"}, extra=extra)["environment"] == {"B": "b"}


def test_depends_on_forms(tmp_path: Path) -> None:
    top = {"services": {"db": {"image": "d"}, "cache": {"image": "c"}}}

    def deps(value: Any) -> Any:
        model = {"services": {**top["services"], "web": {"image": "x", "depends_on": value}}}
        return load(tmp_path, model).services["web"]["depends_on"]

    assert deps(["db", "cache"]) == {
        "db": {"condition": "service_started", "required": True},
        "cache": {"condition": "service_started", "required": True}}
    assert deps({"db": {"condition": "service_healthy", "restart": "true"},
                 "cache": {"condition": "service_completed_successfully", "required": False}}) \
        == {"db": {"condition": "service_healthy", "restart": True, "required": True},
            "cache": {"condition": "service_completed_successfully", "required": False}}


def test_links_volumes_from_and_namespaces_add_dependencies(tmp_path: Path) -> None:
    model = {"services": {"db": {"image": "d"}, "vpn": {"image": "v"},
                          "web": {"image": "x", "links": ["db:database"], "volumes_from":
                                  ["db:ro", "container:other"], "network_mode": "service:vpn"}}}
    assert load(tmp_path, model).services["web"]["depends_on"] == {
        "db": {"condition": "service_started", "required": True},
        "vpn": {"condition": "service_started", "required": True}}


def test_build_forms(tmp_path: Path) -> None:
    assert service(tmp_path, {"build": "./app"})["build"] == \
        {"context": str(tmp_path / "app"), "dockerfile": "Dockerfile"}
    build = service(tmp_path, {"build": {
        "context": ".", "dockerfile": "Dockerfile.dev", "args": ["V=1", "FROM_ENV", "NOPE"],
        "labels": ["l=1"], "target": "prod", "cache_from": ["a"], "no_cache": "true",
        "shm_size": "64m", "additional_contexts": {"extra": "../other",
                                                   "img": "docker-image://alpine"}}},
        environ={"FROM_ENV": "e"})["build"]
    assert build == {"context": str(tmp_path), "dockerfile": "Dockerfile.dev",
                     "args": {"V": "1", "FROM_ENV": "e", "NOPE": None}, "labels": {"l": "1"},
                     "target": "prod", "cache_from": ["a"], "no_cache": True,
                     "shm_size": 64 * 2**20,
                     "additional_contexts": {"extra": str(tmp_path.parent / "other"),
                                             "img": "docker-image://alpine"}}
    assert service(tmp_path, {"build": "https://github.com/x/y.git#main"})["build"]["context"] \
        == "https://github.com/x/y.git#main"
    inline = service(tmp_path, {"build": {"dockerfile_inline": "FROM x"}})["build"]
    assert inline == {"context": str(tmp_path), "dockerfile_inline": "FROM x"}


def test_commands_are_split_like_a_shell(tmp_path: Path) -> None:
    web = service(tmp_path, {"command": "sh -c 'echo \"hi there\"' $$HOME",
                             "entrypoint": ["/bin/x", "1"]})
    assert web["command"] == ["sh", "-c", 'echo "hi there"', "$HOME"]
    assert web["entrypoint"] == ["/bin/x", "1"]
    assert service(tmp_path, {"command": ""})["command"] == []
    assert "command" not in service(tmp_path, {"command": None})


def test_networks_list_map_and_implicit_default(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"services": {
        "a": {"image": "x"},
        "b": {"image": "x", "networks": ["front", "back"]},
        "c": {"image": "x", "networks": {"front": {"aliases": ["c1"], "ipv4_address":
                                                   "172.20.0.5", "priority": 10},
                                         "back": None}},
        "d": {"image": "x", "network_mode": "host"}},
        "networks": {"front": None, "back": {"driver": "bridge", "internal": "true",
                                             "driver_opts": {"mtu": 1400}}}})
    assert loaded.services["a"]["networks"] == {"default": None}
    assert loaded.services["b"]["networks"] == {"front": None, "back": None}
    assert loaded.services["c"]["networks"] == {
        "front": {"aliases": ["c1"], "ipv4_address": "172.20.0.5", "priority": 10},
        "back": None}
    assert "networks" not in loaded.services["d"]
    assert loaded.networks == {
        "front": {"name": "proj_front"},
        "back": {"name": "proj_back", "driver": "bridge", "internal": True,
                 "driver_opts": {"mtu": "1400"}},
        "default": {"name": "proj_default"}}


def test_no_default_network_when_unused(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"services": {"a": {"image": "x", "network_mode": "none"}}})
    assert loaded.networks == {}


def test_top_level_volumes_networks_external_and_names(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"services": {"a": {"image": "x"}},
                             "volumes": {"data": None, "named": {"name": "exact"},
                                         "ext": {"external": True},
                                         "old": {"external": {"name": "legacy"}},
                                         "opts": {"driver": "local", "labels": ["k=v"],
                                                  "driver_opts": {"type": "tmpfs", "o": 1}}},
                             "networks": {"default": {"name": "custom"},
                                          "outside": {"external": True, "name": "real"},
                                          "ipam": {"ipam": {"driver": "default", "config": [
                                              {"subnet": "172.28.0.0/16"}]}}}})
    assert loaded.volumes == {
        "data": {"name": "proj_data"}, "named": {"name": "exact"},
        "ext": {"name": "ext", "external": True}, "old": {"name": "legacy", "external": True},
        "opts": {"name": "proj_opts", "driver": "local", "labels": {"k": "v"},
                 "driver_opts": {"type": "tmpfs", "o": "1"}}}
    assert loaded.networks["default"] == {"name": "custom"}
    assert loaded.networks["outside"] == {"name": "real", "external": True}
    assert loaded.networks["ipam"]["ipam"] == {"driver": "default",
                                               "config": [{"subnet": "172.28.0.0/16"}]}


def test_secrets_and_configs(tmp_path: Path) -> None:
    loaded = load(tmp_path, {
        "services": {"web": {"image": "x", "secrets": ["token", {"source": "cert",
                                                                 "target": "server.crt",
                                                                 "mode": 0o440, "uid": "103"}],
                             "configs": ["conf", {"source": "conf", "target": "/etc/c",
                                                  "mode": "0644"}]}},
        "secrets": {"token": {"file": "./token.txt"}, "cert": {"external": True}},
        "configs": {"conf": {"file": "conf.ini"}}})
    web = loaded.services["web"]
    assert web["secrets"] == [
        {"source": "token", "target": "/run/secrets/token"},
        {"source": "cert", "target": "/run/secrets/server.crt", "uid": "103", "mode": 0o440}]
    assert web["configs"] == [{"source": "conf", "target": "/conf"},
                              {"source": "conf", "target": "/etc/c", "mode": 0o644}]
    assert loaded.secrets == {"token": {"name": "proj_token", "file": str(tmp_path / "token.txt")},
                              "cert": {"name": "cert", "external": True}}
    assert loaded.configs == {"conf": {"name": "proj_conf", "file": str(tmp_path / "conf.ini")}}


def test_durations_and_sizes(tmp_path: Path) -> None:
    web = service(tmp_path, {
        "stop_grace_period": "90s", "mem_limit": "512m", "mem_reservation": 1024,
        "memswap_limit": "-1", "shm_size": "1gb", "cpus": "0.5", "cpu_shares": "512",
        "cpu_rt_runtime": "400ms", "cpu_period": 100000, "pids_limit": "100",
        "healthcheck": {"test": "curl -f http://localhost", "interval": "1m30s",
                        "timeout": "10s", "retries": "3", "start_period": "40s"}})
    assert web["stop_grace_period"] == "1m30s"
    assert (web["mem_limit"], web["mem_reservation"], web["memswap_limit"], web["shm_size"]) \
        == (512 * 2**20, 1024, -1, 2**30)
    assert (web["cpus"], web["cpu_shares"], web["cpu_rt_runtime"], web["cpu_period"],
            web["pids_limit"]) == (0.5, 512, 400000, 100000, 100)
    assert web["healthcheck"] == {"test": ["CMD-SHELL", "curl -f http://localhost"],
                                  "interval": "1m30s", "timeout": "10s", "retries": 3,
                                  "start_period": "40s"}
    assert service(tmp_path, {"healthcheck": {"disable": True}})["healthcheck"] == \
        {"disable": True}
    assert service(tmp_path, {"cpus": 2})["cpus"] == 2


def test_deploy_resources_replicas_and_scale(tmp_path: Path) -> None:
    web = service(tmp_path, {"deploy": {"replicas": "3", "resources": {
        "limits": {"cpus": "0.50", "memory": "50M", "pids": 1},
        "reservations": {"cpus": 0.25, "memory": "20M"}},
        "restart_policy": {"condition": "on-failure", "delay": "5s", "max_attempts": "3"},
        "labels": {"a": "b"}}, "scale": 3, "mem_limit": "50m"})
    assert web["deploy"] == {"replicas": 3, "resources": {
        "limits": {"cpus": 0.5, "memory": 50 * 2**20, "pids": 1},
        "reservations": {"cpus": 0.25, "memory": 20 * 2**20}},
        "restart_policy": {"condition": "on-failure", "delay": "5s", "max_attempts": 3},
        "labels": {"a": "b"}}
    assert web["scale"] == 3


def test_labels_sysctls_ulimits_logging_hosts_devices(tmp_path: Path) -> None:
    web = service(tmp_path, {
        "labels": ["a=1", "empty"], "annotations": {"k": 1},
        "sysctls": ["net.core.somaxconn=1024"], "ulimits": {"nproc": 65535, "nofile":
                                                            {"soft": "20000", "hard": 40000}},
        "logging": {"driver": "json-file", "options": {"max-size": "1m", "max-file": 3}},
        "extra_hosts": ["somehost:162.242.195.82", "v6=[::1]", "other=1.2.3.4"],
        "devices": ["/dev/ttyUSB0", "/dev/sda:/dev/xvda:rwm", "/dev/a:/dev/b",
                    {"source": "/dev/c"}],
        "dns": "8.8.8.8", "tmpfs": "/run", "expose": [3000, "8000-8010/udp"],
        "cap_add": ["ALL"], "group_add": [1000, "mail"],
        "tty": "yes", "stdin_open": True, "init": "false", "privileged": "1"})
    assert web["labels"] == {"a": "1", "empty": ""}
    assert web["annotations"] == {"k": "1"}
    assert web["sysctls"] == {"net.core.somaxconn": "1024"}
    assert web["ulimits"] == {"nproc": 65535, "nofile": {"soft": 20000, "hard": 40000}}
    assert web["logging"] == {"driver": "json-file",
                              "options": {"max-size": "1m", "max-file": "3"}}
    assert web["extra_hosts"] == ["somehost=162.242.195.82", "v6=::1", "other=1.2.3.4"]
    assert web["devices"] == [
        {"source": "/dev/ttyUSB0", "target": "/dev/ttyUSB0", "permissions": "rwm"},
        {"source": "/dev/sda", "target": "/dev/xvda", "permissions": "rwm"},
        {"source": "/dev/a", "target": "/dev/b", "permissions": "rwm"},
        {"source": "/dev/c", "target": "/dev/c", "permissions": "rwm"}]
    assert (web["dns"], web["tmpfs"], web["expose"], web["group_add"]) == \
        (["8.8.8.8"], ["/run"], ["3000", "8000-8010/udp"], ["1000", "mail"])
    assert (web["tty"], web["stdin_open"], web["init"], web["privileged"]) == \
        (True, True, False, True)
    assert service(tmp_path, {"extra_hosts": {"h": ["1.1.1.1", "::1"]}})["extra_hosts"] == \
        ["h=1.1.1.1", "h=::1"]


def test_label_file(tmp_path: Path) -> None:
    web = service(tmp_path, {"label_file": "app.labels", "labels": {"b": "mine"}},
                  extra={"app.labels": "a=1\nb=2\n"})
    assert web["labels"] == {"a": "1", "b": "mine"}
    assert web["label_file"] == [str(tmp_path / "app.labels")]


def test_extension_keys_are_kept(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"x-common": {"a": 1},
                             "services": {"web": {"image": "x", "x-note": "n"}}})
    assert loaded.extensions == {"x-common": {"a": 1}}
    assert loaded.services["web"]["x-note"] == "n"


@pytest.mark.parametrize(("definition", "message"), [
    ({"ports": ["8080:80:90:100"]},
     'services.web.ports.0 invalid port "8080:80:90:100": invalid IP address: 8080:80'),
    ({"volumes": ["a::b"]},
     'services.web.volumes.0 invalid volume specification "a::b": empty section between colons'),
    ({"devices": ["a:b:c:d"]},
     'services.web.devices.0 confusing device mapping "a:b:c:d", use the long syntax'),
    ({"extra_hosts": ["nohostip"]},
     'services.web.extra_hosts.0 invalid extra host "nohostip": expected HOST=IP (or HOST:IP)'),
    ({"command": "echo 'unclosed"},
     "services.web.command cannot split \"echo 'unclosed\": No closing quotation"),
    ({"healthcheck": {"interval": "soon"}},
     "services.web.healthcheck.interval unknown unit 'soon' in duration 'soon'"),
    ({"ulimits": {"nofile": {"soft": "x", "hard": 1}}},
     'services.web.ulimits.nofile.soft must be an integer, not "x"'),
    ({"secrets": [{"target": "/x"}]}, "services.web.secrets.0 source is required"),
])
def test_normalisation_errors_name_the_key(tmp_path: Path, definition: dict[str, Any],
                                           message: str) -> None:
    from ketch.compose import ComposeError

    with pytest.raises(ComposeError) as info:
        service(tmp_path, definition)
    assert str(info.value) == message
