"""Grading for the course's nbgrader assignments (instructor only; never in the student edition).

The pipeline, in the order a submission meets it (nbgrader_config.py switches each part on):

- ``safe_collect``: the doors in. ``SafeExchangeCollect`` (nbgrader collect: no link followed,
  the owner uid must be the student, the time from ctime) and ``SafeZipExtractor`` /
  ``SafeFileNameCollector`` (nbgrader zip_collect: top-level entries only, plain student ids).
- ``nbgrader_plugins``: sanitising before grading: ``RestoreCells`` (deleted or stripped test
  cells put back), ``ForeignCells`` (cells claiming metadata the release lacks become ordinary
  code), ``ProgressLog``, ``CheckCellMetadataFast``; ``HideHiddenTests`` for feedback;
  ``share_gradebook_engines()``; nbgrader's own steps at less cost per notebook, same results:
  ``OverwriteCellsFast``, ``OverwriteKernelspecFast``, ``SaveAutoGradesFast`` and the
  ``ValidatedOnceExporter``.
- ``secure_grading``: ``SandboxedExecute``, nbgrader's execute step: builds a job per notebook,
  fans the class out on an executor, writes back what the judge decided.
  - ``judge`` (trusted): hidden tests read as data from the release's own test cells, the
    inputs as a stream, every returned value judged case by case in isolation.
  - ``cases`` (trusted): each hidden case's inputs built from salted seeds (the course secret
    in ``.grading/secret``); the reference, the certain likely causes and the report come from
    the public library (``cs231n_lib.explain`` and ``cs231n_lib.mistakes``), which the students'
    practice check (``cs231n_lib.practice``) uses too, so both explain a failure the same way.
  - ``scoring``: ``cell_score``: a test cell's points from its hidden cases passed (partial
    credit, ``SandboxedExecute.partial_credit``).
  - ``sandbox``: bubblewrap + prlimit + setpriv around the worker; private job folders, the
    inputs sent after the last cell, every process of the run killed at its end.
  - ``cgroups``: a cgroup per run (one core, 2 GB, a process cap), v2 or v1.
  - ``sandbox_worker`` (runs inside, untrusted): the cells in forked children, a paused holder per
    test cell, the graded calls once the inputs arrive.
  - ``sandbox_tripwire`` (inside): stand-ins for library implementations a graded function
    must not call.
- ``distributed``: scaling out (``SandboxedExecute.dask_scheduler``): each job's sandbox on a
  Dask worker from a plain-data payload, the judge and the secret stay with nbgrader; workers
  that cannot sandbox are refused; a gradebook database that is down is reported as such.
- ``html_safety``: ``SanitizeHTML`` after execution and in feedback: nothing a student wrote runs
  in the formgrader's or a feedback page's browser.
- ``store``: the verdict store: every hidden case's verdict, likely cause and returned arrays, in
  tables of our own in the gradebook's database (written by ``SandboxedExecute``).
- ``report``, ``regrade`` (``python -m grading report|regrade``): class analytics and shared
  answers; re-judging the kept answers after a reference, tolerance or points change
  (``scoring.cell_score``), no student code run.
- ``late``: the late policy and per-student extensions (``python -m grading.late``).
- ``checks``: ``check(name, cases)``, the one call of every hidden test, run in-process when the
  instructor validates the source notebooks.

docs/SECURITY.md lists every door with its guard and its test.
"""
from .checks import GradingFailure, check

__all__ = ["check", "GradingFailure"]
