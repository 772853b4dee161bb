"""The recreate decision of `up` (no daemon): keep, recreate, scale up and down."""

from __future__ import annotations

from ketch.compose.convergence import Existing, plan_service
from ketch.compose.engine import split_reference


def container(number: int, hash_: str = "h1", state: str = "running",
              image: str = "sha256:i1") -> Existing:
    return Existing(id=f"id{number}", name=f"p-web-{number}", service="web", number=number,
                    state=state, config_hash=hash_, image_id=image)


def ids(items: list[Existing]) -> list[str]:
    return [c.id for c in items]


def test_fresh_service_creates_numbers_from_one() -> None:
    plan = plan_service([], 3, "h1")
    assert plan.create == [1, 2, 3]
    assert not plan.keep and not plan.recreate and not plan.remove


def test_up_to_date_is_kept() -> None:
    plan = plan_service([container(1)], 1, "h1", "sha256:i1")
    assert ids(plan.keep) == ["id1"]
    assert not plan.recreate and not plan.create


def test_changed_hash_recreates() -> None:
    plan = plan_service([container(1, "old")], 1, "h1")
    assert ids(plan.recreate) == ["id1"]
    assert not plan.keep


def test_changed_image_recreates() -> None:
    plan = plan_service([container(1)], 1, "h1", "sha256:new")
    assert ids(plan.recreate) == ["id1"]
    # an unknown image ID (not built yet) decides nothing
    assert ids(plan_service([container(1)], 1, "h1", "").keep) == ["id1"]


def test_force_and_no_recreate() -> None:
    assert ids(plan_service([container(1)], 1, "h1", force_recreate=True).recreate) == ["id1"]
    plan = plan_service([container(1, "old")], 1, "h1", no_recreate=True)
    assert ids(plan.keep) == ["id1"] and not plan.recreate


def test_scale_up_continues_numbers() -> None:
    plan = plan_service([container(1), container(2)], 4, "h1")
    assert ids(plan.keep) == ["id1", "id2"]
    assert plan.create == [3, 4]


def test_scale_down_removes_highest_numbers() -> None:
    plan = plan_service([container(1), container(2), container(3)], 1, "h1")
    assert ids(plan.keep) == ["id1"]
    assert ids(plan.remove) == ["id2", "id3"]


def test_scale_down_removes_outdated_first() -> None:
    plan = plan_service([container(1, "old"), container(2), container(3)], 2, "h1")
    assert ids(plan.keep) == ["id2", "id3"]
    assert ids(plan.remove) == ["id1"]
    assert not plan.create


def test_scale_to_zero() -> None:
    plan = plan_service([container(1), container(2)], 0, "h1")
    assert ids(plan.remove) == ["id1", "id2"]


def test_from_summary_reads_labels() -> None:
    found = Existing.from_summary({
        "Id": "abc", "Names": ["/dcp_web_1"], "State": "exited", "ImageID": "sha256:x",
        "Labels": {"com.docker.compose.service": "web",
                   "com.docker.compose.container-number": "1",
                   "com.docker.compose.config-hash": "h", "com.docker.compose.oneoff": "False"}})
    assert (found.name, found.service, found.number, found.config_hash, found.oneoff,
            found.running) == ("dcp_web_1", "web", 1, "h", False, False)


def test_split_reference() -> None:
    assert split_reference("busybox") == ("busybox", "latest")
    assert split_reference("busybox:1.36") == ("busybox", "1.36")
    assert split_reference("127.0.0.1:5000/app") == ("127.0.0.1:5000/app", "latest")
    assert split_reference("a/b@sha256:00") == ("a/b", "sha256:00")
