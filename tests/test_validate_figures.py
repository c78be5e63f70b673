"""What `nbgrader validate` tells a student before submitting (tools/validate_figures.py).

- On the sample submissions (tests/submissions/), validate fails >= 90% of those that lose hidden
  points, never a correct one (loops, vectorised, im2col, einsum, float32, printing warnings), and
  never a graded cell whose hidden cases pass (that failure would cost points when grading).
- Every sample's `visible:` phrase is among what validate shows.
- The fast in-process run agrees with the real `nbgrader validate` on a few notebooks.
- The graded cells' `expect` helper names a cause only when the output is exactly that
  mistake's, and otherwise says what differs.
"""
import ast
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import assignments_helpers as helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import validate_figures as vf  # noqa: E402


@pytest.fixture(scope="module")
def results():
    return vf.run()


def test_figures_meet_the_targets(results):
    f = vf.figures(results)
    assert f["losing"] >= 30 and f["correct"] >= 15, f  # the corpus is not quietly shrinking
    assert f["catch_rate"] >= vf.TARGET_CATCH, f"validate says Success on {f['missed']}"
    assert f["correct_failed"] == [], "validate fails correct submissions"
    assert f["beyond_hidden"] == [], "visible checks fail where the hidden cases pass"
    styles = {r.name for r in results if r.correct}
    assert {"reference", "style_float32", "style_warns", "style_vectorised", "style_im2col",
            "style_einsum", "style_np_pad_loops"} <= styles


def test_every_visible_phrase_is_shown_by_validate(results):
    missing, checked = [], 0
    for r in results:
        if r.name == "reference":
            continue
        meta = helpers.read_snippet(helpers.SUBMISSIONS / f"{r.name}.py")[0]
        missing += [f"{r.assignment}/{r.name}: {p!r}" for p in meta["visible"] if p not in r.shown]
        checked += len(meta["visible"])
    assert checked >= 30 and not missing, "\n".join(missing)


def test_figures_count_what_they_say():
    R = vf.Result
    results = [R("a", "conv", ["t1"], ["t1"]), R("b", "conv", ["t1"], []),
               R("c", "conv", ["t1"], ["t1", "t2"]), R("ok", "conv", [], []),
               R("ok2", "conv", [], ["t3"])]
    f = vf.figures(results)
    assert (f["losing"], f["caught"], f["correct"]) == (3, 2, 2)
    assert f["catch_rate"] == pytest.approx(2 / 3)
    assert f["missed"] == ["conv/b"]
    assert f["correct_failed"] == ["conv/ok2: t3"]
    assert f["beyond_hidden"] == ["conv/c: t2", "conv/ok2: t3"]
    text, _ = vf.report(results)
    assert "validate fails: 2 (67%" in text


def test_without_the_value_checks_validate_misses_value_bugs():
    """The figure can fail: with every `expect(...)` taken out of the graded cells (the functions
    still run, as in the shape-only checks before issue 15), validate says Success on an all-zero
    conv backward pass."""
    _, prelude, funcs = helpers.snippets_for("conv")["bug_conv_backward_zeros"]
    nb = helpers.build_submission("conv", {**helpers.solution_functions("conv"), **funcs}, prelude)
    assert vf.validate_inprocess(nb), "the release's checks should catch an all-zero dx"
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            tree = ast.parse(cell.source)
            tree.body = [node for node in tree.body if not (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "expect")]
            cell.source = ast.unparse(tree)
    assert vf.validate_inprocess(nb) == []


AGREE = [("conv", "bug_conv_dx_pad_slice"), ("conv", "style_warns"),
         ("pooling", "bug_pool_grad_overwritten"), ("batchnorm", "bug_bn_running_keepdims")]


