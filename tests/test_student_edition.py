"""The student edition (tools/make_student_edition.py, `make student`) holds what students need and
nothing instructor-only, and its own two commands work from a fresh copy.

The leak scan reads every file's *content* (each notebook cell by cell) and fails on any line of a
solution or hidden-test region of solutions/*/*.ipynb and any line longer than 25 characters of
grading/*.py. Lines the instructor publishes anyway (in the lectures, the released assignments, the
library or the edition's own templates, e.g. `for n in range(N):`) are not secrets and are left out.

The set-up test runs the edition's `make check` in a fresh copy. To stay fast (about 30 s instead of
minutes of downloads) its .venv reuses the packages of the environment running the tests through
PYTHONPATH: pip then finds every pinned requirement already there and installs only the edition's
own package, and check.py compares the versions it sees with requirements.lock as for a student.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

import assignments_helpers as helpers

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "tools" / "make_student_edition.py"
MARKERS = [("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]
PUBLIC = [("notebooks", "*.ipynb"), ("assignments", "*/*.ipynb"), ("cs231n_lib", "**/*.py"),
          ("tools/student", "*")]
# Nothing of these may be in the edition, by name (the content scan covers the rest).
INSTRUCTOR_ONLY = {"solutions", "grading", "tests", ".grading", "gradebook.db", "submitted",
                   "autograded", "feedback", "release", "downloaded", "benchmarks", ".ci", "tools"}


def build(dest):
    proc = subprocess.run([sys.executable, str(BUILDER), str(dest)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def text_lines(path):
    """Stripped lines of a file's content: a notebook's cell sources and outputs, else its text."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        parts = ["".join(c.get("source", "")) for c in nb["cells"]]
        for cell in nb["cells"]:
            parts += [json.dumps(out) + "\n" + "".join(out.get("text", ""))
                      for out in cell.get("outputs", [])]
        text = "\n".join(parts)
    else:
        text = path.read_bytes().decode("utf-8", errors="replace")
    return {line.strip() for line in text.splitlines() if line.strip()}


def secret_lines():
    """{line: where it comes from} for solution and hidden-test regions and the grader's code."""
    secrets = {}
    for nb in sorted(ROOT.glob("solutions/*/*.ipynb")):
        for cell in nbformat.read(nb, 4).cells:
            for begin, end in MARKERS:
                inside = False
                for line in cell.source.splitlines():
                    if begin in line:
                        inside = True
                    elif end in line:
                        inside = False
                    elif inside and line.strip():
                        secrets.setdefault(line.strip(), f"{nb.relative_to(ROOT)} ({begin[4:]})")
    for py in sorted(ROOT.glob("grading/*.py")):
        for line in py.read_text().splitlines():
            if len(line.strip()) > 25:
                secrets.setdefault(line.strip(), str(py.relative_to(ROOT)))
    public = set().union(*(text_lines(p) for folder, pattern in PUBLIC
                           for p in (ROOT / folder).glob(pattern) if p.is_file()))
    return {line: src for line, src in secrets.items() if line not in public}


def leaks(edition, secrets):
    found = []
    for path in sorted(p for p in edition.rglob("*") if p.is_file()):
        for line in text_lines(path) & secrets.keys():
            found.append(f"{path.relative_to(edition)}: {line!r} (from {secrets[line]})")
    return found


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    return build(tmp_path_factory.mktemp("edition") / "student")


@pytest.fixture(scope="module")
def secrets():
    found = secret_lines()
    assert len(found) > 1000, f"only {len(found)} secret lines: the scan would prove little"
    return found


def test_edition_holds_the_course_and_nothing_instructor_only(edition):
    files = {str(p.relative_to(edition)) for p in edition.rglob("*") if p.is_file()}
    for required in ("README.md", "Makefile", "check.py", "pyproject.toml", "requirements.lock",
                     "environment.yml", "nbgrader_config.py", "cs231n_lib/__init__.py",
                     "assignments/conv/conv.ipynb", "notebooks/01_history_and_motivation.ipynb"):
        assert required in files, f"{required} missing from the student edition"
    named = sorted(f for f in files if INSTRUCTOR_ONLY & set(Path(f).parts))
    assert not named, f"instructor-only files in the student edition: {named}"
    assert (edition / "README.md").read_text() == (ROOT / "docs/STUDENT_README.md").read_text()
    config = (edition / "nbgrader_config.py").read_text()
    assert "source_directory" not in config and "grading" not in config, "the instructor's nbgrader config"
    pyproject = (edition / "pyproject.toml").read_text()
    assert "course = [" not in pyproject and "pytest" not in pyproject, pyproject


def test_no_solution_hidden_test_or_grader_line_in_the_edition(edition, secrets):
    found = leaks(edition, secrets)
    assert not found, "the student edition leaks:\n" + "\n".join(found[:20])


def test_leak_scan_finds_a_planted_line(edition, secrets, tmp_path):
    # The scan must be able to fail: copy the edition, plant one hidden-test line and one grader
    # line inside a released notebook's cell, and expect both to be reported.
    copy = tmp_path / "student"
    shutil.copytree(edition, copy)
    hidden = next(line for line, src in secrets.items() if "HIDDEN TESTS" in src)
    grader = next(line for line, src in secrets.items() if src.startswith("grading/"))
    path = copy / "assignments/pooling/pooling.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells[-1].source += f"\n    {hidden}\n{grader}"
    nbformat.write(nb, path)
    found = leaks(copy, secrets)
    assert len(found) == 2 and all("pooling.ipynb" in f for f in found), found


def test_builder_refuses_to_empty_a_course_folder(tmp_path):
    proc = subprocess.run([sys.executable, str(BUILDER), str(ROOT / "solutions")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "refusing" in proc.stderr, proc.stderr
    assert (ROOT / "solutions/conv/conv.ipynb").exists()


def run_make(edition, *args):
    site = sysconfig.get_paths()["purelib"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=site, PYTHONWARNINGS="ignore",
               PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                    if not p.startswith(sys.prefix)))
    return subprocess.run(["make", *args], cwd=edition, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)


def test_edition_sets_up_and_checks_from_a_fresh_copy(edition, tmp_path):
    copy = tmp_path / "fresh"
    shutil.copytree(edition, copy)
    # A fresh edition: the set-up is fine and every assignment is still to do.
    proc = run_make(copy, "check")
    assert (copy / ".venv/.installed").exists(), proc.stdout[-3000:]
    assert "Set-up OK" in proc.stdout, proc.stdout[-3000:]
    for assignment in ("conv", "pooling", "batchnorm"):
        assert f"FAIL  assignments/{assignment}/{assignment}.ipynb" in proc.stdout, proc.stdout[-3000:]
    assert proc.returncode != 0
    # A student who has filled in conv: make check A=conv passes.
    nb = helpers.build_submission("conv", helpers.solution_functions("conv"), course=copy)
    nbformat.write(nb, copy / "assignments/conv/conv.ipynb")
    proc = run_make(copy, "check", "A=conv")
    assert proc.returncode == 0 and "PASS  assignments/conv/conv.ipynb" in proc.stdout, proc.stdout[-3000:]
