"""Regrade without running student code: judge the stored answers again (instructor only).

    python -m grading regrade conv        # or "*" for every assignment in the verdict store

After the instructor changes a reference (grading/reference.py, grading/cases.py), a tolerance
or the cases of a hidden test, or a cell's points (edit solutions/, then
`nbgrader generate_assignment conv --force`, which updates the gradebook's test cells), this
re-judges every kept answer (grading/store.py) with the current judge, exactly as autograde's
judge would have, and writes the cells' new scores to the gradebook (nbgrader's `Grade.auto_score`)
and the new verdicts to the store. No notebook is run.

A hidden case is matched to its stored answer by its inputs' identity (cases.input_identity: the
case without `tol`, `check` and `oracle`); a case whose inputs nobody has answered yet (a new
case, or a changed shape or seed) cannot be judged from the store: that notebook keeps its
scores and is listed, to be autograded again. Feedback pages are not rewritten: run
`nbgrader generate_feedback --force` afterwards if students should see the new verdicts.
"""
import concurrent.futures as cf
import json
import os
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from . import cases, judge, store
from .scoring import cell_score


@dataclass
class Outcome:
    notebooks: int = 0
    seconds: float = 0.0
    changed: list = field(default_factory=list)   # (student, assignment, grade_id, old, new)
    stale: list = field(default_factory=list)     # (student, assignment, notebook, why)
    late: list = field(default_factory=list)      # (student, assignment, notebook, old, new)

    def summary(self):
        lines = [f"regraded {self.notebooks} notebooks in {self.seconds:.1f} s; "
                 f"scores changed: {len(self.changed)}"]
        lines += [f"  {s}/{a} {g}: {old:g} -> {new:g}" for s, a, g, old, new in self.changed]
        lines += [f"  late penalty {s}/{a}/{n}: {old or 0:g} -> {new or 0:g}"
                  for s, a, n, old, new in self.late]
        lines += [f"  not regraded, autograde again: {s}/{a}/{n}: {why}"
                  for s, a, n, why in self.stale]
        return "\n".join(lines)


def identity(fn, case):
    return json.dumps([fn, cases.input_identity(case)], sort_keys=True)


def test_cells(gb, assignment):
    """{notebook: {grade_id: (points, [(fn, [case, ...]), ...])}} from the gradebook's release
    test cells (the same trusted source autograde reads the hidden cases from)."""
    out = {}
    for nb in gb.find_assignment(assignment).notebooks:
        points = {c.name: c.max_score for c in nb.grade_cells if c.cell_type == "code"}
        cells = {}
        for src in nb.source_cells:
            if src.name in points and src.locked:
                calls, _ = judge.split_test_cell(src.source)
                if calls:
                    cells[src.name] = (points[src.name], calls)
        out[nb.name] = cells
    return out


def _rec(row):
    """The sandbox record a stored case stands for (as judge.judge_case reads it)."""
    if row["status"] == "missing":
        return None
    rec = {"status": row["status"], "fn": row["fn"], "message": row["message"] or ""}
    if row["status"] == "ok":
        import base64
        arrays, described = store.unpack_arrays(row["outputs"])
        rec["outputs"] = {k: {"npy": base64.b64encode(v).decode()} for k, v in arrays.items()}
        rec["outputs"].update(described)
    return rec


def rejudge_notebook(nb_row, case_rows, cells, partial=False):
    """-> (new cells dict, case updates [(row id, facts)], None) or (None, None, why).
    cells: {grade_id: (points, calls)} of the notebook's current release."""
    stored = {}
    for row in case_rows:
        stored.setdefault((row["grade_id"], identity(row["fn"], row["case"])), row)
    new_cells, updates = {}, []
    for gid, (points, calls) in cells.items():
        old = nb_row["cells"].get(gid)
        if old is None:
            return None, None, f"test cell {gid} was not graded for this notebook"
        results, n = [], 0
        for name, case_list in calls:
            for case in case_list:
                row = stored.get((gid, identity(name, case)))
                if row is None:
                    return None, None, (f"{gid}: no stored answer for {name} on "
                                        f"{cases.describe(name, case)} (a new or changed case)")
                if row["status"] == "ok" and row["outputs"] is None:
                    return None, None, f"{gid}: the answers were kept without their arrays"
                rec = _rec(row)
                verdict = judge.judge_isolated(name, case, rec)
                results.append(verdict)
                if not (verdict[0] and row["passed"]):  # a pass that stays one changes nothing
                    updates.append((row["id"], judge.case_facts(name, case, rec, verdict)))
                n += 1
        n_passed = sum(1 for ok, _, _ in results if ok)
        library = any(lib for _, _, lib in results)
        other = bool(old.get("other_error"))
        # as autograde scores it (grading.judge.fill_notebook): all or nothing also counts an
        # error in the cell's visible part; partial credit counts only the hidden cases
        score = 0.0 if (library or (other and not partial)) else \
            cell_score(points, n_passed, n, partial=partial)
        new_cells[gid] = dict(old, points=points, score=score,
                              passed=n_passed == n and not other and not library)
    return new_cells, updates, None


def _chunk(args):
    """A worker's share: [(nb_row, case_rows, cells)] -> [(nb id, cells, updates, why)]."""
    secret, items, partial = args
    cases.set_secret(secret)
    out = []
    for nb_row, case_rows, cells in items:
        new_cells, updates, why = rejudge_notebook(nb_row, case_rows, cells, partial)
        if updates:
            updates = [(rid, {k: f[k] for k in ("passed", "error_class", "cause", "max_diff")})
                       for rid, f in updates]
        out.append((nb_row["id"], new_cells, updates, why))
    return out


