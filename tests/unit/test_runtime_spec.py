"""config.json validation: every bad shape is one clear InvalidParameter, checked up front."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ketch.errors import InvalidParameter, NotFound
from ketch.runtime import spec
from ketch.runtime.specgen import default_spec


def valid() -> dict[str, Any]:
    config = default_spec()
    config["process"]["terminal"] = False
    return config


def test_default_specs_are_valid() -> None:
    spec.validate(valid())
    spec.validate(default_spec(rootless=True))


@pytest.mark.parametrize(("path", "value", "message"), [
    (("ociVersion",), 1, "ociVersion must be a string"),
    (("root", "path"), "", "root.path must not be empty"),
    (("process", "args"), "sh", "process.args must be an array"),
    (("process", "env"), ["NOEQUALS"], "is not KEY=value"),
    (("process", "terminal"), "yes", "process.terminal must be a boolean"),
    (("process", "oomScoreAdj"), 5000, "outside -1000..1000"),
    (("process", "user", "uid"), -1, "must not be negative"),
    (("process", "user", "gid"), True, "must be a number"),
    (("process", "rlimits"), [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}],
     "above the hard limit"),
    (("process", "rlimits"), [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                              {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}], "set twice"),
    (("process", "capabilities", "bogus"), [], "unknown set"),
    (("linux", "rootfsPropagation"), "sideways", "unknown value"),
    (("linux", "devices"), [{"path": "/dev/x", "type": "q"}], "type must be one of"),
    (("linux", "uidMappings"), [{"containerID": 0, "hostID": 1, "size": 0}],
     "size must not be zero"),
    (("linux", "timeOffsets"), {"monotonic": {"secs": 1}}, "without a time namespace"),
    (("linux", "personality"), {"domain": "PER_BSD"}, "LINUX or LINUX32"),
    (("hooks",), {"preflight": []}, "unknown hook kind"),
    (("hooks",), {"prestart": [{"path": "/x", "timeout": 0}]}, "greater than zero"),
    (("mounts",), [{"type": "tmpfs"}], "mounts[0].destination must be a string"),
])
def test_bad_values(path: tuple[str, ...], value: Any, message: str) -> None:
    config = valid()
    target = config
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    with pytest.raises(InvalidParameter) as e:
        spec.validate(config)
    assert message in str(e.value)
    assert str(e.value).startswith("invalid config.json: ")


def test_sysctls_must_be_namespaced() -> None:
    config = valid()
    config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    spec.validate(config)  # the config has a network namespace
    config["linux"]["namespaces"] = [{"type": "mount"}]
    del config["hostname"]
    with pytest.raises(InvalidParameter, match="host network namespace"):
        spec.validate(config)
    config["linux"]["sysctl"] = {"vm.swappiness": "1"}
    with pytest.raises(InvalidParameter, match="not namespaced"):
        spec.validate(config)


def test_load_bundle(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(valid()))
    config = spec.load_bundle(str(tmp_path))
    assert config["root"]["path"] == str(tmp_path / "rootfs")
    (tmp_path / "config.json").write_text("[1, 2")
    with pytest.raises(InvalidParameter, match="not JSON"):
        spec.load_bundle(str(tmp_path))
    (tmp_path / "config.json").unlink()
    with pytest.raises(NotFound, match=r"config\.json not found"):
        spec.load_bundle(str(tmp_path))


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "../x", "x y", "é", "a\n"])
def test_bad_container_ids(cid: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid container id"):
        spec.check_id(cid)


def test_good_container_ids() -> None:
    for cid in ("a", "abc-DEF_1.2+3", "0" * 64):
        spec.check_id(cid)
