"""`save` and `load` (docker-archive and OCI layout), interchange with the real Docker
engine, hostile archives, and layers shared by many containers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, docker, load_bytes, ok, running_ketchd
from support.dockerd import Dockerd, running_dockerd

pytestmark = pytest.mark.integration

BUSYBOX_TAR = Path("/var/cache/ketch/base/busybox.tar")
DOCKERFILE = """\
FROM busybox:latest
RUN mkdir -p /data/sub && echo one > /data/sub/a && echo two > /data/b \\
 && ln /data/b /data/hard && ln -s /data/b /data/sym && chmod 4755 /data/b \\
 && mkfifo /data/fifo && mknod /data/null c 1 3
RUN rm -rf /data/sub && rm /bin/vi && echo changed > /data/b && mkdir /opq && touch /opq/x
RUN rm -rf /opq && mkdir /opq && touch /opq/y
ENV FOO=bar
CMD ["sh", "-c", "ls -lan --full-time /data /opq | grep -v '[.][.]$'; cat /data/b /data/hard; \
ls /bin/vi /data/sub 2>&1; echo $FOO"]
"""
# what a container of a layered image sees (the root's own time varies: left out)
CHECK = ("ls -lan --full-time /data /opq | grep -v [.][.]$; cat /data/b /data/hard; "
         "ls /bin/vi /data/sub 2>&1; true")


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    with running_dockerd(tmp_path_factory.mktemp("dockerd")) as daemon:
        daemon.import_busybox()
        yield daemon


def store_state(kd: Ketchd) -> tuple[list[str], list[str], str]:
    """What a failed load must not change: images, layer directories, tags."""
    images = sorted(os.listdir(kd.data_root / "image" / "content" / "sha256"))
    layers = sorted(os.listdir(kd.data_root / "image" / "layers"))
    tags = (kd.data_root / "image" / "repositories.json").read_text()
    return images, layers, tags


def make_tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_of(layers: list[bytes], *, tags: list[str] | None = None,
               config_extra: dict[str, object] | None = None) -> tuple[bytes, dict[str, bytes]]:
    """A docker-archive for layer tars (uncompressed), blob-named; returns it and its files."""
    diff_ids = [f"sha256:{sha(layer)}" for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"]}, **(config_extra or {}),
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    files = {f"blobs/sha256/{sha(layer)}": layer for layer in layers}
    files[f"blobs/sha256/{sha(config)}"] = config
    files["manifest.json"] = json.dumps([{
        "Config": f"blobs/sha256/{sha(config)}", "RepoTags": tags or ["hostile:1"],
        "Layers": [f"blobs/sha256/{sha(layer)}" for layer in layers]}]).encode()
    return make_tar(files), files


# -- round trips -------------------------------------------------------------------------


def test_save_then_load_gives_the_same_image(kd: Ketchd, tmp_path: Path) -> None:
    image_id = ok(docker(kd, "inspect", "-f", "{{.Id}}", "busybox")).strip()
    ok(docker(kd, "tag", "busybox", "copy:1"))
    archive = tmp_path / "bb.tar"
    ok(docker(kd, "save", "-o", str(archive), "busybox", "copy:1"))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
        config = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= set(names)
    assert sorted(manifest[0]["RepoTags"]) == ["busybox:latest", "copy:1"]
    assert f"sha256:{sha(config)}" == image_id  # the config's exact bytes
    assert f"sha256:{sha(layer)}" == json.loads(config)["rootfs"]["diff_ids"][0]
    assert layer == BUSYBOX_TAR.read_bytes()  # the layer as it was imported, byte for byte
    assert {m["annotations"]["io.containerd.image.name"] for m in index["manifests"]} == {
        "docker.io/library/busybox:latest", "docker.io/library/copy:1"}
    ok(docker(kd, "rmi", "copy:1"))
    before = sorted(os.listdir(kd.data_root / "image" / "layers"))
    out = ok(docker(kd, "load", "-i", str(archive)))
    assert out.splitlines() == ["Loaded image: busybox:latest", "Loaded image: copy:1"]
    assert ok(docker(kd, "inspect", "-f", "{{.Id}}", "copy:1")).strip() == image_id
    assert sorted(os.listdir(kd.data_root / "image" / "layers")) == before  # stored once
    ok(docker(kd, "rmi", "copy:1"))


def test_docker_built_image_runs_identically_in_ketch_and_back(
        kd: Ketchd, dockerd: Dockerd, tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    ok(dockerd("build", "-q", "-t", "multi:1", str(tmp_path / "ctx")))
    expected = ok(dockerd("run", "--rm", "multi:1"))
    assert "changed" in expected and "No such file" in expected and "bar" in expected
    docker_id = ok(dockerd("inspect", "-f", "{{.Id}}", "multi:1")).strip()
    archive = tmp_path / "multi.tar"
    ok(dockerd("save", "-o", str(archive), "multi:1"))  # Docker's own format (20.10: v1 dirs)

    assert ok(docker(kd, "load", "-i", str(archive))).strip() == "Loaded image: multi:1"
    assert ok(docker(kd, "inspect", "-f", "{{.Id}}", "multi:1")).strip() == docker_id
    assert ok(docker(kd, "run", "--rm", "multi:1")) == expected

    # and back: ketch's archive into Docker, after Docker forgot the image
    again = tmp_path / "again.tar"
    ok(docker(kd, "save", "-o", str(again), "multi:1"))
    ok(dockerd("rmi", "multi:1"))
    assert "Loaded image: multi:1" in ok(dockerd("load", "-i", str(again)))
    assert ok(dockerd("inspect", "-f", "{{.Id}}", "multi:1")).strip() == docker_id
    assert ok(dockerd("run", "--rm", "multi:1")) == expected


def test_oci_layout_with_compressed_layers_and_nested_index(kd: Ketchd) -> None:
    base = BUSYBOX_TAR.read_bytes()
    top = make_tar({"hello.txt": b"from an OCI layout\n"})
    compressed = [gzip.compress(base, 1), gzip.compress(top, 1)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["cat", "/hello.txt"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [f"sha256:{sha(base)}", f"sha256:{sha(top)}"]}
                         }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": f"sha256:{sha(config)}", "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{sha(c)}", "size": len(c)} for c in compressed]}).encode()
    platform = {"architecture": os.uname().machine.replace("x86_64", "amd64")
                .replace("aarch64", "arm64"), "os": "linux"}
    nested = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": f"sha256:{sha(manifest)}", "size": len(manifest),
                       "platform": platform}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": f"sha256:{sha(nested)}", "size": len(nested),
        "annotations": {"io.containerd.image.name": "example.test:5000/team/oci:v1"}}]})
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index.encode()}
    for blob in (*compressed, config, manifest, nested):
        files[f"blobs/sha256/{sha(blob)}"] = blob
    status, body = load_bytes(kd, make_tar(files))
    assert status == 200, body
    assert "Loaded image: example.test:5000/team/oci:v1" in body
    assert ok(docker(kd, "run", "--rm", "example.test:5000/team/oci:v1")) == \
        "from an OCI layout\n"
    assert ok(docker(kd, "inspect", "-f", "{{.Id}}", "example.test:5000/team/oci:v1")) \
        .strip() == f"sha256:{sha(config)}"
    ok(docker(kd, "rmi", "example.test:5000/team/oci:v1"))


# -- hostile archives --------------------------------------------------------------------


def test_digest_mismatches_are_refused_and_leave_nothing(kd: Ketchd) -> None:
    good_layer = make_tar({"f": b"good"})
    before = store_state(kd)

    # a layer whose bytes are not its config's diffID
    _, files = archive_of([good_layer])
    files[f"blobs/sha256/{sha(good_layer)}"] = make_tar({"f": b"evil"})
    status, body = load_bytes(kd, make_tar(files))
    assert status == 400 and "does not match" in body

    # a config whose bytes are not its name (the image ID would lie)
    _, files = archive_of([good_layer])
    manifest = json.loads(files["manifest.json"])
    config_name = manifest[0]["Config"]
    files[config_name] = files[config_name].replace(b'"sh"', b'"id"')
    status, body = load_bytes(kd, make_tar(files))
    assert status == 400 and "does not match its digest" in body

    # a layer of another content under the right name, diffIDs changed to match it
    evil = make_tar({"f": b"evil"})
    _, files = archive_of([evil])
    files[f"blobs/sha256/{sha(good_layer)}"] = files.pop(f"blobs/sha256/{sha(evil)}")
    manifest = json.loads(files["manifest.json"])
    manifest[0]["Layers"] = [f"blobs/sha256/{sha(good_layer)}"]
    files["manifest.json"] = json.dumps(manifest).encode()
    status, body = load_bytes(kd, make_tar(files))
    assert status == 400 and "does not match" in body
    assert store_state(kd) == before


def test_broken_and_escaping_archives_are_refused_and_leave_nothing(kd: Ketchd) -> None:
    before = store_state(kd)
    cases: dict[str, bytes] = {}
    # a layer that writes outside
    escaping = io.BytesIO()
    with tarfile.open(fileobj=escaping, mode="w") as tar:
        info = tarfile.TarInfo("../../../../tmp/ketch-escape")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    cases["escape"] = archive_of([escaping.getvalue()])[0]
    # the layer is a symlink out of the archive
    _, files = archive_of([make_tar({"f": b"x"})])
    layer_name = json.loads(files["manifest.json"])[0]["Layers"][0]
    del files[layer_name]
    cases["symlink"] = make_tar(files, links={layer_name: "../../../../etc/passwd"})
    # the layer is missing
    _, files = archive_of([make_tar({"f": b"x"})])
    del files[layer_name]
    cases["missing"] = make_tar(files)
    # a manifest that is not a list, one far too large, one with a bad layer count
    cases["not-a-list"] = make_tar({"manifest.json": b'{"Config": "x"}'})
    cases["huge"] = make_tar({"manifest.json": b"[" + b" " * (5 << 20) + b"]"})
    _, files = archive_of([make_tar({"f": b"x"})])
    manifest = json.loads(files["manifest.json"])
    manifest[0]["Layers"] = []
    files["manifest.json"] = json.dumps(manifest).encode()
    cases["count"] = make_tar(files)
    # neither format, and not a tar at all
    cases["neither"] = make_tar({"hello": b"world"})
    cases["garbage"] = os.urandom(4096)
    for name, data in cases.items():
        status, body = load_bytes(kd, data)
        assert status == 400, (name, status, body)
        message = json.loads(body)["message"]
        assert "\n" not in message and "Traceback" not in message, name
    assert not os.path.exists("/tmp/ketch-escape")
    assert store_state(kd) == before
    leftovers = [n for n in os.listdir(kd.data_root / "image" / "layers")
                 if not re.fullmatch(r"[0-9a-f]{64}", n)]
    assert leftovers == []


def test_gzip_bomb_layer_is_refused(kd: Ketchd) -> None:
    before = store_state(kd)
    zeros = io.BytesIO()
    with tarfile.open(fileobj=zeros, mode="w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 300 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    bomb = gzip.compress(zeros.getvalue(), 9)
    assert len(bomb) < 1 << 20
    files = {"manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l.tar.gz"]}]).encode(),
             "c.json": json.dumps({"rootfs": {"type": "layers",
                                              "diff_ids": [f"sha256:{sha(zeros.getvalue())}"]}
                                   }).encode(),
             "l.tar.gz": bomb}
    status, body = load_bytes(kd, make_tar(files))
    assert status == 400 and "decompression bomb" in body
    assert store_state(kd) == before


# -- sharing -----------------------------------------------------------------------------


def test_twenty_containers_share_the_image_layers(kd: Ketchd) -> None:
    layers = sorted(os.listdir(kd.data_root / "image" / "layers"))
    ids = []
    try:
        for _ in range(20):
            ids.append(ok(docker(kd, "run", "-d", "busybox", "sleep", "60")).strip())
        lowers = set()
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if any(f"/overlay/{cid}/merged" in line for cid in ids):
                    # "lowerdir=a:b" (mount(2)) or "lowerdir+=a,lowerdir+=b" (fsconfig)
                    lowers.add(":".join(re.findall(r"lowerdir\+?=([^,]+)", line)))
        assert len(lowers) == 1  # twenty mounts, one lower layer directory
        (lower,) = lowers
        assert lower.startswith(str(kd.data_root / "image" / "layers"))
        assert sorted(os.listdir(kd.data_root / "image" / "layers")) == layers
    finally:
        if ids:
            docker(kd, "rm", "-f", *ids)


def test_ketch_committed_image_runs_identically_in_docker(
        kd: Ketchd, dockerd: Dockerd, tmp_path: Path) -> None:
    """Layers ketch makes (commit: whiteouts, an opaque directory, a hard link, setuid)
    read the same in Docker, with the same image ID."""
    steps = [
        "mkdir -p /data/sub /opq && echo one > /data/sub/a && echo two > /data/b && "
        "ln /data/b /data/hard && ln -s /data/b /data/sym && chmod 4755 /data/b && "
        "touch /opq/x",
        "rm -rf /data/sub /bin/vi /opq && mkdir /opq && touch /opq/y && echo new > /data/c",
    ]
    image = "busybox"
    for i, step in enumerate(steps):
        ok(docker(kd, "run", "--name", f"step{i}", image, "sh", "-c", step))
        ok(docker(kd, "commit", "-c", f'CMD ["sh", "-c", "{CHECK}"]', f"step{i}",
                  f"ketchmade:{i}"))
        ok(docker(kd, "rm", f"step{i}"))
        image = f"ketchmade:{i}"
    expected = ok(docker(kd, "run", "--rm", image))
    assert "No such file" in expected and "y" in expected
    image_id = ok(docker(kd, "inspect", "-f", "{{.Id}}", image)).strip()
    archive = tmp_path / "ketchmade.tar"
    ok(docker(kd, "save", "-o", str(archive), image))
    assert f"Loaded image: {image}" in ok(dockerd("load", "-i", str(archive)))
    assert ok(dockerd("inspect", "-f", "{{.Id}}", image)).strip() == image_id
    assert ok(dockerd("run", "--rm", image)) == expected


def test_ketch_cli_save_and_load(kd: Ketchd, tmp_path: Path) -> None:
    """The ketch CLI: save -o, load -i (a file: sent by sendfile), load from a pipe
    (chunked) and from a redirected file; errors are one line and exit 1."""
    import subprocess

    def ketch(*args: str, stdin: object = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["ketch", *args], env=kd.env(), stdin=stdin,
                              capture_output=True, timeout=60, check=False)

    assert ketch("tag", "busybox", "kcli:1").returncode == 0
    archive = tmp_path / "kcli.tar"
    assert ketch("save", "-o", str(archive), "kcli:1").returncode == 0
    assert archive.stat().st_mode & 0o777 == 0o600  # as the docker CLI's -o file
    for how in ("-i", "redirect", "pipe"):
        assert ketch("rmi", "kcli:1").returncode == 0
        if how == "-i":
            proc = ketch("load", "-i", str(archive))
        elif how == "redirect":
            with open(archive, "rb") as f:
                proc = ketch("load", stdin=f)
        else:
            proc = subprocess.run(f"cat {archive} | ketch load", shell=True, env=kd.env(),
                                  capture_output=True, timeout=60, check=False)
        assert (proc.returncode, proc.stdout) == (0, b"Loaded image: kcli:1\n"), (how, proc)
    missing = ketch("save", "-o", str(tmp_path / "x.tar"), "nothere:1")
    assert missing.returncode == 1 and missing.stderr.count(b"\n") == 1
    assert not (tmp_path / "x.tar").exists()
    bad = ketch("load", "-i", "/dev/null")
    assert bad.returncode == 1 and bad.stderr.count(b"\n") == 1
    assert ketch("rmi", "kcli:1").returncode == 0
