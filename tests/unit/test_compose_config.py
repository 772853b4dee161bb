"""`ketch compose config`: the canonical output and the command line around it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ketch.cli.app import execute

EXAMPLE4 = """version: '3.6'
services:
  app:
    build:
      context: ./app
    depends_on:
      - redis
    environment:
      - REDIS_HOST=redis
    ports:
      - "5000:5000"
  redis:
    image: redis:3.2-alpine
    volumes:
      - redis_data:/data
volumes:
  redis_data:
"""

EXAMPLE4_CONFIG = """name: apptest
services:
  app:
    build:
      context: {dir}/app
      dockerfile: Dockerfile
    depends_on:
      redis:
        condition: service_started
        required: true
    environment:
      REDIS_HOST: redis
    networks:
      default: null
    ports:
      - mode: ingress
        target: 5000
        published: "5000"
        protocol: tcp
  redis:
    image: redis:3.2-alpine
    networks:
      default: null
    volumes:
      - type: volume
        source: redis_data
        target: /data
        volume: {{}}
networks:
  default:
    name: apptest_default
volumes:
  redis_data:
    name: apptest_redis_data
"""


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("COMPOSE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = execute(["compose", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_example4_canonical_output(project_dir: Path, capsys: pytest.CaptureFixture[str]
                                   ) -> None:
    (project_dir / "docker-compose.yml").write_text(EXAMPLE4)
    code, out, err = run(capsys, "-p", "apptest", "config")
    assert code == 0
    assert out == EXAMPLE4_CONFIG.format(dir=project_dir)
    assert err == (f"WARN[0000] {project_dir}/docker-compose.yml: the attribute `version` is "
                   "obsolete, it will be ignored, please remove it to avoid potential "
                   "confusion\n")


def test_output_reads_back_to_the_same_model(project_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (project_dir / "compose.yaml").write_text("""
services:
  web:
    image: "nginx:${TAG:-1.25}"
    command: ["sh", "-c", "echo 'yes' && echo on"]
    environment: {A: "yes", B: "1", C: "", D: "22:22", E: "multi\\nline", F: null}
    labels: {"com.example.x": "true"}
    ports: ["8080:80", "127.0.0.1:53:53/udp"]
    healthcheck: {test: "curl -f http://x", interval: 90s}
    secrets: [{source: s, mode: 0440}]
secrets:
  s: {file: ./s.txt}
""")
    code, out, _ = run(capsys, "config")
    assert code == 0
    model = yaml.safe_load(out)
    web = model["services"]["web"]
    assert web["environment"] == {"A": "yes", "B": "1", "C": "", "D": "22:22",
                                  "E": "multi\nline", "F": None}
    assert web["labels"] == {"com.example.x": "true"}
    assert web["command"] == ["sh", "-c", "echo 'yes' && echo on"]
    assert web["secrets"] == [{"source": "s", "target": "/run/secrets/s", "mode": "0440"}]
    assert web["healthcheck"] == {"test": ["CMD-SHELL", "curl -f http://x"],
                                  "interval": "1m30s"}
    assert '    image: nginx:1.25\n' in out
    assert '      A: "yes"\n' in out and '      D: "22:22"\n' in out
    # a second pass over the output gives the same output
    (project_dir / "compose.yaml").write_text(out.replace('mode: "0440"', "mode: 0440"))
    code, second, _ = run(capsys, "config")
    assert code == 0 and second == out


def test_keys_in_canonical_order(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project_dir / "compose.yaml").write_text(
        "services:\n  web:\n    volumes: ['./a:/a:ro']\n    image: x\n    x-z: 1\n"
        "    environment: {B: 1, A: 2}\n    command: [a]\n    build: .\n  alpha: {image: a}\n")
    _, out, _ = run(capsys, "config")
    model = yaml.safe_load(out)
    assert list(model) == ["name", "services", "networks"]
    assert list(model["services"]) == ["alpha", "web"]
    assert list(model["services"]["web"]) == ["build", "command", "environment", "image",
                                              "networks", "volumes", "x-z"]
    assert list(model["services"]["web"]["environment"]) == ["A", "B"]
    assert list(model["services"]["web"]["volumes"][0]) == ["type", "source", "target",
                                                            "read_only", "bind"]


def test_listings(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project_dir / "compose.yaml").write_text("""
name: demo
services:
  web: {build: ., depends_on: [db], profiles: [front]}
  db: {image: postgres, volumes: ["data:/d"], networks: [back]}
  tool: {image: tool, profiles: [debug]}
volumes:
  data:
  logs:
networks:
  back:
