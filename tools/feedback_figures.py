"""How well the grader's feedback explains real bugs: every file of the bug corpus through the
judge on the hidden cases (instructor only; it reads solutions/).

    python tools/feedback_figures.py            every hidden case
    python tools/feedback_figures.py --fast     without the finite-difference (numeric) cases

Each file in tests/submissions/ replaces some graded functions of the reference solution (see
tests/assignments_helpers.py). Its docstring names its bug: `cause:` lines (or, without them, its
`feedback:` lines) are phrases the right explanation contains. For every hidden case a bug fails,
the figures count:

- failures: hidden cases the bug files fail;
- correct cause: failures whose "likely cause" line contains one of the file's phrases;
- misleading: failures with a "likely cause" that contains none of them (a wrong cause);
- correct styles failed: hidden cases failed by a correct file (style_*.py): must be 0.

tests/test_feedback_figures.py runs it and holds it to misleading == 0 and no correct style failed.
"""
import argparse
import ast
import contextlib
import io
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grading import cases, judge  # noqa: E402

SUBMISSIONS = ROOT / "tests" / "submissions"
ASSIGNMENTS = ("conv", "pooling", "batchnorm")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _cells(assignment):
    nb = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    for cell in nb["cells"]:
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        yield cell, src


def hidden_checks(assignment):
    """[(grade id, name, [case, ...])] of the assignment's hidden tests, read as data."""
    out = []
    for cell, src in _cells(assignment):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            calls, _ = judge.split_test_cell(src)
            out += [(meta["grade_id"], name, case_list) for name, case_list in calls or []]
    return out


def solution_namespace(assignment):
    """The reference solution's functions, as a notebook would define them."""
    ns = {}
    exec("import numpy as np", ns)  # noqa: S102 -- the course's own solution cells
    for cell, src in _cells(assignment):
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            exec("\n".join(ln for ln in src.split("\n") if BEGIN not in ln and END not in ln), ns)
    return ns


# Bugs whose `feedback:` phrases name what is wrong rather than why: the phrase of their cause.
# (A `cause:` line in a corpus file's docstring does the same and takes precedence.)
CAUSE_PHRASES = {
    "bug_bn_dgamma_not_summed": ["dgamma was not summed"],
    "bug_bn_unbiased_variance": ["unbiased variance"],
    "bug_conv_db_not_summed": ["db was summed over H and W only"],
    "bug_pool_grad_last_max": ["last element of each window"],
    "bug_sbn_dx_not_transposed_back": ["without moving the channel axis back"],
}


def read_bug(path):
    """(assignment, defined function names, phrases naming the bug) of a corpus file."""
    src = path.read_text()
    tree = ast.parse(src)
    meta = {"assignment": "any", "cause": [], "feedback": []}
    for line in (ast.get_docstring(tree) or "").split("\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip() == "assignment":
            meta["assignment"] = value.strip()
        elif key.strip() in ("cause", "feedback") and value.strip():
            meta[key.strip()].append(value.strip())
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    phrases = meta["cause"] or CAUSE_PHRASES.get(path.stem) or meta["feedback"]
    return meta["assignment"], defined, phrases, src


def figures(fast=False, files=None):
    """-> dict of counts and per-file details (see the module docstring)."""
    checks = {a: hidden_checks(a) for a in ASSIGNMENTS}
    graded = {a: {name for _, name, _ in checks[a]} for a in ASSIGNMENTS}
    fig = {"failures": 0, "correct_cause": 0, "misleading": 0, "no_cause": 0,
           "correct_styles_failed": 0, "files": {}, "misleading_cases": [], "style_failures": [],
           "unexplained": []}
    for path in sorted(files or SUBMISSIONS.glob("*.py")):
        target, defined, phrases, src = read_bug(path)
        is_bug = path.stem.startswith("bug_")
        for a in ASSIGNMENTS:
            if not (target == a or (target == "any" and defined & graded[a])):
                continue
            ns = solution_namespace(a)
            exec(compile(src, str(path), "exec"), ns)  # noqa: S102 -- the course's own corpus
            row = fig["files"].setdefault(path.stem, {"failures": 0, "correct_cause": 0,
                                                      "misleading": 0})
            for gid, name, case_list in checks[a]:
                for case in case_list:
                    if fast and case.get("oracle") == "numeric":
                        continue
                    with contextlib.redirect_stdout(io.StringIO()), \
                            contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # the corpus's own prints and warnings
                        passed, lines = cases.run_case(name, case, ns)
                    if passed:
                        continue
                    if not is_bug:
                        fig["correct_styles_failed"] += 1
                        fig["style_failures"].append((path.stem, gid, lines))
                        continue
                    named = [ln for ln in lines if ln.startswith("likely cause")]
                    row["failures"] += 1
                    if any(p in ln for ln in named for p in phrases):
                        row["correct_cause"] += 1
                    elif named:
                        row["misleading"] += 1
                        fig["misleading_cases"].append((path.stem, gid, named))
                    else:
                        fig["unexplained"].append((path.stem, gid, cases.describe(name, case),
                                                   lines))
    for row in fig["files"].values():
        for key in ("failures", "correct_cause", "misleading"):
            fig[key] += row[key]
    fig["no_cause"] = fig["failures"] - fig["correct_cause"] - fig["misleading"]
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="leave out the numeric-oracle cases")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per bug file")
    args = parser.parse_args(argv)
    fig = figures(fast=args.fast)
    if args.verbose:
        for stem, row in sorted(fig["files"].items()):
            print(f"  {stem:40s} failures {row['failures']:3d}  correct cause "
                  f"{row['correct_cause']:3d}  misleading {row['misleading']:3d}")
    share = fig["correct_cause"] / fig["failures"] if fig["failures"] else 0.0
    print(f"failures: {fig['failures']}")
    print(f"failures with a correct cause: {fig['correct_cause']} ({share:.0%})")
    print(f"misleading hints: {fig['misleading']}")
    print(f"correct styles failed: {fig['correct_styles_failed']}")
    for stem, gid, named in fig["misleading_cases"]:
        print(f"  misleading: {stem} {gid}: {named[0]}")
    for stem, gid, lines in fig["style_failures"]:
        print(f"  correct style failed: {stem} {gid}: {lines[0]}")
    if args.verbose:
        for stem, gid, case, lines in fig["unexplained"]:
            print(f"  no cause: {stem} {gid} ({case}): {' | '.join(lines)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
