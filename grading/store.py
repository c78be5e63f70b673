"""The verdict store: every hidden case's verdict and returned arrays, kept with the gradebook.

nbgrader keeps one score per test cell. The judge knows much more per hidden case (which case
failed, how, the likely cause, by how much) and the student's returned arrays; this module keeps
all of it, so that the class can be analysed (``python -m grading report``) and re-judged after a
reference, tolerance or point value changes without running any student code again
(``python -m grading regrade``).

Two tables of our own, in the gradebook's own database (nbgrader's ``db_url``: SQLite or
PostgreSQL); nbgrader's tables are never touched:

- ``grading_notebook``: one row per (student, assignment, notebook) graded: when, the sandbox's
  wall time, why the run stopped early (a timeout, a crash), a SHA-256 of the submitted file,
  and per test cell its points, score and whether it failed outside the hidden cases;
- ``grading_case``: one row per hidden case of that notebook: the function, the case as graded,
  pass or fail, the error class, the likely cause, the largest difference, the judge's time, the
  student's masked error message, and the returned arrays (plain .npy bytes, zlib-compressed)
  with a SHA-256 of them.

Only portable SQLAlchemy types are used (Integer, String, Text, Float, Boolean, DateTime,
LargeBinary). The arrays sit in the instructor's database, beside the hidden tests' secret
salt: nothing here is ever written into a student's folder or feedback.
"""
import datetime
import hashlib
import json
import struct
import zlib

import sqlalchemy as sa

METADATA = sa.MetaData()

NOTEBOOKS = sa.Table(
    "grading_notebook", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("student", sa.String(128), nullable=False),
    sa.Column("assignment", sa.String(128), nullable=False),
    sa.Column("notebook", sa.String(128), nullable=False),
    sa.Column("graded_at", sa.DateTime, nullable=False),
    sa.Column("wall_s", sa.Float),
    sa.Column("info", sa.Text),            # why the run stopped early, or NULL
    sa.Column("nb_sha256", sa.String(64), index=True),
    sa.Column("cells", sa.Text, nullable=False),  # JSON {grade_id: {points, score, passed, ...}}
    sa.UniqueConstraint("student", "assignment", "notebook", name="uq_grading_notebook"),
)