@pytest.mark.parametrize("assignment,name", AGREE)
def test_inprocess_agrees_with_nbgrader_validate(assignment, name, tmp_path):
    _, prelude, funcs = helpers.snippets_for(assignment)[name]
    nb = helpers.build_submission(
        assignment, {**helpers.solution_functions(assignment), **funcs}, prelude)
    fast = sorted(g for g, _ in vf.validate_inprocess(nb))
    real = sorted(g for g, _ in vf.validate_nbgrader(nb, tmp_path))
    assert fast == real
    expected_fail = name.startswith("bug_")
    assert bool(real) == expected_fail


# ----------------------------------------------------------------------------- the helpers
def _helpers(assignment):
    """The release's setup cell run in a fresh namespace: `call` and `expect` as students get them."""
    nb = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", 4)
    setup = next(c for c in nb.cells if c.cell_type == "code"
                 and c.metadata.get("nbgrader", {}).get("locked")
                 and not c.metadata["nbgrader"].get("grade"))
    ns = {}
    exec(setup.source, ns)
    return ns


@pytest.mark.parametrize("assignment", sorted(helpers.NOTEBOOKS))
def test_expect_names_a_cause_only_for_that_exact_mistake(assignment):
    expect = _helpers(assignment)["expect"]
    want = np.array([[1.0, 2.0], [3.0, 4.0]])
    mistake = np.array([[1.0, 2.0], [3.0, 5.0]])
    cases = [(mistake, "THE CAUSE"), ((2, 3), "SHAPE CAUSE")]
    expect("out", want + 1e-6, want, "c", cases)  # within tolerance: passes silently
    expect("out", want.astype(np.float32), want, "c", cases)
    with pytest.raises(AssertionError, match="THE CAUSE"):
        expect("out", mistake.copy(), want, "c", cases)
    with pytest.raises(AssertionError, match="SHAPE CAUSE"):
        expect("out", np.ones((2, 3)), want, "c", cases)
    rng = np.random.default_rng(0)
    for wrong, says in [(np.zeros((2, 2)), "all zeros"), (np.full((2, 2), 7.0), "7 everywhere"),
                        (want + rng.normal(size=(2, 2)), "expected"),
                        (np.ones((3, 2)), "axis 0 differs"), (want.reshape(1, 4), "right values"),
                        (mistake + 0.5, "expected")]:
        with pytest.raises(AssertionError) as info:
            expect("out", wrong, want, "c", cases)
        assert says in str(info.value) and "CAUSE" not in str(info.value), str(info.value)


@pytest.mark.parametrize("assignment", sorted(helpers.NOTEBOOKS))
def test_call_moves_stderr_to_stdout(assignment, capsys):
    call = _helpers(assignment)["call"]

    def noisy(a):
        import warnings
        print("slow loops", file=sys.stderr)
        warnings.warn("careful", RuntimeWarning)
        return a + 1
    assert call(noisy, 1) == 2
    out, err = capsys.readouterr()
    assert err == "" and "slow loops" in out and "careful" in out


def test_pad_slice_hint_only_for_an_empty_dx():
    """The visible check names the pad:-pad slice for an empty dx at pad = 0, and not for another
    wrong dx of the same case (all zeros, noise)."""
    base = helpers.snippets_for("conv")
    sol = helpers.solution_functions("conv")
    shown = {}
    for name in ("bug_conv_dx_pad_slice", "bug_conv_backward_zeros", "bug_conv_dx_overwritten"):
        _, prelude, funcs = base[name]
        nb = helpers.build_submission("conv", {**sol, **funcs}, prelude)
        shown[name] = " ".join(m for _, m in vf.validate_inprocess(nb))
    assert "pad:-pad" in shown["bug_conv_dx_pad_slice"]
    assert "pad:-pad" not in shown["bug_conv_backward_zeros"]
    assert "all zeros" in shown["bug_conv_backward_zeros"]
    assert "+=" not in shown["bug_conv_backward_zeros"]
    assert "pad:-pad" not in shown["bug_conv_dx_overwritten"]
