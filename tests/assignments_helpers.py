"""Shared helpers for the assignment tests: a throw-away course directory, nbgrader on the command
line, and sample submissions built from the released notebooks.

Everything is written under pytest's tmp_path; the repository is only read.

Sample submissions live in tests/submissions/*.py as the bodies of the graded functions (a file
replaces only the functions it defines; the rest come from the reference solution) with a
docstring of `key: value` lines saying what the grader must make of them:

    assignment: conv            (or 'any': applied to every assignment whose functions it defines)
    loses: test_a test_b        (grade ids that must lose points; every other cell keeps full marks)
    feedback: some phrase       (must appear in that notebook's feedback; may repeat)
    visible: some phrase        (must appear in what `nbgrader validate` shows: a visible check's
                                 output or failure, graded cell or not; tests/test_validate_figures.py)
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
NOTEBOOKS = {"conv": "conv", "pooling": "pooling", "batchnorm": "batchnorm"}  # assignment -> notebook
GRADED = {
    "conv": ["conv_forward_naive", "conv_backward_naive"],
    "pooling": ["max_pool_forward_naive", "max_pool_backward_naive"],
    "batchnorm": ["batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward",
                  "spatial_batchnorm_backward"],
}
_DEF = re.compile(r"^def\s+(\w+)\s*\(", re.M)


# ----------------------------------------------------------------------------- running nbgrader
def env(home=None, **extra):
    """The environment for nbgrader: the venv's bin/ on PATH (nbgrader runs alembic), no inherited
    Jupyter paths, and optionally a separate HOME (a simulated student)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER"))}
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    e["PYTHONWARNINGS"] = "ignore"  # a warning in nbgrader's own process is not a tamper warning
    if home is not None:
        e["HOME"] = str(home)
        e["JUPYTER_CONFIG_DIR"] = str(Path(home) / ".jupyter")
        e["JUPYTER_DATA_DIR"] = str(Path(home) / ".local/share/jupyter")
    e.update({k: str(v) for k, v in extra.items()})
    return e


def nbgrader(*args, cwd, home=None, check=True, **extra_env):
    """Run `nbgrader ARGS` in cwd; return the CompletedProcess (stdout and stderr merged)."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *map(str, args)], cwd=cwd,
                          env=env(home, **extra_env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-6000:]}")
    return proc


def make_course(tmp_path, name="course"):
    """A copy of the course directory (config, grading/, solutions/, assignments/) under tmp."""
    course = Path(tmp_path) / name
    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    for folder in ("grading", "solutions", "assignments"):
        shutil.copytree(ROOT / folder, course / folder, ignore=ignore)
    return course


def sandbox_or_skip():
    """Grading needs the sandbox (bubblewrap): skip without it, but fail under CI."""
    import pytest
    from grading import sandbox
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must be able to sandbox grading: {exc}")
        pytest.skip(str(exc))


# ----------------------------------------------------------------------------- submissions
def solution_functions(assignment):
    """{function name: cell source} of the reference solution, markers removed."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb", 4)
    funcs = {}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            src = "\n".join(line for line in cell.source.split("\n")
                            if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
            for name in _DEF.findall(src):
                funcs[name] = src
    return funcs


def read_snippet(path):
    """(expectations dict, prelude source, {function name: source}) of a submission file."""
    src = Path(path).read_text()
    tree = ast.parse(src)
    doc = ast.get_docstring(tree) or ""
    meta = {"assignment": "any", "loses": [], "feedback": [], "visible": [], "title": ""}
    meta["title"] = doc.split("\n")[0]
    for line in doc.split("\n")[1:]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "assignment":
            meta["assignment"] = value.strip()
        elif key == "loses":
            meta["loses"] += value.split()
        elif key in ("feedback", "visible"):
            meta[key].append(value.strip())
    funcs, prelude = {}, []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant) \
                and node is tree.body[0]:
            continue  # the docstring
        seg = ast.get_source_segment(src, node)
        if isinstance(node, ast.FunctionDef) and any(node.name in g for g in GRADED.values()):
            funcs[node.name] = seg
        else:
            prelude.append(seg)
    return meta, "\n".join(prelude), funcs


def snippets_for(assignment):
    """{submission name: (meta, prelude, funcs)} of the files that apply to an assignment."""
    out = {}
    for path in sorted(SUBMISSIONS.glob("*.py")):
        meta, prelude, funcs = read_snippet(path)
        if meta["assignment"] == assignment or (
                meta["assignment"] == "any" and set(funcs) & set(GRADED[assignment])):
            out[path.stem] = (meta, prelude, funcs)
    return out


def build_submission(assignment, funcs=None, prelude="", course=ROOT):
    """The released notebook with its solution cells replaced by `funcs` (None: left blank)."""
    nb = nbformat.read(Path(course) / "assignments" / assignment / f"{NOTEBOOKS[assignment]}.ipynb", 4)
    placed_prelude = False
    for cell in nb.cells:
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        names = _DEF.findall(cell.source)
        if funcs and names and names[0] in funcs:
            cell.source = funcs[names[0]]
            if prelude and not placed_prelude:
                cell.source = prelude + "\n\n\n" + cell.source
                placed_prelude = True
    return nb


def reference_submission(assignment, course=ROOT):
    return build_submission(assignment, solution_functions(assignment), course=course)


def submit(course, student, assignment, nb):
    """Put a notebook where `nbgrader collect` would: submitted/<student>/<assignment>/."""
    dest = Path(course) / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / f"{NOTEBOOKS[assignment]}.ipynb")
    return dest


# ----------------------------------------------------------------------------- reading results
def scores(course, assignment):
    """{student: {grade_id: (score, max_score, needs_manual_grade)}} from the gradebook."""
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(assignment).submissions:
            nbsub = gb.find_submission_notebook(NOTEBOOKS[assignment], assignment, sub.student.id)
            out[sub.student.id] = {g.name: (g.score, g.max_score, g.needs_manual_grade)
                                   for g in nbsub.grades if g.max_score}
    return out


def log_by_student(log, assignment):
    """Split an autograde log into {student: [lines]} by the 'Sanitizing .../<student>/...' lines."""
    parts, current = {}, None
    pat = re.compile(rf"Sanitizing .*[\\/]submitted[\\/]([^\\/]+)[\\/]{assignment}[\\/]")
    for line in log.splitlines():
        m = pat.search(line)
        if m:
            current = m.group(1)
        if current:
            parts.setdefault(current, []).append(line)
    return parts


def outputs_text(nb, graded=None):
    """All output text of a notebook's code cells (graded: only test cells / only others)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        is_test = bool(cell.metadata.get("nbgrader", {}).get("grade"))
        if graded is not None and is_test != graded:
            continue
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") + out.get("evalue", "") + "\n".join(out.get("traceback", []))
                         + json.dumps(out.get("data", {})))
    return "\n".join(texts)
