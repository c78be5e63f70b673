"""The README's instructor walk-through, command by command, on a fresh copy of the course with two
students who work in the student edition, from validating the sources to the exported grades.

Each command below must appear verbatim in the README (or, for the students, in the student README),
so a README that changes a step fails here until the test follows it. A fresh copy has no
gradebook.db: the walk-through only works because it runs `generate_assignment` before release.
Test-only additions are kept apart from the README's text: the exchange folder (NBGRADER_EXCHANGE, as
the README allows), and collect's file-owner check, off because both simulated students are the same
Unix account.
"""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

import assignments_helpers as helpers

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
STUDENT_README = (ROOT / "docs" / "STUDENT_README.md").read_text()
INSTRUCTOR = [  # (README command, test-only extra arguments)
    ('nbgrader validate solutions/*/*.ipynb', ""),
    ('nbgrader generate_assignment "*" --force', ""),
    ("nbgrader db student add alice --first-name=Alice --last-name=Smith --email=alice@example.org", ""),
    ("nbgrader db student import students.csv", ""),
    ("nbgrader db student list", ""),
    ('nbgrader db assignment add conv --duedate="2025-03-01 23:59:00 UTC"', ""),
    ("nbgrader release_assignment conv", ""),
    # ... the students work and submit (STUDENT below) ...
    ("nbgrader collect conv", ""),
    ("nbgrader autograde conv", ""),
    ("nbgrader generate_feedback conv", ""),
    ("nbgrader release_feedback conv", ""),
    ("nbgrader export", ""),
]
STUDENT = ["nbgrader submit conv", "nbgrader fetch_feedback conv"]


def test_walkthrough_commands_are_the_readmes():
    missing = [cmd for cmd, _ in INSTRUCTOR if cmd not in README]
    missing += [cmd for cmd in STUDENT if cmd not in STUDENT_README]
    assert not missing, f"commands no longer in the README: {missing}"
    position = 0
    for cmd, _ in INSTRUCTOR:
        found = README.find(cmd, position)
        assert found >= 0, f"`{cmd}` does not follow the previous step in the README"
        position = found + len(cmd)


def shell(command, cwd, home=None, **extra):
    env = helpers.env(home, **extra)
    proc = subprocess.run(["sh", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, f"`{command}` failed ({proc.returncode}):\n{proc.stdout[-4000:]}"
    return proc.stdout



def test_instructor_walkthrough_from_a_fresh_copy(tmp_path):
    helpers.sandbox_or_skip()
    course = helpers.make_course(tmp_path)
    assert not (course / "gradebook.db").exists()
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    (course / "students.csv").write_text("id,first_name,last_name,email\nbob,Bob,Jones,bob@example.org\n")
    edition = tmp_path / "edition"
    subprocess.run([sys.executable, str(ROOT / "tools/make_student_edition.py"), str(edition)],
                   check=True, timeout=60, capture_output=True)
    extra = {"NBGRADER_EXCHANGE": exchange}

    outputs = {}
    for command, test_only in INSTRUCTOR:
        if command == "nbgrader collect conv":
            homes = students_submit(tmp_path, edition, exchange, course)
            # The simulated students share one Unix account (ours): say so, as an instructor
            # whose student ids are not account names would (README, Collect).
            with open(course / "nbgrader_config.py", "a") as fh:
                fh.write(f"\nc.SafeExchangeCollect.student_uids = {{'alice': {os.getuid()}, "
                         f"'bob': {os.getuid()}}}\n")
        outputs[command] = shell(command + test_only, course, **extra)
    assert outputs['nbgrader validate solutions/*/*.ipynb'].count(
        "Success! Your notebook passes all the tests.") == 3
    assert "alice" in outputs["nbgrader db student list"] and "bob" in outputs["nbgrader db student list"]

    with open(course / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows["alice"]["raw_score"]) == 30.0 and rows["alice"]["last_name"] == "Smith"
    assert float(rows["bob"]["raw_score"]) < 30.0 and rows["bob"]["email"] == "bob@example.org"
    # The README's example due date is long past: both submissions are late, capped at 50%.
    for row in rows.values():
        assert float(row["late_submission_penalty"]) == float(row["raw_score"]) / 2, row
    for student, home in homes.items():
        shell("nbgrader fetch_feedback conv", home / "convnets", home, **extra)
        assert list((home / "convnets/assignments/conv/feedback").glob("*/conv.html")), student


def students_submit(tmp_path, edition, exchange, course):
    """Alice (right answers) and Bob (a stride bug), each in a copy of the student edition."""
    _, prelude, buggy = helpers.snippets_for("conv")["bug_conv_stride_ignored"]
    answers = {"alice": helpers.reference_submission("conv", course),
               "bob": helpers.build_submission(
                   "conv", {**helpers.solution_functions("conv"), **buggy}, prelude, course)}
    homes = {}
    for student, nb in answers.items():
        home = homes[student] = tmp_path / "homes" / student
        (home / ".jupyter").mkdir(parents=True)
        # On JupyterHub the student id is the login; here both run as one Unix user.
        (home / ".jupyter/nbgrader_config.py").write_text(
            f"c = get_config()\nc.CourseDirectory.student_id = {student!r}\n")
        work = shutil.copytree(edition, home / "convnets")
        nbformat.write(nb, work / "assignments/conv/conv.ipynb")
        shell("nbgrader submit conv", work, home, NBGRADER_EXCHANGE=exchange)
    return homes
