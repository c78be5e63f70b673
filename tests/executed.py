"""Each lecture notebook is executed once per test run and the result shared.

`executed(path)` runs the notebook on a fresh kernel (with a CPU probe cell appended), and keeps
the executed notebook, its wall time and its CPU time on disk, keyed by a hash of the notebook and
every library source and by the test run (pytest-xdist's run id, else the process), so each run
executes afresh. Tests that check what a lecture shows (a number printed, a figure drawn)
read its outputs from here instead of asserting inside teaching cells, and `test_notebooks`
checks the same execution for errors, stderr and the time budget. A lock file makes the two
pytest-xdist workers wait for one execution instead of running it twice.
"""
import fcntl
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".pytest_cache" / "executed"
BUDGET_S = 60
CPU_PROBE = ("import json, resource\n"
             "_r = resource.getrusage(resource.RUSAGE_SELF)\n"
             "print('CPU_SECONDS', json.dumps(_r.ru_utime + _r.ru_stime))")


def _key(path):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    h = hashlib.sha256(run.encode() + Path(path).read_bytes())
    for src in sorted((ROOT / "cs231n_lib").rglob("*.py")):
        h.update(src.as_posix().encode() + src.read_bytes())
    return h.hexdigest()[:20]


def _execute(path, workdir):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CPU_PROBE))
    # iopub_timeout: on a loaded machine a cell's output can trail its reply by more than nbclient's
    # default 4 s, and nbclient then drops it silently (a missing CPU probe, a test reading nothing);
    # wait as long as a cell may run, and fail loudly if even that is not enough.
    client = NotebookClient(nb, timeout=BUDGET_S, startup_timeout=BUDGET_S, kernel_name="python3",
                            iopub_timeout=BUDGET_S, raise_on_iopub_timeout=True,
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    elapsed = time.perf_counter() - start
    probe = nb.cells.pop()
    cpu = float(probe.outputs[0]["text"].split()[1])
    return nb, elapsed, cpu


def executed(path):
    """(executed notebook, wall seconds, CPU seconds) for lecture `path`, executed at most once."""
    path = Path(path)
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = f"{path.stem}-{_key(path)}"
    nb_file, info_file = CACHE / f"{stem}.ipynb", CACHE / f"{stem}.json"
    with open(CACHE / f"{path.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for old in CACHE.glob(f"{path.stem}-*"):      # earlier runs' copies, after a day
            if old.stat().st_mtime < time.time() - 86400 and not old.name.startswith(stem):
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        if not info_file.exists():
            work = CACHE / f"{stem}.work"
            work.mkdir(exist_ok=True)
            nb, elapsed, cpu = _execute(path, work)
            nbformat.write(nb, nb_file)
            info_file.write_text(json.dumps({"wall": elapsed, "cpu": cpu}))
    info = json.loads(info_file.read_text())
    return nbformat.read(nb_file, as_version=4), info["wall"], info["cpu"]


def outputs_text(nb, cell_filter=None):
    """All stream and text/plain outputs of the executed notebook, joined (for 'is it printed')."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or (cell_filter and not cell_filter(cell)):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out and "text/plain" in out["data"]:
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)
