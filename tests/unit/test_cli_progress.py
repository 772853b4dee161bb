"""The progress display (jsonmessage) on canned streams: the plain lines of a non-terminal,
the in-place layer lines of a terminal, progress bars, errors and aux messages."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from ketch.cli.progress import Display, StreamError, go_duration, progress_text, show_stream

PULL: list[dict[str, Any]] = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "7288ed2eda80"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1b2c3d4e5f6"},
    {"status": "Downloading", "progressDetail": {"current": 32768, "total": 2139992},
     "progress": "[>   ]  32.77kB/2.14MB", "id": "7288ed2eda80"},
    {"status": "Download complete", "progressDetail": {}, "id": "7288ed2eda80"},
    {"status": "Extracting", "progressDetail": {"current": 2139992, "total": 2139992},
     "progress": "[=>]  2.14MB/2.14MB", "id": "7288ed2eda80"},
    {"status": "Pull complete", "progressDetail": {}, "id": "7288ed2eda80"},
    {"status": "Already exists", "progressDetail": {}, "id": "a1b2c3d4e5f6"},
    {"status": "Digest: sha256:" + "ab" * 32},
    {"status": "Status: Downloaded newer image for busybox:latest"},
]


def shown(messages: list[dict[str, Any]], terminal: bool = False, width: int = 200,
          aux: list[Any] | None = None) -> str:
    out = io.StringIO()
    Display(out, terminal, lambda: width, aux.append if aux is not None else None).show(
        messages)
    return out.getvalue()


def test_plain_lines_as_docker_prints_them_off_a_terminal() -> None:
    assert shown(PULL) == (
        "latest: Pulling from library/busybox\n"
        "7288ed2eda80: Pulling fs layer\n"
        "a1b2c3d4e5f6: Pulling fs layer\n"
        "7288ed2eda80: Download complete\n"
        "7288ed2eda80: Pull complete\n"
        "a1b2c3d4e5f6: Already exists\n"
        f"Digest: sha256:{'ab' * 32}\n"
        "Status: Downloaded newer image for busybox:latest\n")


def test_terminal_rewrites_each_layer_line_in_place() -> None:
    text = shown(PULL[:5], terminal=True, width=80)
    up, down, erase = "\x1b[{}A", "\x1b[{}B", "\x1b[2K\r"
    assert text == (
        "latest: Pulling from library/busybox\n"
        # a new layer: a new line, then back up to write it and down again
        f"\n{up.format(1)}{erase}7288ed2eda80: Pulling fs layer \r{down.format(1)}"
        f"\n{up.format(1)}{erase}a1b2c3d4e5f6: Pulling fs layer \r{down.format(1)}"
        # the first layer is two lines up now
        f"{up.format(2)}{erase}7288ed2eda80: Downloading  32.77kB/2.14MB\r{down.format(2)}"
        f"{up.format(2)}{erase}7288ed2eda80: Download complete \r{down.format(2)}")


def test_a_line_without_progress_starts_a_new_block_of_layers() -> None:
    """pull -a: each tag's layers get lines of their own."""
    layer = {"status": "Pull complete", "progressDetail": {}, "id": "aaa"}
    stream: list[dict[str, Any]] = [layer, {"status": "Digest: sha256:x"}, layer]
    text = shown(stream, terminal=True)
    assert text.count("\n\x1b[1A") == 2  # "aaa" is new again after the digest


def test_progress_bar() -> None:
    detail = {"current": 1_000_000, "total": 4_000_000}
    assert progress_text(detail, 200) == f"[{'=' * 12}>{' ' * 38}]      1MB/4MB"
    assert progress_text(detail, 100) == "     1MB/4MB"  # no bar up to 110 columns
    assert progress_text({"current": 5, "total": 4}, 100) == "      5B"  # a wonky total
    assert progress_text({"current": 1234567}, 100) == " 1.235MB"
    assert progress_text({}, 200) == ""
    assert progress_text({"current": 2, "total": 5, "units": "files"}, 100) == "2/5 files"
    assert progress_text({"current": 2, "total": 5, "hidecounts": True}, 100) == ""
    # time left from the start time: half done in 10 s -> 10 s to go
    assert progress_text({"current": 50, "total": 100, "start": 1000}, 100, now=1010) == \
        "     50B/100B 10s"


def test_go_duration() -> None:
    assert [go_duration(s) for s in (0, 0.4, 0.5, 45, 125, 3605)] == \
        ["0s", "0s", "1s", "45s", "2m5s", "1h0m5s"]


def test_progress_lines_are_skipped_off_a_terminal_but_progress_text_is_kept() -> None:
    stream: list[dict[str, Any]] = [
        {"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "id": "x"},
        {"status": "Waiting", "progress": "legacy text", "id": "y"}]
    assert shown(stream) == "y: Waiting legacy text"


def test_an_error_ends_the_stream() -> None:
    out = io.StringIO()
    stream: Iterator[dict[str, Any]] = iter([
        {"status": "The push refers to repository [127.0.0.1:5000/a]"},
        {"errorDetail": {"message": "no basic auth credentials"},
         "error": "no basic auth credentials"},
        {"status": "never shown"}])
    with pytest.raises(StreamError) as caught:
        Display(out).show(stream)
    assert caught.value.message == "no basic auth credentials"
    assert out.getvalue() == "The push refers to repository [127.0.0.1:5000/a]\n"
    assert next(stream) == {"status": "never shown"}  # not read further


def test_aux_goes_to_the_callback_and_discarding_still_raises() -> None:
    aux: list[Any] = []
    text = shown([{"status": "v1: digest: sha256:ab size: 527"},
                  {"aux": {"Tag": "v1", "Digest": "sha256:ab", "Size": 527},
                   "progressDetail": {}}], aux=aux)
    assert text == "v1: digest: sha256:ab size: 527\n"
    assert aux == [{"Tag": "v1", "Digest": "sha256:ab", "Size": 527}]
    with pytest.raises(StreamError):
        show_stream([{"status": "x"}, {"errorDetail": {"message": "m", "code": 3}}], None)


def test_stream_and_from_fields() -> None:
    assert shown([{"stream": "Step 1/2 : FROM busybox\n"},
                  {"status": "create", "id": "abc", "from": "busybox"}]) == \
        "Step 1/2 : FROM busybox\nabc: (from busybox) create\n"


def test_show_stream_is_plain_on_a_pipe() -> None:
    out = io.StringIO()
    show_stream(PULL[:2], out)
    assert out.getvalue() == ("latest: Pulling from library/busybox\n"
                              "7288ed2eda80: Pulling fs layer\n")
