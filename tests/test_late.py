"""Late work (grading/late.py): a percentage per started day late, capped, per-student extensions
from the command line, applied by nbgrader's AssignLatePenalties and visible in `nbgrader export`."""
import csv
import subprocess
import sys

import pytest
from traitlets import TraitError
from traitlets.config import Config

from assignments_helpers import (env, make_course, nbgrader, reference_submission,
                                 sandbox_or_skip, submit)
from grading import late
from grading.late import LatePenalty, penalty_percent

HOUR, DAY = 3600.0, 86400.0


@pytest.mark.parametrize("seconds, percent", [
    (0, 0), (1, 10), (DAY, 10), (DAY + 1, 20), (30 * HOUR, 20), (4.5 * DAY, 50), (40 * DAY, 50)])
def test_percent_per_started_day_capped(seconds, percent):
    assert penalty_percent(seconds, 10, 50) == percent


def test_grace_minutes_forgive_a_late_upload():
    assert penalty_percent(9 * 60, 10, 50, grace_minutes=10) == 0
    assert penalty_percent(11 * 60, 10, 50, grace_minutes=10) == 10


def test_policy_out_of_range_is_refused():
    with pytest.raises(TraitError, match="percent_per_day must be between 0 and 100"):
        LatePenalty(config=Config({"LatePenalty": {"percent_per_day": 150.0}}))
    with pytest.raises(TraitError, match="grace_minutes must be >= 0"):
        LatePenalty(config=Config({"LatePenalty": {"grace_minutes": -1.0}}))


def test_malformed_extensions_file_names_the_problem(tmp_path):
    path = tmp_path / "extensions.json"
    path.write_text('{"conv": {"alice": "two"}}')
    with pytest.raises(ValueError, match="must map assignment"):
        late.read_extensions(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        late.read_extensions(path)


def grading_late(course, *args):
    return subprocess.run([sys.executable, "-m", "grading.late", *args], cwd=course, env=env(),
                          capture_output=True, text=True, timeout=60)


def test_extension_command_line_checks_its_input(tmp_path):
    course = make_course(tmp_path)
    proc = grading_late(course, "extend", "alice", "convv", "--days", "2")
    assert proc.returncode != 0 and "no assignment 'convv' in solutions/" in proc.stderr, proc.stderr
    proc = grading_late(course, "extend", "al ice", "conv", "--days", "2")
    assert proc.returncode != 0 and "not a valid student id" in proc.stderr, proc.stderr
    proc = grading_late(course, "extend", "alice", "conv", "--days", "-1")
    assert proc.returncode != 0 and "--days must be between 0 and 365" in proc.stderr, proc.stderr
    assert not (course / ".grading").exists()
    assert grading_late(course, "extend", "alice", "conv", "--days", "2").returncode == 0
    assert grading_late(course, "list").stdout == "conv\talice\t2 days\n"
    assert grading_late(course, "extend", "alice", "conv", "--days", "0").returncode == 0
    assert grading_late(course, "list").stdout == ""



def test_late_penalties_and_extensions_in_the_export(tmp_path):
    sandbox_or_skip()
    course = make_course(tmp_path)
    nbgrader("db", "assignment", "add", "conv", "--duedate=2025-03-01 12:00:00 UTC", cwd=course)
    nbgrader("generate_assignment", "conv", "--force", cwd=course)
    collected = {"alice": "2025-03-01 11:00:00.000000 UTC",   # on time
                 "bob": "2025-03-02 18:00:00.000000 UTC",     # 30 h late: 2 started days, 20%
                 "carol": "2025-03-02 18:00:00.000000 UTC",   # as late, with a 2-day extension
                 "dave": "2025-03-11 12:00:00.000000 UTC"}    # 10 days late: capped at 50%
    for student, timestamp in collected.items():
        folder = submit(course, student, "conv", reference_submission("conv", course))
        (folder / "timestamp.txt").write_text(timestamp)
    assert grading_late(course, "extend", "carol", "conv", "--days", "2").returncode == 0
    nbgrader("autograde", "conv", cwd=course)
    nbgrader("export", "--to=grades.csv", cwd=course)
    with open(course / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    got = {s: (float(r["raw_score"]), float(r["late_submission_penalty"]), float(r["score"]))
           for s, r in rows.items()}
    assert got == {"alice": (30.0, 0.0, 30.0), "bob": (30.0, 6.0, 24.0),
                   "carol": (30.0, 0.0, 30.0), "dave": (30.0, 15.0, 15.0)}, got
