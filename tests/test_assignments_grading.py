"""End to end, per assignment: generate -> submit -> autograde -> generate_feedback -> export on
the sample submissions in tests/submissions/ (one nbgrader call per step for all of them).

- the reference solution, a vectorised and a float32 solution get full marks, with no warning
  in the autograde log, and (but for float32) no error anywhere, visible checks included;
- a correct solution that writes warnings to stderr still gets full marks;
- a blank notebook gets zero, without crashing anything;
- every buggy submission loses points on exactly the test cells its docstring lists and its
  feedback names the likely cause (that a visible check flags it before submission, its
  `visible:` phrase, is tests/test_validate_figures.py's: validate's output, not the grader's);
- a submission whose test cells were deleted, or whose nbgrader metadata was stripped, is
  restored and graded automatically (no manual grading), with a warning in the log;
- a fake `grading` package submitted next to the notebook does not replace the real checker;
- feedback never shows hidden-test source; the CSV export has one row per student.
"""
import copy
import csv
import html
import re

import nbformat
import pytest

from assignments_helpers import (NOTEBOOKS, build_submission, log_by_student, make_course,
                                 nbgrader, reference_submission, scores,
                                 snippets_for, solution_functions, submit)

TOTALS = {"conv": 30, "pooling": 20, "batchnorm": 30}
# solutions whose every cell, visible checks included, must run without error (style_float32 is
# graded correct, but no finite-difference check can pass on a layer that computes in float32)
CLEAN = ("reference", "style_vectorised")


def _tampered(assignment, course):
    """Reference submissions with (a) test cells and the read-only setup cell deleted, (b) every
    cell's nbgrader metadata stripped (as some editors do)."""
    nb = reference_submission(assignment, course)
    deleted = copy.deepcopy(nb)
    tests = [i for i, c in enumerate(deleted.cells) if c.metadata.get("nbgrader", {}).get("grade")]
    setup = [i for i, c in enumerate(deleted.cells) if c.metadata.get("nbgrader", {}).get("locked")
             and not c.metadata["nbgrader"].get("grade")][:1]
    drop = set(tests[:1] + tests[-1:] + setup)
    deleted.cells = [c for i, c in enumerate(deleted.cells) if i not in drop]
    stripped = copy.deepcopy(nb)
    for c in stripped.cells:
        c.metadata.pop("nbgrader", None)
    return {"tamper_deleted": deleted, "tamper_stripped": stripped}


def _feedback_text(course, student, assignment):
    raw = (course / "feedback" / student / assignment / f"{NOTEBOOKS[assignment]}.html").read_text()
    return raw, html.unescape(re.sub(r"<[^>]+>", "", raw))


@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_autograde_feedback_export(assignment, tmp_path):
    course = make_course(tmp_path)
    nbgrader("generate_assignment", assignment, "--force", cwd=course)

    expect = {}  # student -> (grade ids that must lose points, feedback phrases, visible phrases)
    submit(course, "reference", assignment, reference_submission(assignment, course))
    expect["reference"] = ([], [], [])
    submit(course, "blank", assignment, build_submission(assignment, course=course))
    for name, (meta, prelude, funcs) in snippets_for(assignment).items():
        funcs = {**solution_functions(assignment), **funcs}
        submit(course, name, assignment, build_submission(assignment, funcs, prelude, course))
        expect[name] = (meta["loses"], meta["feedback"], meta["visible"])
    if assignment == "conv":  # a wrong solution shipped with a fake grader that passes all
        _, prelude, funcs = snippets_for("conv")["bug_conv_flipped_kernel"]
        folder = submit(course, "cheat_fake_grader", assignment, build_submission(
            assignment, {**solution_functions(assignment), **funcs}, prelude, course))
        (folder / "grading").mkdir()
        (folder / "grading" / "__init__.py").write_text("def check(*args, **kwargs):\n    pass\n")
        expect["cheat_fake_grader"] = (snippets_for("conv")["bug_conv_flipped_kernel"][0]["loses"],
                                       [], [])
    tampered = _tampered(assignment, course) if assignment == "pooling" else {}
    for name, nb in tampered.items():
        submit(course, name, assignment, nb)
        expect[name] = ([], [], [])
    bugs = [n for n in expect if n.startswith("bug_")]
    assert len(bugs) >= 5, f"{assignment}: too few buggy samples"

    log = nbgrader("autograde", assignment, cwd=course).stdout
    nbgrader("generate_feedback", assignment, cwd=course)
    nbgrader("export", cwd=course)

    graded = scores(course, assignment)
    per_student_log = log_by_student(log, assignment)
    assert set(graded) == set(expect) | {"blank"}
    assert f"autograding {len(graded)} of {len(graded)}" in log, "no progress lines in the log"
    problems = []
    for student, cells in sorted(graded.items()):
        total = sum(s for s, _, _ in cells.values())
        if any(manual for _, _, manual in cells.values()):
            problems.append(f"{student}: some cells need manual grading")
        if student == "blank":
            if total != 0:
                problems.append(f"blank notebook scored {total}")
            continue
        loses, phrases, _ = expect[student]
        lost = sorted(gid for gid, (s, m, _) in cells.items() if s < m)
        if lost != sorted(loses):
            problems.append(f"{student}: lost points on {lost}, expected exactly {sorted(loses)}")
        warnings = [line for line in per_student_log.get(student, [])
                    if "[AutogradeApp | WARNING]" in line]
        if student in tampered:
            if not any("restored" in w for w in warnings):
                problems.append(f"{student}: no restore warning logged")
        elif warnings:
            problems.append(f"{student}: unexpected warnings: {warnings[:2]}")
        raw, text = _feedback_text(course, student, assignment)
        for phrase in phrases:
            if phrase not in text:
                problems.append(f"{student}: feedback lacks {phrase!r}")
        for leak in ("BEGIN HIDDEN", "from grading", "check(", "seed=", "GradingFailure(",
                     "grading/", "cases.py", "checks.py", "reference.py"):
            if leak in raw or leak in text:
                problems.append(f"{student}: feedback shows {leak!r}")
        autograded = nbformat.read(course / "autograded" / student / assignment /
                                   f"{NOTEBOOKS[assignment]}.ipynb", 4)
        if student in CLEAN + tuple(tampered) and total == TOTALS[assignment]:
            errors = [c.source.split("\n")[0] for c in autograded.cells if c.cell_type == "code"
                      and any(o.output_type == "error" for o in c.get("outputs", []))]
            if errors:
                problems.append(f"{student}: cells failed: {errors}")
    assert not problems, "\n".join(problems)

    assert sum(s for s, _, _ in graded["reference"].values()) == TOTALS[assignment]
    with open(course / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh) if r["assignment"] == assignment}
    assert set(rows) == set(graded)
    assert float(rows["reference"]["score"]) == float(rows["reference"]["max_score"]) \
        == TOTALS[assignment]
    assert float(rows["blank"]["score"]) == 0.0