def regrade(root, db_url, assignment="*", workers=None, partial=False, config=None, log=print):
    """Regrade one assignment ('*': all in the store) of the course at `root` -> Outcome.
    config: nbgrader's configuration, for the late-penalty policy of notebooks whose score
    changed (nbgrader's AssignLatePenalties with the course's plugin)."""
    from nbgrader.api import Gradebook, MissingEntry
    t0 = time.perf_counter()
    secret = cases.course_secret(root, create=False)
    names = store.assignments(db_url) if assignment == "*" else [assignment]
    outcome = Outcome()
    workers = workers or min(2, os.cpu_count() or 1)
    for name in names:
        with Gradebook(db_url) as gb:
            try:
                release = test_cells(gb, name)
            except MissingEntry:
                raise SystemExit(f"regrade: no assignment {name!r} in the gradebook "
                                 f"({db_url})") from None
        nbs, by_nb = store.load(db_url, name, with_arrays=True)
        if not nbs:
            log(f"regrade: nothing kept for {name!r} (autograde it first)")
            continue
        items = [(nb, by_nb[nb["id"]], release.get(nb["notebook"], {})) for nb in nbs]
        size = max(1, -(-len(items) // (workers * 4)))
        chunks = [(secret, items[i:i + size], partial) for i in range(0, len(items), size)]
        if workers > 1 and len(chunks) > 1:
            with cf.ProcessPoolExecutor(workers) as ex:
                results = [r for part in ex.map(_chunk, chunks) for r in part]
        else:
            results = [r for part in map(_chunk, chunks) for r in part]
            cases.set_secret(None)
        by_id = {nb["id"]: nb for nb in nbs}
        _write(db_url, name, by_id, results, outcome, config)
        outcome.notebooks += len(nbs)
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _write(db_url, assignment, by_id, results, outcome, config=None):
    """New scores to the gradebook (only those that changed) and new verdicts to the store."""
    from nbgrader.api import (Assignment, Grade, GradeCell, Gradebook, Notebook, Student,
                              SubmittedAssignment, SubmittedNotebook)
    with Gradebook(db_url) as gb:
        q = (gb.db.query(Grade, Student.id, Notebook.name, GradeCell.name)
             .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
             .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
             .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
             .join(Student, SubmittedAssignment.student_id == Student.id)
             .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
             .join(GradeCell, Grade.cell_id == GradeCell.id)
             .filter(Assignment.name == assignment))
        grades = {(sid, nb, cell): g for g, sid, nb, cell in q}
        touched = set()
        kept = {(nb["student"], nb["notebook"]) for nb in by_id.values()}
        for sid, nb in sorted({(sid, nb) for sid, nb, _ in grades} - kept):
            outcome.stale.append((sid, assignment, nb, "nothing kept for it (graded before the "
                                                       "verdict store, or keeping it failed)"))
        for nid, new_cells, _, why in results:
            nb = by_id[nid]
            if why:
                outcome.stale.append((nb["student"], assignment, nb["notebook"], why))
                continue
            for gid, cell in new_cells.items():
                g = grades.get((nb["student"], nb["notebook"], gid))
                if g is None:
                    continue
                old = g.auto_score
                if old is None or abs(old - cell["score"]) > 1e-9:
                    g.auto_score = cell["score"]
                    outcome.changed.append((nb["student"], assignment, gid,
                                            old if old is not None else 0.0, cell["score"]))
                    touched.add((nb["student"], nb["notebook"]))
        gb.db.commit()
        _late_penalties(gb, assignment, sorted(touched), config, outcome)
    eng = store.engine_for(db_url)
    with eng.begin() as conn:
        ups = [{"_id": rid, **{"_" + k: v for k, v in facts.items()}}
               for _, _, updates, why in results if not why for rid, facts in updates]
        if ups:
            conn.execute(store.CASES.update().where(store.CASES.c.id == sa.bindparam("_id"))
                         .values(passed=sa.bindparam("_passed"),
                                 error_class=sa.bindparam("_error_class"),
                                 cause=sa.bindparam("_cause"), max_diff=sa.bindparam("_max_diff")),
                         ups)
        for nid, new_cells, _, why in results:
            if not why:
                conn.execute(store.NOTEBOOKS.update().where(store.NOTEBOOKS.c.id == nid)
                             .values(cells=json.dumps(new_cells, sort_keys=True)))
    outcome.changed.sort()


def _late_penalties(gb, assignment, touched, config, outcome):
    """Late penalties follow the new scores, computed as autograde does (nbgrader's
    AssignLatePenalties with the course's plugin, grading.late.LatePenalty by default)."""
    if not touched:
        return
    from nbgrader.preprocessors import AssignLatePenalties
    pp = AssignLatePenalties(config=config) if config is not None else AssignLatePenalties()
    pp.assignment_id = assignment
    pp.init_plugin()
    gb.db.expire_all()  # the notebooks' scores are computed by the database
    for student, notebook in touched:
        sub = gb.find_submission(assignment, student)
        if not sub.total_seconds_late > 0:
            continue
        nbsub = gb.find_submission_notebook(notebook, assignment, student)
        old = nbsub.late_submission_penalty
        new = pp.plugin_inst.late_submission_penalty(student, nbsub.score, sub.total_seconds_late)
        if new is not None:  # as nbgrader does: never below zero, never above the score
            new = min(max(new, 0.0), nbsub.score)
        if new != old:
            nbsub.late_submission_penalty = new
            outcome.late.append((student, assignment, notebook, old, new))
    gb.db.commit()
