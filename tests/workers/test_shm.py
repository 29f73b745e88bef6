"""Shared-memory segments: layout, writing and mapping, and the coordinator's directory."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from dagron.workers import shm
from dagron.workers.protocol import bytes_of

pytestmark = pytest.mark.skipif(shm.shm_root() is None, reason="needs /dev/shm")


def test_shm_layout_aligns_every_buffer() -> None:
    assert shm.layout([1, 64, 65, 0, 3]) == [0, 64, 128, 256, 256]


def test_shm_segment_round_trips_buffers_copy_on_write(tmp_path: Path) -> None:
    path = str(tmp_path / "seg")
    data = [b"a" * 100, bytearray(b"b" * 3), memoryview(b"c" * 70)]
    sizes = shm.write_segment(path, data)
    assert sizes == [100, 3, 70]
    _mapping, views = shm.map_segment(path, sizes)
    assert [bytes(v) for v in views] == [bytes(d) for d in data]
    views[0][:1] = b"z"  # the reader's own copy changes, the file does not
    _, again = shm.map_segment(path, sizes)
    assert bytes(again[0][:1]) == b"a"
    with pytest.raises(ValueError, match="not 99 bytes"):
        shm.map_segment(path, [99])


def test_shm_interleave_puts_segment_buffers_back_in_place() -> None:
    assert shm.interleave([b"m", b"s"], (1, 3), ["A", "B"]) == [b"m", "A", b"s", "B"]


def test_shm_segment_dir_unlinks_released_and_stray_segments() -> None:
    segments = shm.SegmentDir(shm.shm_root() or "")
    try:
        a, b, stray, other = "wab-1", "wab-2", "wab-3", "wcd-1"
        for name in (a, b, stray, other):
            shm.write_segment(os.path.join(segments.path, name), [b"x" * 10])
        seg_a, views_a = segments.adopt(a, [10])
        seg_b, _ = segments.adopt(b, [10])
        assert segments.adopted == {a, b}
        del seg_b
        gc.collect()
        assert not os.path.exists(os.path.join(segments.path, b))  # released: unlinked
        segments.remove_strays("wab-")  # a worker "wab" died: its unsent segments go
        assert sorted(os.listdir(segments.path)) == [a, other]
        segments.release_all()  # the run is over: names go, mappings stay readable
        assert sorted(os.listdir(segments.path)) == [other]
        assert bytes(views_a[0]) == b"x" * 10 and seg_a.name == a
    finally:
        segments.close()
    assert not os.path.exists(segments.path)


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "wab-1/..", "x-1", "wab-"])
def test_shm_segment_dir_refuses_names_it_did_not_issue(name: str) -> None:
    segments = shm.SegmentDir(shm.shm_root() or "")
    try:
        with pytest.raises(ValueError, match="malformed"):
            segments.adopt(name, [1])
    finally:
        segments.close()


@pytest.mark.parametrize("size", [0, 5, 9 << 20])
def test_shm_bytes_of_copies_exactly(size: int) -> None:
    src = bytes(range(256)) * (size // 256) + b"t" * (size % 256)
    for buffer in (src, bytearray(src), memoryview(src)):
        out = bytes_of(buffer)
        assert type(out) is bytes and out == src


def test_shm_bytes_segment_is_read_from_its_file_and_closed_on_release() -> None:
    segments = shm.SegmentDir(shm.shm_root() or "")
    try:
        payload = bytes(range(256)) * 40_000
        shm.write_segment(os.path.join(segments.path, "wab-1"), [payload])
        segment, _ = segments.adopt("wab-1", [len(payload)], keep_open=True)
        fd = segment.fd
        assert fd is not None and segments.open_files == 1
        segments.release_all()  # unlinked: the open file still reads
        out = shm.read_bytes(fd, len(payload))
        assert type(out) is bytes and out == payload
        del segment
        gc.collect()
        assert segments.open_files == 0
        with pytest.raises(OSError):
            os.fstat(fd)
    finally:
        segments.close()
