"""From options to a project: file discovery, project name, environment, profiles, and
the errors that name the place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ketch.compose import ComposeError, ComposeFileNotFound, ProjectOptions, load_project
from ketch.compose.model import Project, config_hash, image_name, scale
from ketch.compose.project import normalize_project_name, select_services

SIMPLE = "services:\n  web:\n    image: nginx\n"


def write(directory: Path, texts: dict[str, str]) -> None:
    for name, text in texts.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def load(directory: Path, texts: dict[str, str] | None = None, **options: Any) -> Project:
    write(directory, texts or {})
    options.setdefault("environ", {"HOME": "/home/me"})
    return load_project(ProjectOptions(cwd=str(directory), **options))


def error(directory: Path, texts: dict[str, str], **options: Any) -> str:
    with pytest.raises(ComposeError) as info:
        load(directory, texts, **options)
    return str(info.value).replace(os.fspath(directory), "DIR")


# -- files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["compose.yaml", "compose.yml", "docker-compose.yml",
                                  "docker-compose.yaml"])
def test_default_file_names(tmp_path: Path, name: str) -> None:
    assert load(tmp_path, {name: SIMPLE}).config_files == [str(tmp_path / name)]


def test_discovery_prefers_compose_yaml_and_warns(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": SIMPLE, "docker-compose.yml": SIMPLE})
    assert loaded.config_files == [str(tmp_path / "compose.yaml")]
    assert loaded.warnings[:2] == [
        f"Found multiple config files with supported names: {tmp_path}/compose.yaml, "
        f"{tmp_path}/docker-compose.yml", f"Using {tmp_path}/compose.yaml"]


@pytest.mark.parametrize(("main", "override"), [
    ("compose.yaml", "compose.override.yaml"), ("compose.yml", "compose.override.yml"),
    ("docker-compose.yml", "docker-compose.override.yml"),
    ("docker-compose.yaml", "docker-compose.override.yaml")])
def test_override_file_is_found_beside(tmp_path: Path, main: str, override: str) -> None:
    loaded = load(tmp_path, {main: SIMPLE,
                             override: "services:\n  web:\n    image: nginx:2\n"})
    assert loaded.config_files == [str(tmp_path / main), str(tmp_path / override)]
    assert loaded.services["web"]["image"] == "nginx:2"


def test_discovery_walks_up_to_a_parent(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": SIMPLE})
    (tmp_path / "a" / "b").mkdir(parents=True)
    loaded = load(tmp_path / "a" / "b")
    assert loaded.working_dir == str(tmp_path)
    assert loaded.name == normalize_project_name(tmp_path.name)


def test_no_file_found(tmp_path: Path) -> None:
    with pytest.raises(ComposeFileNotFound, match=r"^no configuration file provided: not found$"):
        load(tmp_path)


def test_compose_file_variable(tmp_path: Path) -> None:
    write(tmp_path, {"one.yml": SIMPLE, "two.yml": "services:\n  db:\n    image: pg\n"})
    loaded = load(tmp_path, environ={"COMPOSE_FILE": "one.yml:two.yml"})
    assert loaded.service_names() == ["db", "web"]
    loaded = load(tmp_path, environ={"COMPOSE_FILE": "one.yml;two.yml",
                                     "COMPOSE_PATH_SEPARATOR": ";"})
    assert loaded.service_names() == ["db", "web"]


def test_missing_named_file(tmp_path: Path) -> None:
    assert error(tmp_path, {}, files=["nope.yml"]) == \
        "open DIR/nope.yml: no such file or directory"


def test_stdin(tmp_path: Path) -> None:
    loaded = load(tmp_path, files=["-"], read_stdin=lambda: SIMPLE.encode())
    assert loaded.working_dir == str(tmp_path)
    assert loaded.service_names() == ["web"]


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert error(tmp_path, {"compose.yaml": "# nothing\n"}) == \
        "DIR/compose.yaml: empty compose file"
    assert error(tmp_path, {"compose.yaml": "- a\n"}) == \
        "DIR/compose.yaml: top-level object must be a mapping"


def test_version_is_accepted_and_ignored_with_a_warning(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": "version: '3.6'\n" + SIMPLE})
    assert loaded.warnings == [f"{tmp_path}/compose.yaml: the attribute `version` is obsolete, "
                               "it will be ignored, please remove it to avoid potential confusion"]
    assert load(tmp_path, {"compose.yaml": "version: 2.4\n" + SIMPLE}).services


# -- project name --------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "name"), [
    ("MyApp", "myapp"), ("my app.v2", "myappv2"), ("_-x", "x"), ("ex4_compose-1", "ex4_compose-1"),
    ("Ünïcode", "ncode"), ("...", ""),
])
def test_normalize_project_name(raw: str, name: str) -> None:
    assert normalize_project_name(raw) == name


def test_project_name_precedence(tmp_path: Path) -> None:
    work = tmp_path / "My Dir"
    work.mkdir()
    texts = {"compose.yaml": "name: From_File\n" + SIMPLE}
    assert load(work, texts, project_name="flag").name == "flag"
    assert load(work, texts, environ={"COMPOSE_PROJECT_NAME": "env"}).name == "env"
    assert load(work, texts).name == "from_file"
    assert load(work, {"compose.yaml": SIMPLE}).name == "mydir"
    write(work, {".env": "COMPOSE_PROJECT_NAME=dotenv\n"})
    assert load(work).name == "dotenv"


def test_name_from_file_is_interpolated(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": "name: app-${STAGE}\n" + SIMPLE},
                  environ={"STAGE": "dev"})
    assert loaded.name == "app-dev"


@pytest.mark.parametrize("name", ["Foo", "-x", "a b", "x.y"])
def test_explicit_project_name_must_be_valid(tmp_path: Path, name: str) -> None:
    assert error(tmp_path, {"compose.yaml": SIMPLE}, project_name=name) == (
        f'invalid project name "{name}": must consist only of lowercase alphanumeric '
        "characters, hyphens, and underscores as well as start with a letter or number")


# -- environment ---------------------------------------------------------------------------

def test_dotenv_in_project_directory_and_shell_wins(tmp_path: Path) -> None:
    texts = {"compose.yaml": "services:\n  web:\n    image: 'nginx:${TAG}'\n"
                             "    environment: ['A=${A}', B]\n",
             ".env": "TAG=1.25\nA=from-dotenv\nB=bare-from-dotenv\n"}
    web = load(tmp_path, texts).services["web"]
    assert web["image"] == "nginx:1.25"
    assert web["environment"] == {"A": "from-dotenv", "B": "bare-from-dotenv"}
    web = load(tmp_path, environ={"TAG": "shell"}).services["web"]
    assert web["image"] == "nginx:shell"


def test_env_file_option_replaces_dotenv(tmp_path: Path) -> None:
    texts = {"compose.yaml": "services:\n  web:\n    image: 'nginx:${TAG:-none}'\n",
             ".env": "TAG=dotenv\n", "a.env": "TAG=a\n", "b.env": "TAG=b\n"}
    assert load(tmp_path, texts, env_files=["a.env"]).services["web"]["image"] == "nginx:a"
    assert load(tmp_path, env_files=["a.env", "b.env"]).services["web"]["image"] == "nginx:b"
    assert error(tmp_path, {}, env_files=["nope.env"]) == "couldn't find env file: DIR/nope.env"


def test_dotenv_beside_the_first_file(tmp_path: Path) -> None:
    write(tmp_path, {"sub/compose.yaml": "services:\n  web:\n    image: 'x:${TAG}'\n",
                     "sub/.env": "TAG=sub\n", ".env": "TAG=cwd\n"})
    assert load(tmp_path, files=["sub/compose.yaml"]).services["web"]["image"] == "x:sub"
    assert load(tmp_path, files=["sub/compose.yaml"], project_directory=".")\
        .services["web"]["image"] == "x:cwd"


def test_unset_variable_warns(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": "services:\n  web:\n    image: 'x${NOPE}'\n"})
    assert loaded.warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']
    assert loaded.services["web"]["image"] == "x"


def test_no_interpolation(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": "services:\n  web:\n    image: 'x:${TAG}'\n"},
                  interpolate=False)
    assert loaded.services["web"]["image"] == "x:${TAG}"


# -- profiles ------------------------------------------------------------------------------

PROFILED = """
services:
  foo: {image: foo}
  bar: {image: bar, profiles: [test]}
  baz: {image: baz, depends_on: [bar], profiles: [test]}
  zot: {image: zot, depends_on: [bar], profiles: [debug]}
