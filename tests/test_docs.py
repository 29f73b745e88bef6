"""The README's and the graph guide's code blocks run, and print what their comments say.

A line ``print(x)  # shown`` must print ``shown``; blocks of one document share a namespace.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PRINTED_COMMENT = re.compile(r"^\s*print\(.*\)\s*#\s?(.*)$")


@pytest.mark.parametrize("doc", ["README.md", "docs/graph.md"])
def test_docs_blocks_run_and_print_as_commented(
    doc: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = BLOCK.findall((ROOT / doc).read_text())
    assert blocks, f"{doc} has no python blocks"
    ns: dict[str, object] = {}
    for n, code in enumerate(blocks):
        exec(compile(code, f"{doc}[block {n}]", "exec"), ns)
        printed = capsys.readouterr().out.splitlines()
        expected = [m.group(1) for m in map(PRINTED_COMMENT.match, code.splitlines()) if m]
        assert printed == expected, f"{doc} block {n}"
