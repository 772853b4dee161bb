"""Stream framing: the 8-byte multiplexed frames and JSON progress lines."""

from __future__ import annotations

from ketch.client.stream import STDERR, STDOUT, Demuxer, demux, frame, json_lines


def test_frame_layout() -> None:
    assert frame(STDOUT, b"hello world") == b"\x01\x00\x00\x00\x00\x00\x00\x0bhello world"


def test_demux_across_arbitrary_chunk_boundaries() -> None:
    data = frame(STDOUT, b"out\n") + frame(STDERR, b"err\n") + frame(STDOUT, b"")
    for cut in range(len(data) + 1):
        assert list(demux([data[:cut], data[cut:]])) == [
            (STDOUT, b"out\n"), (STDERR, b"err\n"), (STDOUT, b"")]


def test_demuxer_keeps_partial_frames() -> None:
    d = Demuxer()
    big = frame(STDOUT, b"x" * 70000)
    assert d.feed(big[:3]) == []
    assert d.feed(big[3:100]) == [] and d.pending == 100
    assert d.feed(big[100:]) == [(STDOUT, b"x" * 70000)]
    assert d.pending == 0


def test_json_lines_split_and_concatenated() -> None:
    chunks = [b'{"status":"a"}\n{"sta', b'tus":"b"}{"error":"c"}', b"\n"]
    assert list(json_lines(chunks)) == [{"status": "a"}, {"status": "b"}, {"error": "c"}]
