"""Secure grading end to end: the attack corpus in tests/attacks/ through plain `nbgrader autograde`.

Per assignment, one course under tmp: the reference solution (honest) and every attack or fault
submission for that assignment (tests/attacks/*.py, same format as tests/submissions/ plus the
placeholders __COURSE__, __TOKEN__ and __PORT__, filled in here so each attack knows the real
paths and a live port to aim at). After `nbgrader autograde` and `generate_feedback`:

- no attack gains a point: the test cells its docstring lists ('all' for every one) score zero;
- faults are contained: every other test cell of that notebook keeps full marks, and so does
  the honest submission graded beside them;
- no side effect outside the sandbox: no marker file on the host, no connection to a listener
  on the grading machine, no gradebook row or manual score the attack tried to add;
- no hidden-test text and nothing read from the course directory in any output or feedback.

Also: grading stops with a message (and grades nothing) when the sandbox cannot be set up.
Under CI=true a missing sandbox is a failure, not a skip.
"""
import html
import os
import re
import socket
import threading
import uuid
from pathlib import Path

import nbformat
import pytest

from assignments_helpers import (GRADED, NOTEBOOKS, ROOT, build_submission, make_course,
                                 sandbox_or_skip,
                                 nbgrader, outputs_text, read_snippet, reference_submission,
                                 scores, snippets_for, solution_functions, submit)

ATTACKS = Path(__file__).resolve().parent / "attacks"
FAST = ["--SandboxedExecute.cell_timeout=6", "--SandboxedExecute.case_timeout=3",
        "--SandboxedExecute.wall_s=150"]



