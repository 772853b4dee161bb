"""Unit tests for `docker import -c` changes: Dockerfile instructions on an image config."""

from __future__ import annotations

import pytest

from ketch.errors import InvalidParameter
from ketch.images.changes import apply_changes, expand, validate_config


def test_cmd_and_entrypoint_json_and_shell_forms() -> None:
    config = apply_changes({}, ['CMD ["sh", "-c", "echo hi"]', "ENTRYPOINT /bin/init --flag"])
    assert config["Cmd"] == ["sh", "-c", "echo hi"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/init --flag"]
    assert apply_changes({}, ["cmd []"])["Cmd"] == []
    # not valid JSON: shell form, exactly as Docker does
    assert apply_changes({}, ["CMD [sh"])["Cmd"] == ["/bin/sh", "-c", "[sh"]


def test_env_forms_replace_and_expand() -> None:
    config = apply_changes(
        {"Env": ["PATH=/usr/bin", "A=1"]},
        ['ENV A=2 B="two words"', "ENV C legacy value here", "ENV PATH=$PATH:/opt/bin",
         "ENV D=${MISSING:-dflt} E=${A:+set} F=\\$A"],
    )
    assert config["Env"] == [
        "A=2", "B=two words", "C=legacy value here", "PATH=/usr/bin:/opt/bin",
        "D=dflt", "E=set", "F=$A",
    ]


def test_label_expose_user_workdir_volume_stopsignal_onbuild() -> None:
    config = apply_changes(
        {"WorkingDir": "/app"},
        [
            'LABEL a=1 "b c"=d',
            "EXPOSE 80 53/udp 8000-8001",
            "USER nobody:nogroup",
            "WORKDIR sub",
            "WORKDIR ../other",
            'VOLUME ["/data", "/logs"]',
            "VOLUME /cache",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN make",
        ],
    )
    assert config["Labels"] == {"a": "1", "b c": "d"}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert config["User"] == "nobody:nogroup"
    assert config["WorkingDir"] == "/app/other"
    assert config["Volumes"] == {"/data": {}, "/logs": {}, "/cache": {}}
    assert config["StopSignal"] == "SIGINT"
    assert config["OnBuild"] == ["RUN make"]


def test_input_config_is_not_modified() -> None:
    original = {"Env": ["A=1"]}
    apply_changes(original, ["ENV A=2"])
    assert original == {"Env": ["A=1"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN echo hi", "RUN is not a valid change command"),
        ("from busybox", "FROM is not a valid change command"),
        ("ENV", "ENV: requires at least one argument"),
        ("ENV A", "ENV: requires at least two arguments"),
        ("EXPOSE 70000", "EXPOSE: invalid port range: 70000"),
        ("EXPOSE http", "EXPOSE: invalid containerPort: http"),
        ('LABEL a="unterminated', "LABEL: No closing quotation"),
        ("ONBUILD ONBUILD RUN x", "ONBUILD: ONBUILD isn't allowed as an ONBUILD trigger"),
        ("WORKDIR", "WORKDIR: requires exactly one argument"),
    ],
)
def test_bad_changes_are_one_clear_line(change: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        apply_changes({}, [change])
    assert str(caught.value) == message


def test_validate_config_checks_types_and_drops_container_fields() -> None:
    assert validate_config({"Cmd": ["sh"], "Tty": True, "Env": None}) == {"Cmd": ["sh"]}
    with pytest.raises(InvalidParameter, match="Cmd has the wrong type"):
        validate_config({"Cmd": "sh"})
    with pytest.raises(InvalidParameter, match="Env has the wrong type"):
        validate_config({"Env": [1]})


def test_expand() -> None:
    assert expand("${A}-$B-${C:-c}", {"A": "a", "B": "b"}) == "a-b-c"