CASES = sa.Table(
    "grading_case", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("notebook_id", sa.Integer, sa.ForeignKey("grading_notebook.id"), nullable=False,
              index=True),
    sa.Column("grade_id", sa.String(128), nullable=False),
    sa.Column("call", sa.Integer, nullable=False),   # which check(...) of the cell
    sa.Column("k", sa.Integer, nullable=False),      # which case of that check
    sa.Column("fn", sa.String(64), nullable=False),
    sa.Column("case_json", sa.Text, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # what the sandbox said: ok, error, ...
    sa.Column("error_class", sa.String(32)),
    sa.Column("cause", sa.Text),
    sa.Column("max_diff", sa.Float),
    sa.Column("judge_s", sa.Float),
    sa.Column("message", sa.Text),
    sa.Column("outputs", sa.LargeBinary),
    sa.Column("outputs_sha", sa.String(64), index=True),
)

_ENGINES = {}


def engine_for(db_url):
    """One engine per URL, with our tables created on first use (nbgrader's are left alone)."""
    eng = _ENGINES.get(db_url)
    if eng is None:
        eng = sa.create_engine(db_url)
        METADATA.create_all(eng)
        _ENGINES[db_url] = eng
    return eng


# ----------------------------------------------------------------------------- arrays
def pack_arrays(arrays, described=None):
    """{key: .npy bytes} (+ descriptions of non-arrays) -> one zlib-compressed blob:
    a 4-byte header length, a JSON header [[key, size], ...] + {described}, then the bytes."""
    keys = sorted(arrays)
    head = json.dumps({"arrays": [[k, len(arrays[k])] for k in keys],
                       "described": described or {}}).encode()
    return zlib.compress(struct.pack(">I", len(head)) + head + b"".join(arrays[k] for k in keys),
                         1)


def unpack_arrays(blob):
    """The blob of pack_arrays -> ({key: .npy bytes}, {key: description})."""
    if not blob:
        return {}, {}
    raw = zlib.decompress(blob)
    n = struct.unpack(">I", raw[:4])[0]
    head = json.loads(raw[4:4 + n])
    out, pos = {}, 4 + n
    for key, size in head["arrays"]:
        out[key] = raw[pos:pos + size]
        pos += size
    return out, head.get("described", {})


def outputs_sha(arrays):
    """SHA-256 of the returned arrays' exact bytes (shape and dtype included): equal hashes are
    bit-identical answers."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode() + b"\0" + hashlib.sha256(arrays[key]).digest())
    return h.hexdigest()


# ----------------------------------------------------------------------------- writing
def case_row(facts, keep_arrays=True):
    """A grading_case row (without notebook_id) from judge.case_facts(...) plus grade_id/call/k."""
    arrays = facts.get("arrays") or {}
    return {"grade_id": facts["grade_id"], "call": facts["call"], "k": facts["k"],
            "fn": facts["fn"], "case_json": json.dumps(facts["case"], sort_keys=True),
            "passed": bool(facts["passed"]), "status": facts["status"],
            "error_class": facts["error_class"], "cause": facts["cause"],
            "max_diff": facts["max_diff"], "judge_s": facts.get("judge_s"),
            "message": facts["message"],
            "outputs": pack_arrays(arrays, facts.get("described")) if keep_arrays else None,
            "outputs_sha": outputs_sha(arrays) if arrays else None}


def save(db_url, student, assignment, notebook, kept, points, wall_s=None, info=None,
         nb_sha256=None, keep_arrays=True, graded_at=None, conn=None, partial=False):
    """Replace what is kept of one graded notebook. kept: {'cases': [...], 'cells': {...}} from
    judge.fill_notebook; points: {grade_id: max points} (the gradebook's); partial: score cells
    as autograde does (grading.scoring.cell_score), as regrade does too."""
    from .scoring import cell_score
    counts = {}
    for f in kept.get("cases") or ():
        n = counts.setdefault(f["grade_id"], [0, 0, False])
        n[0] += bool(f["passed"])
        n[1] += 1
        n[2] = n[2] or f.get("status") == "library"
    cells = {}
    for gid, cell in (kept.get("cells") or {}).items():
        pts = points.get(gid) or 0.0
        passed, total, library = counts.get(gid, (0, 0, False))
        # all or nothing: an error in the cell's visible part costs it too; partial credit:
        # only the hidden cases decide (grading.judge.fill_notebook)
        score = 0.0 if (library or (cell.get("other_error") and not partial)) else \
            cell_score(pts, passed, total, partial=partial)
        cells[gid] = dict(cell, points=points.get(gid), score=score)
    rows = [case_row(f, keep_arrays) for f in kept.get("cases") or ()]
    row = {"student": student, "assignment": assignment, "notebook": notebook,
           "graded_at": graded_at or datetime.datetime.now(datetime.timezone.utc)
           .replace(tzinfo=None), "wall_s": wall_s, "info": info, "nb_sha256": nb_sha256,
           "cells": json.dumps(cells, sort_keys=True)}
    if conn is None:
        with engine_for(db_url).begin() as c:
            return _save(c, row, rows)
    return _save(conn, row, rows)


def _save(conn, row, rows):
    key = sa.and_(NOTEBOOKS.c.student == row["student"],
                  NOTEBOOKS.c.assignment == row["assignment"],
                  NOTEBOOKS.c.notebook == row["notebook"])
    old = conn.execute(sa.select(NOTEBOOKS.c.id).where(key)).scalar()
    if old is not None:
        conn.execute(CASES.delete().where(CASES.c.notebook_id == old))
        conn.execute(NOTEBOOKS.update().where(NOTEBOOKS.c.id == old).values(**row))
        nid = old
    else:
        nid = conn.execute(NOTEBOOKS.insert().values(**row)).inserted_primary_key[0]
    if rows:
        conn.execute(CASES.insert(), [dict(r, notebook_id=nid) for r in rows])
    return nid


# ----------------------------------------------------------------------------- reading
def assignments(db_url):
    with engine_for(db_url).connect() as c:
        return [r[0] for r in c.execute(sa.select(NOTEBOOKS.c.assignment).distinct()
                                        .order_by(NOTEBOOKS.c.assignment))]


def load(db_url, assignment, with_arrays=False):
    """(notebook rows, {notebook_id: [case rows]}) of one assignment, as plain dicts."""
    cols = [c for c in CASES.c if with_arrays or c.name != "outputs"]
    with engine_for(db_url).connect() as c:
        nbs = [dict(r._mapping) for r in c.execute(
            sa.select(NOTEBOOKS).where(NOTEBOOKS.c.assignment == assignment)
            .order_by(NOTEBOOKS.c.student, NOTEBOOKS.c.notebook))]
        for nb in nbs:
            nb["cells"] = json.loads(nb["cells"])
        by_nb = {nb["id"]: [] for nb in nbs}
        q = (sa.select(*cols).join(NOTEBOOKS, NOTEBOOKS.c.id == CASES.c.notebook_id)
             .where(NOTEBOOKS.c.assignment == assignment)
             .order_by(CASES.c.notebook_id, CASES.c.grade_id, CASES.c.call, CASES.c.k))
        for r in c.execute(q):
            d = dict(r._mapping)
            d["case"] = json.loads(d["case_json"])
            by_nb[d["notebook_id"]].append(d)
    return nbs, by_nb