def input_tokens(course, assignment):
    """Short prefixes of the hidden inputs' values as this course's grader built them (its secret
    salt): what must never appear in an output or a feedback page."""
    from grading import cases, judge
    key = cases.course_secret(str(course), create=False)
    assert key, "the course has no grading secret after autograding"
    nb = nbformat.read(course / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb", 4)
    tokens = set()
    cases.set_secret(key)
    try:
        for cell in nb.cells:
            calls, _ = judge.split_test_cell(cell.source) if cell.cell_type == "code" else (None, 0)
            for name, case_list in calls or []:
                for case in case_list:
                    for value in cases.build(name, case).values():
                        for arr in (value if isinstance(value, list) else [value]):
                            if hasattr(arr, "ravel"):
                                # 7 decimals: chance matches with the many numbers
                                # a notebook prints legitimately stay below one
                                tokens |= {repr(abs(float(v)))[:9] for v in arr.ravel()[:200]
                                           if 0.1 <= abs(v) < 10}
    finally:
        cases.set_secret(None)
    return tokens


def attacks_for(assignment):
    out = {}
    for path in sorted(ATTACKS.glob("*.py")):
        meta, prelude, funcs = read_snippet(path)
        if meta["assignment"] == assignment:
            out[path.stem] = (meta, prelude, funcs)
    return out


def hidden_lines(assignment):
    """Distinctive lines of the hidden tests (what must never show in outputs or feedback)."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb", 4)
    lines, inside = [], False
    for cell in nb.cells:
        for line in cell.source.split("\n"):
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 12 and "import" not in line:
                lines.append(line.strip())
    return lines


class Listener:
    """A TCP listener on the grading machine's loopback: an attack must never reach it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits, self._stop = [], False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                continue
            self.hits.append(addr)
            conn.close()

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_attacks_gain_nothing_and_leave_no_trace(assignment, tmp_path):
    sandbox_or_skip()
    course = make_course(tmp_path)
    nbgrader("generate_assignment", assignment, "--force", cwd=course)
    token, listener = uuid.uuid4().hex[:12], Listener()
    submit(course, "honest", assignment, reference_submission(assignment, course))
    expect = {"honest": []}
    attacks = attacks_for(assignment)
    assert attacks, f"no attacks for {assignment}"
    for name, (meta, prelude, funcs) in attacks.items():
        fill = lambda s: (s.replace("__COURSE__", str(course)).replace("__TOKEN__", token)
                          .replace("__PORT__", str(listener.port)))
        prelude = fill(prelude)
        funcs = {k: fill(v) for k, v in {**solution_functions(assignment), **funcs}.items()}
        nb = build_submission(assignment, funcs, prelude, course)
        assert not prelude or any(prelude in c.source for c in nb.cells)
        submit(course, name, assignment, nb)
        expect[name] = meta["loses"]
    try:
        log = nbgrader("autograde", assignment, *FAST, cwd=course).stdout
        nbgrader("generate_feedback", assignment, cwd=course)
    finally:
        listener.close()

    got = scores(course, assignment)
    all_ids = set(got["honest"])
    problems = []
    for student, loses in expect.items():
        lose = all_ids if loses == ["all"] else set(loses)
        assert lose <= all_ids, f"{student}: unknown grade ids {lose - all_ids}"
        for gid, (score, max_score, manual) in got[student].items():
            if manual:
                problems.append(f"{student}/{gid}: left for manual grading")
            if gid in lose and score != 0:
                problems.append(f"{student}/{gid}: the attack gained {score} of {max_score}")
            if gid not in lose and score != max_score:
                problems.append(f"{student}/{gid}: {score} of {max_score}; the fault was not "
                                f"contained")
    assert not problems, "\n".join(problems) + "\n" + log[-4000:]

    # the gradebook: only the submitted students, no manual scores, no intruder row
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(expect)
        for sub in gb.find_assignment(assignment).submissions:
            for nb_sub in sub.notebooks:
                for g in nb_sub.grades:
                    assert g.manual_score is None, f"{sub.student.id}/{g.name} has a manual score"

    # no marker anywhere on the host, no connection
    markers = [p for pattern in (f"{course}/PWNED*", f"/tmp/PWNED*{token}*", f"/work/PWNED*{token}*",
                                 os.path.expanduser(f"~/PWNED*{token}*"))
               for p in Path("/").glob(pattern.lstrip("/"))]
    assert not markers, f"attacks left files outside the sandbox: {markers}"
    assert not listener.hits, f"an attack reached the grading machine's network: {listener.hits}"

    # nothing hidden or read from the course leaks into outputs or feedback: hidden-test text, and
    # the hidden inputs' values (built again here with the course's secret)
    secret = hidden_lines(assignment)
    assert secret
    tokens = input_tokens(course, assignment)
    assert len(tokens) > 300
    for student in expect:
        graded = nbformat.read(course / "autograded" / student / assignment /
                               f"{NOTEBOOKS[assignment]}.ipynb", 4)
        text = outputs_text(graded)
        raw = (course / "feedback" / student / assignment /
               f"{NOTEBOOKS[assignment]}.html").read_text()
        feedback = html.unescape(re.sub(r"<[^>]+>", "", raw))
        for where, blob in (("outputs", text), ("feedback", feedback)):
            assert "LEAK" not in blob, f"{student}: the attack read something ({where})"
            leaked = [s for s in secret if s in blob]
            assert not leaked, f"{student}: hidden test text in {where}: {leaked[:2]}"
            assert "### BEGIN SOLUTION" not in blob and "BEGIN HIDDEN" not in blob
        size = (course / "autograded" / student / assignment /
                f"{NOTEBOOKS[assignment]}.ipynb").stat().st_size
        assert size < 2_000_000, f"{student}: graded notebook is {size} bytes"
        hits = sorted(t for t in tokens if t in text or t in feedback)
        assert len(hits) <= 3, f"{student}: hidden input values in outputs or feedback: {hits[:8]}"
        meta = attacks.get(student, ({"feedback": []},))[0]
        for phrase in meta["feedback"]:
            assert phrase.lower() in feedback.lower(), f"{student}: feedback lacks {phrase!r}"


def test_grading_stops_without_the_sandbox(tmp_path):
    """No bubblewrap on PATH: autograde fails with a message and records no grade."""
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "pooling", "--force", cwd=course)
    submit(course, "alice", "pooling", reference_submission("pooling", course))
    venv_bin = os.path.dirname(os.sys.executable)
    proc = nbgrader("autograde", "pooling", cwd=course, check=False, PATH=venv_bin)
    assert proc.returncode != 0
    assert "sandbox cannot be set up" in proc.stdout and "bubblewrap" in proc.stdout
    assert not (course / "autograded" / "alice" / "pooling" / "pooling.ipynb").exists()


