"""Every lecture notebook executes top to bottom on a fresh kernel: no errors, nothing on stderr
(warnings included), within the 60-second budget a 2-core laptop gives it; and every notebook in
the repository is stored without outputs.

The budget is checked on the CPU time the kernel used (all its threads): unlike wall time it does
not grow when other tests load the machine, and on two cores a notebook's wall time is at most its
CPU time plus waiting. Wall time gets a looser guard, so a notebook that hangs still fails."""
import json
from pathlib import Path

import pytest

from executed import BUDGET_S, executed

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALL_NOTEBOOKS = sorted(
    p for d in ("notebooks", "solutions", "assignments") for p in (ROOT / d).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
WALL_GUARD_S = 3 * BUDGET_S


def test_lecture_notebooks_exist():
    assert LECTURES, "no lecture notebooks found in notebooks/"
    numbers = [p.name[:2] for p in LECTURES]
    assert numbers == sorted(set(numbers)), f"lecture numbers must be unique: {numbers}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def _stderr_outputs(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                yield i, out.get("text", "")[:500]


# Fail fast on a stall: nbclient stops a cell after BUDGET_S (CellTimeoutError names the cell), and
# pytest-timeout stops the whole test, kernel start and shutdown included, after the wall guard.
# The execution is shared (tests/executed.py) with the tests that read what a lecture shows.
@pytest.mark.timeout(WALL_GUARD_S + 30)
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_executes_cleanly(path):
    nb, elapsed, cpu = executed(path)
    noisy = list(_stderr_outputs(nb))
    assert not noisy, f"{path.name} wrote to stderr (warnings?): {noisy[:3]}"
    assert cpu < BUDGET_S, f"{path.name} used {cpu:.1f} s of CPU (budget {BUDGET_S} s)"
    assert elapsed < WALL_GUARD_S, f"{path.name} took {elapsed:.1f} s of wall time"
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    assert md and md[0].source.lstrip().startswith("# "), f"{path.name} must open with an H1 title"
    headings = " ".join(c.source for c in md)
    assert "## Summary" in headings and "## Exercises" in headings, \
        f"{path.name} must end with a Summary and Exercises"
