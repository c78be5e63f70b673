"""Scaling out, against real services: a Dask scheduler with two `dask worker` processes and a
PostgreSQL server, all started here on loopback, and plain `nbgrader autograde "*"` pointed at both
by the course's own config (GRADING_DASK_SCHEDULER, GRADING_DB_URL: nbgrader_config.py).

Each worker has its own scratch folder (its TMPDIR and Dask's local directory) and its own copy
of the grading code, and the autograding process itself has no bubblewrap on its PATH: every
sandbox must run on a worker, and nothing reaches a worker except through its payloads.

- the class graded locally (threads, SQLite) and on the cluster (PostgreSQL) gives identical
  scores, feedback pages and `nbgrader export` CSV;
- a worker killed in the middle of a run: its jobs run on the other, every notebook graded once;
- PostgreSQL stopped before or during a run: autograde says so clearly; started again, a re-run
  completes;
- a worker without bubblewrap is retired with a message and grades nothing; started with
  `--preload grading.distributed` it refuses to start at all;
- neither the course's secret nor any hidden input ever appears in a worker's scratch folder,
  watched while it grades.

Under CI=true a service that cannot start is a failure, not a skip.
"""
import csv
import glob
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from assignments_helpers import (NOTEBOOKS, ROOT, build_submission, make_course, nbgrader,
                                 reference_submission, sandbox_or_skip, snippets_for,
                                 solution_functions, submit)

# One Dask cluster and one PostgreSQL server for the module: its tests stay on one xdist worker
# (`make test` runs --dist loadgroup).
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("scale_out")]

ASSIGNMENT = "pooling"
BUGS = ["bug_pool_average", "bug_pool_grad_last_max", "bug_pool_stride_ignored"]
FAST = ["--SandboxedExecute.cell_timeout=20", "--SandboxedExecute.case_timeout=10",
        "--SandboxedExecute.wall_s=120"]
