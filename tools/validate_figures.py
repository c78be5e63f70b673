"""How often `nbgrader validate` warns a student before a submission that will lose points.

For every sample submission in tests/submissions/ (see tests/assignments_helpers.py: the bodies
of the graded functions plus a docstring saying which graded cells must lose points), and every
assignment it applies to, this builds the student's notebook from the release (assignments/) and
runs it as `nbgrader validate` does: every cell in order, and a graded cell fails when its visible
part raises or writes to stderr. It then prints

- the submissions that lose points when graded (their docstring's `loses:`, which the autograde
  test, tests/test_assignments_grading.py, checks against real grading),
- how many of those validate fails (the catch rate; target >= 90%),
- the correct submissions (the reference and the style_* files) that validate fails (must be 0),
- graded cells whose visible part fails although their hidden cases pass (must be 0: the visible
  part runs when grading too, so such a failure would cost points the hidden cases did not take).

Two ways to run a notebook:
- ``inprocess`` (default, ~1 s a notebook): the cells are executed in a fresh namespace of this
  process, stdout and stderr captured per cell, as the kernel would;
- ``nbgrader``: the real `nbgrader validate` on the notebook, in a throw-away folder (a kernel per
  notebook: slower). tests/test_validate_figures.py checks that both agree.

    python tools/validate_figures.py [--mode inprocess|nbgrader] [--verbose] [NAME ...]

Exit status 1 when a target is missed. Instructor only (it reads tests/ and solutions/).
"""
import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import assignments_helpers as helpers  # noqa: E402

TARGET_CATCH = 0.90  # share of point-losing submissions that validate must fail
MODES = ("inprocess", "nbgrader")


@dataclass
class Result:
    """One submission notebook: its name, assignment, expectations and what validate said."""
    name: str
    assignment: str
    loses: list
    failed_cells: list = field(default_factory=list)  # grade ids of graded cells that failed
    messages: list = field(default_factory=list)  # the first line of each failure
    shown: str = ""  # all text the cells showed (in-process runs only)

    @property
    def correct(self):
        return not self.loses

    @property
    def validate_fails(self):
        return bool(self.failed_cells)

    @property
    def beyond_hidden(self):
        """Graded cells validate fails whose hidden cases all pass."""
        return sorted(set(self.failed_cells) - set(self.loses))


# ----------------------------------------------------------------------------- submissions
def submissions(names=()):
    """[(name, assignment, notebook, loses)]: the reference of every assignment, then every
    corpus file for every assignment it applies to (optionally only those named)."""
    out = []
    for assignment in helpers.NOTEBOOKS:
        if not names or "reference" in names:
            out.append(("reference", assignment, helpers.reference_submission(assignment), []))
        for name, (meta, prelude, funcs) in helpers.snippets_for(assignment).items():
            if names and name not in names:
                continue
            funcs = {**helpers.solution_functions(assignment), **funcs}
            nb = helpers.build_submission(assignment, funcs, prelude)
            out.append((name, assignment, nb, list(meta["loses"])))
    unknown = set(names) - {n for n, _, _, _ in out}
    if unknown:
        raise SystemExit(f"validate_figures: no sample submission named {sorted(unknown)}")
    return out


def _is_graded(cell):
    nbg = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(nbg.get("grade"))


