"""The students' practice check (cs231n_lib.practice, issue 15 item 2): public cases, the grader's
own explanation, nothing instructor-only; and inside the grading sandbox a harmless no-op."""
import subprocess
import sys

import numpy as np
import pytest

from assignments_helpers import GRADED, ROOT, read_snippet, solution_functions

from cs231n_lib import explain, practice

sys.path.insert(0, str(ROOT))  # the instructor-only grading package, for comparisons only
from grading import cases, judge  # noqa: E402


def _namespace(assignment, bug=None):
    ns = {}
    exec("import numpy as np", ns)
    for src in dict.fromkeys(solution_functions(assignment).values()):
        exec(src, ns)
    if bug:
        exec((ROOT / "tests" / "submissions" / f"{bug}.py").read_text(), ns)
    return ns


@pytest.mark.parametrize("assignment", sorted(GRADED))
def test_the_reference_solution_passes_every_practice_case(assignment, capsys):
    ns = _namespace(assignment)
    for name in GRADED[assignment]:
        practice.check_public(name, ns)
        assert f"{name}: all {len(practice.CASES[name])} practice cases passed" in \
            capsys.readouterr().out


def test_a_bug_gets_the_graders_explanation(capsys):
    ns = _namespace("conv", "bug_conv_dx_keeps_padding")
    practice.check_public("conv_backward_naive", ns)
    out = capsys.readouterr().out
    assert "conv_backward_naive failed 3 of 5 practice cases." in out, out
    assert "likely cause: the padding was not stripped from dx" in out, out
    # case by case, the very lines the grader's judge gives on the same inputs
    total, failures = practice.run("conv_backward_naive", ns)
    for i, case, lines in failures:
        inputs = explain.build("conv_backward_naive", case,
                               np.random.default_rng((practice.SALT, case["seed"])))
        outputs = explain.invoke("conv_backward_naive", case, inputs, ns)
        assert cases.judge("conv_backward_naive", case, inputs, outputs)[1] == lines


def test_pad_minus_pad_is_caught_at_pad_zero(capsys):
    src = solution_functions("conv")["conv_backward_naive"]
    right = "dx_pad[:, :, pad:pad + H, pad:pad + W]"
    assert right in src, "the solution's crop changed: update this test"
    ns = _namespace("conv")
    exec(src.replace(right, "dx_pad[:, :, pad:-pad, pad:-pad]"), ns)
    total, failures = practice.run("conv_backward_naive", ns)
    zero_pad = [i for i, case, _ in failures if case["pad"] == 0]
    assert zero_pad and all(
        any("pad:-pad, which is empty when pad = 0" in ln for ln in lines)
        for i, case, lines in failures if case["pad"] == 0), failures


def test_unknown_function_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="no practice cases for 'conv_forward'.*conv_forward_naive"):
        practice.check_public("conv_forward", {})


def test_public_cases_are_not_the_hidden_ones():
    """Different inputs from any hidden case (even unsalted: `nbgrader validate` of the source),
    and the practice module needs nothing of grading/."""
    hidden = {}
    for a in GRADED:
        nb = (ROOT / "solutions" / a / f"{a}.ipynb")
        import nbformat
        for cell in nbformat.read(nb, 4).cells:
            calls, _ = judge.split_test_cell(cell.source) if cell.cell_type == "code" else (None, 0)
            for name, case_list in calls or []:
                hidden.setdefault(name, []).extend(case_list)
    for name, case_list in practice.CASES.items():
        assert name in hidden
        for case in case_list:
            mine = explain.build(name, case, np.random.default_rng((practice.SALT, case["seed"])))
            for other in hidden[name]:
                theirs = cases.build(name, other)
                same = [k for k, v in mine.items() if isinstance(v, np.ndarray) and
                        np.shape(theirs.get(k)) == v.shape and np.allclose(theirs[k], v)]
                assert not same, (name, case, other, same)
    code = ("import sys, cs231n_lib.practice as p\n"
            "assert not [m for m in sys.modules if m == 'grading' or m.startswith('grading.')]\n"
            "print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd="/")
    assert proc.stdout.strip() == "ok", proc.stderr


def test_in_the_grading_sandbox_it_is_a_no_op_and_the_judge_stays_out(tmp_path):
    from test_sandbox_worker import run_cells, stdout

    from grading.sandbox_tripwire import PRACTICE_SKIPPED
    cells, done = run_cells(tmp_path, [
        "from cs231n_lib import practice\npractice.check_public('conv_forward_naive')",
        "import cs231n_lib.explain as e\ntry:\n    e.expected('conv_forward_naive', {}, {})\n"
        "except BaseException as exc:\n    print('blocked', type(exc).__name__)",
        "import os, cs231n_lib\nprint(sorted(os.listdir(os.path.dirname(cs231n_lib.__file__))))",
    ], cell_timeout=20.0)
    assert done
    assert cells[0][0]["status"] == "ok", cells[0]
    assert stdout(cells[0][0]) == f"conv_forward_naive: {PRACTICE_SKIPPED}\n"
    assert stdout(cells[1][0]) == "blocked LibraryCallForbidden\n", cells[1]
    files = stdout(cells[2][0])
    assert "layers.py" in files and not any(
        m in files for m in ("practice.py", "explain.py", "mistakes.py", "fast_layers.py")), files
