"""A synthetic class for the analytics: students made from the bug corpus and correct styles in
known proportions, with planted shared answers.

Two steps, because grading 300 notebooks in the sandbox takes many minutes:

1. `submit_templates(course, assignment)`: one real submission per kind (the reference, every
   correct style and every bug file of tests/submissions/ for the assignment), plus planted
   pairs: three pairs whose two members each submit the same unusual wrong code (an output
   scaled by a factor no known mistake explains), in notebooks that differ by a comment, and one
   pair of byte-identical notebooks. These are graded for real (`nbgrader autograde`), which fills
   the verdict store.
2. `clone_class(src_db, dst_db, assignment, roster)`: the large class, written into a fresh
   verdict store by copying each template's stored verdicts to every student of that kind (a
   notebook's verdicts depend only on its code and the hidden cases, so a clone is exactly what
   grading that student's notebook would have kept). Every clone gets a notebook hash of its own
   (as real students' files differ), except the members of a planted byte-identical pair.

`roster(n)` says who is what: {student: template}, and the planted pairs.
"""
import hashlib
import re

import sqlalchemy as sa

from assignments_helpers import GRADED, build_submission, snippets_for, solution_functions, submit

PLANTED = {"p1": 3e-4, "p2": 3e-3, "p3": 3e-2}   # pair -> relative error of the first forward
TWINS = ("t1",)                                   # pairs that submit byte-identical notebooks


def _scaled_forward(src, fn, factor):
    """The reference forward `fn` (in its cell's source), its output scaled by (1 + factor):
    wrong in a way no known mistake explains."""
    m = re.search(rf"^def {fn}\(.*?^([ \t]+)return out, ", src, re.M | re.S)
    assert m, f"the reference {fn} must `return out, cache`"
    at = m.start(1)
    return src[:at] + f"{m.group(1)}out = out * (1 + {factor!r})\n" + src[at:]


def templates(assignment="conv"):
    """{template student: (functions, prelude, comment)}: one per kind and planted member."""
    ref = solution_functions(assignment)
    out = {"correct": (ref, "", "")}
    for name, (_meta, prelude, funcs) in snippets_for(assignment).items():
        out[name] = ({**ref, **funcs}, prelude, "")
    fwd = GRADED[assignment][0]
    for pair, factor in PLANTED.items():
        funcs = {**ref, fwd: _scaled_forward(ref[fwd], fwd, factor)}
        for member in "ab":
            out[f"{pair}{member}"] = (funcs, "", f"# {pair}{member}: my own work\n")
    for pair in TWINS:
        out[f"{pair}a"] = out[f"{pair}b"] = (ref, "", f"# {pair}: our shared starting point\n")
    return out


def submit_templates(course, assignment="conv"):
    """Submit every template to the course (to be graded by `nbgrader autograde`)."""
    for student, (funcs, prelude, comment) in templates(assignment).items():
        nb = build_submission(assignment, funcs, prelude, course)
        if comment:
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source = comment + cell.source
                    break
        submit(course, student, assignment, nb)


def roster(n=300, assignment="conv"):
    """({student: template}, planted shared pairs, planted identical pairs, {kind: count}).

    Kinds in fixed proportions: each bug file and correct style gets the same share, the
    reference the rest; the planted pairs are two students each."""
    kinds = [t for t in templates(assignment) if not t[:2] in {p for p in PLANTED} | set(TWINS)]
    planted = 2 * (len(PLANTED) + len(TWINS))
    others = [k for k in kinds if k != "correct"]
    each = (n - planted) // (len(others) + 2)
    counts = {k: each for k in others}
    counts["correct"] = n - planted - each * len(others)
    students, i = {}, 0
    for kind in sorted(counts):
        for _ in range(counts[kind]):
            i += 1
            students[f"s{i:03d}"] = kind
    shared, identical = [], []
    for pair in PLANTED:
        a, b = f"s{i + 1:03d}", f"s{i + 2:03d}"
        students[a], students[b] = f"{pair}a", f"{pair}b"
        shared.append((a, b))
        i += 2
    for pair in TWINS:
        a, b = f"s{i + 1:03d}", f"s{i + 2:03d}"
        students[a], students[b] = f"{pair}a", f"{pair}b"
        identical.append((a, b))
        i += 2
    assert len(students) == n
    return students, shared, identical, counts


def clone_class(src_db, dst_db, assignment, students, identical=()):
    """Write the verdicts of every student (a template's, copied) into dst_db's verdict store."""
    from grading import store
    twin_of = {s: f"{a}+{b}" for a, b in identical for s in (a, b)}
    src = store.engine_for(src_db)
    with src.connect() as c:
        nbs = {r.student: dict(r._mapping) for r in c.execute(
            sa.select(store.NOTEBOOKS).where(store.NOTEBOOKS.c.assignment == assignment))}
        rows = {}
        for r in c.execute(sa.select(store.CASES)):
            rows.setdefault(r.notebook_id, []).append(dict(r._mapping))
    missing = set(students.values()) - set(nbs)
    assert not missing, f"templates not graded: {sorted(missing)}"
    dst = store.engine_for(dst_db)
    with dst.begin() as c:
        for student, template in students.items():
            nb = dict(nbs[template])
            tid = nb.pop("id")
            nb["student"] = student
            nb["nb_sha256"] = hashlib.sha256(twin_of.get(student, student).encode()).hexdigest()
            nid = c.execute(store.NOTEBOOKS.insert().values(**nb)).inserted_primary_key[0]
            c.execute(store.CASES.insert(), [
                {**{k: v for k, v in r.items() if k != "id"}, "notebook_id": nid}
                for r in rows[tid]])