BIN = os.path.dirname(sys.executable)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(why):
    """A service the test needs cannot start: fail under CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"CI must run the scale-out tests against real services: {why}")
    pytest.skip(why)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


# ----------------------------------------------------------------------------- PostgreSQL
def _pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or \
        [p for p in [shutil.which(name)] if p]
    return found[-1] if found else None


class Postgres:
    """A private PostgreSQL server: its own data and socket folder in tmp, a free loopback port,
    run by the unprivileged `postgres` account when we are root (postgres refuses root)."""

    def __init__(self):
        if not (_pg_bin("initdb") and _pg_bin("pg_ctl")):
            unavailable("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.dir = tempfile.mkdtemp(prefix="grading-pg-")
        self.as_user = []
        if os.geteuid() == 0:
            import pwd
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root, and there is no `postgres` account to run it")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = [shutil.which("runuser") or "/sbin/runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self._run(_pg_bin("initdb"), "-D", self.data, "-U", "grader", "--auth=trust", "-E",
                  "UTF8", "--no-sync")
        self.start()

    def _run(self, *argv, timeout=60):
        proc = subprocess.run(self.as_user + list(argv), cwd=self.dir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if proc.returncode != 0:
            unavailable(f"{os.path.basename(argv[0])} failed: {proc.stdout[-1500:]}")
        return proc

    def start(self):
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "log"),
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "-w", "-t", "30", "start")

    def stop(self):
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")

    def new_database(self, name):
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user="grader",
                             dbname="postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://grader@127.0.0.1:{self.port}/{name}"

    def close(self):
        subprocess.run(self.as_user + [_pg_bin("pg_ctl"), "-D", self.data, "-m", "immediate",
                                       "stop"], cwd=self.dir, capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------------------- Dask
def dask_env(home, **extra):
    """The environment of a Dask process: its own copy of the grading code (the scheduler
    unpickles the tasks, the workers run them), nothing else of this repository."""
    code = Path(home) / "code"
    shutil.copytree(ROOT / "grading", code / "grading",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "PYTHON"))}
    env.update(PYTHONPATH=str(code), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **extra)
    return env


class Worker:
    def __init__(self, cluster, name, path=None, preload=True):
        self.name = name
        self.home = Path(cluster.dir) / name
        self.scratch = self.home / "scratch"
        self.scratch.mkdir(parents=True)
        env = dask_env(self.home, TMPDIR=str(self.scratch),
                       PATH=path or (BIN + os.pathsep + os.environ["PATH"]))
        argv = [os.path.join(BIN, "dask"), "worker", cluster.address, "--name", name,
                "--nthreads", "1", "--no-nanny", "--memory-limit", "0",
                "--local-directory", str(self.scratch), "--no-dashboard", "--death-timeout", "60"]
        if preload:
            argv += ["--preload", "grading.distributed"]
        self.log = open(self.home / "log", "w+")
        self.proc = subprocess.Popen(argv, cwd=self.home, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        self.log.flush()
        return (self.home / "log").read_text()

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


class DaskCluster:
    """A scheduler and workers as separate processes on loopback."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="grading-dask-")
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.log = open(os.path.join(self.dir, "scheduler.log"), "w+")
        self.scheduler = subprocess.Popen(
            [os.path.join(BIN, "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT,
            env=dask_env(Path(self.dir) / "scheduler"), start_new_session=True)
        self.workers = {}
        try:
            wait_for(self._listening, 60, "the Dask scheduler listening")
        except TimeoutError as exc:
            unavailable(f"{exc}: {Path(self.dir, 'scheduler.log').read_text()[-1500:]}")

    def _listening(self):
        if self.scheduler.poll() is not None:
            return True
        try:
            socket.create_connection(("127.0.0.1", int(self.address.rsplit(":", 1)[1])), 1).close()
            return True
        except OSError:
            return False

    def connected(self):
        from distributed import Client
        with Client(self.address, timeout=20, set_as_default=False) as client:
            return {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}

    def add_worker(self, name, wait=True, **kw):
        w = self.workers[name] = Worker(self, name, **kw)
        if wait:
            try:
                wait_for(lambda: name in self.connected() or w.proc.poll() is not None, 90,
                         f"Dask worker {name} connecting")
            except TimeoutError as exc:
                unavailable(f"{exc}: {w.output()[-1500:]}")
            if w.proc.poll() is not None:
                unavailable(f"Dask worker {name} exited: {w.output()[-1500:]}")
        return w

    def close(self):
        for w in self.workers.values():
            w.kill()
        if self.scheduler.poll() is None:
            os.killpg(self.scheduler.pid, signal.SIGKILL)
            self.scheduler.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def postgres():
    pg = Postgres()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture(scope="module")
def dask_cluster():
    sandbox_or_skip()
    cl = DaskCluster()
    try:
        cl.add_worker("worker-a")
        cl.add_worker("worker-b")
        yield cl
    finally:
        cl.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """One assignment, a few students: the reference solution and three buggy ones."""
    sandbox_or_skip()
    course = make_course(tmp_path_factory.mktemp("scale-out"))
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    submit(course, "alice", ASSIGNMENT, reference_submission(ASSIGNMENT, course))
    snippets = snippets_for(ASSIGNMENT)
    for k, bug in enumerate(BUGS):
        meta, prelude, funcs = snippets[bug]
        nb = build_submission(ASSIGNMENT, {**solution_functions(ASSIGNMENT), **funcs}, prelude,
                              course)
        submit(course, f"student{k}", ASSIGNMENT, nb)
    return course


def no_bwrap_path(tmp):
    """A PATH with the venv and the util-linux tools but no bubblewrap."""
    tools = Path(tmp) / "tools"
    tools.mkdir(exist_ok=True)
    for t in ("prlimit", "setpriv"):
        if shutil.which(t) and not (tools / t).exists():
            os.symlink(shutil.which(t), tools / t)
    return os.pathsep.join([BIN, str(tools)])


def grade(course, db_url=None, scheduler=None, force=False, check=True, extra=()):
    """`nbgrader autograde "*"` in the course; distributed when a scheduler is given, and then
    without bubblewrap on its own PATH (every sandbox must run on a worker)."""
    env = {}
    if db_url:
        env["GRADING_DB_URL"] = db_url
    if scheduler:
        env["GRADING_DASK_SCHEDULER"] = scheduler
        env["PATH"] = no_bwrap_path(course.parent)
    args = ["autograde", "*", *FAST, *extra] + (["--force"] if force else [])
    return nbgrader(*args, cwd=course, check=check, **env)


def results(course, db_url):
    """(scores, feedback pages, export CSV rows) of the assignment, read back through nbgrader."""
    from nbgrader.api import Gradebook
    env = {"GRADING_DB_URL": db_url} if db_url else {}
    scores = {}
    with Gradebook(db_url or f"sqlite:///{course / 'gradebook.db'}") as gb:
        subs = gb.find_assignment(ASSIGNMENT).submissions
        for sub in subs:
            nbsub = gb.find_submission_notebook(NOTEBOOKS[ASSIGNMENT], ASSIGNMENT, sub.student.id)
            scores[sub.student.id] = sorted((g.name, g.score, g.max_score) for g in nbsub.grades)
    shutil.rmtree(course / "feedback", ignore_errors=True)
    nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=course, **env)
    feedback = {p.relative_to(course / "feedback").as_posix(): p.read_text()
                for p in sorted((course / "feedback").rglob("*.html"))}
    out = course.parent / "export.csv"
    nbgrader("export", f"--to={out}", cwd=course, **env)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    return scores, feedback, rows


def clean(course):
    for d in ("autograded", "feedback"):
        shutil.rmtree(course / d, ignore_errors=True)


# ----------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def graded(course, postgres, dask_cluster):
    """The class graded locally on SQLite, then on the cluster with the gradebook on PostgreSQL."""
    clean(course)
    grade(course)
    local = results(course, None)
    clean(course)
    url = postgres.new_database("course")
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course, GRADING_DB_URL=url)
    t0 = time.monotonic()
    run = grade(course, url, dask_cluster.address)
    return {"local": local, "url": url, "run": run, "wall_s": time.monotonic() - t0}


