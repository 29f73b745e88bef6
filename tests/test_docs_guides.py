"""Runs every code block of the executing and tracing guides; a block followed by a ``text``
block must print exactly that, so the guides cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)
# Each guide and the fewest examples it must keep.
GUIDES = {"executing.md": 10, "tracing.md": 7}


def blocks(guide: str) -> list[tuple[str, str | None]]:
    """(code, expected output or None) pairs in document order."""
    found = BLOCK.findall((DOCS / guide).read_text())
    out: list[tuple[str, str | None]] = []
    for n, (kind, body) in enumerate(found):
        if kind == "python":
            nxt = found[n + 1] if n + 1 < len(found) else None
            out.append((body, nxt[1] if nxt and nxt[0] == "text" else None))
    return out


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_docs_guides_have_examples(guide: str) -> None:
    assert len(blocks(guide)) >= GUIDES[guide]


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_docs_guides_examples_run_and_print_as_shown(
    guide: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    ns: dict[str, object] = {}
    for n, (code, expected) in enumerate(blocks(guide)):
        exec(compile(code, f"{guide}[block {n}]", "exec"), ns)
        printed = capsys.readouterr().out
        if expected is not None:
            assert printed == expected, f"{guide} block {n} printed:\n{printed}"


def test_docs_guides_processes_start_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # The processes guide's other blocks are fragments (``dag``, ``tasks`` are the reader's);
    # the one about how workers start is whole, and runs.
    text = (DOCS / "processes.md").read_text()
    section = text[text.index("## How workers start") :]
    (code,) = BLOCK.findall(section)[:1]
    exec(compile(code[1], "processes.md[how workers start]", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["42"]
