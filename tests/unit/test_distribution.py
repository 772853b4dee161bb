"""The distribution pieces that need no registry: manifests (parse, checks, platform
choice), auth (challenges, X-Registry-Auth, token cache), endpoints (insecure rules,
mirrors) and the progress bar text."""

from __future__ import annotations

import base64
import json

import pytest

from ketch.distribution import manifest as mf
from ketch.distribution.auth import (
    Credentials,
    TokenCache,
    credentials_of,
    decode_registry_auth,
    parse_challenges,
)
from ketch.distribution.progress import bar
from ketch.distribution.registries import RegistryConfig, credentials_key
from ketch.errors import InvalidParameter

DIGEST = "sha256:" + "a" * 64


def _manifest(**extra: object) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": mf.DOCKER_MANIFEST,
           "config": {"mediaType": mf.DOCKER_CONFIG, "size": 10, "digest": DIGEST},
           "layers": [{"mediaType": mf.DOCKER_LAYER, "size": 5, "digest": DIGEST}]}
    doc.update(extra)
    return json.dumps(doc).encode()


def test_manifests_are_checked() -> None:
    parsed = mf.parse(_manifest(), "")
    assert isinstance(parsed, mf.ImageManifest) and parsed.layers[0].size == 5
    for data, message in (
            (b"not json", "not JSON"),
            (b"[]", "not a JSON object"),
            (_manifest(schemaVersion=1), "schema 1"),
            (_manifest(layers="x"), "no layers"),
            (_manifest(config={"digest": "sha256:zz", "size": 1}), "invalid digest"),
            (_manifest(config={"digest": DIGEST, "size": -1}), "invalid size"),
            (_manifest(mediaType="text/html"), "unsupported manifest media type"),
            (_manifest(layers=[{"mediaType": mf.DOCKER_FOREIGN_LAYER, "size": 1,
                                "digest": DIGEST}]), "foreign layers"),
            (_manifest(layers=[{"size": 1, "digest": DIGEST}] * 129), "more than 128"),
            (b" " * (mf.MAX_MANIFEST + 1), "too large")):
        with pytest.raises(InvalidParameter, match=message):
            mf.parse(data, "")


def test_platform_choice() -> None:
    entries = [{"mediaType": mf.DOCKER_MANIFEST, "size": 1, "digest": f"sha256:{c * 64}",
                "platform": p} for c, p in (
        ("1", {"os": "linux", "architecture": "arm", "variant": "v7"}),
        ("2", {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ("3", {"os": "linux", "architecture": "amd64"}),
        ("4", {"os": "windows", "architecture": "amd64"}))]
    listing = mf.parse(json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX,
                                   "manifests": entries}).encode(), "")
    assert isinstance(listing, mf.ManifestList)
    assert mf.choose(listing, "linux", "amd64").digest == "sha256:" + "3" * 64
    assert mf.choose(listing, "linux", "arm64").digest == "sha256:" + "2" * 64
    assert mf.choose(listing, "linux", "arm", "v7").digest == "sha256:" + "1" * 64
    with pytest.raises(InvalidParameter, match="no matching manifest for linux/s390x"):
        mf.choose(listing, "linux", "s390x")


def test_pushed_manifests_are_docker_schema2() -> None:
    data = mf.image_manifest(b"{}", [mf.Descriptor(mf.DOCKER_LAYER, DIGEST, 5)])
    doc = json.loads(data)
    assert doc["config"] == {"mediaType": mf.DOCKER_CONFIG, "size": 2,
                             "digest": mf.digest_of(b"{}")}
    assert data.startswith(b'{\n   "schemaVersion": 2')  # Docker's 3-space indent


def test_challenges_and_credentials() -> None:
    [bearer] = parse_challenges('Bearer realm="https://auth.example/token",'
                                'service="registry.example",scope="repository:a/b:pull"')
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token",
                             "service": "registry.example", "scope": "repository:a/b:pull"}
    both = parse_challenges('Basic realm="x", Bearer realm="y",service="s"')
    assert [c.scheme for c in both] == ["basic", "bearer"]
    header = base64.urlsafe_b64encode(json.dumps(
        {"username": "u", "password": "p", "serveraddress": "r"}).encode()).decode()
    assert decode_registry_auth(header.rstrip("=")) == Credentials("u", "p")
    assert decode_registry_auth("not base64 json!") == Credentials()  # as Docker: anonymous
    assert decode_registry_auth("e30=").anonymous  # {}
    assert credentials_of({"auth": base64.b64encode(b"me:pw:x").decode()}) == \
        Credentials("me", "pw:x")


