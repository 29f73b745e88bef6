"""Task output on workers reaches the caller, prefixed with the node's name."""

from __future__ import annotations

import logging
import sys

import pytest

import dagron
from dagron.workers.output import ForwardingHandler, OutputBuffer, TaskStream, show_output


def test_output_stream_forwards_whole_lines_and_flushes_the_rest() -> None:
    buf = OutputBuffer()
    buf.current_key = 7
    stream = TaskStream(buf, "stdout")
    stream.write("a\nb")
    assert buf.take() == [(7, "stdout", "a\n")]
    stream.write("c\n")
    stream.write("tail")
    stream.flush()
    assert buf.take() == [(7, "stdout", "bc\n"), (7, "stdout", "tail")]


def test_output_handler_ships_level_name_and_message() -> None:
    buf = OutputBuffer()
    logger = logging.getLogger("dagron.test.output")
    handler = ForwardingHandler(buf)
    logger.addHandler(handler)
    try:
        logger.warning("disk %s%% full", 93)
    finally:
        logger.removeHandler(handler)
    assert buf.take() == [(None, "log", (logging.WARNING, "dagron.test.output", "disk 93% full"))]


def test_output_show_prefixes_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    show_output("load", "stdout", "one\ntwo")
    show_output("load", "stderr", "oops\n")
    out, err = capsys.readouterr()
    assert out == "[load] one\n[load] two\n"
    assert err == "[load] oops\n"


def shout() -> int:
    print("Extracting data...")
    print("to stderr", file=sys.stderr)
    logging.getLogger("user.task").warning("careful")
    return 1


def test_output_from_processes_reaches_the_caller(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    dag = dagron.DAG()
    dag.add_nodes(["extract", "quiet"])
    with caplog.at_level(logging.WARNING, logger="user.task"):
        result = dagron.DAGExecutor(dag, backend="processes", max_workers=2).execute(
            {"extract": shout, "quiet": lambda: 2}
        )
    assert result.ok
    out, err = capsys.readouterr()
    assert "[extract] Extracting data...\n" in out
    assert "[extract] to stderr\n" in err
    assert [r.getMessage() for r in caplog.records if r.name == "user.task"] == [
        "[extract] careful"
    ]
