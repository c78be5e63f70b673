"""Sandboxed, parallel autograding inside plain `nbgrader autograde` (instructor only).

`SandboxedExecute` replaces nbgrader's `Execute` in ../nbgrader_config.py, so every
`nbgrader autograde` run gets it. For each notebook it

- builds a job from the sanitised notebook (grading.judge: hidden tests read as data, inputs
  computed here), runs the student's code in the sandbox (grading.sandbox), and writes every
  cell's outputs, the test cells' from the trusted judge;
- stops, with a message saying why, when the sandbox cannot be set up (never grades unsandboxed);
- fans out: on the first notebook of a run (one assignment, or several: `nbgrader autograde "*"`)
  it sanitises every other submission of the run the same way nbgrader will and submits their
  jobs to a `concurrent.futures.Executor` (threads by default; each job's work is a sandboxed
  subprocess), logging progress with an ETA. nbgrader then walks the class one notebook at a
  time as usual, each time taking the finished result whose job is identical to what it would
  run (keyed by a hash of the job), or running the job itself when there is none or it failed.
  The gradebook is written by nbgrader alone, serially.

Scaling out: with `dask_scheduler` set, the sandboxes run on a Dask cluster's workers
(grading.distributed): each job travels as plain data (job_payload), the judge stays here.
"""
import concurrent.futures as cf
import hashlib
import importlib
import json
import os
import shutil
import tempfile
import threading
import time

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from . import judge, sandbox


# ----------------------------------------------------------------------------- one job
def _from_json(text):
    """A notebook from the JSON text of a job or result. Plain json: nbgrader validates the notebook
    itself, and a schema validation per hand-over cost more than everything else done here."""
    return nbformat.from_dict(json.loads(text))


