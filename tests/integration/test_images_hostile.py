"""Hostile input against a private ketchd: image archives (`load`), API bodies and query
parameters, and containers whose files are built to hurt the daemon (deep trees, a FIFO
where /etc/passwd should be). Each failure must be one clear 4xx line, leave the store as
it was, and leave the daemon serving everyone else."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from support.daemon import Ketchd, api, docker, load_bytes, running_ketchd

pytestmark = pytest.mark.integration

TarEntry = tuple[str, bytes]  # (name, content) of a regular file


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


# -- helpers -------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_of(entries: list[TarEntry]) -> bytes:
    """A PAX tar of regular files, in order (duplicates allowed)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_files(layers: list[bytes], *, tag: str = "hostile:1",
                config_extra: dict[str, object] | None = None) -> list[TarEntry]:
    """The files of a docker-archive (blob-named) for uncompressed layer tars."""
    diff_ids = [f"sha256:{sha(layer)}" for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         **(config_extra or {}),
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps([{"Config": f"blobs/sha256/{sha(config)}", "RepoTags": [tag],
                            "Layers": [f"blobs/sha256/{sha(layer)}" for layer in layers]}])
    blobs = {f"blobs/sha256/{sha(blob)}": blob for blob in (*layers, config)}
    return [*blobs.items(), ("manifest.json", manifest.encode())]


def store_state(kd: Ketchd) -> tuple[list[str], list[str], str]:
    images = sorted(os.listdir(kd.data_root / "image" / "content" / "sha256"))
    layers = sorted(os.listdir(kd.data_root / "image" / "layers"))
    tags = (kd.data_root / "image" / "repositories.json").read_text()
    return images, layers, tags


def leftovers(kd: Ketchd) -> list[str]:
    """Anything in layers/ that is not a stored layer (.tmp- and .del- directories)."""
    return [n for n in os.listdir(kd.data_root / "image" / "layers")
            if not re.fullmatch(r"[0-9a-f]{64}", n)]


def one_line_4xx(status: int, body: bytes | str) -> None:
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    assert 400 <= status < 500, (status, text[:300])
    message = json.loads(text)["message"]
    assert "\n" not in message and "Traceback" not in message, message


def request(kd: Ketchd, method: str, path: str, body: bytes = b"", *,
            timeout: float, headers: str = "") -> tuple[int, bytes]:
    """As support.daemon.api, with a timeout of our own (socket.timeout when it passes)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(kd.socket))
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        deadline = time.monotonic() + timeout
        while chunk := s.recv(65536):
            data += chunk
            if time.monotonic() > deadline:
                raise TimeoutError("answer too slow")
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def dechunked(body: bytes) -> bytes:
    """The content of an HTTP/1.1 chunked body (a streamed answer, e.g. an export); a cut
    stream gives what came before the cut."""
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if not size:
            break
        out += body[:size]
        body = body[size + 2:]
    return bytes(out)


def put_archive(kd: Ketchd, container: str, path: str, tar: bytes, query: str = "",
                timeout: float = 20) -> tuple[int, bytes]:
    return request(kd, "PUT", f"/containers/{container}/archive?path={quote(path)}{query}",
                   tar, timeout=timeout, headers="Content-Type: application/x-tar\r\n")


def created(kd: Ketchd, name: str, *args: str) -> str:
    proc = docker(kd, "create", "--name", name, *args, "busybox", "true")
    assert proc.returncode == 0, proc.stderr
    return str(proc.stdout).strip()


# -- docker load: the store after a hostile archive -------------------------------------------


def test_a_path_twice_in_the_archive_leaves_no_pending_layer(kd: Ketchd) -> None:
    """load keeps one blob per path (archive.files[path] = ...): an earlier file of the
    same name was extracted already and is forgotten, never discarded: a .tmp- layer
    directory stays until the daemon restarts. Repeat the name N times: N leaked layers."""
    layer = tar_of([("f", b"the real layer\n")])
    decoy = tar_of([("big", os.urandom(1 << 20))])
    entries = image_files([layer], tag="dup:1")
    layer_name = entries[0][0]
    assert layer_name == f"blobs/sha256/{sha(layer)}"
    archive = tar_of([(layer_name, decoy), (layer_name, decoy), *entries])
    before, pending = store_state(kd), leftovers(kd)
    status, _ = load_bytes(kd, archive)
    try:
        assert leftovers(kd) == pending, "pending layers left behind in image/layers"
    finally:
        if status == 200:
            docker(kd, "rmi", "dup:1")
    assert store_state(kd) == before


def test_one_blob_used_twice_in_a_chain_and_by_two_images(kd: Ketchd) -> None:
    """Guard: the same layer file at two positions (two chainIDs) and in two images is
    stored once per chain, nothing pending stays, and an untagged docker-archive config
    (not named by a digest) gets its bytes' sha256 as the image ID."""
    layer = tar_of([("f", b"shared\n")])
    twice = image_files([layer, layer], tag="twice:1")
    once = image_files([layer], tag="once:1")
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha(layer)}"]}})
    plain = [("plain.json", config.encode())]
    manifest = json.loads(twice[-1][1]) + json.loads(once[-1][1]) + [
        {"Config": "plain.json", "RepoTags": ["plain:1"], "Layers": [twice[0][0]]}]
    blobs = dict([*twice[:-1], *once[:-1], *plain])  # each path once
    archive = tar_of([*blobs.items(), ("manifest.json", json.dumps(manifest).encode())])
    pending = leftovers(kd)
    status, body = load_bytes(kd, archive)
    try:
        assert status == 200, body
        assert leftovers(kd) == pending
        out = docker(kd, "inspect", "-f", "{{.Id}} {{len .RootFS.Layers}}", "twice:1",
                     "once:1", "plain:1").stdout.split()
        assert out[1::2] == ["2", "1", "1"]
        assert out[4] == f"sha256:{sha(config.encode())}"
    finally:
        docker(kd, "rmi", "twice:1", "once:1", "plain:1")


