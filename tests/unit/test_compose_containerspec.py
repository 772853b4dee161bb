"""A service's canonical definition -> the `POST /containers/create` body (no daemon)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ketch.compose import ComposeError, ProjectOptions, load_project
from ketch.compose.containerspec import ContainerSpec, container_name, create_body
from ketch.compose.model import Project, config_hash

FULL = """\
services:
  web:
    build: ./app
    command: echo hi
    entrypoint: ["/bin/sh", "-c"]
    environment:
      A: "1"
      B:
    ports:
      - "8080:80"
      - "127.0.0.1:9000:9000/udp"
      - 5000
      - target: 443
        published: "8443"
        host_ip: 0.0.0.0
    expose: ["3000", "4000-4001/udp"]
    volumes:
      - data:/data
      - ./src:/src:ro
      - /anon
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 10m}
    networks:
      front:
        aliases: [w]
        ipv4_address: 172.28.0.5
      default:
    depends_on:
      db:
        condition: service_healthy
    restart: on-failure:3
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
      timeout: 1m30s
      retries: 3
      start_period: 1s
    labels: [a=b]
    container_name: the-web
    hostname: h
    domainname: example.org
    working_dir: /w
    user: "1000"
    tty: true
    stdin_open: true
    init: true
    stop_signal: SIGINT
    stop_grace_period: 20s
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    privileged: true
    devices: ["/dev/null:/dev/xnull:rw"]
    dns: [8.8.8.8]
    extra_hosts: ["a:1.2.3.4"]
    ulimits:
      nofile: {soft: 100, hard: 200}
      nproc: 50
    sysctls: {net.core.somaxconn: 1024}
    logging: {driver: json-file, options: {max-size: 1m}}
    mem_limit: 512m
    cpus: 0.5
    read_only: true
    shm_size: 64m
    security_opt: [no-new-privileges]
    tmpfs: [/run, "/cache:size=1m"]
  db:
    image: busybox
    network_mode: host
    deploy:
      resources:
        limits: {cpus: '0.25', memory: 100M, pids: 50}
        reservations: {memory: 50M}
      restart_policy: {condition: on-failure, max_attempts: 2}
  side:
    image: busybox
    network_mode: service:db
    secrets: [s]
secrets:
  s:
    file: ./s.txt
networks:
  front:
    ipam:
      config:
        - subnet: 172.28.0.0/16
volumes:
  data:
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "compose.yaml").write_text(FULL)
    (tmp_path / "s.txt").write_text("secret\n")
    return load_project(ProjectOptions(cwd=str(tmp_path), project_name="proj",
                                       environ={"HOME": "/root"}))


