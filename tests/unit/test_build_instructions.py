"""Configuration instructions applied as Docker's builder applies them."""

from __future__ import annotations

from typing import Any

import pytest

from ketch.build.dockerfile import parse
from ketch.build.instructions import StageState, apply, go_duration
from ketch.errors import InvalidParameter


def run(text: str, config: dict[str, Any] | None = None,
        args: dict[str, str] | None = None) -> tuple[StageState, list[str]]:
    state = StageState(config if config is not None else
                       {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]}, args=args or {})
    df = parse(text)
    history = [apply(inst, state, df.escape) for inst in df.instructions]
    return state, history


def test_the_tutorials_configuration() -> None:
    state, history = run('ENV SITE_URL https://google.com/\nWORKDIR /data\nVOLUME /data\n'
                         'CMD sh -c "curl -Lk $SITE_URL > /data/results"\n')
    config = state.config
    assert config["Env"] == ["PATH=/usr/bin:/bin", "SITE_URL=https://google.com/"]
    assert config["WorkingDir"] == "/data" and config["Volumes"] == {"/data": {}}
    assert config["Cmd"] == ["/bin/sh", "-c", 'sh -c "curl -Lk $SITE_URL > /data/results"']
    assert history[0] == "ENV SITE_URL=https://google.com/"
    assert history[3] == 'CMD ["/bin/sh" "-c" "sh -c \\"curl -Lk $SITE_URL > /data/results\\""]'


def test_env_expands_with_what_came_before_and_args() -> None:
    state, _ = run("ENV A=1 B=${A}2\nENV PATH=$PATH:/opt/bin C=$VERSION\n"
                   "LABEL v=${VERSION:-none} \"a b\"=c\n", args={"VERSION": "9"})
    assert state.config["Env"] == ["PATH=/usr/bin:/bin:/opt/bin", "A=1", "B=12", "C=9"]
    assert state.config["Labels"] == {"v": "9", "a b": "c"}


def test_workdir_user_expose_stopsignal_shell() -> None:
    state, history = run("WORKDIR /a\nWORKDIR b/../c\nUSER 1000:1000\n"
                         "EXPOSE 80 53/udp 8000-8002\nSTOPSIGNAL SIGQUIT\n"
                         'SHELL ["/bin/bash", "-xc"]\nENTRYPOINT exec app\n')
    config = state.config
    assert config["WorkingDir"] == "/a/c" and config["User"] == "1000:1000"
    assert list(config["ExposedPorts"]) == ["80/tcp", "53/udp", "8000/tcp", "8001/tcp",
                                            "8002/tcp"]
    assert config["StopSignal"] == "SIGQUIT"
    assert config["Entrypoint"] == ["/bin/bash", "-xc", "exec app"]
    assert config["Cmd"] is None  # the inherited CMD goes with a new ENTRYPOINT
    assert history[3] == "EXPOSE 80/tcp 53/udp 8000/tcp 8001/tcp 8002/tcp"


def test_cmd_given_in_the_stage_survives_entrypoint() -> None:
    state, _ = run('CMD ["--help"]\nENTRYPOINT ["app"]\n')
    assert state.config["Cmd"] == ["--help"] and state.config["Entrypoint"] == ["app"]


def test_healthcheck_onbuild_maintainer() -> None:
    state, _ = run("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f "
                   "http://localhost/\nONBUILD RUN echo later\nMAINTAINER someone\n")
    assert state.config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 90_000_000_000,
        "Timeout": 500_000_000, "Retries": 3}
    assert state.config["OnBuild"] == ["RUN echo later"]
    assert state.author == "someone"
    none, _ = run("HEALTHCHECK NONE\n")
    assert none.config["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(("text", "message"), [
    ("EXPOSE abc\n", "invalid containerPort: abc"),
    ("EXPOSE 80/foo\n", "invalid proto: foo"),
    ("STOPSIGNAL SIGBOGUS\n", "Invalid signal: SIGBOGUS"),
    ('VOLUME [""]\n', "VOLUME specified can not be an empty string"),
    ("HEALTHCHECK --interval=1us CMD true\n", 'Interval "1us" cannot be less than 1ms'),
    ("HEALTHCHECK --retries=x CMD true\n", "invalid retries"),
])
def test_bad_values_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=f"line 1: {message}"):
        run(text)


def test_go_durations() -> None:
    assert go_duration("1h2m3.5s") == ((3600 + 120) * 10**9 + 3_500_000_000)
    assert go_duration("0") == 0 and go_duration("250us") == 250_000
    for bad in ("5", "1x", "s", "1m 2s"):
        with pytest.raises(InvalidParameter, match="invalid duration"):
            go_duration(bad)