def _gzip_of_zeros_file(size: int) -> bytes:
    """gzip of a tar holding one file of `size` zero bytes, made without holding it."""
    import zlib

    info = tarfile.TarInfo("zeros")
    info.size = size
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    out = [packer.compress(info.tobuf(tarfile.USTAR_FORMAT))]
    chunk = bytes(1 << 20)
    for _ in range(size >> 20):
        out.append(packer.compress(chunk))
    out += [packer.compress(bytes(-size % 512 + 1024)), packer.flush()]
    return b"".join(out)


def test_http_content_encoding_does_not_bypass_the_bomb_ratio(kd: Ketchd) -> None:
    """aiohttp inflates a `Content-Encoding: gzip` request body before the extractor
    sees it (auto_decompress), so the extractor counts inflated bytes as the upload and
    its 1000:1 bound never fires: ~300 KiB sent write 300 MiB (any size: only the disk's
    free space stops it), for import, load and cp alike. Without the header the same
    bytes are refused as a decompression bomb."""
    size = 300 << 20
    body = _gzip_of_zeros_file(size)
    assert size > 1000 * len(body)  # a bomb by the extractor's own rule, as a gzip layer
    status, text = request(kd, "POST", "/images/create?fromSrc=-&repo=cebomb&tag=0", body,
                           timeout=60, headers="Content-Type: application/x-tar\r\n")
    assert status == 400 and b"decompression bomb" in text, (status, text[:300])
    status, text = request(kd, "POST", "/images/create?fromSrc=-&repo=cebomb&tag=1", body,
                           timeout=60, headers="Content-Encoding: gzip\r\n"
                                               "Content-Type: application/x-tar\r\n")
    try:
        assert 400 <= status < 500 and b"decompression bomb" in text, (status, text[:300])
    finally:
        docker(kd, "rmi", "cebomb:1")


def test_one_layer_repeated_past_overlays_depth_is_refused(kd: Ketchd) -> None:
    """Nothing bounds the layers of an image: one blob listed 130 times is 130 chainIDs,
    each a full `cp -a` copy of the extracted layer (a 256 MiB layer is ~256 KiB of
    gzip: a tiny archive fills the disk), and overlayfs cannot mount that many lowers
    anyway. Docker's overlay2 refuses more than 128 (maxDepth) when the layers are made."""
    layer = tar_of([("f", b"x\n")])
    files = image_files([layer] * 130, tag="tall:1")
    before = store_state(kd)
    status, body = load_bytes(kd, tar_of(files))
    try:
        added = len(store_state(kd)[1]) - len(before[1])
        assert status == 400, f"loaded with {added} new layer directories"
        one_line_4xx(status, body)
    finally:
        if status == 200:
            docker(kd, "rmi", "tall:1")
    assert store_state(kd) == before


def test_a_config_of_the_wrong_shape_never_breaks_the_image_list(kd: Ketchd) -> None:
    """load stores any JSON object as a config; `"config": ["x"]` then breaks
    Image.summary (dict(["x"])): GET /images/json answers 500 for every client until
    the image is removed. Docker refuses such a config when loading it (unmarshal error)."""
    layer = tar_of([("f", b"x\n")])
    archive = tar_of(image_files([layer], tag="shape:1", config_extra={"config": ["x"]}))
    status, body = load_bytes(kd, archive)
    try:
        listed, text = api(kd, "GET", "/images/json")
        assert listed == 200, text[:300]
        if status == 200:  # kept: it must at least be inspectable
            inspected, text = api(kd, "GET", "/images/shape:1/json")
            assert inspected == 200, text[:300]
        else:
            one_line_4xx(status, body)
    finally:
        docker(kd, "rmi", "-f", "shape:1")