def test_distributed_grading_matches_local(graded, course):
    """Same class, same secret: identical scores, feedback and export, and the run said where
    it graded (the autograding process has no bubblewrap: every sandbox ran on a worker)."""
    log = graded["run"].stdout
    assert "on the Dask cluster at tcp://127.0.0.1" in log, log[-3000:]
    assert re.search(r"per notebook: prepare \d+\.\d\d s, sandbox \d+\.\d\d s, judge", log)
    scores, feedback, rows = results(course, graded["url"])
    want_scores, want_feedback, want_rows = graded["local"]
    assert len(scores) == 1 + len(BUGS) and scores == want_scores
    assert scores["alice"] and all(s == m for _, s, m in scores["alice"])
    assert all(any(s < m for _, s, m in scores[f"student{k}"]) for k in range(len(BUGS)))
    assert sorted(feedback) == sorted(want_feedback) and len(feedback) == 1 + len(BUGS)
    for page in feedback:
        assert feedback[page] == want_feedback[page], page
    assert rows == want_rows and len(rows) == 1 + len(BUGS)


class ScratchWatch:
    """Reads every file in the workers' scratch folders over and over while a run grades, and
    records any that holds the course's secret or a hidden input's bytes."""

    def __init__(self, folders, needles):
        self.folders, self.needles = folders, needles
        self.hits, self.seen, self._stop = [], set(), False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _scan(self):
        for folder in self.folders:
            for root, _, files in os.walk(folder):
                for f in files:
                    p = os.path.join(root, f)
                    try:
                        with open(p, "rb") as fh:
                            data = fh.read()
                    except OSError:
                        continue
                    self.seen.add(os.path.relpath(p, folder))
                    for what, needle in self.needles:
                        if needle in data:
                            self.hits.append((p, what))

    def _run(self):
        while not self._stop:
            self._scan()
            time.sleep(0.02)

    def close(self):
        self._stop = True
        self.thread.join(10)
        self._scan()


def secret_and_inputs(course):
    """(label, bytes) of what must never reach a worker's disk: the course secret (raw and hex)
    and the raw bytes of every hidden input array (as .npy holds them) of the assignment."""
    from grading import cases, judge
    key = cases.course_secret(str(course), create=False)
    assert key, "the course has no grading secret after autograding"
    needles = [("secret", key), ("secret hex", key.hex().encode())]
    nb = nbformat.read(course / "solutions" / ASSIGNMENT / f"{NOTEBOOKS[ASSIGNMENT]}.ipynb", 4)
    cases.set_secret(key)
    try:
        for cell in nb.cells:
            calls, _ = judge.split_test_cell(cell.source) if cell.cell_type == "code" else (None, 0)
            for name, case_list in calls or []:
                for case in case_list:
                    for arg, value in cases.build(name, case).items():
                        for arr in (value if isinstance(value, list) else [value]):
                            if getattr(arr, "size", 0) >= 4:
                                raw = arr.tobytes()
                                needles.append((f"input {name}.{arg}", raw[:32]))
    finally:
        cases.set_secret(None)
    assert len(needles) > 4
    return needles