""")
    assert run(capsys, "config", "--services") == (0, "db\n", "")
    assert run(capsys, "--profile", "front", "config", "--services") == (0, "db\nweb\n", "")
    assert run(capsys, "config", "--profile", "front", "--services") == (0, "db\nweb\n", "")
    assert run(capsys, "config", "--volumes") == (0, "data\nlogs\n", "")
    assert run(capsys, "config", "--networks") == (0, "back\n", "")
    assert run(capsys, "config", "--profiles") == (0, "debug\nfront\n", "")
    code, out, _ = run(capsys, "--profile", "*", "config", "--images")
    assert (code, sorted(out.split())) == (0, ["demo-web", "postgres", "tool"])
    code, out, _ = run(capsys, "config", "--hash", "db")
    assert code == 0 and out.startswith("db ") and len(out.split()[1]) == 64
    assert run(capsys, "config", "-q") == (0, "", "")


def test_named_services_and_json(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project_dir / "compose.yaml").write_text(
        "services:\n  web: {image: w, depends_on: [db]}\n  db: {image: d}\n  x: {image: x}\n")
    code, out, _ = run(capsys, "config", "web")
    assert code == 0 and list(yaml.safe_load(out)["services"]) == ["db", "web"]
    code, out, _ = run(capsys, "config", "--format", "json")
    assert code == 0 and json.loads(out)["services"]["x"]["image"] == "x"
    code, _, _ = run(capsys, "config", "-o", "out.yml")
    assert code == 0 and yaml.safe_load((project_dir / "out.yml").read_text())["name"]


def test_global_options_before_or_after(project_dir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    sub = project_dir / "sub"
    sub.mkdir()
    (sub / "one.yml").write_text("services:\n  a: {image: 'a:${TAG}'}\n")
    (sub / "two.yml").write_text("services:\n  b: {image: b}\n")
    (project_dir / "vars.env").write_text("TAG=t\n")
    code, out, _ = run(capsys, "-f", "sub/one.yml", "--env-file", "vars.env", "config",
                       "-f", "sub/two.yml", "-p", "named", "--project-directory", ".")
    model = yaml.safe_load(out)
    assert code == 0 and model["name"] == "named"
    assert model["services"]["a"]["image"] == "a:t" and "b" in model["services"]
    assert model["networks"]["default"]["name"] == "named_default"


def test_errors_are_one_line_exit_1(project_dir: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (project_dir / "compose.yaml").write_text("services:\n  web:\n    image: x\n    foo: 1\n")
    assert run(capsys, "config") == (1, "", f"validating {project_dir}/compose.yaml: services.web "
                                            "Additional property foo is not allowed\n")
    (project_dir / "compose.yaml").write_text("services:\n  a: {image: '${X:?X is needed}'}\n")
    assert run(capsys, "config") == (1, "", "required variable X is missing a value: "
                                            "X is needed\n")
    os.remove(project_dir / "compose.yaml")
    assert run(capsys, "config") == (1, "", "no configuration file provided: not found\n")


def test_unknown_subcommand(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "frobnicate") == (1, "", "ketch: unknown command: ketch compose "
                                                "frobnicate\n\nRun 'ketch compose --help' for "
                                                "more information\n")


def test_help(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "Usage:  ketch compose [OPTIONS] COMMAND" in out
    assert "  config      Parse, resolve and render compose file in canonical format" in out
    assert "-f, --file stringArray" in out
    code, out, _ = run(capsys)
    assert code == 0 and "Commands:" in out
    code, out, _ = run(capsys, "config", "--help")
    assert code == 0 and "--services" in out and "Usage:  ketch compose config" in out
    code, _, err = run(capsys, "config", "--bogus")
    assert code == 1 and err.startswith("unknown flag: --bogus")


def test_ketch_compose_entry_point_and_light_imports(project_dir: Path) -> None:
    (project_dir / "compose.yaml").write_text("services:\n  web: {image: x}\n")
    proc = subprocess.run([sys.executable, "-c", "from ketch.cli.compose_main import main; "
                           "main()", "config", "--services"], capture_output=True, text=True,
                          check=False, cwd=project_dir)
    assert (proc.returncode, proc.stdout) == (0, "web\n")
    check = ("import sys; from ketch.cli.app import load; load('ps'); load('compose'); "
             "print(sorted(m for m in sys.modules if m == 'yaml' or "
             "m.startswith('ketch.compose')))")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          check=False)
    assert proc.stdout.strip() == "[]"


def test_stdin_and_no_path_resolution(project_dir: Path,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    text = "services:\n  web: {image: x, build: ./app, volumes: ['./d:/d']}\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    code, out, _ = run(capsys, "-f", "-", "config", "--no-path-resolution")
    web = yaml.safe_load(out)["services"]["web"]
    assert code == 0
    assert web["build"]["context"] == "./app" and web["volumes"][0]["source"] == "./d"
