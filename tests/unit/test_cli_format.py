"""Output formats from canned API JSON: ps and images tables (as in the captures), Go's
tabwriter, go-units, the Go-template subset, inspect's JSON."""

from __future__ import annotations

from typing import Any

import pytest

from ketch.cli import containers_format as cf
from ketch.cli import images_format as imf
from ketch.cli.commands.inspect import pretty_json
from ketch.cli.commands.system import client_block, server_block
from ketch.cli.formatter import render
from ketch.cli.gotemplate import Template, TemplateError
from ketch.cli.tabwriter import tabulate
from ketch.cli.units import ellipsis, go_quote, human_duration, human_size

# GET /containers/json from captures/04-ps-a.txt (fields the CLI reads)
PS_JSON: list[dict[str, Any]] = [
    {"Id": "b8bbc4d7d65e69d217463f49fcc4bedf95681ad9811ce40233c9544baca26129",
     "Names": ["/cap-web"], "Image": "busybox",
     "ImageID": "sha256:dc8b26487b34b1d830c81b334683cb1123c79c7772620b5e5c047011dd96f3c2",
     "Command": "sh -c 'while true; do echo tick; sleep 1; done'", "Created": 1795810024,
     "Ports": [], "Labels": {"cap": "1"}, "State": "running", "Status": "Up Less than a second",
     "HostConfig": {"NetworkMode": "default"},
     "NetworkSettings": {"Networks": {"bridge": {}}}, "Mounts": []},
    {"Id": "afb59b2022e578eb7de2d7147d892c3e4b4ed69f24e51fba79abb49b42531a89",
     "Names": ["/cap-hello"], "Image": "busybox",
     "ImageID": "sha256:dc8b26487b34b1d830c81b334683cb1123c79c7772620b5e5c047011dd96f3c2",
     "Command": "echo hello world", "Created": 1795810023, "Ports": [],
     "Labels": {"cap": "1"}, "State": "exited", "Status": "Exited (0) 1 second ago",
     "HostConfig": {"NetworkMode": "default"},
     "NetworkSettings": {"Networks": {"bridge": {}}}, "Mounts": []},
]
PS_STDOUT = """\
CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                    PORTS     NAMES
b8bbc4d7d65e   busybox   "sh -c 'while true; …"   1 second ago    Up Less than a second               cap-web
afb59b2022e5   busybox   "echo hello world"       2 seconds ago   Exited (0) 1 second ago             cap-hello
"""  # noqa: E501 - captures/04-ps-a.stdout, byte for byte
NOW = 1795810025.5


def ps(fmt: str, trunc: bool = True) -> str:
    return render(fmt, [cf.ContainerRow(c, trunc, NOW) for c in PS_JSON], cf.TITLES)


def test_ps_table_matches_the_capture() -> None:
    assert ps(cf.DEFAULT_FORMAT) == PS_STDOUT


def test_ps_quiet_and_custom_formats() -> None:
    assert ps(cf.QUIET_FORMAT) == "b8bbc4d7d65e\nafb59b2022e5\n"
    assert ps("{{.ID}}", trunc=False).splitlines()[0] == PS_JSON[0]["Id"]
    assert ps("{{.Names}} {{.State}} {{.Label \"cap\"}}") == "cap-web running 1\n" \
                                                             "cap-hello exited 1\n"
    assert ps("table {{.Names}}\\t{{.Status}}") == (
        "NAMES       STATUS\ncap-web     Up Less than a second\n"
        "cap-hello   Exited (0) 1 second ago\n")
    assert ps("{{.Command}}", trunc=False).splitlines()[0] == \
        "\"sh -c 'while true; do echo tick; sleep 1; done'\""


def test_ps_empty_table_still_has_a_header() -> None:
    assert render(cf.DEFAULT_FORMAT, [], cf.TITLES) == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n")


def test_ports_column() -> None:
    ports = [{"IP": "0.0.0.0", "PrivatePort": 8000, "PublicPort": 18080, "Type": "tcp"},
             {"IP": "::", "PrivatePort": 8000, "PublicPort": 18080, "Type": "tcp"},
             {"PrivatePort": 53, "Type": "udp"}]
    assert cf.format_ports(ports) == "53/udp, 0.0.0.0:18080->8000/tcp, [::]:18080->8000/tcp"


IMAGES_JSON: list[dict[str, Any]] = [
    {"Containers": -1, "Created": NOW - 90, "Id": "sha256:165f5e6ac52e" + "0" * 52,
     "Labels": None, "ParentId": "", "RepoDigests": None,
     "RepoTags": ["cap-app:latest", "cap-app:v2"], "SharedSize": -1, "Size": 1978000,
     "VirtualSize": 1978000},
    {"Containers": -1, "Created": NOW - 240, "Id": "sha256:d304d34ce2d8" + "0" * 52,
     "RepoDigests": [], "RepoTags": ["debian:bookworm-slim"], "Size": 116900000},
    {"Containers": -1, "Created": NOW - 400, "Id": "sha256:f3a2025fc350" + "0" * 52,
     "RepoDigests": ["<none>@<none>"], "RepoTags": ["<none>:<none>"], "Size": 0},
]
IMAGES_STDOUT = """\
REPOSITORY   TAG             IMAGE ID       CREATED              SIZE
cap-app      latest          165f5e6ac52e   About a minute ago   1.98MB
cap-app      v2              165f5e6ac52e   About a minute ago   1.98MB
debian       bookworm-slim   d304d34ce2d8   4 minutes ago        117MB
<none>       <none>          f3a2025fc350   6 minutes ago        0B
"""


