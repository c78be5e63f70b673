"""nbgrader configuration: this repository is the course directory.

Run every instructor command from the repository root (the README's Grading section walks through them):
solutions/<assignment>/ is nbgrader's source (reference solutions and hidden tests; instructor
only), assignments/<assignment>/ its release (generated, committed, what students get);
submitted/, autograded/, feedback/, downloaded/ and gradebook.db are student data and stay out
of git.
"""
import os
import sys

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, Execute, GetGrades, IgnorePattern,
                                    LimitOutput, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)

c = get_config()  # noqa: F821 -- provided by traitlets when it runs this file

ROOT = os.path.dirname(os.path.abspath(__file__))

# The hidden tests call `grading.check(...)`: put the repository root on the kernel's import path
# (kernels inherit nbgrader's environment). Students never get grading/.
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != ROOT]
os.environ["PYTHONPATH"] = os.pathsep.join([ROOT] + _paths)
if ROOT not in sys.path:  # and on nbgrader's own, for the preprocessors below
    sys.path.insert(0, ROOT)

from grading.nbgrader_plugins import (CheckCellMetadataFast, ForeignCells,  # noqa: E402
                                      HideHiddenTests, OverwriteCellsFast,
                                      OverwriteKernelspecFast, ProgressLog, RestoreCells,
                                      SaveAutoGradesFast, ValidatedOnceExporter,
                                      share_gradebook_engines)
from grading.secure_grading import SandboxedExecute  # noqa: E402
from grading.distributed import explain_gradebook_outages  # noqa: E402
from grading.html_safety import SanitizeHTML  # noqa: E402

# --- the course directory ----------------------------------------------------------------------
c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "convnets-from-scratch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# --- executing notebooks (validate, autograde) ----------------------------------------------
c.Execute.timeout = 120  # seconds per cell: a slow but correct loop solution still finishes
# The kernel runs in the student's folder; a grading/ submitted there must never shadow ours
# (tests/test_assignments_grading.py tries). Put the repository first before any cell runs.
c.Execute.extra_arguments = [f"--IPKernelApp.exec_lines=import sys; sys.path.insert(0, {ROOT!r})"]
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# --- the gradebook ------------------------------------------------------------------------------
# Stock nbgrader opens a new database engine for every Gradebook, about ten per graded notebook,
# and recompiles every query each time; one engine per database URL halves the cost of opening one
# (grading/nbgrader_plugins.py). The formgrader and every other nbgrader command share it too.
share_gradebook_engines()

# --- autograde ---------------------------------------------------------------------------------
# RestoreCells puts back test cells a student deleted or stripped of metadata (graded, not left
# for manual grading) before OverwriteCells restores their source and hidden tests; ForeignCells
# turns cells that claim nbgrader metadata the release does not have into ordinary code.
c.Autograde.sanitize_preprocessors = [ProgressLog, ClearOutput, DeduplicateIds,
                                      OverwriteKernelspecFast, RestoreCells, OverwriteCellsFast,
                                      ForeignCells, CheckCellMetadataFast]
# nbgrader gives a test cell zero points if it wrote *anything* to stderr, e.g. a harmless
# warning from a correct solution. Failures here are exceptions, so stderr never decides a grade.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"  # any stderr text
# Student code is untrusted: SandboxedExecute (grading/secure_grading.py, docs/SECURITY.md) runs
# it in a bubblewrap sandbox (no network, no course files, unprivileged, rlimits), decides every
# hidden test in this trusted process from plain data, and grades the class in parallel. It stops
# with a message when the sandbox cannot be set up; it never falls back to nbgrader's Execute.
# SanitizeHTML (grading/html_safety.py): the autograded notebook holds no HTML, image or metadata
# that could run in the formgrader's or a feedback page's browser (nbgrader's templates render
# markdown unsanitised); also first in feedback, for notebooks autograded before it existed.
c.Autograde.autograde_preprocessors = [SandboxedExecute, SanitizeHTML, IgnorePattern,
                                       ClearMetadataPreprocessor, LimitOutput, SaveAutoGradesFast,
                                       AssignLatePenalties, CheckCellMetadataFast]
# A graded function that runs out of time in one call is not run again (docs/SECURITY.md), so one
# endless loop costs one call's limit (20 s), or at worst one cell's. Correct loop code needs < 5 s.
c.SandboxedExecute.cell_timeout = 40   # seconds per cell
c.SandboxedExecute.wall_s = 600        # seconds per notebook
c.SandboxedExecute.case_timeout = 20   # seconds per graded call of one hidden case
c.SandboxedExecute.cpus = 1.0          # cores per sandbox (cgroup): a notebook cannot slow others
c.SandboxedExecute.sandbox_memory_mb = 2048  # memory of a whole sandbox (cgroup)
c.SandboxedExecute.executor = "threads"  # or "module:factory" returning any concurrent.futures
#                                          Executor, e.g. a Dask distributed Client's executor

