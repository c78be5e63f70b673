"""Lecture cells read like a lecture: no `assert` in a teaching cell (issue #19).

The checks that tie a lecture's text to its numbers live in tests/test_lNN_*.py, which read the
executed notebook (tests/executed.py); a cell that asserts shows the student plumbing, not the
lesson.
"""
import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _asserts(path):
    found = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Assert):
                found.append(f"cell {i}, line {node.lineno}: {ast.get_source_segment(code, node)[:70]}")
    return found


def test_all_eight_lectures_are_checked():
    assert [p.name[:2] for p in LECTURES] == [f"{n:02d}" for n in range(1, 9)]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name[:2])
def test_teaching_cells_hold_no_assert(path):
    found = _asserts(path)
    assert not found, f"{path.name}: {len(found)} assert(s) in teaching cells:\n" + "\n".join(found[:10])
