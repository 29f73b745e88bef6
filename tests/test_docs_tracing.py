"""Runs every code block of docs/tracing.md; a block followed by a ``text`` block must print
exactly that, so the guide cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "tracing.md"
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str | None]]:
    """(code, expected output or None) pairs in document order."""
    found = BLOCK.findall(GUIDE.read_text())
    out: list[tuple[str, str | None]] = []
    for n, (kind, body) in enumerate(found):
        if kind == "python":
            nxt = found[n + 1] if n + 1 < len(found) else None
            out.append((body, nxt[1] if nxt and nxt[0] == "text" else None))
    return out


def test_docs_tracing_has_examples() -> None:
    assert len(blocks()) >= 7


def test_docs_tracing_examples_run_and_print_as_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns: dict[str, object] = {}
    for n, (code, expected) in enumerate(blocks()):
        exec(compile(code, f"{GUIDE.name}[block {n}]", "exec"), ns)
        printed = capsys.readouterr().out
        if expected is not None:
            assert printed == expected, f"block {n} printed:\n{printed}"
