"""Fixtures for integration tests (root, real kernel): bundles and a private runtime root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.bootstrap import make_busybox_rootfs
from support.bundles import Bundle, Runtime


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root")
        for item in items:
            if "integration" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("busybox") / "rootfs"
    make_busybox_rootfs(path)
    return path


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(tmp_path / "runtime-root")
    yield rt
    rt.cleanup()


@pytest.fixture
def bundle(tmp_path: Path, busybox_rootfs: Path) -> Bundle:
    return Bundle(tmp_path / "bundle", busybox_rootfs)
