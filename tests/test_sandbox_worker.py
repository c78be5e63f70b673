"""The sandbox worker's exec steps: one forked child per run of cells, and what a crash costs.

Runs small jobs straight through grading.sandbox (needs bubblewrap, like all grading): a cell that
crashes, exits or loops forever in the middle of a run of cells is reported as not finished, the
cells before it keep their effect (they are replayed, not reported twice) and the cells after it
run as usual.
"""
import json
import os
import time

import pytest

from assignments_helpers import sandbox_or_skip
from grading import sandbox



def run_cells(tmp_path, sources, cell_timeout=3.0):
    sandbox_or_skip()
    job_dir = tmp_path / "job"
    (job_dir / "submission").mkdir(parents=True)
    limits = sandbox.Limits(cell_timeout_s=cell_timeout, wall_s=60)
    steps = [{"op": "exec", "cell": i, "source": src} for i, src in enumerate(sources)]
    (job_dir / "job.json").write_text(json.dumps({"steps": steps, "limits": limits.for_job()}))
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

    def grade_job(nb_json, sub_dir, limits, ctx=None):
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


def test_nothing_a_cell_starts_outlives_it(tmp_path, monkeypatch):
    """Busy processes left behind in new sessions (double forks) are killed when their cell ends:
    the next cell sees only the worker's own processes, and after the run no process of the run's
    uid is left on the grading machine."""
    storm = ("import os, time\n"
             "for _ in range(12):\n"
             "    if os.fork() == 0:\n"
             "        os.setsid()\n"
             "        if os.fork() == 0:\n"
             "            t = time.time()\n"
             "            while time.time() - t < 60: pass\n"
             "        os._exit(0)\n"
             "    os.wait()\n")
    count = ("import os\n"
             "def alive(p):\n"
             "    try: return open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z'\n"
             "    except OSError: return False\n"
             "print('procs', len([p for p in os.listdir('/proc') if p.isdigit() and alive(p)]))")
    uids, real = [], sandbox.command

    def command(job_dir, limits, uid=None):
        uids.append(uid)
        return real(job_dir, limits, uid=uid)
    monkeypatch.setattr(sandbox, "command", command)
    cells, done = run_cells(tmp_path, [storm, count], cell_timeout=20)
    assert done
    n = int(stdout(cells[1][0]).split()[1])
    assert n <= 5, f"{n} processes in the sandbox after the storm's cell"
    if os.geteuid() == 0:
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                uid = os.stat(f"/proc/{pid}").st_uid
            except OSError:
                continue
            if uid == uids[-1]:  # this run's own uid (others may be grading beside it)
                left.append(pid)
        assert not left, f"processes of a sandbox uid survived the run: {left}"


def test_the_whole_sandbox_gets_one_core(tmp_path, monkeypatch):
    """CPU is capped per sandbox (cgroup), not per process: four busy processes together get at
    most about one core, and the kernel throttles them (RLIMITs alone would let them take every
    core of the grading machine)."""
    import threading
    from grading import cgroups
    if cgroups.available() is None:
        msg = "no cgroup can be created here (not root, or no writable cgroup hierarchy)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    made, seen, quota = [], [], []
    real = cgroups.create

    def create(limits):
        g = real(limits)
        made.append(g)
        return g
    monkeypatch.setattr(cgroups, "create", create)

    def watch():
        for _ in range(100):
            if made:
                seen.append(len(made[0].procs()))
                stat = os.path.join(made[0].dirs[0], "cpu.stat")
                try:
                    text = open(stat).read()
                except OSError:
                    text = ""
                throttled = [ln for ln in text.splitlines() if ln.startswith("nr_throttled")]
                if throttled and int(throttled[0].split()[1]) > 0:
                    seen.append("throttled")
                for name in ("cpu.max", "cpu.cfs_quota_us"):
                    try:
                        quota.append(open(os.path.join(made[0].dirs[0], name)).read().split()[0])
                    except OSError:
                        pass
            time.sleep(0.05)
    watcher = threading.Thread(target=watch)
    watcher.start()
    busy = ("import os, time, resource\n"
            "t0 = time.time()\n"
            "kids = []\n"
            "for _ in range(4):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        while time.time() - t0 < 2.0: pass\n"
            "        os._exit(0)\n"
            "    kids.append(pid)\n"
            "for pid in kids: os.waitpid(pid, 0)\n"
            "wall = time.time() - t0\n"
            "cpu = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print('ratio', (cpu.ru_utime + cpu.ru_stime) / wall)\n")
    cells, done = run_cells(tmp_path, [busy], cell_timeout=20)
    watcher.join()
    ratio = float(stdout(cells[0][0]).split()[1])
    assert made and made[0] is not None, "no cgroup was made for the run"
    assert max(x for x in seen if isinstance(x, int)) >= 5, seen[:20]
    assert ratio <= 1.25, f"the sandbox used {ratio:.2f} cores"
    # the cap is what held it: the kernel throttled it, or (on a machine too busy to give it more
    # than a core anyway, where throttling never starts) the group's quota was one core
    assert "throttled" in seen or (quota and set(quota) == {"100000"}), \
        f"the kernel never throttled the sandbox, and its quota was {set(quota)}"


def test_job_folders_are_private(tmp_path):
    """While a job runs, another account on the grading machine cannot read the student's job
    (their code): folders 0700 and files 0600, owned by the run's own uid."""
    import tempfile
    import threading
    import subprocess
    import shutil
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another account")
    parent = tempfile.mkdtemp(prefix="grading-test-")
    os.chmod(parent, 0o755)  # a world-traversable parent, like /tmp
    try:
        job = os.path.join(parent, "job")
        os.makedirs(os.path.join(job, "submission"))
        with open(os.path.join(job, "submission", "notes.txt"), "w") as f:
            f.write("my answer")
        limits = sandbox.Limits(cell_timeout_s=10, wall_s=30)
        steps = [{"op": "exec", "cell": 0, "source": "import time; time.sleep(2)"}]
        with open(os.path.join(job, "job.json"), "w") as f:
            json.dump({"steps": steps, "limits": limits.for_job()}, f)
        t = threading.Thread(target=sandbox.run, args=(job, limits))
        t.start()
        time.sleep(1.0)
        probe = subprocess.run([shutil.which("setpriv"), "--reuid=65534", "--regid=65534",
                                "--clear-groups", "cat", os.path.join(job, "submission", "notes.txt"),
                                os.path.join(job, "job.json")], capture_output=True, text=True)
        t.join(30)
        assert probe.returncode != 0 and "my answer" not in probe.stdout, probe.stdout
        assert "Permission denied" in probe.stderr
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_the_workers_tables_are_the_graders():
    """The worker cannot import grading (it runs alone in the sandbox), so it keeps its own copy of
    what each graded function returns and which forward pass a backward pass needs: they must be
    the trusted side's."""
    from grading import cases, sandbox_worker
    assert sandbox_worker.RETURNS == cases.RETURNS
    assert sandbox_worker.FORWARD_OF == cases.FORWARD_OF