def test_token_cache() -> None:
    cache = TokenCache()
    key = ("realm", "service", "repository:a:pull")
    assert cache.get(key) is None
    assert cache.put(key, {"access_token": "t1", "expires_in": 300}) == "t1"
    assert cache.get(key) == "t1"
    cache.drop(key)
    assert cache.get(key) is None
    for bad in ({}, [], {"token": ""}):
        with pytest.raises(InvalidParameter):
            cache.put(key, bad)


def test_endpoints_and_insecure_rules() -> None:
    config = RegistryConfig(insecure=["10.1.0.0/16", "registry.lan:5000"],
                            mirrors=["https://mirror.lan"])
    hub = config.endpoints("docker.io")
    assert [(e.url, e.mirror) for e in hub] == [("https://mirror.lan", True),
                                               ("https://registry-1.docker.io", False)]
    for domain, plain in (("127.0.0.1:5000", True), ("localhost:5000", True),
                          ("[::1]:5000", True), ("10.1.2.3:5000", True),
                          ("registry.lan:5000", True), ("10.2.0.1:5000", False),
                          ("registry.example:443", False)):
        urls = [e.url for e in config.endpoints(domain)]
        assert urls[0] == f"https://{domain}"  # HTTPS is always tried first
        assert (f"http://{domain}" in urls) == plain, domain
    with pytest.raises(InvalidParameter, match="unsupported scheme"):
        RegistryConfig(mirrors=["mirror.lan"])
    assert credentials_key("docker.io") == "https://index.docker.io/v1/"
    assert credentials_key("127.0.0.1:5000") == "127.0.0.1:5000"


def test_progress_bar_like_docker() -> None:
    assert bar(0, 0) == ""
    assert bar(512, 2048) == "[============>" + " " * 38 + "]     512B/2.048kB"
    assert bar(2048, 2048).startswith("[" + "=" * 50 + ">]")
    assert bar(3000, 0) == "     3kB"  # %8v


def test_push_gzip_is_valid_and_reproducible() -> None:
    import gzip
    import hashlib
    import os
    from concurrent.futures import ThreadPoolExecutor

    from ketch.distribution.push import GZIP_BLOCK, _Gzip

    data = os.urandom(GZIP_BLOCK // 2) + b"ketch " * GZIP_BLOCK  # several blocks
    with ThreadPoolExecutor(2) as pool:
        blobs = []
        for step in (4096, 1 << 20):  # fed in different pieces: the same blob
            gz = _Gzip(pool)
            out = b"".join(gz.feed(data[i:i + step]) for i in range(0, len(data), step))
            out += gz.finish()
            assert (gz.size, gz.digest.hexdigest()) == (len(out), hashlib.sha256(out).hexdigest())
            blobs.append(out)
        assert blobs[0] == blobs[1]
        assert gzip.decompress(blobs[0]) == data
        assert len(blobs[0]) < len(data) // 2  # the repeated text compresses across blocks
        empty = _Gzip(pool)
        assert gzip.decompress(empty.finish()) == b""


def test_push_gzip_skips_deflating_what_does_not_compress() -> None:
    import gzip
    import os
    from concurrent.futures import ThreadPoolExecutor

    from ketch.distribution.push import GZIP_BLOCK, _compressible, _Gzip

    noise = os.urandom(GZIP_BLOCK)
    text = b"ketch " * (GZIP_BLOCK // 6)
    assert not _compressible(noise)
    assert _compressible(text)
    # random but for its last quarter (where one sample falls): worth deflating
    assert _compressible(noise[:GZIP_BLOCK * 3 // 4] + text[:GZIP_BLOCK // 4])
    assert _compressible(noise[:1000])  # too small to sample: deflated as before
    with ThreadPoolExecutor(2) as pool:
        data = noise + text + noise
        gz = _Gzip(pool)
        out = gz.feed(data) + gz.finish()
        assert gzip.decompress(out) == data
        assert len(out) < len(noise) * 2.01 + len(text) // 50
