"""The sandbox worker's exec steps: one forked child per run of cells, and what a crash costs.

Runs small jobs straight through grading.sandbox (needs bubblewrap, like all grading): a cell that
crashes, exits or loops forever in the middle of a run of cells is reported as not finished, the
cells before it keep their effect (they are replayed, not reported twice) and the cells after it
run as usual.
"""
import json
import os

import pytest

from grading import sandbox



def run_cells(tmp_path, sources, cell_timeout=3.0):
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:  # as in test_secure_grading: a failure under CI
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must be able to sandbox grading: {exc}")
        pytest.skip(str(exc))
    job_dir = tmp_path / "job"
    for sub in ("inputs", "submission"):
        (job_dir / sub).mkdir(parents=True)
    os.chmod(job_dir, 0o755)
    for sub in ("inputs", "submission"):
        os.chmod(job_dir / sub, 0o755)
    limits = sandbox.Limits(cell_timeout_s=cell_timeout, wall_s=60)
    steps = [{"op": "exec", "cell": i, "source": src} for i, src in enumerate(sources)]
    (job_dir / "job.json").write_text(json.dumps({"steps": steps, "limits": limits.for_job()}))
    os.chmod(job_dir / "job.json", 0o644)
    res = sandbox.run(str(job_dir), limits)
    records = [json.loads(line) for line in res.lines if line.strip()]
    cells = {}
    for rec in records:
        if rec.get("t") == "cell":
            cells.setdefault(rec["cell"], []).append(rec)
    return cells, any(rec.get("t") == "done" for rec in records)


def stdout(rec):
    return "".join(o.get("text", "") for o in rec["outputs"] if o.get("name") == "stdout")


@pytest.mark.parametrize("fault, why", [
    ("import os; os._exit(3)", "exit status 3"),
    ("import ctypes; ctypes.string_at(0)", "segmentation fault"),
    ("while True: pass", "time limit"),
])
def test_a_crash_inside_a_run_of_cells_costs_that_cell_only(tmp_path, fault, why):
    sources = ["x = 1", "x += 1\nprint('second', x)", fault, "print('after', x)", "x *= 10",
               "print('last', x)"]
    cells, done = run_cells(tmp_path, sources, cell_timeout=2.0)
    assert done
    assert all(len(recs) == 1 for recs in cells.values()), cells       # nothing reported twice
    assert sorted(cells) == list(range(len(sources)))
    assert stdout(cells[1][0]) == "second 2\n"
    crashed = cells[2][0]
    assert crashed["status"] == "crashed" and why in crashed["outputs"][0]["evalue"]
    assert stdout(cells[3][0]) == "after 2\n"          # the cells before the crash kept their effect
    assert stdout(cells[5][0]) == "last 20\n"
    assert all(cells[i][0]["status"] == "ok" for i in (0, 1, 3, 4, 5))


def test_a_crash_in_the_last_cell_keeps_the_state_of_the_others(tmp_path):
    cells, done = run_cells(tmp_path, ["y = 5", "import os; os._exit(1)"])
    assert done and cells[0][0]["status"] == "ok" and cells[1][0]["status"] == "crashed"
