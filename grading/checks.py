"""The one call a hidden test makes: check(name, cases) (instructor only).

It runs every case (see grading.cases), prints one line when all pass, and otherwise raises
GradingFailure, whose report says which cases failed and why in the student's terms. The report
replaces IPython's traceback (`_render_traceback_`), so the feedback shows no grader source, no
hidden-test source and no expected arrays: only shapes, the largest difference, where it sits,
and the likely cause.
"""
from . import cases as _cases


class GradingFailure(AssertionError):
    """Some hidden cases failed; str() and the rendered traceback are the report."""

    def __init__(self, report):
        super().__init__(report)
        self.report = report

    def _render_traceback_(self):  # IPython shows these lines instead of a traceback
        return ["GradingFailure: " + self.report.splitlines()[0]] + self.report.splitlines()[1:]


def _student_namespace():
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:  # pragma: no cover -- IPython comes with every kernel
        shell = None
    if shell is not None:
        return shell.user_ns
    import __main__
    return vars(__main__)


def check(name, case_list, namespace=None):
    """Run the hidden cases of graded function `name` on the student's code.

    namespace: where the student's functions live (default: the notebook's global namespace).
    Returns None when all pass (a returned value would be read by nbgrader as partial credit);
    raises GradingFailure otherwise.
    """
    funcs = _student_namespace() if namespace is None else namespace
    failures = []
    for i, case in enumerate(case_list, start=1):
        passed, lines = _cases.run_case(name, case, funcs)
        if not passed:
            failures.append((i, case, lines))
    total = len(case_list)
    if not failures:
        print(f"{name}: all {total} hidden cases passed.")
        return None
    raise GradingFailure(_cases.failure_report(name, total, failures))
