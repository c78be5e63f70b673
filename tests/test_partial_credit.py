"""Partial credit through real `nbgrader autograde`, `generate_feedback` and `export` (issue 15,
item 4): a test cell with k of its n hidden cases passed scores points * k / n (2 decimals), the
feedback says so, the gradebook and the CSV export carry the score, and a crash in one case costs
only that case. `--SandboxedExecute.partial_credit=False` makes cells all or nothing again.

The expected scores are worked out by hand from the hidden cases in solutions/pooling (points per
cell: forward_basic 4, forward_overlap 4, forward_shapes 2, backward_basic 4, backward_overlap 4,
backward_shapes 2).
"""
import csv
import html
import re

import pytest

from assignments_helpers import (build_submission, make_course, nbgrader, reference_submission,
                                 sandbox_or_skip, scores, solution_functions, submit)

# The stride is taken to be the pool height. Right when stride == pool_height or when there is a
# single window: forward_basic 4 of 4 cases; forward_overlap 1 of 5 (only 2x3 stride 2);
# forward_shapes 3 of 3 (4x4 on 4x4 is one window). The backward cells use the cache's own
# pool_param and pass everything.
STRIDE_IS_HEIGHT = '''
def max_pool_forward_naive(x, pool_param):
    PH, PW = pool_param["pool_height"], pool_param["pool_width"]
    S = PH
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - PH) // S, 1 + (W - PW) // S
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * S:i * S + PH, j * S:j * S + PW].max(axis=(2, 3))
    return out, (x, pool_param)
'''
# Raises for a single image (N = 1): forward_overlap loses 1 of 5 cases, forward_shapes 2 of 3,
# backward_overlap 1 of 4 (its forward call fails), backward_shapes 2 of 3; the rest pass.
CRASH_ON_ONE_IMAGE = '''
def max_pool_forward_naive(x, pool_param):
    if x.shape[0] == 1:
        raise ValueError("a batch of one")
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - PH) // S, 1 + (W - PW) // S
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * S:i * S + PH, j * S:j * S + PW].max(axis=(2, 3))
    return out, (x, pool_param)
'''
HALF = {"test_pool_forward_basic": 4, "test_pool_forward_overlap": 0.8,
        "test_pool_forward_shapes": 2, "test_pool_backward_basic": 4,
        "test_pool_backward_overlap": 4, "test_pool_backward_shapes": 2}          # 16.8
CRASH = {"test_pool_forward_basic": 4, "test_pool_forward_overlap": 3.2,
         "test_pool_forward_shapes": 0.67, "test_pool_backward_basic": 4,
         "test_pool_backward_overlap": 3.0, "test_pool_backward_shapes": 0.67}   # 15.54
# All or nothing, as before partial credit: a failed hidden case, or an error in the cell's
# visible part, costs the cell. forward_shapes' visible part checks 2x2 windows with stride 3,
# which this bug gets wrong although its hidden cases pass. (With partial credit the hidden cases
# alone decide: the visible part is the students' check, shown but not scored.)
ALL_OR_NOTHING = dict(HALF, test_pool_forward_overlap=0, test_pool_forward_shapes=0)  # 14


def _submit(course, student, source):
    funcs = {**solution_functions("pooling"), "max_pool_forward_naive": source}
    submit(course, student, "pooling", build_submission("pooling", funcs, course=course))


def _feedback(course, student):
    raw = (course / "feedback" / student / "pooling" / "pooling.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def test_partial_credit_in_gradebook_feedback_and_export(tmp_path):
    sandbox_or_skip()
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "pooling", "--force", cwd=course)
    submit(course, "honest", "pooling", reference_submission("pooling", course))
    _submit(course, "half", STRIDE_IS_HEIGHT)
    _submit(course, "crash", CRASH_ON_ONE_IMAGE)
    nbgrader("autograde", "pooling", cwd=course)
    nbgrader("generate_feedback", "pooling", cwd=course)
    nbgrader("export", cwd=course)

    got = scores(course, "pooling")
    for student, want in (("half", HALF), ("crash", CRASH)):
        assert {g: s for g, (s, _, _) in got[student].items()} == pytest.approx(want), student
        assert not any(manual for _, _, manual in got[student].values())
    assert all(s == m for s, m, _ in got["honest"].values())
    # the notebooks' practice-check cells ran in the sandbox as a no-op, costing nothing
    import nbformat
    from assignments_helpers import outputs_text
    honest = nbformat.read(course / "autograded" / "honest" / "pooling" / "pooling.ipynb", 4)
    assert outputs_text(honest, graded=False).count("practice check skipped while grading") == 2

    half = _feedback(course, "half")
    assert "max_pool_forward_naive failed 4 of 5 hidden cases" in half
    assert "1 of 5 hidden cases passed: 0.8 of 4 points" in half
    crash = _feedback(course, "crash")
    assert "raised ValueError: a batch of one" in crash
    assert "1 of 3 hidden cases passed: 0.67 of 2 points" in crash
    assert "3 of 4 hidden cases passed: 3 of 4 points" in crash

    with open(course / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["half"]["score"]) == pytest.approx(16.8)
    assert float(rows["crash"]["score"]) == pytest.approx(15.54)
    assert float(rows["honest"]["score"]) == 20.0


def test_partial_credit_can_be_switched_off(tmp_path):
    sandbox_or_skip()
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "pooling", "--force", cwd=course)
    _submit(course, "half", STRIDE_IS_HEIGHT)
    nbgrader("autograde", "pooling", "--SandboxedExecute.partial_credit=False", cwd=course)
    got = scores(course, "pooling")
    assert {g: s for g, (s, _, _) in got["half"].items()} == pytest.approx(ALL_OR_NOTHING)
