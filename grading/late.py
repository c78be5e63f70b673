"""Late work: a percentage of the score per day late, capped, and per-student extensions.

The policy is nbgrader configuration (nbgrader_config.py), applied by nbgrader's own
AssignLatePenalties step at autograde time; the penalty lands in the gradebook and in
`nbgrader export`'s `late_submission_penalty` column:

    c.AssignLatePenalties.plugin_class = "grading.late.LatePenalty"
    c.LatePenalty.percent_per_day = 10    # of the notebook's score, per started day late
    c.LatePenalty.max_percent = 50        # the cap
    c.LatePenalty.grace_minutes = 0       # lateness forgiven (upload delays)

Lateness is nbgrader's: the collected submission's timestamp.txt (on the exchange written by the
student's `nbgrader submit`, so not proof against a student with a shell) minus the due date (`nbgrader db assignment add conv --duedate=...`). Extensions
are set from the command line, stored instructor-side in .grading/extensions.json (git-ignored),
and move that one student's due date:

    python -m grading.late extend alice conv --days 2      # alice's conv is due 2 days later
    python -m grading.late extend alice conv --days 0      # removes it
    python -m grading.late list

Run `nbgrader autograde conv --force` (or `--student=alice --force`) after a change for the
penalties to follow.
"""
import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

from nbgrader.plugins import BasePlugin
from traitlets import Float, TraitError, Unicode, validate

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = ROOT / ".grading" / "extensions.json"
_ID = re.compile(r"^[A-Za-z0-9_.@+\-]+$")  # student and assignment ids as nbgrader accepts them
DAY_S = 86400.0


def read_extensions(path=EXTENSIONS):
    """{assignment: {student: days}} from the extensions file ({} when there is none)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    ok = isinstance(data, dict) and all(
        isinstance(a, str) and isinstance(s, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and v > 0 for k, v in s.items())
        for a, s in data.items())
    if not ok:
        raise ValueError(f"{path} must map assignment -> {{student: days > 0}}, got {data!r}")
    return data


def write_extensions(data, path=EXTENSIONS):
    path = Path(path)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def penalty_percent(seconds_late, percent_per_day, max_percent, grace_minutes=0.0):
    """Percent of the score taken: percent_per_day per started day late, at most max_percent."""
    seconds = seconds_late - 60.0 * grace_minutes
    if seconds <= 0:
        return 0.0
    return min(max_percent, percent_per_day * math.ceil(seconds / DAY_S))


def _percent(proposal):
    if not 0 <= proposal["value"] <= 100:
        raise TraitError(f"{proposal['trait'].name} must be between 0 and 100, got {proposal['value']}")
    return proposal["value"]


class LatePenalty(BasePlugin):
    """nbgrader late-submission plugin: percent_per_day of the score per started day late, capped
    at max_percent, after the student's extension from .grading/extensions.json."""

    percent_per_day = Float(10.0, help="Percent of the score deducted per started day late.").tag(config=True)
    max_percent = Float(50.0, help="The most that lateness can cost, in percent of the score.").tag(config=True)
    grace_minutes = Float(0.0, help="Minutes of lateness forgiven, e.g. for upload delays.").tag(config=True)
    extensions_file = Unicode(str(EXTENSIONS), help="Where `python -m grading.late extend` keeps "
                              "extensions (instructor-only).").tag(config=True)

    @validate("percent_per_day", "max_percent")
    def _check_percent(self, proposal):
        return _percent(proposal)

    @validate("grace_minutes")
    def _check_grace(self, proposal):
        if proposal["value"] < 0:
            raise TraitError(f"grace_minutes must be >= 0, got {proposal['value']}")
        return proposal["value"]

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        # AssignLatePenalties (our parent) knows which assignment it is grading.
        assignment = getattr(self.parent, "assignment_id", None)
        days = read_extensions(self.extensions_file).get(assignment, {}).get(student_id, 0)
        seconds = total_seconds_late - days * DAY_S
        percent = penalty_percent(seconds, self.percent_per_day, self.max_percent, self.grace_minutes)
        self.log.info("Late work: %s / %s is %.1f h late (extension %s days): %g%% of %s deducted",
                      student_id, assignment, total_seconds_late / 3600, days, percent, score)
        return round(score * percent / 100.0, 6)


# ----------------------------------------------------------------------------- command line
def _check_id(kind, value):
    if not _ID.match(value):
        raise SystemExit(f"not a valid {kind} id: {value!r} (letters, digits and _.@+- only)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grading.late",
                                     description="Per-student extensions for late work.")
    sub = parser.add_subparsers(dest="command", required=True)
    ext = sub.add_parser("extend", help="give STUDENT an extension on ASSIGNMENT (0 days removes it)")
    ext.add_argument("student")
    ext.add_argument("assignment")
    ext.add_argument("--days", type=float, required=True, help="length of the extension, in days")
    sub.add_parser("list", help="list every extension")
    args = parser.parse_args(argv)
    data = read_extensions()
    if args.command == "list":
        for assignment, students in sorted(data.items()):
            for student, days in sorted(students.items()):
                print(f"{assignment}\t{student}\t{days:g} days")
        return 0
    _check_id("student", args.student)
    _check_id("assignment", args.assignment)
    if not (ROOT / "solutions" / args.assignment).is_dir():
        known = ", ".join(sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()))
        raise SystemExit(f"no assignment {args.assignment!r} in solutions/ (known: {known})")
    if not (0 <= args.days <= 365) or math.isnan(args.days):
        raise SystemExit(f"--days must be between 0 and 365, got {args.days}")
    students = data.setdefault(args.assignment, {})
    if args.days == 0:
        students.pop(args.student, None)
        print(f"{args.student}: no extension on {args.assignment}")
    else:
        students[args.student] = args.days
        print(f"{args.student}: {args.assignment} due {args.days:g} days later")
    write_extensions({a: s for a, s in data.items() if s})
    return 0


if __name__ == "__main__":
    sys.exit(main())
