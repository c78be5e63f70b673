"""Benchmark: the verdict store's cost while grading, and report / regrade on a large class.

    python benchmarks/bench_analytics.py overhead [--copies 1] [--assignment conv]  # side by side
    python benchmarks/bench_analytics.py class [--students 300 1000] [--course DIR]  # report, regrade

overhead: two throw-away copies of one course with the same conv submissions (the templates of
tests/synthetic_class.py, --copies times), autograded in alternating order, once with the verdict
store off (`--SandboxedExecute.keep_verdicts=False`) and once with every verdict and array kept;
prints both times, the ratio, and the store's own time per notebook (judge facts + database write,
measured in process) next to the sandbox's wall time per notebook.

class: the templates graded once for real, then classes of N students cloned from their verdicts
(tests/synthetic_class.py explains why a clone equals a graded notebook) with a gradebook
submission per student; times `python -m grading report` and `python -m grading regrade conv`
(nothing changed: every case is judged again anyway) for each N.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import synthetic_class as sc  # noqa: E402
from assignments_helpers import env, make_course, nbgrader  # noqa: E402

FAST = ["--SandboxedExecute.cell_timeout=6", "--SandboxedExecute.case_timeout=3",
        "--SandboxedExecute.wall_s=150"]


def graded_templates(folder, copies=1, keep=True, assignment="conv"):
    course = make_course(folder)
    nbgrader("generate_assignment", assignment, "--force", cwd=course)
    sc.submit_templates(course, assignment)
    for k in range(1, copies):
        for sub in list((course / "submitted").iterdir()):
            shutil.copytree(sub, course / "submitted" / f"{sub.name}-{k}")
    t0 = time.perf_counter()
    nbgrader("autograde", assignment, *FAST, f"--SandboxedExecute.keep_verdicts={keep}",
             cwd=course)
    return course, time.perf_counter() - t0


def overhead(args):
    with tempfile.TemporaryDirectory() as tmp:
        times = {True: [], False: []}
        for rnd in range(args.rounds):
            for keep in ((False, True) if rnd % 2 == 0 else (True, False)):
                _, t = graded_templates(Path(tmp) / f"{keep}-{rnd}", args.copies, keep,
                                        args.assignment)
                times[keep].append(t)
        off, on = min(times[False]), min(times[True])
        print(f"autograde without the store: {off:.1f} s; with every verdict and array kept: "
              f"{on:.1f} s; ratio {on / off:.3f} (best of {args.rounds})")
        course = Path(tmp) / f"True-0" / "course"
        from grading import judge, store
        nbs, by_nb = store.load(f"sqlite:///{course / 'gradebook.db'}", args.assignment,
                                with_arrays=True)
        wall = sum(nb["wall_s"] for nb in nbs) / len(nbs)
        judge_s = sum(r["judge_s"] or 0 for rows in by_nb.values() for r in rows) / len(nbs)
        # the store's own share: facts and a database write, re-measured here per notebook
        t0 = time.perf_counter()
        db = f"sqlite:///{Path(tmp) / 'scratch.db'}"
        for nb in nbs:
            kept = {"cells": nb["cells"], "cases": []}
            for r in by_nb[nb["id"]]:
                arrays, described = store.unpack_arrays(r["outputs"])
                kept["cases"].append({**r, "arrays": arrays, "described": described})
            store.save(db, nb["student"], args.assignment, nb["notebook"], kept, {})
        save_s = (time.perf_counter() - t0) / len(nbs)
        # and the facts the judge adds per case for the store (re-measured on the kept answers)
        from grading import cases, regrade
        cases.set_secret(cases.course_secret(str(course), create=False))
        t0 = time.perf_counter()
        for rows in by_nb.values():
            for r in rows:
                rec = regrade._rec(r)
                judge.case_facts(r["fn"], r["case"], rec, (r["passed"], [], None))
        facts_s = (time.perf_counter() - t0) / len(nbs)
        extra = save_s + facts_s
        print(f"per notebook: sandbox {wall:.2f} s, judge {judge_s * 1000:.0f} ms; the store's "
              f"share: facts {facts_s * 1000:.1f} ms + write {save_s * 1000:.1f} ms = "
              f"{100 * extra / (wall + judge_s):.2f}% of grading time")


def add_submissions(db_url, students, assignment):
    """A gradebook submission per cloned student, with the scores autograde would have written."""
    import warnings

    import sqlalchemy as sa
    from nbgrader.api import Gradebook

    from grading import store
    warnings.filterwarnings("ignore", category=sa.exc.SAWarning)  # nbgrader's add_submission
    nbs, _ = store.load(db_url, assignment)
    cells = {nb["student"]: nb["cells"] for nb in nbs}
    with Gradebook(db_url) as gb:
        for s in students:
            gb.update_or_create_student(s)
            sub = gb.add_submission(assignment, s)
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.name in cells[s]:
                        grade.auto_score = cells[s][grade.name]["score"]
        gb.db.commit()


def big_class(args):
    from grading import store
    with tempfile.TemporaryDirectory() as tmp:
        if args.course:  # a course whose templates were graded already (by an earlier run)
            course = Path(args.course)
        else:
            course, t = graded_templates(Path(tmp) / "templates", assignment=args.assignment)
            print(f"templates graded for real: {len(sc.templates(args.assignment))} notebooks "
                  f"in {t:.0f} s")
        src = f"sqlite:///{course / 'gradebook.db'}"
        for n in args.students:
            big = Path(tmp) / f"class{n}"
            shutil.copytree(course, big, ignore=shutil.ignore_patterns("submitted", "autograded"))
            db_url = f"sqlite:///{big / 'gradebook.db'}"
            with store.engine_for(db_url).begin() as c:
                c.execute(store.CASES.delete())
                c.execute(store.NOTEBOOKS.delete())
            students, _, identical, _ = sc.roster(n, args.assignment)
            sc.clone_class(src, db_url, args.assignment, students, identical)
            add_submissions(db_url, students, args.assignment)
            for cmd in (["report"], ["regrade", args.assignment]):
                t0 = time.perf_counter()
                out = subprocess.run([sys.executable, "-m", "grading", *cmd], cwd=big, env=env(),
                                     capture_output=True, text=True, timeout=900)
                dt = time.perf_counter() - t0
                assert out.returncode == 0, out.stdout + out.stderr
                print(f"{n} students: python -m grading {' '.join(cmd)}: {dt:.1f} s "
                      f"(whole command) -- {out.stdout.splitlines()[0]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--copies", type=int, default=1)
    o.add_argument("--rounds", type=int, default=1)
    c = sub.add_parser("class")
    c.add_argument("--students", type=int, nargs="+", default=[300, 1000])
    c.add_argument("--course", help="a course with the templates graded already (skips grading)")
    for p in (o, c):
        p.add_argument("--assignment", default="conv", choices=["conv", "pooling", "batchnorm"])
    args = ap.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    overhead(args) if args.mode == "overhead" else big_class(args)


if __name__ == "__main__":
    main()
