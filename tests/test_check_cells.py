"""The assignments' own check cells stay cheap and keep catching the bugs they are there for.

Every cell of a student's notebook that is not a graded test cell (setup, worked examples,
gradient checks) runs on the student's laptop and again, for every submission, in the grading
sandbox (issue 17: grading throughput). So:

- a check cell calls the graded functions at most CALL_BUDGET times (a count, not a timing: the
  CPU it costs is measured by benchmarks/bench_grading.py, never asserted in a test);
- smaller checks must not miss what the larger ones caught: for every buggy backward pass of the
  corpus (tests/submissions/), a gradient-check cell of its notebook fails, and no check cell
  fails a correct submission (float32 aside: finite differences need float64, as the gradient
  checker's docstring says).

The notebooks are built as tools/validate_figures.py builds them: the release (assignments/)
with the sample's functions in its solution cells, every code cell run in order in one namespace.
"""
import functools
import re
import sys
import time
from pathlib import Path

import pytest

import assignments_helpers as helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import validate_figures as vf  # noqa: E402

CALL_BUDGET = 300   # calls of the graded functions per check cell (was 1,052 in conv, 1,772 in pooling)
GRADIENT_CHECK = re.compile(r"\bnumerical_gradient\w*\(")
FLOAT64_ONLY = {"style_float32"}  # computes in float32: finite differences cannot check it


def _check_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and not vf._is_graded(c)]


def _counted(name, f, counts):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        counts[name] = counts.get(name, 0) + 1
        return f(*args, **kwargs)
    wrapper.counted = True
    return wrapper


def run_counting(nb, assignment):
    """Run every code cell in order -> [(cell, error or None, graded calls, CPU seconds)]. After
    each cell, the graded functions it defined are wrapped to count their calls (as the sandbox
    wraps them in a time limit); the solutions' own internal calls count too."""
    ns = {"__name__": "__main__"}
    rows = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        counts = {}
        for name in helpers.GRADED[assignment]:
            f = ns.get(name)
            if callable(f):
                ns[name] = _counted(name, getattr(f, "__wrapped__", f), counts)
        t = time.process_time()
        _, _, error = vf._run_cell(cell.source, ns)
        rows.append((cell, error, sum(counts.values()), time.process_time() - t))
    return rows


@pytest.fixture(scope="module")
def references():
    return {a: helpers.reference_submission(a) for a in helpers.NOTEBOOKS}


@pytest.mark.parametrize("assignment", sorted(helpers.NOTEBOOKS))
def test_check_cells_call_the_graded_functions_sparingly(assignment, references):
    rows = run_counting(references[assignment], assignment)
    assert not [(c.get("id"), e) for c, e, _, _ in rows if e], "the reference fails its own cells"
    heavy = {c.get("id"): n for c, _, n, _ in rows if not vf._is_graded(c) and n > CALL_BUDGET}
    assert not heavy, f"{assignment}: check cells calling the graded functions > {CALL_BUDGET} times: {heavy}"
    grad_checks = [n for c, _, n, _ in rows if GRADIENT_CHECK.search(c.source)]
    assert grad_checks and min(grad_checks) > 0, "every gradient-check cell calls the graded functions"


@pytest.fixture(scope="module")
def corpus():
    """{(assignment, name): [(check cell id, error or None)]} for every sample submission."""
    out = {}
    for name, assignment, nb, _ in vf.submissions():
        ns = {"__name__": "__main__"}
        rows = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            _, _, error = vf._run_cell(cell.source, ns)
            if not vf._is_graded(cell):
                rows.append((cell, error))
        out[(assignment, name)] = rows
    return out


def test_gradient_checks_catch_every_buggy_backward_pass(corpus):
    checked = 0
    for (assignment, name), rows in corpus.items():
        meta, _, funcs = helpers.snippets_for(assignment).get(name, ({}, "", {}))
        if not name.startswith("bug_") or not any(f.endswith("_backward") or f.endswith("_backward_naive")
                                                  for f in funcs):
            continue
        checked += 1
        caught = [c.get("id") for c, e in rows if e and GRADIENT_CHECK.search(c.source)]
        assert caught, f"{assignment}/{name}: no gradient-check cell fails on this buggy backward pass"
    assert checked >= 15, f"only {checked} buggy backward passes in the corpus"


def test_check_cells_pass_every_correct_submission(corpus):
    failed = {f"{a}/{name}": [(c.get("id"), e) for c, e in rows if e]
              for (a, name), rows in corpus.items()
              if not name.startswith("bug_") and name not in FLOAT64_ONLY}
    assert not {k: v for k, v in failed.items() if v}
    assert len(failed) >= 12