def test_deeply_nested_json_is_a_400(kd: Ketchd) -> None:
    """json.loads raises RecursionError (not ValueError) past ~1000 levels: every JSON
    parse that catches only ValueError answers 500 instead of 400."""
    nested = b"[" * 100_000
    cases: dict[str, Callable[[], tuple[int, bytes | str]]] = {
        "load manifest.json": lambda: load_bytes(kd, tar_of([("manifest.json", nested)])),
        "load index.json": lambda: load_bytes(kd, tar_of([("index.json", b"{\"a\":" + nested)])),
        "commit body": lambda: api(kd, "POST", "/commit?container=nothing", nested),
        "filters": lambda: api(kd, "GET", "/images/json?filters=" + "%5B" * 2000),
        "create body": lambda: api(kd, "POST", "/containers/create", nested,
                                   headers="Content-Type: application/json\r\n"),
    }
    failures = {}
    for name, call in cases.items():
        status, body = call()
        text = body if isinstance(body, str) else body.decode(errors="replace")
        if not 400 <= status < 500:
            failures[name] = (status, text[:120])
    assert failures == {}


# -- containers built to hurt the daemon -------------------------------------------------------


def _deep_tar(depth: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for level in range(1, depth + 1):
            info = tarfile.TarInfo("/".join(["d"] * level))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    return buf.getvalue()


def test_a_deep_tree_in_a_container_can_be_diffed_committed_and_exported(kd: Ketchd) -> None:
    """500 nested directories (the extractor's own bound is 512): diff (treediff, 2
    frames a level), commit and export (TarWriter, 3 frames a level) hit Python's
    recursion limit: 500 for diff and commit, a cut stream for export."""
    cid = created(kd, "deep")
    try:
        status, body = put_archive(kd, cid, "/", _deep_tar(500))
        assert status == 200, body
        status, body = request(kd, "GET", f"/containers/{cid}/changes", timeout=20)
        assert status == 200, body[:300]
        assert len(json.loads(body)) == 500
        status, body = request(kd, "POST", f"/commit?container={cid}&repo=deep&tag=1",
                               timeout=20)
        assert status == 201, body[:300]
        status, body = request(kd, "GET", f"/containers/{cid}/export", timeout=20)
        assert status == 200
        with tarfile.open(fileobj=io.BytesIO(dechunked(body))) as tar:  # a cut one fails
            assert "/".join(["d"] * 500) in {n.rstrip("/") for n in tar.getnames()}
    finally:
        docker(kd, "rm", "-f", cid)
        docker(kd, "rmi", "deep:1")


def test_a_fifo_for_etc_passwd_does_not_hang_cp_with_copy_uid_gid(kd: Ketchd) -> None:
    """copyUIDGID reads the container's /etc/passwd with a blocking open: a container
    that made it a FIFO hangs the call forever, holding the container's lock (stop, rm,
    start of that container wait too) and a worker thread. engine/spec.py reads the same
    file with O_NONBLOCK and a regular-file check; users.lookup does not."""
    cid = created(kd, "fifo", "-u", "someone")
    merged = kd.data_root / "overlay" / cid / "merged" / "etc" / "passwd"
    fifo = io.BytesIO()
    with tarfile.open(fileobj=fifo, mode="w") as tar:
        info = tarfile.TarInfo("passwd")
        info.type, info.mode = tarfile.FIFOTYPE, 0o644
        tar.addfile(info)
    try:
        status, body = put_archive(kd, cid, "/etc", fifo.getvalue())
        assert status == 200, body
        hung = False
        try:
            status, body = put_archive(kd, cid, "/tmp", tar_of([("x", b"x")]),
                                       "&copyUIDGID=1", timeout=4)
        except TimeoutError:
            hung = True
        finally:
            _unblock_fifo(merged)
        assert not hung, "PUT archive?copyUIDGID=1 hung on a FIFO /etc/passwd"
        one_line_4xx(status, body)
    finally:
        docker(kd, "rm", "-f", cid)


def _unblock_fifo(path: Path) -> None:
    """Give a reader stuck in open() on the FIFO its writer, then EOF."""
    for _ in range(20):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError:  # no reader (yet, or any more), or not mounted
            time.sleep(0.05)


def test_stalled_uploads_do_not_starve_other_requests(kd: Ketchd) -> None:
    """Every upload (load, import, cp in) blocks a thread of the event loop's default
    executor while it waits for the client's bytes, with no timeout; that pool has
    min(32, CPUs + 4) threads and also runs image tag/rmi/save, container create, commit
    and diff. A handful of clients that send headers and then nothing stop the daemon."""
    stalled: list[socket.socket] = []
    try:
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(kd.socket))
            s.sendall(b"POST /images/load HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/x-tar\r\nContent-Length: 1000000\r\n\r\n"
                      + b"\0" * 16)
            stalled.append(s)
        time.sleep(0.5)
        try:
            status, body = request(kd, "POST", "/images/busybox/tag?repo=starve&tag=1",
                                   timeout=4)
        except TimeoutError:
            pytest.fail("a tag request waited behind 40 stalled uploads")
        assert status == 201, body
    finally:
        for s in stalled:
            s.close()
        deadline = time.monotonic() + 20  # the queue drains once the uploads are gone
        while time.monotonic() < deadline:
            try:
                request(kd, "GET", "/images/busybox/history", timeout=2)
                break
            except TimeoutError:
                continue
        docker(kd, "rmi", "starve:1")
