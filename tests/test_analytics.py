"""Class analytics, regrading without running student code, and shared-answer flags (issue 16).

One real class is graded once per session (`nbgrader autograde` in the sandbox): one student per
kind of tests/submissions/ for the conv assignment, the reference, three planted pairs of
identical unusual wrong code and one pair of byte-identical notebooks (tests/synthetic_class.py).
From its verdict store:

- the store keeps every hidden case of every notebook, with the arrays, and agrees with the
  gradebook;
- regrade with nothing changed moves nothing; after a tolerance change exactly the scores that
  must move do, in the gradebook too; a new case is refused per notebook, not guessed;
- a class of 300 cloned from those verdicts (documented in synthetic_class.py) gives mistake
  rates equal to the known proportions and finds exactly the planted pairs, in under 30 s;
- the report opens in real headless Chromium: no console error, every image loaded, a
  screenshot in the test's artefacts; student ids are escaped.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import markupsafe
import nbformat
import pytest
import sqlalchemy as sa

from assignments_helpers import env, make_course, nbgrader, sandbox_or_skip, scores
import synthetic_class as sc

ASSIGNMENT = "conv"
FAST = ["--SandboxedExecute.cell_timeout=6", "--SandboxedExecute.case_timeout=3",
        "--SandboxedExecute.wall_s=150"]
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"
# what each bug of the corpus must be reported as: (function, words of the mistake); written here
# from the bug files' own docstrings, not taken from the grader
EXPECTED = {
    "bug_conv_backward_flipped": ("conv_backward_naive", "the kernel was flipped"),
    "bug_conv_db_not_summed": ("conv_backward_naive", "db was summed over H and W only"),
    "bug_conv_dw_overwritten": ("conv_backward_naive", "dw was overwritten (=) instead of"),
    "bug_conv_dx_keeps_padding": ("conv_backward_naive", "the padding was not stripped from dx"),
    "bug_conv_dx_overwritten": ("conv_backward_naive", "dx was overwritten (=) instead of"),
    "bug_conv_flipped_kernel": ("conv_forward_naive", "the kernel was flipped"),
    "bug_conv_no_bias": ("conv_forward_naive", "the bias b was left out"),
    "bug_conv_no_padding": ("conv_forward_naive", "the zero padding was skipped"),
    "bug_conv_size_off_by_one": ("conv_forward_naive", "the output size is off by one: H_out"),
    "bug_conv_stride_ignored": ("conv_forward_naive", "the stride was ignored"),
}
CORRECT = ("correct", "style_float32", "style_vectorised", "style_warns", "style_np_pad_loops",
           "style_im2col", "style_einsum", "t1a", "t1b")


def db(course):
    return f"sqlite:///{Path(course) / 'gradebook.db'}"


def grading_cli(*args, cwd):
    proc = subprocess.run([sys.executable, "-m", "grading", *args], cwd=cwd, env=env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """A course with the template class graded for real (read-only for the tests: copy it)."""
    sandbox_or_skip()
    course = make_course(tmp_path_factory.mktemp("analytics"))
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    sc.submit_templates(course, ASSIGNMENT)
    nbgrader("autograde", ASSIGNMENT, *FAST, cwd=course)
    return course


@pytest.fixture
def course_copy(graded, tmp_path):
    dst = tmp_path / "course"
    shutil.copytree(graded, dst, symlinks=True)
    return dst


def load(course):
    from grading import store
    return store.load(db(course), ASSIGNMENT, with_arrays=True)


# ----------------------------------------------------------------------------- the store
def test_store_keeps_every_case_with_its_arrays(graded):
    import numpy as np

    from grading import cases, judge, store
    nbs, by_nb = load(graded)
    students = {nb["student"]: nb for nb in nbs}
    assert set(students) == set(sc.templates(ASSIGNMENT))
    src = nbformat.read(graded / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    hidden = [(c.metadata.nbgrader["grade_id"], judge.split_test_cell(c.source)[0])
              for c in src.cells if c.cell_type == "code" and "BEGIN HIDDEN" in c.source]
    n_cases = sum(len(cl) for _, calls in hidden for _, cl in calls)
    gb = scores(graded, ASSIGNMENT)
    cases.set_secret(cases.course_secret(str(graded), create=False))
    try:
        for student, nb in students.items():
            rows = by_nb[nb["id"]]
            assert len(rows) == n_cases, student
            # the store's scores are the gradebook's
            assert {g: c["score"] for g, c in nb["cells"].items()} == \
                {g: s for g, (s, _, _) in gb[student].items()}, student
        # the correct student's kept arrays are the reference's answers, case by case
        for row in by_nb[students["correct"]["id"]]:
            arrays, _ = store.unpack_arrays(row["outputs"])
            want = judge.expected_for(row["fn"], row["case"], judge.inputs_for(row["fn"], row["case"]))
            assert row["passed"] and row["error_class"] is None
            for key in cases.checked_keys(row["case"], want):
                got = np.load(__import__("io").BytesIO(arrays[key]), allow_pickle=False)
                assert np.allclose(got, want[key], atol=1e-6), (row["grade_id"], key)
    finally:
        cases.set_secret(None)
    stride = [r for r in by_nb[students["bug_conv_stride_ignored"]["id"]] if not r["passed"]]
    assert stride and all(r["error_class"] in ("wrong values", "wrong shape") for r in stride)
    assert all("the stride was ignored" in (r["cause"] or "") for r in stride)
    assert all(r["case"]["stride"] > 1 for r in stride)
    p1 = [r for r in by_nb[students["p1a"]["id"]] if not r["passed"]]
    odd = [(r["grade_id"], r["error_class"], r["cause"], r["max_diff"]) for r in p1
           if not (r["error_class"] == "wrong values" and r["cause"] is None
                   and 0 < r["max_diff"] < 0.05)]
    assert p1 and not odd, f"p1a's scaled forward should fail only as unexplained small " \
                           f"wrong values: {odd}"
    # the arrays stay with the gradebook: nothing of the store in a student-facing folder
    for folder in ("submitted", "autograded", "feedback"):
        for path in (graded / folder).rglob("*") if (graded / folder).exists() else ():
            assert not path.name.endswith((".db", ".npy", ".npz")), path


# ----------------------------------------------------------------------------- regrade
def _gb_scores(course):
    return {s: {g: v[0] for g, v in cells.items()} for s, cells in scores(course, ASSIGNMENT).items()}


def test_regrade_with_nothing_changed_moves_nothing(course_copy):
    before = _gb_scores(course_copy)
    out = grading_cli("regrade", ASSIGNMENT, cwd=course_copy)
    n = len(sc.templates(ASSIGNMENT))
    assert out.splitlines()[0].startswith(f"regraded {n} notebooks in ")
    assert out.splitlines()[0].endswith("scores changed: 0"), out
    assert _gb_scores(course_copy) == before


def _edit_test_cell(course, grade_id, edit):
    path = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, 4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    new = edit(cell.source)
    assert new != cell.source
    cell.source = new
    nbformat.write(nb, path)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)


def test_regrade_after_a_tolerance_change_moves_exactly_the_scores_it_must(course_copy):
    import datetime

    from nbgrader.api import Gradebook
    before = _gb_scores(course_copy)
    # p1a handed in 1.5 days late: 2 started days at 10% a day (nbgrader_config.py's policy)
    due = datetime.datetime(2026, 1, 10, 12, 0)
    with Gradebook(db(course_copy)) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=due)
        gb.find_submission(ASSIGNMENT, "p1a").timestamp = due + datetime.timedelta(days=1.5)
        gb.db.commit()
    # p1's answers are off by 3e-4 (relative), p2's by 3e-3: a tolerance of 1e-3 on the first
    # test cell passes p1a and p1b there (0 -> 4 points) and nobody else changes
    _edit_test_cell(course_copy, "test_conv_forward_stride1",
                    lambda s: s.replace("seed=", "tol=1e-3, seed="))
    out = grading_cli("regrade", ASSIGNMENT, cwd=course_copy)
    lines = out.splitlines()
    assert lines[0].endswith("scores changed: 2"), out
    # p1a's notebook now scores 15 + 4 = 19 (the backward cells passed already): 20% of it late
    assert lines[1:] == ["  p1a/conv test_conv_forward_stride1: 0 -> 4",
                         "  p1b/conv test_conv_forward_stride1: 0 -> 4",
                         "  late penalty p1a/conv/conv: 0 -> 3.8"], out
    after = _gb_scores(course_copy)
    for student in before:
        for gid, score in before[student].items():
            want = 4.0 if (student in ("p1a", "p1b") and gid == "test_conv_forward_stride1") \
                else score
            assert after[student][gid] == want, (student, gid)
    # the store follows: p1a's cases of that cell now pass, the others of p1a still fail
    nbs, by_nb = load(course_copy)
    p1a = next(nb for nb in nbs if nb["student"] == "p1a")
    rows = by_nb[p1a["id"]]
    assert all(r["passed"] for r in rows if r["grade_id"] == "test_conv_forward_stride1")
    assert not any(r["passed"] for r in rows if r["grade_id"] == "test_conv_forward_shapes")
    assert p1a["cells"]["test_conv_forward_stride1"]["score"] == 4.0
    # and regrading again moves nothing
    assert grading_cli("regrade", "*", cwd=course_copy).splitlines()[0].endswith(
        "scores changed: 0")


def test_regrade_refuses_a_case_nobody_answered(course_copy):
    before = _gb_scores(course_copy)
    _edit_test_cell(course_copy, "test_conv_forward_float32",
                    lambda s: s.replace("seed=402", "seed=499"))
    out = grading_cli("regrade", ASSIGNMENT, cwd=course_copy)
    assert out.splitlines()[0].endswith("scores changed: 0"), out
    stale = [ln for ln in out.splitlines() if "not regraded" in ln]
    assert len(stale) == len(sc.templates(ASSIGNMENT)), out
    assert "test_conv_forward_float32: no stored answer for conv_forward_naive" in stale[0]
    assert _gb_scores(course_copy) == before


# ----------------------------------------------------------------------------- 300 students
@pytest.fixture(scope="session")
def big_class(graded, tmp_path_factory):
    """300 students cloned from the graded templates into a fresh store, and their report."""
    from grading import report
    folder = tmp_path_factory.mktemp("class300")
    dst = f"sqlite:///{folder / 'gradebook.db'}"
    students, shared, identical, counts = sc.roster(300, ASSIGNMENT)
    # one student id full of HTML (a planted twin, so that the page names it): the pages must
    # show it as text
    evil = "<img src=x onerror=alert(1)>"
    twin = identical[0][1]
    students[evil] = students.pop(twin)
    identical = [tuple(sorted(evil if s == twin else s for s in pair)) for pair in identical]
    sc.clone_class(db(graded), dst, ASSIGNMENT, students, identical)
    t0 = time.perf_counter()
    results = report.write_reports(dst, str(folder / "reports"), log=lambda *_: None)
    return {"folder": folder, "a": results[ASSIGNMENT], "seconds": time.perf_counter() - t0,
            "students": students, "shared": shared, "identical": identical, "counts": counts,
            "evil": evil}


def test_report_on_300_students_has_the_known_mistake_rates_and_planted_pairs(big_class):
    a, counts, students = big_class["a"], big_class["counts"], big_class["students"]
    assert a["N"] == 300 and big_class["seconds"] < 30, big_class["seconds"]
    page = (big_class["folder"] / "reports" / f"{ASSIGNMENT}.html").read_text()
    for kind, (fn, words) in EXPECTED.items():
        found = [m for m in a["mistakes"] if m["fn"] == fn and words in m["cause"]]
        assert len(found) == 1, (kind, found)
        assert found[0]["n"] == counts[kind] >= 10, (kind, found[0]["n"], counts[kind])
        assert f"({counts[kind]} of 300) &mdash; {fn}: {markupsafe.escape(found[0]['cause'])}" in page, \
            kind
    # no correct answer is ever counted as a mistake
    correct = {s for s, k in students.items() if k in CORRECT}
    assert not correct & {r["student"] for r in a["attention"]}
    # the shared answers are exactly the planted pairs, and so are the identical notebooks
    assert [tuple(p["students"]) for p in a["shared"]] == big_class["shared"]
    assert [tuple(g["students"]) for g in a["identical"]] == big_class["identical"]
    assert "look at these together" in page


def test_report_opens_in_chromium_with_every_image_and_escaped_ids(big_class, tmp_path):
    if not Path(CHROMIUM).exists():
        (pytest.fail if CI else pytest.skip)(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        (pytest.fail if CI else pytest.skip)("the Python package playwright is missing")
    shots = tmp_path / "browser_artefacts"
    shots.mkdir()
    print(f"\nreport screenshots: {shots}")
    reports = big_class["folder"] / "reports"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, timeout=30_000, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors, requests = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            for name in ("index", ASSIGNMENT):
                page.goto((reports / f"{name}.html").as_uri(), wait_until="load",
                          timeout=30_000)
                images = page.evaluate("""() => Array.from(document.images).map(
                    i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}))""")
                if name == ASSIGNMENT:
                    assert len(images) == 4, images
                assert all(i["ok"] for i in images), images
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            text = page.inner_text("body")
            assert big_class["evil"] in text  # shown as text ...
            assert page.evaluate("document.querySelectorAll('img[onerror]').length") == 0
            assert not dialogs  # ... and never run
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # offline
    assert (shots / f"{ASSIGNMENT}.png").stat().st_size > 10_000


def test_regrade_names_an_unknown_assignment(course_copy):
    proc = subprocess.run([sys.executable, "-m", "grading", "regrade", "nosuch"], cwd=course_copy,
                          env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "no assignment 'nosuch' in the gradebook" in proc.stderr


# ----------------------------------------------------------------------------- no sandbox needed
def _row(gid, k, sha, passed=False, cause=None, fn="conv_forward_naive"):
    case = {"x": [1, 1, 4, 4], "w": [1, 1, 3, 3], "stride": 1, "pad": 0, "seed": k}
    return {"grade_id": gid, "call": 0, "k": k, "fn": fn, "case": case,
            "case_json": json.dumps(case, sort_keys=True), "passed": passed, "status": "ok",
            "error_class": None if passed else "wrong values", "cause": cause,
            "max_diff": None, "outputs_sha": sha}


def _class(answers, sha=None):
    """answers: {student: [rows]} -> (notebook rows, {id: rows}) as store.load returns them."""
    nbs, by_nb = [], {}
    for i, (student, rows) in enumerate(sorted(answers.items())):
        nbs.append({"id": i, "student": student, "notebook": "conv", "wall_s": 1.0, "info": None,
                    "nb_sha256": (sha or {}).get(student, student),
                    "cells": {"t": {"points": 4.0, "score": 4.0 * all(r["passed"] for r in rows),
                                    "passed": all(r["passed"] for r in rows)}}})
        by_nb[i] = rows
    return nbs, by_nb


def test_shared_answers_need_unexplained_identical_wrong_answers_of_a_few_students():
    from grading import report
    answers = {
        # a and b: two identical wrong answers no known mistake explains -> look together
        "a": [_row("t", 0, "x0"), _row("t", 1, "x1")],
        "b": [_row("t", 0, "x0"), _row("t", 1, "x1")],
        # c and d share one such answer only
        "c": [_row("t", 0, "y0"), _row("t", 1, "c1")],
        "d": [_row("t", 0, "y0"), _row("t", 1, "d1")],
        # e and f share two wrong answers that a known mistake explains
        "e": [_row("t", 0, "z0", cause="the stride was ignored"),
              _row("t", 1, "z1", cause="the stride was ignored")],
        "f": [_row("t", 0, "z0", cause="the stride was ignored"),
              _row("t", 1, "z1", cause="the stride was ignored")],
        # g and h share two right answers
        "g": [_row("t", 0, "ok0", passed=True), _row("t", 1, "ok1", passed=True)],
        "h": [_row("t", 0, "ok0", passed=True), _row("t", 1, "ok1", passed=True)],
    }
    # i, j, k, l: four students with the same two unexplained wrong answers: a common mistake
    for s in "ijkl":
        answers[s] = [_row("t", 0, "w0"), _row("t", 1, "w1")]
    nbs, by_nb = _class(answers, sha={"g": "same", "h": "same"})
    a = report.analyse(nbs, by_nb)
    assert [p["students"] for p in a["shared"]] == [("a", "b")]
    assert len(a["shared"][0]["evidence"]) == 2
    assert [g["students"] for g in a["identical"]] == [["g", "h"]]
    # the unchanged release is no evidence
    assert report.analyse(nbs, by_nb, release_sha={"same"})["identical"] == []
    # rates: e and f named the stride mistake, 2 of the 12 students
    assert [(m["cause"], m["n"]) for m in a["mistakes"]] == [("the stride was ignored", 2)]


def test_report_pages_escape_what_students_made(tmp_path):
    from grading import report
    evil = "<script>alert(1)</script>"
    nbs, by_nb = _class({evil: [_row("t", 0, "x0"), _row("t", 1, "x1")],
                         "b": [_row("t", 0, "x0"), _row("t", 1, "x1")]})
    by_nb[0][0]["cause"] = "<img src=x onerror=alert(2)>"
    a = report.analyse(nbs, by_nb)
    html = report.page("conv", a, {k: "data:image/png;base64,AA==" for k in
                                   ("scores", "cells", "cases", "wall")}, "now")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_regrade_after_a_points_change_gives_the_new_points_to_exactly_those_who_passed(
        course_copy):
    """2 -> 3 points on one cell: under partial credit (the course's default) every student who
    earned some of it gets 3/2 of it (cell_score rounds to 2 decimals), nobody else moves."""
    gid = "test_conv_forward_float32"
    before = _gb_scores(course_copy)
    passed = sorted(s for s, cells in before.items() if cells[gid] == 2)
    some = sorted(s for s, cells in before.items() if 0 < cells[gid] < 2)
    assert len(passed) >= 10  # the correct styles and the backward-only bugs
    assert some  # a bug that passes part of the cell's hidden cases (the stride ignored)

    path = course_copy / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, 4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    cell.metadata.nbgrader["points"] = 3
    nbformat.write(nb, path)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course_copy)
    out = grading_cli("regrade", ASSIGNMENT, cwd=course_copy)
    moved = sorted(passed + some)
    assert out.splitlines()[1:] == [
        f"  {s}/conv {gid}: {before[s][gid]:g} -> {round(before[s][gid] * 1.5, 2):g}"
        for s in moved], out
    after = _gb_scores(course_copy)
    assert after == {
        s: {g: (round(v * 1.5, 2) if (g == gid and s in moved) else v) for g, v in cells.items()}
        for s, cells in before.items()}


def test_case_facts_never_raise_on_what_came_back():
    """Records are untrusted: a 3-D answer where 4-D is expected, forged and malformed records
    must each give facts (the verdict stands), never an exception that costs the notebook."""
    import base64
    import io

    import numpy as np

    from grading import judge

    def npy(a):
        buf = io.BytesIO()
        np.save(buf, a)
        return base64.b64encode(buf.getvalue()).decode()

    case = dict(x=(2, 3, 5, 5), w=(4, 3, 3, 3), stride=1, pad=1, seed=7)
    recs = [None, 7, "x", {"status": "ok"}, {"status": "ok", "outputs": []},
            {"status": "ok", "outputs": {"out": {"npy": npy(np.zeros((2, 4, 5)))}}},
            {"status": "ok", "outputs": {"out": {"npy": "not base64!"}}},
            {"status": "ok", "outputs": {"out": {"type": ["x"] * 5, "dtype": 3}}},
            {"status": "error", "fn": 5, "message": ["a"]}]
    for rec in recs:
        verdict = judge.judge_isolated("conv_forward_naive", case, rec)
        facts = judge.case_facts("conv_forward_naive", case, rec, verdict)
        assert facts["passed"] is False and facts["error_class"], rec
    three_d = judge.case_facts("conv_forward_naive", case, recs[5],
                               judge.judge_isolated("conv_forward_naive", case, recs[5]))
    assert three_d["error_class"] == "wrong shape" and "out" in three_d["arrays"]