def body(project: Project, name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("name", container_name(project.name, name, 1))
    spec.setdefault("number", 1)
    spec.setdefault("image", "img")
    return create_body(project, name, project.services[name], ContainerSpec(**spec))


def test_container_names() -> None:
    assert container_name("p", "web", 2) == "p-web-2"
    assert container_name("p", "web", 2, legacy=True) == "p_web_2"


def test_config(project: Project) -> None:
    got = body(project, "web")
    assert got["Image"] == "img"
    assert got["Cmd"] == ["echo", "hi"]
    assert got["Entrypoint"] == ["/bin/sh", "-c"]
    assert got["Env"] == ["A=1", "B"]  # a null value is unset in the container
    assert (got["Hostname"], got["Domainname"], got["User"], got["WorkingDir"]) == \
        ("h", "example.org", "1000", "/w")
    assert got["Tty"] is True and got["OpenStdin"] is True
    assert got["StopSignal"] == "SIGINT" and got["StopTimeout"] == 20
    assert got["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 10_000_000_000,
                                  "Timeout": 90_000_000_000, "StartPeriod": 1_000_000_000,
                                  "Retries": 3}


def test_labels(project: Project) -> None:
    labels = body(project, "web")["Labels"]
    assert labels["a"] == "b"
    assert labels["com.docker.compose.project"] == "proj"
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.config-hash"] == config_hash(project.services["web"])
    assert labels["com.docker.compose.project.working_dir"] == project.working_dir
    assert labels["com.docker.compose.project.config_files"] == \
        ",".join(project.config_files)
    assert labels["com.docker.compose.version"]
    assert labels["com.docker.compose.depends_on"] == "db:service_healthy:false"
    oneoff = body(project, "web", oneoff=True)
    assert oneoff["Labels"]["com.docker.compose.oneoff"] == "True"
    assert oneoff["HostConfig"]["RestartPolicy"]["Name"] == "no"


def test_ports(project: Project) -> None:
    got = body(project, "web")
    assert set(got["ExposedPorts"]) == {"80/tcp", "9000/udp", "5000/tcp", "443/tcp",
                                        "3000/tcp", "4000/udp", "4001/udp"}
    bindings = got["HostConfig"]["PortBindings"]
    assert bindings["80/tcp"] == [{"HostIp": "", "HostPort": "8080"}]
    assert bindings["9000/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "9000"}]
    assert bindings["5000/tcp"] == [{"HostIp": "", "HostPort": ""}]
    assert bindings["443/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8443"}]
    assert "3000/tcp" not in bindings
    unpublished = body(project, "web", publish=False)
    assert unpublished["HostConfig"]["PortBindings"] is None


def test_mounts(project: Project) -> None:
    host = body(project, "web")["HostConfig"]
    assert host["Binds"] == [f"{project.working_dir}/src:/src:ro"]
    assert host["Mounts"] == [
        {"Type": "volume", "Source": "proj_data", "Target": "/data", "ReadOnly": False},
        {"Type": "volume", "Target": "/anon", "ReadOnly": False},
        {"Type": "tmpfs", "Target": "/tmp", "ReadOnly": False,
         "TmpfsOptions": {"SizeBytes": 10 * 1024 * 1024}},
    ]
    assert host["Tmpfs"] == {"/run": "", "/cache": "size=1m"}
    side = body(project, "side", service_containers={"db": "abc"})["HostConfig"]
    assert side["Mounts"] == [{"Type": "bind", "Source": f"{project.working_dir}/s.txt",
                               "Target": "/run/secrets/s", "ReadOnly": True}]


def test_networks(project: Project) -> None:
    got = body(project, "web")
    endpoints = got["NetworkingConfig"]["EndpointsConfig"]
    assert list(endpoints) == ["proj_default", "proj_front"]
    assert got["HostConfig"]["NetworkMode"] == "proj_default"
    assert endpoints["proj_default"] == {"Aliases": ["web"]}
    assert endpoints["proj_front"] == {"Aliases": ["web", "w"],
                                       "IPAMConfig": {"IPv4Address": "172.28.0.5"}}
    db = body(project, "db")
    assert db["HostConfig"]["NetworkMode"] == "host"
    assert "NetworkingConfig" not in db
    side = body(project, "side", service_containers={"db": "abc123"})
    assert side["HostConfig"]["NetworkMode"] == "container:abc123"
    with pytest.raises(ComposeError, match="no container"):
        body(project, "side")


def test_host_config(project: Project) -> None:
    host = body(project, "web")["HostConfig"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["MKNOD"]
    assert host["Privileged"] is True and host["ReadonlyRootfs"] is True
    assert host["Init"] is True
    assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull",
                                "CgroupPermissions": "rw"}]
    assert host["Dns"] == ["8.8.8.8"]
    assert host["ExtraHosts"] == ["a:1.2.3.4"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 100, "Hard": 200},
                               {"Name": "nproc", "Soft": 50, "Hard": 50}]
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["ShmSize"] == 64 * 1024 * 1024
    assert host["SecurityOpt"] == ["no-new-privileges"]


def test_deploy_resources(project: Project) -> None:
    host = body(project, "db")["HostConfig"]
    assert host["Memory"] == 100 * 1024 * 1024
    assert host["NanoCpus"] == 250_000_000
    assert host["PidsLimit"] == 50
    assert host["MemoryReservation"] == 50 * 1024 * 1024
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}


def test_run_overrides(project: Project) -> None:
    got = body(project, "web", command=["id"], entrypoint=[""], environment={"A": "2"},
               tty=False, attach_stdin=True, user="0", working_dir="/",
               extra_labels={"x": "y"}, publish_specs=["1234:80"], publish=False)
    assert got["Cmd"] == ["id"] and got["Entrypoint"] == [""]
    assert "A=2" in got["Env"]
    assert got["Tty"] is False and got["AttachStdin"] is True and got["StdinOnce"] is True
    assert got["User"] == "0" and got["WorkingDir"] == "/"
    assert got["Labels"]["x"] == "y"
    assert got["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "",
                                                             "HostPort": "1234"}]}


def test_healthcheck_disabled(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    healthcheck:\n      disable: true\n")
    project = load_project(ProjectOptions(cwd=str(tmp_path), environ={}))
    assert body(project, "a")["Healthcheck"] == {"Test": ["NONE"]}
    assert body(project, "a")["HostConfig"]["RestartPolicy"]["Name"] == "no"
