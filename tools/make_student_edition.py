"""Build the student edition of the course: what students get, and nothing instructor-only.

    python tools/make_student_edition.py dist/student      (`make student` runs this)

The edition is made from an allow-list: the files below are copied or generated, and nothing else
is. Reference solutions and hidden tests (`solutions/`), the grader (`grading/`), the tests, the
instructor's nbgrader configuration, the gradebook, `.grading/` and student data are therefore
never in it, whatever else appears in the repository later. tests/test_student_edition.py builds
the edition, scans every file's content for solution, hidden-test and grader lines, and runs the
edition's own set-up and checks from a fresh copy.

Uses only the standard library, so it runs before any environment exists.
"""
import argparse
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "student"

# (folder, glob patterns): the course content copied as it is.
COPIED = [
    ("notebooks", ["[0-9][0-9]_*.ipynb"]),           # the lectures
    ("assignments", ["*/*.ipynb"]),                   # the released assignments (nbgrader's release)
    ("cs231n_lib", ["*.py", "*.json"]),               # the library the notebooks import
    ("cs231n_lib/lectures", ["*.py"]),                # each lecture's experiments and figures
]
# edition path <- source path: single files copied or generated.
FILES = {
    "README.md": ROOT / "docs" / "STUDENT_README.md",
    "requirements.lock": ROOT / "requirements.lock",  # the exact versions the grader runs
    "Makefile": TEMPLATES / "Makefile",
    "check.py": TEMPLATES / "check.py",
    "nbgrader_config.py": TEMPLATES / "nbgrader_config.py",
    ".gitignore": TEMPLATES / "gitignore",
}
# pyproject.toml tables the edition keeps (the instructor's extras and pytest settings stay behind).
PYPROJECT_TABLES = ["build-system", "project", "tool.setuptools", "tool.setuptools.package-data"]
STUDENT_EXTRA = "student"


def student_pyproject(text):
    """The instructor's pyproject.toml reduced to the package and its `student` extra."""
    data = tomllib.loads(text)
    if STUDENT_EXTRA not in data["project"].get("optional-dependencies", {}):
        raise SystemExit(f"pyproject.toml has no [project.optional-dependencies] {STUDENT_EXTRA!r}")
    sections, name = {}, None
    for line in text.splitlines(keepends=True):
        header = re.match(r"^\[([A-Za-z0-9_.\-]+)\]\s*$", line)
        if header:
            name = header.group(1)
        sections.setdefault(name, []).append(line)
    extra = data["project"]["optional-dependencies"][STUDENT_EXTRA]
    out = ["# The student edition's package: the course library and what the notebooks need.\n",
           "# Install with the exact versions the grader uses: see README.md.\n\n"]
    for table in PYPROJECT_TABLES:
        out += sections[table]
        if table == "project":
            out += ["[project.optional-dependencies]\n", f"{STUDENT_EXTRA} = [\n"]
            out += [f"    {json.dumps(req)},\n" for req in extra]
            out += ["]\n\n"]
    result = "".join(out)
    parsed = tomllib.loads(result)  # the edition's file must parse and hold only the student extra
    assert list(parsed["project"]["optional-dependencies"]) == [STUDENT_EXTRA], parsed
    assert "pytest" not in parsed.get("tool", {}), parsed
    return result


ENVIRONMENT_YML = """\
# Conda users: `conda env create -f environment.yml && conda activate convnets-student`, then
# `jupyter lab`. The versions are those of requirements.lock, the same the grader runs.
name: convnets-student
channels:
  - conda-forge
dependencies:
  - python>={python}
  - pip
  - pip:
      - -c requirements.lock
      - -e .[{extra}]
"""


def build(dest):
    """Write the edition to dest (emptied first); return the sorted list of relative paths."""
    dest = Path(dest).resolve()
    inside = dest == ROOT or ROOT in dest.parents
    if dest in ROOT.parents or (inside and (ROOT / "dist") not in dest.parents):
        raise SystemExit(f"refusing to build into {dest} (it is emptied first): inside the "
                         "repository only under dist/, e.g. dist/student")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for folder, patterns in COPIED:
        sources = sorted(p for pattern in patterns for p in (ROOT / folder).glob(pattern)
                         if ".ipynb_checkpoints" not in p.parts)
        if not sources:
            raise SystemExit(f"nothing matches {folder}/{patterns}: is this the course repository?")
        for src in sources:
            target = dest / src.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    for name, src in FILES.items():
        shutil.copyfile(src, dest / name)
    pyproject = (ROOT / "pyproject.toml").read_text()
    (dest / "pyproject.toml").write_text(student_pyproject(pyproject))
    python = re.sub(r"[^0-9.]", "", tomllib.loads(pyproject)["project"]["requires-python"])
    (dest / "environment.yml").write_text(ENVIRONMENT_YML.format(python=python, extra=STUDENT_EXTRA))
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", help="folder to write the edition to (emptied first), e.g. dist/student")
    args = parser.parse_args(argv)
    files = build(args.dest)
    print(f"Student edition: {len(files)} files in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
