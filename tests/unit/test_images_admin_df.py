"""`system df`: the CLI's summary and verbose tables from a /system/df answer (one taken
from a private dockerd: busybox used by two containers, a dangling copy of it), and the
image summary's shape per API version."""

from __future__ import annotations

from typing import Any

from ketch.api.images_admin import shape_summary
from ketch.cli import df_format as dff
from ketch.cli.formatter import render
from ketch.cli.images_format import TITLES as IMAGE_TITLES

BUSYBOX = "sha256:7e8d7eb91d53799617205f60bca1d7e1e9f6e0819ae89ec085770ee07183f661"
DANGLING = "sha256:06bbe62eec348c12b13165bdfa4b73a77b47f657d640487391186556d2fcd484"
USAGE: dict[str, Any] = {
    "LayersSize": 1986674,
    "Images": [
        {"Containers": 0, "Created": 1795825627, "Id": DANGLING, "Labels": None,
         "ParentId": "", "RepoDigests": ["<none>@<none>"], "RepoTags": ["<none>:<none>"],
         "SharedSize": 1986674, "Size": 1986674, "VirtualSize": 1986674},
        {"Containers": 2, "Created": 1795825621, "Id": BUSYBOX, "Labels": None,
         "ParentId": "", "RepoDigests": None, "RepoTags": ["busybox:latest", "other:1"],
         "SharedSize": 1986674, "Size": 1986674, "VirtualSize": 1986674},
    ],
    "Containers": [
        {"Id": "9875" + "0" * 60, "Names": ["/c2"], "Image": "busybox", "ImageID": BUSYBOX,
         "Command": "sleep 1000", "Created": 1795825626, "SizeRootFs": 1986674,
         "State": "running", "Status": "Up Less than a second", "Mounts": []},
        {"Id": "ef49" + "0" * 60, "Names": ["/c1"], "Image": "busybox", "ImageID": BUSYBOX,
         "Command": "sh -c 'echo hi > /f; dd if=/dev/zero of=/g bs=1k count=20'",
         "Created": 1795825626, "SizeRw": 20483, "SizeRootFs": 2007157, "State": "exited",
         "Status": "Exited (0) Less than a second ago", "Mounts": []},
    ],
    "Volumes": [],
    "BuildCache": None,
}


def test_summary_table() -> None:
    out = render(dff.SUMMARY_FORMAT, dff.summary_rows(USAGE), dff.SUMMARY_TITLES)
    assert out == (
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"
        "Images          2         1         1.987MB   1.987MB (100%)\n"
        "Containers      2         1         20.48kB   20.48kB (100%)\n"
        "Local Volumes   0         0         0B        0B\n"
        "Build Cache     0         0         0B        0B\n")
    assert render("json", dff.summary_rows(USAGE)[:1], dff.SUMMARY_TITLES) == (
        '{"Active":"1","Reclaimable":"1.987MB (100%)","Size":"1.987MB","TotalCount":"2",'
        '"Type":"Images"}\n')


def test_reclaimable_counts_what_used_images_do_not_share() -> None:
    usage = {**USAGE, "LayersSize": 3000000,
             "Images": [{"Containers": 1, "Size": 2000000, "SharedSize": 500000},
                        {"Containers": 0, "Size": 1500000, "SharedSize": 500000}]}
    row = dff.summary_rows(usage)[0]
    assert (row.TotalCount, row.Active, row.Size, row.Reclaimable) == (
        "2", "1", "3MB", "1.5MB (50%)")


def test_verbose_tables() -> None:
    view = dff.Verbose(USAGE, trunc=True)
    images = render(dff.IMAGE_FORMAT, view.Images, IMAGE_TITLES)
    lines = images.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE",
                                "SHARED", "SIZE", "UNIQUE", "SIZE", "CONTAINERS"]
    assert lines[1].split()[:3] == ["<none>", "<none>", "06bbe62eec34"]
    assert lines[1].split()[-4:] == ["1.99MB", "1.987MB", "0B", "0"]
    assert lines[2].split()[:3] == ["busybox", "latest", "7e8d7eb91d53"]  # the first tag only
    assert lines[2].split()[-1] == "2"
    from ketch.cli.containers_format import TITLES

    containers = render(dff.CONTAINER_FORMAT, view.Containers, TITLES).splitlines()
    assert containers[0].split()[:6] == ["CONTAINER", "ID", "IMAGE", "COMMAND", "LOCAL",
                                         "VOLUMES"]
    assert '"sh -c \'echo hi > /f…"   0               20.5kB ' in containers[2]
    assert "   0B   " in containers[1]  # no "(virtual ...)" in df
    assert render(dff.VOLUME_FORMAT, view.Volumes, dff.VOLUME_TITLES) == (
        "VOLUME NAME   LINKS     SIZE\n")
    assert render(dff.BUILD_CACHE_FORMAT, view.BuildCache, dff.BUILD_CACHE_TITLES) == (
        "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n")


def test_verbose_json_has_full_ids() -> None:
    from ketch.cli.gotemplate import Template

    view = dff.Verbose(USAGE, trunc=False)
    out = Template("{{json .}}").execute(view)
    assert out.startswith('{"Images":[{"Containers":"0",')
    assert f'"ID":"{DANGLING}"' in out and '"Repository":"\\u003cnone\\u003e"' in out
    assert out.endswith('"Volumes":[],"BuildCache":[]}')
    ranged = Template("{{range .Images}}{{.ID}} {{.Containers}},{{end}}").execute(view)
    assert ranged == f"{DANGLING} 0,{BUSYBOX} 2,"


def test_image_summary_shape_per_api_version() -> None:
    tagged = {"Id": BUSYBOX, "RepoTags": ["busybox:latest"], "RepoDigests": [],
              "Size": 1, "VirtualSize": 1}
    dangling = {"Id": DANGLING, "RepoTags": ["<none>:<none>"],
                "RepoDigests": ["<none>@<none>"], "Size": 1, "VirtualSize": 1}
    # Docker 20.10 (API 1.41), as seen on a private dockerd
    assert shape_summary(tagged, (1, 41))["RepoDigests"] is None
    assert shape_summary(dangling, (1, 41)) == dangling
    # 1.43: no "<none>" placeholders; 1.44: no VirtualSize
    assert shape_summary(dangling, (1, 43))["RepoTags"] == []
    assert shape_summary(dangling, (1, 43))["RepoDigests"] == []
    assert "VirtualSize" in shape_summary(tagged, (1, 43))
    assert shape_summary(tagged, (1, 44)) == {"Id": BUSYBOX, "RepoTags": ["busybox:latest"],
                                             "RepoDigests": [], "Size": 1}
