"""-v, --mount and VOLUMEs read with Docker's rules (the messages are dockerd 20.10's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.cli.command import CLIError
from ketch.cli.mountflags import mount_flag, volume_flag
from ketch.engine.mounts import mount_point, plan, spec_mounts
from ketch.errors import InvalidParameter


def test_binds_volumes_and_anonymous_volumes(tmp_path: Path) -> None:
    wanted = plan({"Binds": [f"{tmp_path}:/hb:ro", "named1:/n"],
                   "Mounts": [{"Type": "tmpfs", "Target": "/t"},
                              {"Type": "volume", "Target": "/v2"}]},
                  {"/anon": {}}, {"/n": {}, "/img": {}})
    assert [(w.type, w.source, w.destination) for w in wanted] == [
        ("bind", str(tmp_path), "/hb"), ("volume", "named1", "/n"), ("tmpfs", "", "/t"),
        ("volume", "", "/v2"), ("volume", "", "/img"), ("volume", "", "/anon")]
    bind, named = wanted[0], wanted[1]
    assert mount_point(bind) == {"Type": "bind", "Source": str(tmp_path), "Destination": "/hb",
                                 "Mode": "ro", "RW": False, "Propagation": "rprivate"}
    assert mount_point(named, "named1", "/v/named1/_data") == {
        "Type": "volume", "Name": "named1", "Source": "/v/named1/_data", "Destination": "/n",
        "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}
    assert mount_point(wanted[-1], "x", "/v/x/_data")["Mode"] == ""  # a VOLUME: no mode


@pytest.mark.parametrize(("host", "message"), [
    ({"Binds": ["/tmp:rel"]}, "invalid volume specification: '/tmp:rel': invalid mount config "
     "for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
    ({"Binds": ["/tmp:/x", "named:/x"]}, "Duplicate mount point: /x"),
    ({"Binds": ["/tmp:/x:bogus"]}, "invalid mode: bogus"),
    ({"Mounts": [{"Type": "bind", "Source": "/nope-ketch", "Target": "/x"}]},
     "invalid mount config for type \"bind\": bind source path does not exist: /nope-ketch"),
    ({"Mounts": [{"Type": "tmpfs", "Source": "/x", "Target": "/t"}]},
     "invalid mount config for type \"tmpfs\": field Source must not be specified"),
    ({"Mounts": [{"Type": "bind", "Source": "/tmp"}]},
     "invalid mount config for type \"bind\": field Target must not be empty"),
])
def test_refusals(host: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        plan(host, None, None)
    assert str(caught.value) == message


def test_spec_mounts_put_parents_first(tmp_path: Path) -> None:
    points = [mount_point(w, "v", "/v/_data") if w.type == "volume" else mount_point(w)
              for w in plan({"Binds": [f"{tmp_path}:/a/b/c", "v:/a"]}, None, None)]
    mounts = spec_mounts(points, [])
    assert [m["destination"] for m in mounts] == ["/a", "/a/b/c"]
    assert mounts[1]["options"] == ["rbind", "rprivate", "rw"]


def test_cli_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert volume_flag("./site:/usr/share/nginx/html:ro") == \
        f"{os.path.realpath(tmp_path)}/site:/usr/share/nginx/html:ro"
    assert volume_flag("named:/x") == "named:/x"
    assert mount_flag("type=bind,src=/a,dst=/b,readonly") == {
        "Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True}
    assert mount_flag("target=/v,volume-opt=type=tmpfs,volume-nocopy") == {
        "Type": "volume", "Target": "/v",
        "VolumeOptions": {"DriverConfig": {"Options": {"type": "tmpfs"}}, "NoCopy": True}}
    assert mount_flag("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770") == {
        "Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20,
                                                          "Mode": 0o1770}}
    for bad, words in (("type=bind,target", "must be a key=value pair"),
                       ("foo=bar,target=/x", "unexpected key 'foo'"),
                       ("type=volume", "target is required")):
        with pytest.raises(CLIError) as caught:
            mount_flag(bad)
        assert words in caught.value.message and caught.value.code == 125
