"""The set-up commands work first time: `make test` finds or installs its system packages (or stops at
once with the command to run), `make lab` serves the whole course (as root too), and notebooks run
and saved in the repository leave git clean."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "system_packages.sh"
INSTALL_HINT = ("apt-get update && apt-get install -y --no-install-recommends bubblewrap chromium "
                "postgresql")


# ----------------------------------------------------------------------------- system packages
def fake_bin(tmp_path, uid, commands=()):
    """A PATH holding only `id` (printing uid) and the given commands, as stubs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in [("id", f"echo {uid}")] + [(c, "exit 0") for c in commands]:
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def run_script(path, *args):
    start = time.monotonic()
    # SYSTEM_PACKAGES_PGLIB: not this machine's /usr/lib/postgresql (Debian's initdb lives there)
    env = {"PATH": path, "SYSTEM_PACKAGES_PGLIB": str(Path(path).parent / "no-postgresql")}
    proc = subprocess.run(["/bin/sh", str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=30)
    return proc, time.monotonic() - start


@pytest.mark.parametrize("uid, prefix", [(1000, "sudo sh -c '"), (0, "")])
def test_missing_system_packages_stop_at_once_with_the_command(tmp_path, uid, prefix):
    # Not root (or --check): nothing can be installed, so say exactly what to run, within a second.
    args = () if uid else ("--check",)
    proc, seconds = run_script(fake_bin(tmp_path, uid), *args)
    assert proc.returncode == 1, proc
    assert f"Install them with:  {prefix}{INSTALL_HINT}" in proc.stderr, proc.stderr
    assert seconds < 5


def test_present_system_packages_pass(tmp_path):
    proc, _ = run_script(fake_bin(tmp_path, 1000, ["bwrap", "chromium", "initdb"]))
    assert proc.returncode == 0 and not proc.stderr, proc


def test_make_test_checks_system_packages_first():
    mk = (ROOT / "Makefile").read_text()
    assert "\ntest: system " in mk, "`make test` must check the system packages before anything else"
    run = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
           if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert run == ["make test"], f".ci/run must be exactly `make test`, not {run}"


# ----------------------------------------------------------------------------- make lab
def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=True).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


@pytest.fixture
def course_copy(tmp_path):
    """The repository's course files in tmp (the formgrader writes gradebook.db there), sharing
    this environment's .venv through a symlink (`make -o .venv/.installed` then uses it as it is)."""
    copy = tmp_path / "course"
    copy.mkdir()
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, copy / name)
    for folder in ("notebooks", "assignments", "solutions", "grading", "tools"):
        shutil.copytree(ROOT / folder, copy / folder, copy_function=shutil.copy2,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for name in (".gitignore", ".gitattributes", "jupyter_server_config.py"):
        shutil.copy2(ROOT / name, copy / name)
    git("init", "-q", cwd=copy)
    git("add", "-A", cwd=copy)
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "course", cwd=copy)
    (copy / ".venv").symlink_to(Path(sys.prefix))
    (copy / ".git/info/exclude").write_text(".venv\n")  # a symlink here, not the ignored folder
    return copy


def test_make_lab_serves_lectures_assignments_solutions_and_formgrader(course_copy, tmp_path):
    stamp = Path(sys.prefix) / ".installed"
    assert stamp.exists(), "run `make env` first: this test uses the repository's .venv"
    port, token = free_port(), "t0ken-for-the-test"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER"))}
    env.update(HOME=str(tmp_path / "home"), JUPYTER_CONFIG_DIR=str(tmp_path / "home/.jupyter"))
    log = open(tmp_path / "lab.log", "w+")
    lab = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "lab", f"LAB_ARGS=--no-browser --port={port} --ServerApp.port_retries=0 "
                        f"--IdentityProvider.token={token} --ServerApp.ip=127.0.0.1"],
        cwd=course_copy, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                if get(f"{base}/api/status?token={token}", timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        log.seek(0)
        output = log.read()
        assert lab.poll() is None, f"make lab exited ({lab.returncode}):\n{output[-3000:]}"
        for path in ("notebooks/01_history_and_motivation.ipynb", "assignments/conv/conv.ipynb",
                     "solutions/conv/conv.ipynb"):
            status, body = get(f"{base}/api/contents/{path}?content=1&token={token}")
            assert status == 200, f"{path}: HTTP {status}\n{output[-3000:]}"
            assert json.loads(body)["type"] == "notebook"
        status, body = get(f"{base}/formgrader?token={token}", timeout=30)
        assert status == 200 and "formgrader" in body.lower(), f"formgrader: HTTP {status}"
        status, body = get(f"{base}/formgrader/api/assignments?token={token}", timeout=30)
        assert status == 200 and "conv" in body, f"formgrader assignments: HTTP {status} {body[:300]}"
        # A save from JupyterLab (a PUT of the notebook with its outputs) leaves git clean.
        path = "assignments/conv/conv.ipynb"
        model = json.loads(get(f"{base}/api/contents/{path}?content=1&token={token}")[1])
        nb = model["content"]
        nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hello\n"}]
        nb["cells"][1]["execution_count"] = 7
        nb["metadata"]["language_info"].update(version="3.11.7", mimetype="text/x-python")
        request = urllib.request.Request(
            f"{base}/api/contents/{path}?token={token}", method="PUT",
            data=json.dumps({"type": "notebook", "format": "json", "content": nb}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        assert git("status", "--porcelain", cwd=course_copy) == "", "a JupyterLab save dirtied git"
        if os.geteuid() == 0:
            assert "running as root, so JupyterLab gets --allow-root" in output, output[-3000:]
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait(timeout=10)
        log.close()


# ----------------------------------------------------------------------------- clean working trees
def test_notebooks_written_outside_jupyterlab_reach_git_stripped(tmp_path):
    """The git filter of `make env`, set up in a fresh repository: a notebook run with nbclient and
    written with its outputs shows no change to git, and `git add` stages nothing."""
    repo = tmp_path / "repo"
    (repo / "assignments/conv").mkdir(parents=True)
    (repo / "tools").mkdir()
    git("init", "-q", cwd=repo)
    for name in (".gitattributes", "tools/strip_notebook.py", "assignments/conv/conv.ipynb"):
        shutil.copy(ROOT / name, repo / name)
    git("add", "-A", cwd=repo)
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "course", cwd=repo)
    (repo / ".venv").symlink_to(Path(sys.prefix))
    (repo / ".git/info/exclude").write_text(".venv\n")
    mk = (ROOT / "Makefile").read_text()  # the filter lines of `make env`, run as the Makefile runs them
    start = mk.index("if git rev-parse --git-dir")
    recipe = mk[start:mk.index("fi\n", start) + 2].replace("\\\n", " ").replace("$(VENV)", ".venv")
    subprocess.run(["sh", "-c", recipe], cwd=repo, check=True, timeout=60)

    path = repo / "assignments/conv/conv.ipynb"
    nb = nbformat.read(path, 4)
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert any(c.get("outputs") for c in nb.cells), "the notebook produced no output to strip"
    nbformat.write(nb, path)
    diff = subprocess.run(["git", "diff", "--exit-code", "--stat"], cwd=repo, capture_output=True,
                          text=True, timeout=60)
    assert diff.returncode == 0, f"git sees the outputs: {diff.stdout}"
    git("add", "-A", cwd=repo)
    assert git("status", "--porcelain", cwd=repo) == "", "git add staged a change"
    assert any(c.get("outputs") for c in nbformat.read(path, 4).cells), "the filter touched the file"
