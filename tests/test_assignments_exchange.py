"""The two ways submissions reach the instructor, end to end in temporary folders:

- nbgrader's exchange: release_assignment -> fetch_assignment -> submit -> collect -> autograde
  -> generate_feedback -> release_feedback -> fetch_feedback, with two students simulated by
  separate home directories (HOME and their own ~/.jupyter/nbgrader_config.py);
- an LMS download: a zip of renamed notebooks -> zip_collect -> autograde -> export.
"""
import csv
import html
import os
import re
import zipfile

import nbformat

from assignments_helpers import (build_submission, make_course, nbgrader, reference_submission,
                                 scores, snippets_for, solution_functions)

COURSE_ID = "convnets-from-scratch"


def _student_home(tmp_path, student, exchange):
    home = tmp_path / "homes" / student
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.student_id = {student!r}\n")
    (home / "work").mkdir()
    return home


def _text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_exchange_round_trip_with_two_students(tmp_path):
    course = make_course(tmp_path)
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    x = f"--Exchange.root={exchange}"
    for sid, first in (("alice", "Alice"), ("bob", "Bob")):
        nbgrader("db", "student", "add", sid, f"--first-name={first}", "--last-name=Example",
                 cwd=course)
    nbgrader("generate_assignment", "conv", "--force", cwd=course)
    nbgrader("release_assignment", "conv", x, cwd=course)

    _, prelude, buggy = snippets_for("conv")["bug_conv_stride_ignored"]
    answers = {"alice": reference_submission("conv", course),
               "bob": build_submission("conv", {**solution_functions("conv"), **buggy}, prelude,
                                       course)}
    homes = {}
    for sid, filled in answers.items():
        home = homes[sid] = _student_home(tmp_path, sid, exchange)
        work = home / "work"
        if sid == "alice":
            assert "conv" in nbgrader("list", cwd=work, home=home).stdout
        nbgrader("fetch_assignment", "conv", cwd=work, home=home)
        fetched = work / "conv" / "conv.ipynb"
        if sid == "alice":
            blank = nbgrader("validate", "conv/conv.ipynb", cwd=work, home=home).stdout
            assert "VALIDATION FAILED" in blank  # nothing filled in yet
        fetched_nb = nbformat.read(fetched, 4)
        assert [c.source for c in fetched_nb.cells] == \
            [c.source for c in build_submission("conv", course=course).cells]
        nbformat.write(filled, fetched)
        if sid == "alice":
            assert "Success!" in nbgrader("validate", "conv/conv.ipynb", cwd=work, home=home).stdout
        nbgrader("submit", "conv", cwd=work, home=home)

    # The simulated students share one Unix account (ours): say so, as an instructor whose
    # student ids are not account names would (collect files a submission only under the student
    # whose uid owns it; tests/test_collect_security.py uses real accounts).
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.SafeExchangeCollect.student_uids = {{'alice': {os.getuid()}, "
                 f"'bob': {os.getuid()}}}\n")
    nbgrader("collect", "conv", x, cwd=course)
    assert {p.name for p in (course / "submitted").iterdir()} == {"alice", "bob"}
    nbgrader("autograde", "conv", cwd=course)
    nbgrader("generate_feedback", "conv", cwd=course)
    nbgrader("release_feedback", "conv", x, cwd=course)

    for sid, home in homes.items():
        nbgrader("fetch_feedback", "conv", cwd=home / "work", home=home)
        fetched = list((home / "work" / "conv" / "feedback").glob("*/conv.html"))
        assert len(fetched) == 1, f"{sid} got no feedback"
        text = _text(fetched[0])
        assert "BEGIN HIDDEN" not in text and "from grading" not in text
        if sid == "alice":
            assert "Score: 30.0 / 30.0" in text
        else:
            assert "likely cause: the stride was ignored" in text

    nbgrader("export", cwd=course)
    with open(course / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["alice"]["score"]) == 30.0 and rows["alice"]["first_name"] == "Alice"
    assert 0 < float(rows["bob"]["score"]) < 30.0


def test_lms_zip_is_collected_and_graded(tmp_path):
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "conv", "--force", cwd=course)
    archive = course / "downloaded" / "conv" / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "conv_submissions.zip", "w") as zf:
        # Canvas-style names: <student id>_<anything>_<notebook>[-<resubmission>].ipynb
        zf.writestr("carol_12345_67890_conv.ipynb",
                    nbformat.writes(reference_submission("conv", course)))
        zf.writestr("dave_conv-1.ipynb", nbformat.writes(build_submission("conv", course=course)))
        zf.writestr("notes.txt", "not a notebook: skipped")
    nbgrader("zip_collect", "conv", cwd=course)
    for sid in ("carol", "dave"):
        assert (course / "submitted" / sid / "conv" / "conv.ipynb").exists(), sid
    nbgrader("autograde", "conv", cwd=course)
    graded = {sid: sum(s for s, _, _ in cells.values()) for sid, cells in
              scores(course, "conv").items()}
    assert graded == {"carol": 30.0, "dave": 0.0}
