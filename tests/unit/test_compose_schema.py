"""The schema check: one error, the most specific, worded as docker compose words it."""

from __future__ import annotations

from typing import Any

import pytest

from ketch.compose.schema import COMPOSE_FILE
from ketch.compose.schemacheck import first_problem, type_words
from ketch.compose.yamlload import RESET, Override, load_documents


def problem(text: str) -> str | None:
    found = first_problem(load_documents(text, "f.yml")[0], COMPOSE_FILE)
    return None if found is None else str(found)


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  web:\n    image: x\n    foo: 1\n",
     "services.web Additional property foo is not allowed"),
    ("services: {}\nfoo: 1\n", "(root) Additional property foo is not allowed"),
    ("services:\n  web:\n    image: 3\n", "services.web.image must be a string"),
    ("services:\n  web:\n    ports: [true]\n",
     "services.web.ports.0 must be a number, string or mapping"),
    ("services:\n  web:\n    ports: [{target: 80, bogus: 1}]\n",
     "services.web.ports.0 Additional property bogus is not allowed"),
    ("services:\n  web:\n    build: 3\n", "services.web.build must be a string or mapping"),
    ("services:\n  web:\n    environment: 3\n",
     "services.web.environment must be a mapping or list"),
    ("services:\n  web:\n    environment: {A: [1]}\n",
     "services.web.environment.A must be a string, number, boolean or null"),
    ("services:\n  web:\n    depends_on: {db: {condition: done}}\n",
     'services.web.depends_on.db.condition must be one of the following: "service_started", '
     '"service_healthy", "service_completed_successfully"'),
    ("services:\n  web:\n    depends_on: {db: {required: true}}\n",
     "services.web.depends_on.db condition is required"),
    ("services:\n  web:\n    extends: {file: x.yml}\n",
     "services.web.extends service is required"),
    ("services:\n  web:\n    cap_add: [A, B, A]\n",
     "services.web.cap_add array items[0,2] must be unique"),
    ("services:\n  web:\n    container_name: '_'\n",
     "services.web.container_name Does not match pattern '[a-zA-Z0-9][a-zA-Z0-9_.-]+'"),
    ("services:\n  web:\n    cpu_percent: 101\n",
     "services.web.cpu_percent must be less than or equal to 100"),
    ("services:\n  web:\n    oom_score_adj: -1001\n",
     "services.web.oom_score_adj must be greater than or equal to -1000"),
    ("services:\n  'my app':\n    image: x\n",
     "services Additional property my app is not allowed"),
    ("services:\n  web:\n", "services.web must be a mapping"),
    ("services:\n  web:\n    volumes: [{source: a, target: /b}]\n",
     "services.web.volumes.0 type is required"),
    ("services:\n  web:\n    volumes: [{type: nfs, target: /b}]\n",
     'services.web.volumes.0.type must be one of the following: "bind", "volume", "tmpfs", '
     '"cluster", "npipe", "image"'),
    ("services:\n  web:\n    healthcheck: {test: [CMD, 1]}\n",
     "services.web.healthcheck.test.1 must be a string"),
    ("volumes:\n  data: {drvier: local}\n",
     "volumes.data Additional property drvier is not allowed"),
    ("networks:\n  front: [a]\n", "networks.front must be a mapping or null"),
    ("services:\n  web:\n    deploy: {resources: {limits: {memory: 5}}}\n",
     "services.web.deploy.resources.limits.memory must be a string"),
    ("services:\n  web:\n    ulimits: {nofile: {soft: 1}}\n",
     "services.web.ulimits.nofile hard is required"),
    ("name: 3\n", "name must be a string"),
])
def test_messages(text: str, message: str) -> None:
    assert problem(text) == message


@pytest.mark.parametrize("text", [
    "version: '3.8'\nservices:\n  web: {image: x}\n",
    "version: 3.8\nservices:\n  web: {image: x}\n",
    "x-anything: {a: 1}\nservices:\n  web: {image: x, x-note: [1, 2]}\n",
    "services:\n  web:\n    tty: 'true'\n    scale: '2'\n"
    "    ports: ['${P}:80', 80, {target: '80'}]\n",
    "services:\n  web: {image: x, networks: {front: null}}\nnetworks:\n  front:\n",
    "services:\n  web: {image: x, ulimits: {nproc: 10, nofile: {soft: 1, hard: 2}}}\n",
    "services:\n  web:\n    environment: {A: 1, B: true, C: null, D: 1.5}\n",
])
def test_valid_files(text: str) -> None:
    assert problem(text) is None


def test_markers_are_checked_through() -> None:
    document: dict[str, Any] = {"services": {"web": {"ports": RESET,
                                                     "image": Override(3)}}}
    found = first_problem(document, COMPOSE_FILE)
    assert found is not None and str(found) == "services.web.image must be a string"


def test_type_words() -> None:
    assert type_words(["object"]) == "mapping"
    assert type_words(["array", "string"]) == "list or string"
    assert type_words(["number", "string", "object"]) == "number, string or mapping"