# ----------------------------------------------------------------------------- in-process run
def _run_cell(source, namespace):
    """exec one cell -> (stdout, stderr, error or None), as a kernel shows them."""
    out, err = io.StringIO(), io.StringIO()
    error = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter("default")  # as a kernel: each warning once per place, to stderr
        warnings.showwarning = _to_stderr
        try:
            exec(compile(source, "<cell>", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 -- a failing cell is a result, not a crash
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return out.getvalue(), err.getvalue(), error


def _to_stderr(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_notebook(nb):
    """Run every code cell in order in one fresh namespace, as `nbgrader validate` does (it runs
    on after a failing cell) -> ([(grade id, failure)] of the failing graded cells, all the
    text the cells showed)."""
    namespace = {"__name__": "__main__"}
    failed, shown = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        out, err, error = _run_cell(cell.source, namespace)
        shown += [out, err, error or ""]
        if _is_graded(cell) and (error or err.strip()):
            failed.append((cell.metadata["nbgrader"]["grade_id"],
                           (error or "wrote to stderr: " + err.strip()).splitlines()[0]))
    return failed, "\n".join(shown)


def validate_inprocess(nb):
    """[(grade id, first failure line)] of the graded cells that fail."""
    return run_notebook(nb)[0]


# ----------------------------------------------------------------------------- nbgrader validate
_FAILED = "The following cell failed:"


def validate_nbgrader(nb, workdir):
    """[(grade id, '')] of the graded cells the real `nbgrader validate` fails. Its report quotes
    each failing cell's first lines (cut at its line width); a graded cell is known by its first
    line, a docstring unique within each notebook."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, workdir / "submission.ipynb")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "submission.ipynb"],
                          cwd=workdir, env=helpers.env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600)
    text = proc.stdout
    if "Success! Your notebook passes all the tests." in text:
        return []
    if "VALIDATION FAILED" not in text:
        raise RuntimeError(f"nbgrader validate gave no verdict ({proc.returncode}):\n"
                           f"{text[-2000:]}{proc.stderr[-2000:]}")
    firsts = {cell.source.split("\n")[0].strip(): cell.metadata["nbgrader"]["grade_id"]
              for cell in nb.cells if _is_graded(cell)}
    failed = []
    for block in text.split(_FAILED)[1:]:
        first = next(line.strip() for line in block.splitlines() if line.strip())
        first = first[:-3] if first.endswith("...") else first
        ids = [gid for line, gid in firsts.items() if line.startswith(first)]
        if len(ids) == 1:
            failed.append((ids[0], ""))
        elif not ids:
            raise RuntimeError(f"nbgrader validate failed a cell that is not graded: {first!r}")
        else:
            raise RuntimeError(f"graded cells share their first line {first!r}: {ids}")
    return failed


# ----------------------------------------------------------------------------- figures
def run(names=(), mode="inprocess"):
    if mode not in MODES:
        raise SystemExit(f"validate_figures: unknown mode {mode!r}; choose one of {MODES}")
    results = []
    with tempfile.TemporaryDirectory(prefix="validate_figures_") as tmp:
        for k, (name, assignment, nb, loses) in enumerate(submissions(names)):
            shown = ""
            if mode == "inprocess":
                failed, shown = run_notebook(nb)
            else:
                failed = validate_nbgrader(nb, Path(tmp) / f"{k}_{name}_{assignment}")
            results.append(Result(name, assignment, loses, [g for g, _ in failed],
                                  [m for _, m in failed], shown))
    return results


def figures(results):
    losing = [r for r in results if not r.correct]
    correct = [r for r in results if r.correct]
    caught = [r for r in losing if r.validate_fails]
    return {
        "losing": len(losing),
        "caught": len(caught),
        "catch_rate": len(caught) / len(losing) if losing else 1.0,
        "missed": sorted(f"{r.assignment}/{r.name}" for r in losing if not r.validate_fails),
        "correct": len(correct),
        "correct_failed": sorted(f"{r.assignment}/{r.name}: {', '.join(r.failed_cells)}"
                                 for r in correct if r.validate_fails),
        "beyond_hidden": sorted(f"{r.assignment}/{r.name}: {', '.join(r.beyond_hidden)}"
                                for r in results if r.beyond_hidden),
    }


def report(results, verbose=False):
    f = figures(results)
    lines = []
    if verbose:
        for r in results:
            verdict = f"validate fails on {', '.join(r.failed_cells)}" if r.validate_fails \
                else "validate: Success"
            lines.append(f"{r.assignment:9s} {r.name:34s} "
                         f"{'loses ' + ' '.join(r.loses) if r.loses else 'correct'}\n"
                         f"{'':10s}{verdict}")
            lines += [f"{'':12s}{m}" for m in r.messages if m]
    lines += [
        f"submissions that lose points when graded: {f['losing']}",
        f"  of those, nbgrader validate fails: {f['caught']} ({100 * f['catch_rate']:.0f}%, "
        f"target >= {100 * TARGET_CATCH:.0f}%)",
        f"  validate says Success on: {', '.join(f['missed']) or 'none'}",
        f"correct submissions: {f['correct']}; validate fails on: "
        f"{len(f['correct_failed'])} (must be 0) {'; '.join(f['correct_failed'])}",
        f"graded cells validate fails while their hidden cases pass: {len(f['beyond_hidden'])} "
        f"(must be 0) {'; '.join(f['beyond_hidden'])}",
    ]
    return "\n".join(lines), f


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="only these sample submissions (file stems)")
    parser.add_argument("--mode", default="inprocess", choices=MODES)
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per notebook")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    text, f = report(run(args.names, args.mode), args.verbose)
    print(json.dumps(f, indent=1) if args.json else text)
    ok = f["catch_rate"] >= TARGET_CATCH and not f["correct_failed"] and not f["beyond_hidden"]
    return 0 if ok or args.names else 1


if __name__ == "__main__":
    sys.exit(main())
