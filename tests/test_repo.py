"""The repository keeps its promises: two-command set-up, CI runs the README's test command,
student data stays out of git, the library carries no graded name, environment.yml matches
pyproject.toml."""
import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADED_NAMES = {
    "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
    "batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
}


def test_ci_runs_the_readme_test_command():
    lines = [l.strip() for l in (ROOT / ".ci/run").read_text().splitlines()
             if l.strip() and not l.strip().startswith(("#", "set ", "cd "))]
    assert lines, ".ci/run runs nothing"
    readme = (ROOT / "README.md").read_text()
    assert lines[-1] in readme, f".ci/run's command {lines[-1]!r} is not the README's"


def test_makefile_targets_build_their_own_environment():
    mk = (ROOT / "Makefile").read_text()
    for target in ("lab", "test"):
        m = re.search(rf"^{target}:(.*)$", mk, re.M)
        assert m and ".installed" in m.group(1), f"`make {target}` must create the venv on first use"
    assert "export PATH" in mk and "$(BIN)" in mk, "the venv's bin/ must be on PATH (nbgrader runs alembic)"


def test_environment_has_no_slow_iri_parser():
    # rfc3987-syntax builds an Earley parser when it is imported, and jsonschema imports it: that
    # added about 2.7 s to every nbgrader command and Jupyter start (a third of grading one
    # assignment's notebooks). The Makefile uninstalls it; jsonschema then only skips the "iri"
    # string format, which nothing in the course uses.
    assert importlib.util.find_spec("rfc3987_syntax") is None, (
        "rfc3987-syntax is installed: run `pip uninstall rfc3987-syntax` (see the Makefile)")
    code = "import sys, jsonschema, nbgrader.api; print('rfc3987_syntax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_student_data_is_ignored():
    for path in ("submitted/x/a/b.ipynb", "autograded/x/a/b.ipynb", "feedback/x/a/b.html",
                 "gradebook.db", "release/a/b.ipynb"):
        res = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert res.returncode == 0, f"{path} is not git-ignored"


def test_environment_yml_installs_the_package_with_the_course_extra():
    env = (ROOT / "environment.yml").read_text()
    assert "-e .[course]" in env and "-c requirements.lock" in env
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "cs231n_lib[student]" in extras["course"], "the course extra must include the student one"
    for tool in ("jupyterlab", "nbgrader", "ipywidgets"):
        assert any(r.startswith(tool) for r in extras["student"]), f"{tool} missing from the student extra"
    for tool in ("nbval", "pytest", "nbstripout", "nh3", "playwright"):
        assert any(r.startswith(tool) for r in extras["course"]), f"{tool} missing from the course extra"


def test_library_defines_no_graded_name():
    found = []
    for path in (ROOT / "cs231n_lib").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign)):
                names = [node.name] if hasattr(node, "name") else \
                    [t.id for t in node.targets if isinstance(t, ast.Name)]
                found += [f"{path.name}:{n}" for n in names if n in GRADED_NAMES]
    assert not found, f"graded names belong to the students, not the library: {found}"
