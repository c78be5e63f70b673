"""Benchmark: plain serial nbgrader vs our sandboxed, parallel autograding, same submissions.

    python benchmarks/bench_grading.py [--assignments conv pooling batchnorm] [--copies 1] [--one-run]
                                       [--rounds 1] [--students 300 [--plain-students 36]]
                                       [--cold] [--dask tcp://HOST:PORT]

Builds two throw-away course directories with the same sample submissions (tests/submissions:
the reference solution, the other correct styles and every buggy sample; --copies repeats them
under more student ids; --students N instead gives every assignment exactly N students, who take
the samples in turn), then times `nbgrader autograde <assignment>` in each:

- plain: stock nbgrader's preprocessors, `Execute` among them (hidden tests run in the student's
  kernel), one notebook at a time -- what nbgrader does without this repository's additions (the
  course's grading policy stays: text on stderr never zeroes a test);
- ours: the repository's nbgrader_config.py (sandbox on, parallel fan-out on all cores, warm
  sandboxes);
- with --cold, ours again with warm sandboxes off (a new interpreter per notebook), to show what
  the warm sandboxes bring; its scores must equal ours;
- with --dask, ours again with the sandboxes on a running Dask cluster (local vs distributed;
  the gradebook stays SQLite here); its scores must equal ours.

Both sides run the same commands: `nbgrader autograde <assignment>` once per assignment (the
default), or with --one-run a single `nbgrader autograde "*"` for the whole class (nbgrader reads
the assignment id as a glob), which pays nbgrader's start-up once instead of once per assignment.
With --rounds N the two are timed in N alternating rounds (plain, ours, plain, ours, ...; later
rounds regrade with --force) and each keeps its fastest round: other programs on the machine only
ever add time; the spread over the rounds (slowest to fastest) is printed too. Plain nbgrader on
300 students takes long: --plain-students K times it on the first K students of each assignment
(its rate in notebooks/s is what compares). Prints both times, the throughput ratio, and checks
that every score graded by both is identical.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from assignments_helpers import (NOTEBOOKS, build_submission, make_course, nbgrader,  # noqa: E402
                                 reference_submission, scores, snippets_for,
                                 solution_functions, submit)

PLAIN = """
# --- benchmark baseline: stock nbgrader's preprocessors (hidden tests in the student's kernel);
# only the course's grading policy (stderr never zeroes a test, the kernel's import path) stays ---
from nbgrader.preprocessors import Execute as _Execute
share_gradebook_engines(False)  # stock: a new database engine for every Gradebook
from nbconvert.exporters import NotebookExporter as _NotebookExporter
c.NotebookExporter.optimistic_validation = False  # stock: validated after every preprocessor
c.Autograde.exporter_class = _NotebookExporter     # and once more to be written
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                      OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [_Execute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
"""


def populate(course, assignments, copies, students=None):
    """Submit the samples: `copies` times each, or to exactly `students` students in turn."""
    n = 0
    for a in assignments:
        nbgrader("generate_assignment", a, "--force", cwd=course)
        subs = {"reference": reference_submission(a, course)}
        for name, (meta, prelude, funcs) in snippets_for(a).items():
            subs[name] = build_submission(a, {**solution_functions(a), **funcs}, prelude, course)
        names = sorted(subs)
        if students:
            picks = [(f"s{i:04d}", names[i % len(names)]) for i in range(students)]
        else:
            picks = [(f"{name}-{k}", name) for k in range(copies) for name in names]
        for student, name in picks:
            submit(course, student, a, subs[name])
            n += 1
    return n


def rates(n, times):
    """'x.xx notebooks/s; rounds a.aa-x.xx': the fastest round, and the spread over all."""
    best, worst = n / min(times), n / max(times)
    return f"{best:.2f} notebooks/s; {len(times)} rounds: {worst:.2f}-{best:.2f}"


def grade(course, assignments, one_run, force=False):
    t0 = time.perf_counter()
    for a in (["*"] if one_run else assignments):
        nbgrader("autograde", a, *(["--force"] if force else []), cwd=course)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--assignments", nargs="+", default=sorted(NOTEBOOKS))
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--one-run", action="store_true",
                    help='grade every assignment in one `nbgrader autograde "*"` (both sides)')
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternating timed rounds; each side keeps its fastest")
    ap.add_argument("--students", type=int, default=0,
                    help="exactly this many students per assignment (instead of --copies)")
    ap.add_argument("--plain-students", type=int, default=0,
                    help="with --students: time plain nbgrader on this many students only")
    ap.add_argument("--cold", action="store_true",
                    help="also time ours with warm sandboxes off (a new interpreter per notebook)")
    ap.add_argument("--dask", metavar="tcp://HOST:PORT", default="",
                    help="also time ours with the sandboxes on this running Dask cluster")
    args = ap.parse_args()
    if args.students < 0 or args.plain_students < 0 or (args.plain_students and not args.students):
        ap.error("--students and --plain-students take positive counts; --plain-students needs "
                 "--students")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        plain, ours = make_course(tmp, "plain"), make_course(tmp, "ours")
        with open(plain / "nbgrader_config.py", "a") as f:
            f.write(PLAIN)
        with open(ours / "nbgrader_config.py", "a") as f:  # stock nbgrader is all or nothing:
            f.write("\nc.SandboxedExecute.partial_credit = False\n")  # same policy, same scores
        n_plain = populate(plain, args.assignments, args.copies,
                           args.plain_students or args.students)
        n = populate(ours, args.assignments, args.copies, args.students)
        cold = None
        if args.cold:
            cold = make_course(tmp, "cold")
            with open(cold / "nbgrader_config.py", "a") as f:
                f.write("\nc.SandboxedExecute.partial_credit = False\n"
                        "c.SandboxedExecute.warm_sandboxes = False\n")
            populate(cold, args.assignments, args.copies, args.students)
        dask = None
        if args.dask:
            dask = make_course(tmp, "dask")
            with open(dask / "nbgrader_config.py", "a") as f:
                f.write("\nc.SandboxedExecute.partial_credit = False\n"
                        f"c.SandboxedExecute.dask_scheduler = {args.dask!r}\n")
            populate(dask, args.assignments, args.copies, args.students)
        how = 'one `nbgrader autograde "*"`' if args.one_run else "one `nbgrader autograde` per assignment"
        print(f"{n} notebooks ({', '.join(args.assignments)}), {os.cpu_count()} CPU cores, {how}"
              + (f"; plain nbgrader on {n_plain} of them" if n_plain != n else ""))
        times_plain, times_ours, times_cold, times_dask = [], [], [], []
        for r in range(max(1, args.rounds)):
            t = grade(plain, args.assignments, args.one_run, force=r > 0)
            print(f"round {r + 1}: plain serial nbgrader {t:7.1f} s", end="", flush=True)
            times_plain.append(t)
            if cold is not None:
                t = grade(cold, args.assignments, args.one_run, force=r > 0)
                print(f", ours cold {t:7.1f} s", end="", flush=True)
                times_cold.append(t)
            if dask is not None:
                t = grade(dask, args.assignments, args.one_run, force=r > 0)
                print(f", ours on Dask {t:7.1f} s", end="", flush=True)
                times_dask.append(t)
            t = grade(ours, args.assignments, args.one_run, force=r > 0)
            print(f", ours {t:7.1f} s")
            times_ours.append(t)
        t_plain, t_ours = min(times_plain), min(times_ours)
        print(f"plain serial nbgrader:            {t_plain:7.1f} s  ({rates(n_plain, times_plain)})")
        if cold is not None:
            t_cold = min(times_cold)
            print(f"ours, cold sandboxes:             {t_cold:7.1f} s  ({rates(n, times_cold)})")
        if dask is not None:
            print(f"ours, sandboxes on Dask:          {min(times_dask):7.1f} s  "
                  f"({rates(n, times_dask)})")
        print(f"ours (sandboxed, parallel):       {t_ours:7.1f} s  ({rates(n, times_ours)})")
        print(f"throughput ratio: {(n / t_ours) / (n_plain / t_plain):.2f}x")
        if cold is not None:
            print(f"warm / cold sandboxes: {t_cold / t_ours:.2f}x")
        diffs = []
        for a in args.assignments:
            for other, name in ((cold, "cold"), (dask, "dask")):
                if other is not None:
                    sc, so = scores(other, a), scores(ours, a)
                    diffs += [(a, s, name, sc.get(s), "ours", so.get(s))
                              for s in sorted(set(sc) | set(so)) if sc.get(s) != so.get(s)]
            sp, so = scores(plain, a), scores(ours, a)
            if len(sp) != len(so) and not set(sp) <= set(so):
                diffs.append((a, "students graded by plain but not ours", sorted(set(sp) - set(so))))
            for student in sorted(sp if len(sp) != len(so) else set(sp) | set(so)):
                if sp.get(student) != so.get(student):
                    diffs.append((a, student, sp.get(student), so.get(student)))
        if diffs:
            print(f"SCORES DIFFER for {len(diffs)} submissions:")
            for d in diffs[:10]:
                print("  ", d)
            sys.exit(1)
        print("scores identical for every submission" + (" graded by both" if n_plain != n else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
