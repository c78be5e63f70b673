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


def test_a_transient_exec_failure_is_retried(monkeypatch, tmp_path):
    """Starting bwrap once failed with EFAULT under load; the next try starts it."""
    import errno
    import subprocess

    from grading import sandbox
    calls = []
    real = subprocess.Popen

    def flaky(*a, **k):
        calls.append(a[0][0])
        if len(calls) == 1:
            raise OSError(errno.EFAULT, "Bad address", a[0][0])
        return real(*a, **k)

    monkeypatch.setattr(subprocess, "Popen", flaky)
    with open(tmp_path / "err", "w+b") as err:
        proc = sandbox._start(["true"], err)
        assert proc.wait() == 0
    assert len(calls) == 2
    calls.clear()

    def missing(*a, **k):
        calls.append(a[0][0])
        raise FileNotFoundError(errno.ENOENT, "No such file", a[0][0])

    monkeypatch.setattr(subprocess, "Popen", missing)
    with open(tmp_path / "err", "w+b") as err, pytest.raises(FileNotFoundError):
        sandbox._start(["nope"], err)
    assert len(calls) == 1  # a real error is not retried


def test_a_failed_parallel_job_is_graded_again(monkeypatch, tmp_path):
    """If a prefetched job's machinery fails (an exception, not a student's fault), nbgrader's
    own pass grades that notebook again instead of failing it."""
    import concurrent.futures as cf
    import json as _json

    import nbformat

    from grading import secure_grading as sg
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    key = sg._job_key(nb, str(tmp_path))
    failed = cf.Future()
    failed.set_exception(OSError(14, "Bad address"))
    monkeypatch.setattr(sg._Pool, "futures", {key: [failed]})
    again = []

    def grade_job(nb_json, sub_dir, limits):
        again.append(sub_dir)
        graded = nbformat.from_dict(_json.loads(nb_json))
        graded.cells[0].outputs = [nbformat.v4.new_output("stream", text="graded\n")]
        return {"nb": _json.dumps(graded)}

    monkeypatch.setattr(sg, "grade_job", grade_job)
    pp = sg.SandboxedExecute(prefetch=False)
    out, _ = pp.preprocess(nb, {"nbgrader": {"student": "s", "notebook": "n"},
                                "metadata": {"path": str(tmp_path)}})
    assert again == [str(tmp_path)]
    assert out.cells[0].outputs[0]["text"] == "graded\n"
    assert sg._Pool.futures == {}