"""


def test_no_profile_enables_only_unprofiled_services(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": PROFILED})
    assert loaded.service_names() == ["foo"]
    assert sorted(loaded.disabled_services) == ["bar", "baz", "zot"]
    assert loaded.all_profiles() == ["debug", "test"]


def test_profile_flag_and_variable(tmp_path: Path) -> None:
    assert load(tmp_path, {"compose.yaml": PROFILED}, profiles=["test"]).service_names() == \
        ["bar", "baz", "foo"]
    assert load(tmp_path, environ={"COMPOSE_PROFILES": "test"}).service_names() == \
        ["bar", "baz", "foo"]
    assert load(tmp_path, profiles=["*"]).service_names() == ["bar", "baz", "foo", "zot"]
    assert load(tmp_path, profiles=["debug", "test"]).service_names() == \
        ["bar", "baz", "foo", "zot"]


def test_disabled_dependency_is_an_error(tmp_path: Path) -> None:
    assert error(tmp_path, {"compose.yaml": PROFILED}, profiles=["debug"]) == \
        'service "bar" is required by "zot" but is disabled. Can be enabled by profiles: test'


def test_naming_a_service_enables_its_profiles(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": PROFILED})
    assert load(tmp_path, services=["bar"]).service_names() == ["bar", "baz", "foo"]
    assert load(tmp_path, services=["baz"]).service_names() == ["bar", "baz", "foo"]
    assert error(tmp_path, {}, services=["zot"]).startswith('service "bar" is required by "zot"')
    assert load(tmp_path, services=["zot"], profiles=["test"]).service_names() == \
        ["bar", "baz", "foo", "zot"]
    assert error(tmp_path, {}, services=["nope"]) == "no such service: nope"


def test_optional_disabled_dependency_is_dropped(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": """
services:
  web: {image: w, depends_on: {db: {condition: service_started, required: false}}}
  db: {image: d, profiles: [db]}
