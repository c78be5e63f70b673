"""Grading on a Dask cluster: the sandboxes run on the cluster's workers, the judge stays here.

Switched on by `c.SandboxedExecute.dask_scheduler = "tcp://host:8786"` (../nbgrader_config.py,
docs/DEPLOYMENT.md). nbgrader, the gradebook and the trusted judge stay on the machine that runs
`nbgrader autograde`; a worker gets one payload per notebook (grading.secure_grading.job_payload):
the cells to run, the student's own files as bytes, the graded calls' inputs as a byte stream for
the sandbox's stdin, and the limits. It writes the job into a private 0700 folder, runs the
sandbox there, removes the folder and sends back the raw result lines: plain data, judged here.
So a worker needs no shared file system, never sees the course's secret or the expected values,
and writes the hidden inputs nowhere (they go from its memory to the sandbox's stdin).

A worker must be able to run the sandbox: `Cluster` asks every worker when it connects and
retires, with a message, each one that cannot (grading never runs unsandboxed); a worker started
with `--preload grading.distributed` refuses to start at all without it (`dask_setup`). Dask
itself re-runs the jobs of a worker that dies on the others; each job is pure (same payload, same
result) and nbgrader takes one result per notebook, so a re-run job is never graded twice.

Workers should run with `--memory-limit 0`: no memory limit, hence no spilling of task data to
the worker's disk (a payload holds the hidden inputs).
"""
import logging
import os
import socket

from . import sandbox

log = logging.getLogger(__name__)


def sandbox_status():
    """On a worker: None if the grading sandbox runs here, else the reason it does not."""
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        return f"{socket.gethostname()}: {exc}"
    return None


def dask_setup(worker):
    """`dask worker --preload grading.distributed`: a worker without the sandbox never starts.
    (Dask only logs a preload's exception and starts the worker anyway: so we exit.)"""
    reason = sandbox_status()
    if reason:
        log.critical("this Dask worker refuses to grade, so it stops before joining the "
                     "cluster: %s", reason)
        for h in logging.getLogger().handlers + logging.getLogger("distributed").handlers:
            h.flush()
        os._exit(3)


def remote_run(payload):
    """The task a worker runs: one sandboxed job (grading.secure_grading.run_payload)."""
    from .secure_grading import run_payload
    return run_payload(payload)


class Cluster:
    """A connection to a Dask scheduler whose workers run the sandboxes of one autograde run."""

    def __init__(self, address, connect_timeout=30.0, logger=None):
        from distributed import Client
        self.log = logger or log
        self.address = address
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise sandbox.SandboxUnavailable(
                f"the Dask scheduler at {address} cannot be reached ({exc}); start it "
                f"(docs/DEPLOYMENT.md) or leave SandboxedExecute.dask_scheduler empty to grade "
                f"on this machine. Nothing was graded.") from exc
        self.vet()

    def vet(self):
        """Ask every worker whether it can run the sandbox; retire those that cannot."""
        status = self.client.run(sandbox_status)
        bad = {w: why for w, why in status.items() if why}
        for w, why in sorted(bad.items()):
            self.log.error("Dask worker %s refused: it cannot run the grading sandbox, so it "
                           "gets no notebooks (retired from the cluster). %s", w, why)
        if bad:
            self.client.retire_workers(list(bad), close_workers=True)
        good = sorted(set(status) - set(bad))
        if not good:
            raise sandbox.SandboxUnavailable(
                f"no Dask worker at {self.address} can run the grading sandbox"
                + (f" ({len(bad)} refused, see above)" if bad else " (no workers connected)")
                + ". Nothing was graded.")
        self.workers = good
        return good

    def nthreads(self):
        threads = self.client.nthreads()
        return sum(threads.get(w, 0) for w in self.workers) or 1

    def run(self, payload, retries=2):
        """Run one payload on a worker and wait for its raw result.

        A worker that dies is handled by Dask (its jobs move to the other workers). A worker
        that cannot sandbox any more (it lost bubblewrap since it was asked) raises
        SandboxUnavailable: the workers are asked again, those that cannot are retired and the
        job goes elsewhere, at most `retries` times.
        """
        for attempt in range(retries + 1):
            fut = self.client.submit(remote_run, payload, pure=False)
            try:
                return fut.result()
            except sandbox.SandboxUnavailable as exc:
                self.log.error("a Dask worker refused a job: %s", exc)
                if attempt == retries:
                    raise
                self.vet()
            finally:
                fut.release()

    def close(self):
        self.client.close()


_CLUSTERS = {}


def cluster(address, logger=None):
    """One Cluster per scheduler address in this process (nbgrader makes a preprocessor per
    notebook)."""
    c = _CLUSTERS.get(address)
    if c is None:
        c = _CLUSTERS[address] = Cluster(address, logger=logger)
    return c



# ----------------------------------------------------------------------------- the gradebook
def gradebook_unreachable(db_url, timeout=10):
    """None if the gradebook's database answers, else a message saying which one and what to do.
    Only server databases are asked (a SQLite file is opened by nbgrader itself)."""
    import sqlalchemy
    url = sqlalchemy.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        return None
    args = {"connect_timeout": int(timeout)} if url.get_backend_name() == "postgresql" else {}
    engine = sqlalchemy.create_engine(url, connect_args=args, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.DBAPIError as exc:
        cause = str(getattr(exc, "orig", exc)).strip().replace("\n", " ")
        return (f"cannot reach the gradebook at {url.render_as_string(hide_password=True)}: "
                f"{cause[:300]}. Is the database server running and reachable from here? "
                f"Notebooks graded before it went away are saved; run the same command again "
                f"once it is back (without --force it grades only the rest).")
    finally:
        engine.dispose()
    return None


def explain_gradebook_outages():
    """Every nbgrader converter (autograde, feedback, ...) first checks that the gradebook's
    database answers and stops with a clear message if not; when a run fails because it went
    away, the same message follows nbgrader's own (which suggests `nbgrader db upgrade`)."""
    from nbgrader.converters.base import BaseConverter, NbGraderException
    if getattr(BaseConverter.convert_notebooks, "checks_gradebook", False):
        return
    original = BaseConverter.convert_notebooks

    def convert_notebooks(self):
        why = gradebook_unreachable(self.coursedir.db_url)
        if why:
            self.log.error(why)
            raise NbGraderException(why)
        try:
            return original(self)
        except NbGraderException:
            why = gradebook_unreachable(self.coursedir.db_url)
            if why:
                self.log.error(why)
            raise

    convert_notebooks.checks_gradebook = True
    BaseConverter.convert_notebooks = convert_notebooks
