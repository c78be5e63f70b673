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

Scaling out: `executor` may name a factory "module:function" returning any Executor, e.g. a Dask
`distributed.Client(...).get_executor()`; jobs are plain picklable data (see grade_job).
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


def grade_job(nb_json, sub_dir, limits_dict, context=None):
    """Grade one notebook (JSON text) -> {'nb': graded notebook JSON, 'verdicts', 'wall_s', 'info'}.

    Plain data in, plain data out: this is what an executor (threads, processes, Dask) runs.
    context: {'secret': hex salt of the hidden inputs, 'trusted': {grade id: test cell source},
    'partial_credit': points per hidden case passed (default) or all or nothing}.
    """
    context = context or {}
    sandbox.check_available()
    if context.get("secret"):
        from . import cases
        cases.set_secret(bytes.fromhex(context["secret"]))
    limits = sandbox.Limits(**limits_dict)
    nb = _from_json(nb_json)
    files = judge.submission_files(sub_dir)
    job, plan = judge.make_job(nb, limits.for_job(), files, trusted=context.get("trusted"))
    inputs = judge.input_stream(plan)  # built once per run, shared by every student
    tmp = tempfile.mkdtemp(prefix="grading-job-")  # 0700: no other account can look in
    try:
        judge.write_job(tmp, job, sub_dir, files)
        res = sandbox.run(tmp, limits, inputs=inputs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    parsed = judge.parse_records(res.lines)
    info = None
    if res.timed_out:
        info = f"the notebook ran longer than the time limit of {limits.wall_s:g} s"
    elif res.overflow:
        info = f"the notebook sent back more than {limits.result_mb} MB"
    elif not parsed["done"]:
        info = "the notebook's process ended early"
    verdicts = judge.fill_notebook(nb, plan, parsed, info,
                                   partial_credit=context.get("partial_credit", True))
    return {"nb": json.dumps(nb), "verdicts": verdicts, "wall_s": res.wall_s, "info": info,
            "sandbox_stderr": ((parsed.get("fatal") or "") + res.stderr[-2000:])
            if not parsed["done"] else ""}


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
    from nbgrader.api import Gradebook, MissingEntry
    out = {}
    with Gradebook(db_url) as gb:
        try:
            nbk = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            nbk = None
        if nbk is not None:
            graded = {c.name for c in nbk.grade_cells if c.cell_type == "code"}
            for src in nbk.source_cells:
                if src.name in graded and src.locked:
                    out[src.name] = src.source
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
    partial_credit = Bool(True, help="A test cell earns its points in proportion to the hidden "
                                     "cases passed (False: all or nothing)").tag(config=True)

    def _limits(self):
        return dict(sandbox.Limits(wall_s=self.wall_s, cell_timeout_s=self.cell_timeout,
                                   case_timeout_s=self.case_timeout,
                                   memory_mb=self.memory_mb, cpus=self.cpus,
                                   sandbox_memory_mb=self.sandbox_memory_mb).__dict__)

    def _context(self, info):
        """What the trusted side needs besides the notebook: the course's secret salt of the hidden
        inputs, and the release's own test cells (grade id -> source, from the gradebook)."""
        from nbgrader.coursedir import CourseDirectory

        from . import cases
        coursedir = CourseDirectory(config=self.config)
        ctx = {"secret": cases.course_secret(coursedir.root).hex(), "trusted": None,
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

    def preprocess(self, nb, resources):
        sandbox.check_available()  # raises SandboxUnavailable: nbgrader stops this notebook
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
        if result.get("sandbox_stderr"):
            self.log.debug("sandbox said: %s", result["sandbox_stderr"])
        return nb, resources

    # -- parallel prefetch ---------------------------------------------------------------
    def _workers(self):
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
                for pp in pps:
                    nb, res = pp(config=converter.config).preprocess(nb, res)
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
                self.log.info("grading the other notebooks in parallel (%d workers, sandboxed)",
                              self._workers())
            fut = self._pool().submit(grade_job, nb_json, sub_dir, limits, ctx)
            fut.add_done_callback(lambda f, label=label: self._progress(label))
            with _Pool.lock:
                _Pool.futures.setdefault(key, []).append(fut)
            n += 1
        if n:
            self.log.info("%d notebooks queued for sandboxed grading", n)

    def _progress(self, label):
        with _Pool.lock:
            _Pool.done += 1
            done, total = _Pool.done, _Pool.total
            elapsed = time.monotonic() - _Pool.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else 0.0
        self.log.info("graded %d of %d notebooks in the sandbox (%.1f/s, ETA %d:%02d): %s",
                      done, total, rate, int(eta) // 60, int(eta) % 60, label)
