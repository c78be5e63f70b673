"""Grading support for the course's nbgrader assignments (instructor only; never released).

- ``grading.checks.check(name, cases)``: the single call in every hidden test cell.
- ``grading.cases``: hidden cases as plain data: build inputs, invoke the student, judge.
- ``grading.reference``: independent reference layers with switchable common mistakes.
- ``grading.nbgrader_plugins``: nbgrader preprocessors wired in by ../nbgrader_config.py
  (restore deleted or stripped test cells, keep hidden tests out of feedback, progress lines).

nbgrader_config.py puts the repository root on the kernel's PYTHONPATH, so ``import grading``
works while autograding; students never receive this folder.
"""
from .checks import GradingFailure, check

__all__ = ["check", "GradingFailure"]
