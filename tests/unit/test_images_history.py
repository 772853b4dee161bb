"""Image history: the API's records from an image config (Docker's ImageHistory) and the
CLI's rows (Docker's history formatter), with values seen from a real dockerd."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from ketch.cli.commands.history import HistoryRow, history_format, rfc3339
from ketch.cli.formatter import render
from ketch.errors import KetchError
from ketch.images.history import records
from ketch.images.image import Image

LONG = ('/bin/sh -c echo "a very long command line that goes well beyond forty-five '
        'characters for truncation" > /x')
# a `docker build` of busybox + LABEL, RUN, ENV, RUN, CMD (from a private dockerd)
BUILT: dict[str, Any] = {
    "created": "2026-11-28T00:26:38.970032176Z",
    "history": [
        {"created": "2026-11-28T00:26:33.1Z", "comment": "Imported from -"},
        {"created": "2026-11-28T00:26:38.1Z", "created_by": "/bin/sh -c #(nop)  LABEL a=b",
         "empty_layer": True},
        {"created": "2026-11-28T00:26:38.2Z",
         "created_by": "/bin/sh -c echo hello > /hello.txt && dd if=/dev/zero of=/big "
                       "bs=1k count=1500 2>/dev/null"},
        {"created": "2026-11-28T00:26:38.3Z", "created_by": "/bin/sh -c #(nop)  ENV FOO=bar",
         "empty_layer": True},
        {"created": "2026-11-28T00:26:38.4Z", "created_by": LONG},
        {"created": "2026-11-28T00:26:38.9Z",
         "created_by": '/bin/sh -c #(nop)  CMD ["sh" "-c" "echo hi"]', "empty_layer": True},
    ],
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64, "sha256:" + "2" * 64,
                                              "sha256:" + "3" * 64]},
}
IMAGE_ID = "sha256:8b3e3bd0587540e30f4e8fabd42d7021d0f3321bf3e8c14cec6dc5e32c791f4c"


def _image(config: dict[str, Any], tags: list[str] | None = None) -> Image:
    return Image(id=IMAGE_ID, config=config, repo_tags=tags or [])


def test_records_newest_first_with_layer_sizes() -> None:
    found = records(_image(BUILT, ["built:v1"]), [1986674, 1536006, 84])
    assert [r["Size"] for r in found] == [0, 84, 0, 1536006, 0, 1986674]
    assert found[0] == {"Comment": "", "Created": 1795825598,
                        "CreatedBy": '/bin/sh -c #(nop)  CMD ["sh" "-c" "echo hi"]',
                        "Id": IMAGE_ID, "Size": 0, "Tags": ["built:v1"]}
    assert found[-1] == {"Comment": "Imported from -", "Created": 1795825593, "CreatedBy": "",
                         "Id": "<missing>", "Size": 1986674, "Tags": None}
    assert all(r["Id"] == "<missing>" and r["Tags"] is None for r in found[1:])


def test_untagged_image_and_imported_one() -> None:
    imported = {"created": "2026-11-28T00:26:33Z",
                "history": [{"created": "2026-11-28T00:26:33Z", "comment": "Imported from -"}],
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}}
    assert records(_image(imported), [1986674]) == [
        {"Comment": "Imported from -", "Created": 1795825593, "CreatedBy": "", "Id": IMAGE_ID,
         "Size": 1986674, "Tags": None}]
    assert records(_image({"rootfs": {"diff_ids": []}}), []) == []


def test_missing_created_is_gos_zero_time() -> None:
    found = records(_image({"history": [{"empty_layer": True}]}), [])
    assert found[0]["Created"] == -62135596800


def test_more_layer_entries_than_layers_is_an_error() -> None:
    with pytest.raises(KetchError, match="too many non-empty layers in History section"):
        records(_image(BUILT), [1, 2])


def test_table_as_docker_prints_it(utc: None) -> None:
    rows = [HistoryRow(r, now=1795825598.5)
            for r in records(_image(BUILT, ["built:v1"]), [1986674, 1536006, 84])]
    from ketch.cli.commands.history import TITLES

    out = render(history_format("", False, True), rows, TITLES)
    assert out == (
        "IMAGE          CREATED                  CREATED BY                                      "
        "SIZE      COMMENT\n"
        "8b3e3bd05875   Less than a second ago   /bin/sh -c #(nop)  CMD [\"sh\" \"-c\" \"echo hi\"]"
        "    0B        \n"
        "<missing>      Less than a second ago   /bin/sh -c echo \"a very long command line th…"
        "   84B       \n"
        "<missing>      Less than a second ago   /bin/sh -c #(nop)  ENV FOO=bar                  "
        "0B        \n"
        "<missing>      Less than a second ago   /bin/sh -c echo hello > /hello.txt && dd if=…"
        "   1.54MB    \n"
        "<missing>      Less than a second ago   /bin/sh -c #(nop)  LABEL a=b                    "
        "0B        \n"
        "<missing>      5 seconds ago                                                            "
        "1.99MB    Imported from -\n")


def test_non_human_quiet_and_untruncated(utc: None) -> None:
    from ketch.cli.commands.history import TITLES

    found = records(_image(BUILT, ["built:v1"]), [1986674, 1536006, 84])
    plain = [HistoryRow(r, human=False) for r in found[-1:]]
    assert render(history_format("", False, False), plain, TITLES) == (
        "IMAGE       CREATED AT             CREATED BY   SIZE      COMMENT\n"
        "<missing>   2026-11-28T00:26:33Z                1986674   Imported from -\n")
    quiet = [HistoryRow(r) for r in found[:2]]
    assert render(history_format("", True, True), quiet, TITLES) == "8b3e3bd05875\n<missing>\n"
    full = HistoryRow(found[1], trunc=False)
    assert full.CreatedBy == LONG and HistoryRow(found[0], trunc=False).ID == IMAGE_ID
    assert history_format("{{.ID}}", True, True) == "{{.ID}}"
    assert history_format("table", True, True) == "{{.ID}}"


def test_json_row_and_old_dates(utc: None) -> None:
    row = HistoryRow({"Id": IMAGE_ID, "Created": 1795825593, "CreatedBy": "a\tb", "Size": 1986674,
                      "Comment": "Imported from -"}, now=1795825593 + 240)
    assert row.to_json() == {"Comment": "Imported from -", "CreatedAt": "2026-11-28T00:26:33Z",
                             "CreatedBy": "a b", "CreatedSince": "4 minutes ago",
                             "ID": "8b3e3bd05875", "Size": "1.99MB"}
    assert HistoryRow({"Created": 946684800}).CreatedSince == ""  # 2000-01-01: not shown


def test_created_at_in_the_local_zone() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()
    try:
        assert rfc3339(1795825751) == "2026-11-28T01:29:11+01:00"
    finally:
        if old is None:
            os.environ.pop("TZ")
        else:
            os.environ["TZ"] = old
        time.tzset()
