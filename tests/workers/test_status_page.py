"""The status page: what the worker writes before a task, what the coordinator reads."""

from __future__ import annotations

from pathlib import Path

from dagron.workers import status_page
from dagron.workers.status_page import StatusPage


def test_status_page_empty_reads_as_no_task(tmp_path: Path) -> None:
    path = str(tmp_path / "page")
    status_page.create(path)
    assert status_page.read_file(path) is None
    page = StatusPage(path)
    assert page.read() is None
    page.close()


def test_status_page_writer_and_readers_agree(tmp_path: Path) -> None:
    path = str(tmp_path / "page")
    status_page.create(path)
    writer, reader = StatusPage(path), StatusPage(path)
    writer.begin(7, 12.5)
    assert reader.read() == (7, 12.5)  # shared: no flush, no system call
    writer.begin(8, 13.0)
    assert reader.read() == (8, 13.0) == status_page.read_file(path)
    writer.close()
    reader.close()


def test_status_page_missing_file_reads_as_no_task(tmp_path: Path) -> None:
    assert status_page.read_file(str(tmp_path / "nope")) is None