def test_identical_submissions_are_each_graded_in_parallel(tmp_path):
    """Students who hand in the same notebook (same cells, same files) have the same job key; each
    still gets its own sandboxed job in the parallel fan-out (once, only the first was queued and
    the rest ran one by one after the pool)."""
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "pooling", "--force", cwd=course)
    same = reference_submission("pooling", course)
    for student in ("s1", "s2", "s3", "s4"):
        submit(course, student, "pooling", same)
    funcs = {**solution_functions("pooling"), **snippets_for("pooling")["bug_pool_average"][2]}
    submit(course, "s5", "pooling", build_submission("pooling", funcs, course=course))
    log = nbgrader("autograde", "pooling", cwd=course).stdout
    # the notebook being graded when the fan-out starts (s1's) is not queued; the other four are,
    # and nbgrader takes every one of their results
    assert "4 notebooks queued for sandboxed grading" in log, log[-3000:]
    assert re.search(r"graded 4 of 4 notebooks in the sandbox", log), log[-3000:]
    got = scores(course, "pooling")
    assert got["s1"] == got["s2"] == got["s3"] == got["s4"] != got["s5"]
    assert all(s == m for s, m, _ in got["s4"].values())


def test_student_made_test_cells_are_ordinary_code(tmp_path):
    """A cell a student adds with test-cell metadata and its own 'hidden tests' (huge inputs, 50
    bonus points), and a real test cell whose hidden block the student rewrote: the trusted side
    reads hidden cases only from the release's own test cells. No bonus, no huge inputs built,
    honest score unchanged, autograde exits 0 with a warning naming the cell."""
    sandbox_or_skip()
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "pooling", "--force", cwd=course)
    nb = reference_submission("pooling", course)
    huge = ("### BEGIN HIDDEN TESTS\nfrom grading import check\ncheck('max_pool_forward_naive', "
            "[dict(x=(3000, 64, 256, 256), pool_height=2, pool_width=2, stride=2, seed=1)])\n"
            "### END HIDDEN TESTS")
    bonus = nbformat.v4.new_code_cell(huge)
    bonus.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": False,
                                  "grade_id": "my_bonus", "points": 50, "schema_version": 3}
    nb.cells.append(bonus)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                and not c.metadata["nbgrader"].get("solution"))
    test.source = test.source + "\n" + huge
    submit(course, "forger", "pooling", nb)
    submit(course, "honest", "pooling", reference_submission("pooling", course))
    import time
    t0 = time.monotonic()
    log = nbgrader("autograde", "pooling", cwd=course).stdout
    took = time.monotonic() - t0
    got = scores(course, "pooling")
    assert "my_bonus" not in got["forger"]
    assert sum(s for s, _, _ in got["forger"].values()) == 20 == sum(
        s for s, _, _ in got["honest"].values()), got
    assert "claims to be an nbgrader cell (no grade id)" in log, log[-3000:]
    assert "claims to be a test cell" not in log  # OverwriteCells put the rewritten cell back
    assert took < 120, f"autograde took {took:.0f} s"


def test_one_endless_function_costs_at_most_a_minute(tmp_path):
    """With the shipped limits: a notebook whose forward pass never returns is graded at most
    60 s slower than an honest one graded in the same run (stock nbgrader pays 30 s per cell
    and the old sandbox up to 30 s per hidden case: about 600 s)."""
    sandbox_or_skip()
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "pooling", "--force", cwd=course)
    funcs = {**solution_functions("pooling"),
             "max_pool_forward_naive": "def max_pool_forward_naive(x, pool_param):\n"
                                       "    while True:\n        pass\n"}
    submit(course, "endless", "pooling", build_submission("pooling", funcs, course=course))
    submit(course, "honest", "pooling", reference_submission("pooling", course))
    import time
    times = {}
    for student in ("honest", "endless"):
        t0 = time.monotonic()
        nbgrader("autograde", "pooling", f"--student={student}", cwd=course)
        times[student] = time.monotonic() - t0
    extra = times["endless"] - times["honest"]
    assert extra <= 60, f"the endless loop cost {extra:.0f} s ({times})"
    got = scores(course, "pooling")
    assert all(s == m for s, m, _ in got["honest"].values())
    fwd = [g for g in got["endless"] if "forward" in g]
    assert fwd and all(got["endless"][g][0] == 0 for g in fwd)
    back = [g for g in got["endless"] if "backward" in g]
    assert all(got["endless"][g][0] == 0 for g in back)  # the backward calls the forward
    print(f"endless loop: +{extra:.1f} s over {times['honest']:.1f} s")