def test_images_table() -> None:
    rows = imf.image_rows(IMAGES_JSON, now=NOW)
    assert render(imf.DEFAULT_FORMAT, rows, imf.TITLES) == IMAGES_STDOUT
    assert render(imf.QUIET_FORMAT, rows[:1], imf.TITLES) == "165f5e6ac52e\n"


def test_tabwriter_blocks() -> None:
    assert tabulate("a\tbb\tc\nxxxxxxxxxxxx\ty\tz\n") == (
        "a              bb        c\nxxxxxxxxxxxx   y         z\n")
    # a line without tabs ends the column block, as in `docker version`
    assert tabulate("Client:\n Version:\t1\n\nServer:\n Engine:\n  API version:\t2\n", 20, 1) == (
        "Client:\n Version:           1\n\nServer:\n Engine:\n  API version:      2\n")


def test_version_blocks() -> None:
    text = tabulate(server_block({"Components": [
        {"Name": "Engine", "Version": "20.10.24+dfsg1",
         "Details": {"ApiVersion": "1.41", "Arch": "amd64",
                     "BuildTime": "2026-05-07T21:09:36.000000000+00:00", "Experimental": "false",
                     "GitCommit": "5d6db84", "GoVersion": "go1.19.8", "MinAPIVersion": "1.12",
                     "Os": "linux"}},
        {"Name": "runc", "Version": "1.1.5+ds1", "Details": {"GitCommit": "1.1.5+ds1-1"}}]}),
        20, 1)
    assert text == """\
Server:
 Engine:
  Version:          20.10.24+dfsg1
  API version:      1.41 (minimum version 1.12)
  Go version:       go1.19.8
  Git commit:       5d6db84
  Built:            Thu May  7 21:09:36 2026
  OS/Arch:          linux/amd64
  Experimental:     false
 runc:
  Version:          1.1.5+ds1
  GitCommit:        1.1.5+ds1-1
"""
    assert " API version:       1.41 (downgraded from 1.44)\n" in tabulate(
        client_block("1.41", "1.44"), 20, 1)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.4, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (150, "2 minutes"), (3600, "About an hour"), (7200, "2 hours"), (3 * 86400, "3 days"),
    (20 * 86400, "2 weeks"), (90 * 86400, "3 months"), (800 * 86400, "2 years")])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_sizes_and_quoting() -> None:
    assert [human_size(s) for s in (0, 999, 1978000, 116900000, 2.5e9)] == [
        "0B", "999B", "1.98MB", "117MB", "2.5GB"]
    assert ellipsis("sh -c 'while true; do echo", 20) == "sh -c 'while true; …"
    assert go_quote('a "b"\t\\') == '"a \\"b\\"\\t\\\\"'


INSPECT = {"Id": "abc", "State": {"Status": "running", "Running": True, "ExitCode": 0},
           "Config": {"Env": ["A=1", "B=2"], "Cmd": ["sh", "-c", "echo <x> & y"],
                      "Labels": {"k": "v", "a": "b"}},
           "NetworkSettings": {"IPAddress": "", "Networks": {"none": {"IPAddress": ""}}},
           "Name": "/daemon"}


@pytest.mark.parametrize(("source", "out"), [
    ("{{.State.Status}}", "running"),
    ("{{.Id}}", "abc"),
    ("{{.State.Running}} {{.State.ExitCode}}", "true 0"),
    ("{{json .Config.Labels}}", '{"k":"v","a":"b"}'),
    ("{{json .Config.Cmd}}", '["sh","-c","echo \\u003cx\\u003e \\u0026 y"]'),
    ("{{.NetworkSettings.IPAddress}}", ""),
    ("{{.Config.Env}}", "[A=1 B=2]"),
    ("{{.Config.Labels}}", "map[a:b k:v]"),
    ("{{.Nope}}", "<no value>"),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=b;k=v;"),
    ("{{range $n, $net := .NetworkSettings.Networks}}{{$n}}{{end}}", "none"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if eq .State.Status \"exited\"}}x{{else if .State.Running}}r{{else}}?{{end}}", "r"),
    ("{{index .Config.Labels \"k\"}} {{index .Config.Env 1}}", "v B=2"),
    ("{{.Name | upper}} {{lower \"AB\"}} {{join .Config.Env \",\"}}", "/DAEMON ab A=1,B=2"),
    ("{{- .Id -}}  \n", "abc"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{printf \"%s:%d\" .Id 3}}", "abc:3"),
    ("{{len .Config.Env}}", "2"),
])
def test_go_templates(source: str, out: str) -> None:
    assert Template(source).execute(INSPECT) == out


@pytest.mark.parametrize("source", ["{{.Id", "{{end}}", "{{if .Id}}x", "{{nosuchfunc .Id}}"])
def test_bad_templates(source: str) -> None:
    with pytest.raises(TemplateError):
        Template(source).execute(INSPECT)


def test_inspect_json_is_docker_indented() -> None:
    assert pretty_json([{"A": [], "B": {}, "C": "<&>", "D": [1]}]) == (
        '[\n    {\n        "A": [],\n        "B": {},\n        "C": "\\u003c\\u0026\\u003e",\n'
        '        "D": [\n            1\n        ]\n    }\n]')


def test_go_field_names_reach_json_keys() -> None:
    data = {"Server": {"ApiVersion": "1.44", "Os": "linux"}}
    template = Template("{{.Server.APIVersion}} {{.Server.ApiVersion}} {{.Server.Os}}")
    assert template.execute(data) == "1.44 1.44 linux"
    assert Template("{{.Server.Nope}}").execute(data) == "<no value>"