def _job_key(nb_dict, sub_dir):
    h = hashlib.sha256()
    for cell in nb_dict.get("cells", []):
        h.update(json.dumps([cell.get("cell_type"), cell.get("source"),
                             (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")],
                            sort_keys=True).encode())
    for rel in judge.submission_files(sub_dir):
        h.update(rel.encode())
        with open(os.path.join(sub_dir, rel), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def job_payload(nb_json, sub_dir, limits_dict, context=None):
    """(payload, (nb, plan, limits)): what a sandbox needs, as plain data, and what the judge keeps.

    The payload holds everything the sandbox's host needs and nothing more: the job (the cells to
    run), the student's own files as bytes (no shared file system), the inputs of the graded calls
    as one byte stream (sent to the worker's stdin after the last cell, never written to disk)
    and the limits. The secret and the expected values stay here, with the plan.
    context: {'secret': hex salt of the hidden inputs, 'trusted': {grade id: test cell source},
    'keep': fill the verdict store, 'partial_credit': points per hidden case passed (default) or
    all or nothing}.
    """
    context = context or {}
    if context.get("secret"):
        from . import cases
        cases.set_secret(bytes.fromhex(context["secret"]))
    limits = sandbox.Limits(**limits_dict)
    nb = _from_json(nb_json)
    files = judge.submission_files(sub_dir)
    job, plan = judge.make_job(nb, limits.for_job(), files, trusted=context.get("trusted"))
    contents = {}
    for rel in files:
        with open(os.path.join(sub_dir, rel), "rb") as f:
            contents[rel] = f.read()
    payload = {"job": job, "files": contents, "limits": limits_dict,
               "inputs": judge.input_stream(plan)}  # built once per run, shared by every student
    return payload, (nb, plan, limits, context.get("keep", True),
                     context.get("partial_credit", True))


def _write_payload(job_dir, payload):
    """The job folder for the worker: job.json and the student's files (never the inputs)."""
    sub = os.path.join(job_dir, "submission")
    for rel, data in payload["files"].items():
        dst = os.path.normpath(os.path.join(sub, rel))
        if not dst.startswith(sub + os.sep):
            raise ValueError(f"a submission file escapes the job folder: {rel!r}")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(job_dir, "job.json"), "w") as f:
        json.dump(payload["job"], f)


def run_payload(payload):
    """Run one job's sandbox from its payload -> the raw result as plain data. This is the only
    part that runs on a Dask worker (grading.distributed); locally it runs in a grading thread.
    Never runs anything without the sandbox (raises sandbox.SandboxUnavailable)."""
    sandbox.check_available()
    limits = sandbox.Limits(**payload["limits"])
    res = None
    if limits.warm:  # a warm sandbox: nothing written to this machine's disk at all
        res = sandbox.run_warm(payload["job"], payload["files"], limits, payload["inputs"])
    if res is None:
        tmp = tempfile.mkdtemp(prefix="grading-job-")  # 0700: the sandbox's private folder
        try:
            _write_payload(tmp, payload)
            res = sandbox.run(tmp, limits, inputs=payload["inputs"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"lines": res.lines, "wall_s": res.wall_s, "timed_out": res.timed_out,
            "overflow": res.overflow, "stderr": res.stderr, "cpu_s": res.cpu_s}


def judge_result(held, raw):
    """The trusted judge's half: the raw lines of a run -> the result of grade_job."""
    nb, plan, limits, keep, partial = held
    parsed = judge.parse_records(raw["lines"])
    info = None
    if raw["timed_out"]:
        info = f"the notebook ran longer than the time limit of {limits.wall_s:g} s"
    elif raw["overflow"]:
        info = f"the notebook sent back more than {limits.result_mb} MB"
    elif not parsed["done"]:
        info = "the notebook's process ended early"
    store = {} if keep else None
    verdicts = judge.fill_notebook(nb, plan, parsed, info, keep=store,
                                   partial_credit=partial)
    return {"nb": json.dumps(nb), "verdicts": verdicts, "wall_s": raw["wall_s"], "info": info,
            "kept": store,
            "sandbox_stderr": ((parsed.get("fatal") or "") + raw["stderr"][-2000:])
            if not parsed["done"] else ""}


def grade_job(nb_json, sub_dir, limits_dict, context=None):
    """Grade one notebook (JSON text) -> {'nb': graded notebook JSON, 'verdicts', 'wall_s', 'info'}.

    Plain data in, plain data out: this is what an executor (threads, processes) runs.
    context: {'secret': hex salt of the hidden inputs, 'trusted': {grade id: test cell source}}.
    The sandbox runs here, or on a Dask worker when the run has a cluster (_Pool.cluster).
    """
    cluster = _Pool.cluster
    if cluster is None:
        sandbox.check_available()
    t0 = time.perf_counter()
    payload, held = job_payload(nb_json, sub_dir, limits_dict, context)
    t1 = time.perf_counter()
    raw = cluster.run(payload) if cluster is not None else run_payload(payload)
    t2 = time.perf_counter()
    result = judge_result(held, raw)
    result["phases"] = {"prepare": t1 - t0, "sandbox": t2 - t1,
                        "judge": time.perf_counter() - t2}
    if raw.get("cpu_s") is not None:
        result["phases"]["sandbox CPU"] = raw["cpu_s"]
    return result


# ----------------------------------------------------------------------------- the fan-out
class _Pool:
    """Module-wide: nbgrader builds a new preprocessor instance for every notebook."""
    lock = threading.Lock()
    executor = None
    futures = {}        # job key -> [Future, ...]: identical submissions (same cells, same files)
    #                     have the same key, and each gets its own job
    started = set()     # nbgrader runs (course root, converter) already fanned out
    total = done = 0
    t0 = None
    phases = {}         # seconds per phase of grade_job, summed over the run's parallel jobs
    cluster = None      # a grading.distributed.Cluster when the sandboxes run on Dask


def _not_for_jobs():
    """Sanitising steps the prefetch may skip: they only read or log (a progress line, the
    kernelspec, a metadata check), and each costs a gradebook connection or a schema validation
    per notebook. Matched by class (subclasses included), never by name. nbgrader still runs them
    on every notebook before grading it; had one changed a cell, the job key would differ and
    nbgrader's own job would run instead of the prefetched one. Every other step of the pipeline
    runs in the prefetch exactly as configured."""
    from nbgrader.preprocessors import CheckCellMetadata, OverwriteKernelspec
    from .nbgrader_plugins import ProgressLog
    return (ProgressLog, OverwriteKernelspec, CheckCellMetadata)


def _make_executor(spec, workers):
    if spec in ("", "threads"):
        return cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grading")
    if spec == "processes":
        return cf.ProcessPoolExecutor(max_workers=workers)
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)()


_TRUSTED = {}
_TRUSTED_LOCK = threading.Lock()


def _trusted_tests(db_url, assignment, notebook):
    """{grade id: source} of the autograded test cells nbgrader generated for this notebook (the
    gradebook's source cells), read once per process."""
    key = (db_url, assignment, notebook)
    with _TRUSTED_LOCK:
        if key in _TRUSTED:
            return _TRUSTED[key]
    from nbgrader.api import Gradebook

    from .nbgrader_plugins import released_notebook_or_none
    out = {}
    with Gradebook(db_url) as gb:
        nbk = released_notebook_or_none(gb, notebook, assignment)
        if nbk is not None:
            graded = {c.name for c in nbk.grade_cells if c.cell_type == "code"}
            for src in nbk.source_cells:
                if src.name in graded and src.locked:
                    out[src.name] = src.source
    with _TRUSTED_LOCK:
        _TRUSTED[key] = out
    return out


def _points(db_url, assignment, notebook):
    """{grade id: max points} of a notebook's autograded cells (the gradebook's), once per
    process."""
    key = ("points", db_url, assignment, notebook)
    with _TRUSTED_LOCK:
        if key in _TRUSTED:
            return _TRUSTED[key]
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(db_url) as gb:
        try:
            out = {c.name: c.max_score for c in gb.find_notebook(notebook, assignment).grade_cells}
        except MissingEntry:
            out = {}
    with _TRUSTED_LOCK:
        _TRUSTED[key] = out
    return out


class SandboxedExecute(NbGraderPreprocessor):
    """Execute a submission in the sandbox; test cells are decided by the trusted judge."""

    wall_s = Float(300.0, help="Wall-time limit for one notebook, seconds").tag(config=True)
    cell_timeout = Float(60.0, help="Wall-time limit for one cell, seconds").tag(config=True)
    case_timeout = Float(20.0, help="Wall-time limit for one graded call, seconds").tag(config=True)
    memory_mb = Integer(1024, help="Address-space limit per sandboxed process, MB").tag(config=True)
    cpus = Float(1.0, help="CPU cores the whole sandbox may use (cgroup; 0: no cap)").tag(config=True)
    sandbox_memory_mb = Integer(2048, help="Memory of the whole sandbox, MB (cgroup)").tag(config=True)
    executor = Unicode("threads", help="'threads', 'processes' or 'module:factory' returning a "
                                       "concurrent.futures.Executor").tag(config=True)
    max_workers = Integer(0, help="Parallel jobs (0: one per CPU core)").tag(config=True)
    prefetch = Bool(True, help="Grade the rest of the class in parallel").tag(config=True)
    dask_scheduler = Unicode("", help="Address of a Dask scheduler (tcp://host:8786) whose "
                                      "workers run the sandboxes (grading.distributed); "
                                      "empty: on this machine").tag(config=True)
    keep_verdicts = Bool(True, help="Keep every hidden case's verdict in the verdict store "
                                    "(grading/store.py) for reports and regrading").tag(config=True)
    keep_arrays = Bool(True, help="Keep the returned arrays too (needed by regrade and the "
                                  "shared-answer flags)").tag(config=True)
    partial_credit = Bool(True, help="A test cell earns its points in proportion to the hidden "
                                     "cases passed (False: all or nothing)").tag(config=True)
    warm_sandboxes = Bool(True, help="Run jobs in warm sandboxes: a zygote per grading slot "
                                     "that imported NumPy and IPython once forks every job into "
                                     "fresh namespaces (grading/sandbox.py, Zygote); False: a "
                                     "new interpreter per notebook").tag(config=True)

    def _limits(self):
        return dict(sandbox.Limits(wall_s=self.wall_s, cell_timeout_s=self.cell_timeout,
                                   case_timeout_s=self.case_timeout,
                                   memory_mb=self.memory_mb, cpus=self.cpus,
                                   warm=self.warm_sandboxes,
                                   sandbox_memory_mb=self.sandbox_memory_mb).__dict__)

    def _context(self, info):
        """What the trusted side needs besides the notebook: the course's secret salt of the hidden
        inputs, and the release's own test cells (grade id -> source, from the gradebook)."""
        from nbgrader.coursedir import CourseDirectory

        from . import cases
        coursedir = CourseDirectory(config=self.config)
        ctx = {"secret": cases.course_secret(coursedir.root).hex(), "trusted": None,
               "keep": self.keep_verdicts,
               "partial_credit": self.partial_credit}
        if all(info.get(k) for k in ("db_url", "assignment", "notebook")):
            ctx["trusted"] = _trusted_tests(info["db_url"], info["assignment"], info["notebook"])
        return ctx

    def _vet(self, nb, ctx, info, log=True):
        """Test cells are the release's, decided by what they are (grade metadata and source),
        never by a name: a known test cell gets its release source back; a cell that claims to be
        a test but is not one of the release's becomes ordinary student code (its 'hidden tests'
        are never read, its points never counted)."""
        trusted = ctx["trusted"]
        if trusted is None:
            return
        for i in judge.untrusted_test_cells(nb, trusted):
            cell = nb.cells[i]
            gid = judge._nbg(cell).get("grade_id")
            if gid in trusted:
                cell.source = trusted[gid]
                what = "was changed; its release source was put back"
            else:
                cell.metadata.pop("nbgrader", None)
                what = "is not a test cell of the release; graded as ordinary code, no points"
            if log:
                self.log.warning("%s/%s: cell %d (grade id %r) claims to be a test cell but %s",
                                 info.get("student"), info.get("notebook"), i, gid, what)

    def _sandboxes(self):
        """Where the sandboxes run: raises SandboxUnavailable (nbgrader stops this notebook)
        unless this machine, or with dask_scheduler at least one worker of the cluster, can
        run them."""
        if not self.dask_scheduler:
            sandbox.check_available()
            return
        if self.executor not in ("", "threads"):
            raise ValueError(f"SandboxedExecute.executor = {self.executor!r} cannot be combined "
                             f"with dask_scheduler: the jobs go to the Dask workers from threads")
        from . import distributed
        with _Pool.lock:
            if _Pool.cluster is None:
                _Pool.cluster = distributed.cluster(self.dask_scheduler, self.log)

    def preprocess(self, nb, resources):
        self._sandboxes()
        info = resources.get("nbgrader", {})
        sub_dir = resources.get("metadata", {}).get("path") or os.getcwd()
        ctx = self._context(info)
        self._vet(nb, ctx, info)
        nb_json = json.dumps(nb)
        key = _job_key(nb, sub_dir)
        if self.prefetch:
            try:
                self._fan_out(info)
            except Exception as exc:  # noqa: BLE001 -- prefetch is an optimisation only
                self.log.warning("parallel grading unavailable (%s); grading serially", exc)
        with _Pool.lock:
            queued = _Pool.futures.get(key)
            fut = queued.pop(0) if queued else None
            if not queued:
                _Pool.futures.pop(key, None)
        result = None
        if fut is not None:
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 -- the job's machinery failed, not the student
                self.log.warning("%s/%s: the parallel job failed (%s: %s); grading it again here",
                                 info.get("student"), info.get("notebook"), type(exc).__name__, exc)
        if result is None:
            result = grade_job(nb_json, sub_dir, self._limits(), ctx)
        graded = _from_json(result["nb"])
        for cell, new in zip(nb.cells, graded.cells):
            if cell.get("cell_type") == "code":
                cell.outputs = new.outputs
                cell.execution_count = new.execution_count
        if result.get("info"):
            self.log.warning("%s/%s: %s", info.get("student"), info.get("notebook"),
                             result["info"])
        if self.keep_verdicts and result.get("kept") is not None:
            self._keep(info, sub_dir, result)
        if result.get("sandbox_stderr"):
            self.log.debug("sandbox said: %s", result["sandbox_stderr"])
        return nb, resources

    def _keep(self, info, sub_dir, result):
        """Write the notebook's verdicts to the verdict store, in nbgrader's own process (the
        gradebook's writer), after the judge has decided them."""
        from . import store
        if not all(info.get(k) for k in ("db_url", "assignment", "notebook", "student")):
            return
        path = os.path.join(sub_dir, info["notebook"] + ".ipynb")
        try:
            with open(path, "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            sha = None
        try:
            store.save(info["db_url"], info["student"], info["assignment"], info["notebook"],
                       result["kept"], _points(info["db_url"], info["assignment"],
                                               info["notebook"]),
                       wall_s=result.get("wall_s"), info=result.get("info"), nb_sha256=sha,
                       keep_arrays=self.keep_arrays, partial=self.partial_credit)
        except Exception as exc:  # noqa: BLE001 -- the grade stands; only its analytics are lost
            self.log.error("%s/%s: the verdict store could not keep this notebook (%s: %s); "
                           "regrade will list it", info.get("student"), info.get("notebook"),
                           type(exc).__name__, exc)

    # -- parallel prefetch ---------------------------------------------------------------
    def _workers(self):
        if _Pool.cluster is not None:
            return self.max_workers or _Pool.cluster.nthreads()
        return self.max_workers or os.cpu_count() or 1

    def _pool(self):
        with _Pool.lock:
            if _Pool.executor is None:
                _Pool.executor = _make_executor(self.executor, self._workers())
            return _Pool.executor

    def _fan_out(self, info):
        converter = getattr(getattr(self, "parent", None), "parent", None)
        if converter is None or not hasattr(converter, "assignments"):
            return
        coursedir = converter.coursedir
        tag = (coursedir.root, id(converter))  # once per run: every assignment the run grades
        with _Pool.lock:
            if tag in _Pool.started:
                return
            _Pool.started.add(tag)
        todo = []
        for adir in sorted(converter.assignments):
            for path in sorted(converter.assignments[adir]):
                todo.append(path)
        if len(todo) < 2:
            return
        skip = _not_for_jobs()
        pps = [p for p in converter.sanitize_preprocessors
               if not (isinstance(p, type) and issubclass(p, skip))]
        limits, started, n = self._limits(), False, 0
        for path in todo:  # each job is submitted as soon as it is prepared
            rel = os.path.relpath(path, coursedir.format_path(coursedir.submitted_directory,
                                                              ".", "."))
            parts = rel.split(os.sep)
            if len(parts) < 3:
                continue
            student, assignment, notebook = parts[0], parts[1], os.path.splitext(parts[-1])[0]
            dest = os.path.join(coursedir.format_path(coursedir.autograded_directory, student,
                                                      assignment), notebook + ".ipynb")
            if os.path.exists(dest) and not converter.force:
                continue  # nbgrader will skip it (or it is the notebook being graded now)
            try:
                nb = nbformat.read(path, as_version=4)
                res = {"nbgrader": {"student": student, "assignment": assignment,
                                    "notebook": notebook, "db_url": coursedir.db_url},
                       "unique_key": notebook, "metadata": {"path": os.path.dirname(path)}}
                for pp in pps:  # the exporter as parent, as nbgrader's: per-run caches
                    nb, res = pp(config=converter.config,
                                 parent=converter.exporter).preprocess(nb, res)
                ctx = self._context(res["nbgrader"])
                self._vet(nb, ctx, res["nbgrader"], log=False)
                nb_json = json.dumps(nb)
            except Exception as exc:  # noqa: BLE001 -- nbgrader will report it itself
                self.log.debug("not prefetching %s: %s", path, exc)
                continue
            sub_dir = os.path.dirname(path)
            key = _job_key(nb, sub_dir)
            label = f"{student}/{assignment}/{notebook}"
            with _Pool.lock:
                _Pool.total += 1
                _Pool.t0 = _Pool.t0 or time.monotonic()
            if not started:
                started = True
                where = (f"on the Dask cluster at {self.dask_scheduler}" if _Pool.cluster
                         else "on this machine")
                self.log.info("grading the other notebooks in parallel (%d workers %s, "
                              "sandboxed)", self._workers(), where)
            fut = self._pool().submit(grade_job, nb_json, sub_dir, limits, ctx)
            fut.add_done_callback(lambda f, label=label: self._progress(label, f))
            with _Pool.lock:
                _Pool.futures.setdefault(key, []).append(fut)
            n += 1
        if n:
            self.log.info("%d notebooks queued for sandboxed grading", n)

    def _progress(self, label, fut=None):
        phases = None
        if fut is not None and not fut.cancelled() and fut.exception() is None:
            phases = (fut.result() or {}).get("phases")
        with _Pool.lock:
            _Pool.done += 1
            done, total = _Pool.done, _Pool.total
            elapsed = time.monotonic() - _Pool.t0
            for k, v in (phases or {}).items():
                _Pool.phases[k] = _Pool.phases.get(k, 0.0) + v
            spent = dict(_Pool.phases)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else 0.0
        self.log.info("graded %d of %d notebooks in the sandbox (%.1f/s, ETA %d:%02d): %s",
                      done, total, rate, int(eta) // 60, int(eta) % 60, label)
        if done == total and spent:  # where a job's time went, per notebook on average
            self.log.info("per notebook: %s", ", ".join(
                f"{k} {v / done:.2f} s" for k, v in spent.items()))