def test_secret_and_hidden_inputs_never_on_a_worker_disk(graded, course, dask_cluster):
    """Watched while the class is regraded on the cluster, the workers' scratch folders (job
    folders included) never hold the secret or a hidden input; their jobs did pass through."""
    folders = [str(w.scratch) for w in dask_cluster.workers.values() if w.proc.poll() is None]
    watch = ScratchWatch(folders, secret_and_inputs(course))
    try:
        grade(course, graded["url"], dask_cluster.address, force=True)
    finally:
        watch.close()
    assert any(p.endswith("job.json") for p in watch.seen), sorted(watch.seen)[:20]
    assert watch.hits == [], watch.hits[:5]


def test_killed_worker_jobs_rerun_elsewhere(graded, course, dask_cluster):
    """A worker killed while it runs a job: the run still finishes, every notebook is graded
    exactly once (one gradebook submission each, the progress count never passes the total),
    with the scores of the local run."""
    victim = dask_cluster.add_worker("worker-victim")
    killed = threading.Event()

    def kill_when_busy():
        try:
            wait_for(lambda: any(victim.scratch.glob("grading-job-*")), 120, "a job on the victim")
        except TimeoutError:
            return
        victim.kill()
        killed.set()

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    run = grade(course, graded["url"], dask_cluster.address, force=True)
    killer.join(130)
    assert killed.is_set(), "the victim worker never got a job"
    counts = [tuple(map(int, m.groups())) for m in
              re.finditer(r"graded (\d+) of (\d+) notebooks in the sandbox", run.stdout)]
    assert sorted(counts) == [(k, len(BUGS) + 1) for k in range(1, len(BUGS) + 2)], counts
    scores, _, _ = results(course, graded["url"])
    assert scores == graded["local"][0]


def test_postgres_stopped_is_reported_and_rerun_completes(graded, course, dask_cluster,
                                                          postgres):
    """PostgreSQL down before a run: autograde stops at once saying the gradebook cannot be
    reached (which one, what to do), no traceback. Down in the middle of a run: the same message
    ends the log. PostgreSQL back: the same command, without --force, grades the rest."""
    clean(course)
    postgres.stop()
    try:
        run = grade(course, graded["url"], dask_cluster.address, force=True, check=False)
    finally:
        postgres.start()
    assert run.returncode != 0
    assert "cannot reach the gradebook at postgresql+psycopg://grader@127.0.0.1:" \
        f"{postgres.port}/course" in run.stdout, run.stdout[-3000:]
    assert "Traceback" not in run.stdout, run.stdout[-3000:]

    stopped = threading.Event()

    def stop_after_first_notebook():
        try:
            wait_for(lambda: any(course.glob("autograded/*/*/*.ipynb")), 300, "a first notebook")
        except TimeoutError:
            return
        postgres.stop()
        stopped.set()

    stopper = threading.Thread(target=stop_after_first_notebook, daemon=True)
    stopper.start()
    try:
        run = grade(course, graded["url"], dask_cluster.address, check=False)
    finally:
        stopper.join(320)
        postgres.start()
    assert stopped.is_set()
    assert run.returncode != 0
    assert run.stdout.rstrip().splitlines()[-1].endswith(
        "without --force it grades only the rest)."), run.stdout[-3000:]
    grade(course, graded["url"], dask_cluster.address)
    scores, _, _ = results(course, graded["url"])
    assert scores == graded["local"][0]


def test_worker_without_bubblewrap_is_refused(graded, course, dask_cluster, tmp_path):
    """A worker that cannot run the sandbox is retired with a message naming it and runs no job;
    with the course's preload it does not even start. The class is still graded, sandboxed."""
    path = no_bwrap_path(tmp_path)
    bare = dask_cluster.add_worker("worker-nobwrap", path=path, preload=False)
    jobs = ScratchWatch([str(bare.scratch)], [])
    try:
        run = grade(course, graded["url"], dask_cluster.address, force=True)
    finally:
        jobs.close()
    assert "refused: it cannot run the grading sandbox" in run.stdout, run.stdout[-3000:]
    assert "`bwrap` was not found on PATH" in run.stdout
    assert not [p for p in jobs.seen if "grading-job-" in p], jobs.seen
    wait_for(lambda: bare.proc.poll() is not None, 60, "the refused worker leaving")
    scores, _, _ = results(course, graded["url"])
    assert scores == graded["local"][0]

    preloaded = dask_cluster.add_worker("worker-nobwrap-preload", path=path, wait=False)
    wait_for(lambda: preloaded.proc.poll() is not None, 90, "the preloaded worker refusing")
    assert preloaded.proc.returncode != 0
    assert "this Dask worker refuses to grade" in preloaded.output()
    assert "worker-nobwrap-preload" not in dask_cluster.connected()