# --- the grader's own cost per notebook (issue 17) ----------------------------------------------
# The ...Fast preprocessors above are nbgrader's own, reading the release from the gradebook once
# per run and saving a notebook's grades in one commit (grading/nbgrader_plugins.py; the same
# rows). nbconvert validates the whole notebook against nbformat's schema after every one of the
# ~16 preprocessors; once, after the last of each pass, is enough: an invalid notebook still
# stops before it is written.
c.NotebookExporter.optimistic_validation = True
c.Autograde.exporter_class = ValidatedOnceExporter  # ...and does not validate it again to write it

# --- scaling out (docs/DEPLOYMENT.md) ----------------------------------------------------------
# The sandboxes on a Dask cluster's workers (grading/distributed.py; the judge and the secret stay
# here) and the gradebook on PostgreSQL, from two environment variables of `nbgrader autograde`:
#   GRADING_DASK_SCHEDULER=tcp://scheduler:8786      (unset: every sandbox on this machine)
#   GRADING_DB_URL=postgresql+psycopg://grader@dbhost:5432/course   (unset: gradebook.db, SQLite)
# or set c.SandboxedExecute.dask_scheduler and c.CourseDirectory.db_url here instead.
if os.environ.get("GRADING_DASK_SCHEDULER"):
    c.SandboxedExecute.dask_scheduler = os.environ["GRADING_DASK_SCHEDULER"]
if os.environ.get("GRADING_DB_URL"):
    c.CourseDirectory.db_url = os.environ["GRADING_DB_URL"]
# A database server that is down is reported as such (nbgrader's own message suggests `nbgrader
# db upgrade`), before anything is graded.
explain_gradebook_outages()

# --- partial credit (grading/scoring.py) -------------------------------------------------------
# A test cell with k of its n hidden cases passed scores points * k / n (2 decimals); the feedback
# says "k of n hidden cases passed: s of p points". False: a cell is all or nothing.
c.SandboxedExecute.partial_credit = True

# --- warm sandboxes (grading/sandbox.py, Zygote) -----------------------------------------------
# Each grading slot keeps one warm sandbox whose zygote imported NumPy and IPython once; every
# notebook is forked from it into fresh mount, IPC and PID namespaces with empty /tmp and home,
# no capabilities, its own rlimits. Where the kernel refuses (no user namespaces), grading logs
# it and starts a cold sandbox per notebook instead. False: always cold.
c.SandboxedExecute.warm_sandboxes = True

# --- late work (grading/late.py) ---------------------------------------------------------------
# Per started day late, percent_per_day of the notebook's score is deducted, at most max_percent;
# lateness is the collected timestamp minus the due date (`nbgrader db assignment add conv
# --duedate=...`). Extensions: `python -m grading.late extend alice conv --days 2`.
c.AssignLatePenalties.plugin_class = "grading.late.LatePenalty"
c.LatePenalty.percent_per_day = 10
c.LatePenalty.max_percent = 50
c.LatePenalty.grace_minutes = 0

# --- feedback ----------------------------------------------------------------------------------
# Stock feedback prints hidden-test source; HideHiddenTests removes it and any output quoting it.
c.GenerateFeedback.preprocessors = [SanitizeHTML, GetGrades, HideHiddenTests,
                                    CSSHTMLHeaderPreprocessor]

# --- exchange (JupyterHub or one shared machine) -----------------------------------------------
# Default /srv/nbgrader/exchange; override per course with --Exchange.root=DIR or here.
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")

# --- LMS downloads: nbgrader zip_collect --------------------------------------------------------
# Put the LMS's zip (or loose files) in downloaded/<assignment>/archive/. File names must start
# with the student id and end with the notebook name, e.g. Canvas's
# "alice_12345_67890_conv.ipynb" or "alice_conv-1.ipynb" (a resubmission suffix is ignored).
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.zipcollect.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = (
    r"^(?:.*[\\/])?(?P<student_id>[^_\\/]+)_(?:[^\\/]*_)?(?P<file_id>[A-Za-z0-9]+)(?:-\d+)?\.ipynb$"
)

# --- collecting safely (grading/safe_collect.py, docs/SECURITY.md "Collecting") -----------------
# Submissions are the students' files: collect copies without following links, files a
# submission only under the student whose account owns it, and records the newest ctime in the
# exchange as its time (not the student's timestamp.txt). Where student ids are not Unix account
# names, map them: c.SafeExchangeCollect.student_uids = {"alice": 1001} (or student_uids_csv).
# zip_collect reads the LMS's zip itself: no archive inside it is unpacked, no traversal names,
# no links, one file per student and notebook (the latest resubmission).
c.ExchangeFactory.collect = "grading.safe_collect.SafeExchangeCollect"
c.ZipCollectApp.extractor_plugin = "grading.safe_collect.SafeZipExtractor"
# SafeFileNameCollector is FileNameCollectorPlugin (its named_regexp above) refusing ids like "..".
c.ZipCollectApp.collector_plugin = "grading.safe_collect.SafeFileNameCollector"