"""})
    assert loaded.services["web"]["depends_on"] == {}
    assert loaded.warnings == ['service "web" depends on disabled service "db" '
                               "(not required): ignored"]


def test_select_services_keeps_dependencies(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": """
services:
  web: {image: w, depends_on: [api]}
  api: {image: a, depends_on: [db]}
  db: {image: d}
  other: {image: o}
"""})
    assert select_services(loaded, ["web"]).service_names() == ["api", "db", "web"]
    assert loaded.dependency_order() == ["db", "api", "other", "web"]


# -- consistency errors --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
     "dependency cycle detected: a -> b -> a"),
    ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n"
     "  c: {image: x, links: [a]}\n",
     "dependency cycle detected: a -> b -> c -> a"),
    ("services:\n  a: {image: x, depends_on: [db]}\n",
     'service "a" depends on undefined service "db": invalid compose project'),
    ("services:\n  a: {image: x, network_mode: 'service:vpn'}\n",
     'service "a" depends on undefined service "vpn": invalid compose project'),
    ("services:\n  a: {image: x, volumes: ['data:/data']}\n",
     "service \"a\" refers to undefined volume data: invalid compose project"),
    ("services:\n  a: {image: x, networks: [front]}\n",
     "service \"a\" refers to undefined network front: invalid compose project"),
    ("services:\n  a: {image: x, secrets: [s]}\n",
     "service \"a\" refers to undefined secret s: invalid compose project"),
    ("services:\n  a: {image: x, configs: [c]}\n",
     "service \"a\" refers to undefined config c: invalid compose project"),
    ("services:\n  a: {command: x}\n",
     'service "a" has neither an image nor a build context specified: invalid compose project'),
    ("services:\n  a: {image: x, container_name: cc}\n  b: {image: x, container_name: cc}\n",
     'services.b: container name "cc" is already in use by service "a"'),
    ("services:\n  a: {image: x, network_mode: host, networks: [default]}\n",
     "services.a: network_mode and networks cannot be combined"),
    ("services:\n  a: {image: x, scale: 2, deploy: {replicas: 3}}\n",
     "services.a: can't set distinct values on 'scale' and 'deploy.replicas'"),
    ("services:\n  a: {image: x, mem_limit: 1g, deploy: {resources: {limits: {memory: 2g}}}}\n",
     "services.a: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"),
    ("services:\n  a: {image: '${TAG:?set TAG first}'}\n",
     "required variable TAG is missing a value: set TAG first"),
    ("services:\n  a: {image: '${TAG?}'}\n", "required variable TAG is missing a value"),
    ("services:\n  a: {image: x, command: 'echo $1'}\n",
     'invalid interpolation format for services.a.command: "echo $1". '
     "You may need to escape any $ with another $"),
    ("services:\n  a: {image: x, tty: maybe}\n", 'services.a.tty must be a boolean, not "maybe"'),
    ("services:\n  a: {image: x, scale: many}\n",
     'services.a.scale must be an integer, not "many"'),
    ("services:\n  a: {image: x, mem_limit: lots}\n", "services.a.mem_limit invalid size: 'lots'"),
    ("services:\n  a: {image: x, stop_grace_period: '10'}\n",
     "services.a.stop_grace_period missing unit in duration '10'"),
    ("services:\n  a: {image: x, env_file: missing.env}\n",
     "env file DIR/missing.env not found: stat DIR/missing.env: no such file or directory"),
    ("services:\n  a: {image: x}\nvolumes:\n  v: {external: true, driver: local}\n",
     'conflicting parameters "external" and "driver" specified for volume "v"'),
    ("services:\n  a: {image: x}\nsecrets:\n  s: {labels: [a=b]}\n",
     "secrets.s one of file, environment or external is required"),
    ("include: [other.yml]\nservices:\n  a: {image: x}\n",
     "include: not supported by ketch compose yet"),
    ("services:\n  a:\n    image: x\n    image: y\n",
     "DIR/compose.yaml: yaml: line 4, column 5: mapping key \"image\" already defined at line 3"),
    ("services:\n  a:\n    image: [\n",
     "DIR/compose.yaml: yaml: line 4, column 1: expected the node content, but found "
     "'<stream end>'"),
])
def test_errors_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, {"compose.yaml": text}) == message


def test_consistency_check_can_be_skipped(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": "services:\n  a: {image: x, depends_on: [b]}\n"},
                  consistency=False)
    assert loaded.service_names() == ["a"]


# -- helpers for up ------------------------------------------------------------------------

def test_scale_image_name_and_config_hash(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"compose.yaml": """
name: proj
services:
  web: {build: ., scale: 3}
  db: {image: pg, deploy: {replicas: 2}}
  one: {image: x}
"""})
    web, db, one = (loaded.services[n] for n in ("web", "db", "one"))
    assert (scale(web), scale(db), scale(one)) == (3, 2, 1)
    assert image_name(loaded, "web") == "proj-web"
    assert image_name(loaded, "db") == "pg"
    before = config_hash(db)
    assert config_hash({**db, "deploy": {"replicas": 5}}) == before
    assert config_hash({**db, "image": "pg:2"}) != before
