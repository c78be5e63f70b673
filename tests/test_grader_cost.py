"""The grader's own cost per notebook (issue 17) comes down without changing what it writes.

- OverwriteCellsFast and OverwriteKernelspecFast must change a submission exactly as nbgrader's
  OverwriteCells and OverwriteKernelspec do, with the same warnings, on honest and tampered
  copies of a release, while reading the gradebook once per run, not once per notebook;
- SaveAutoGradesFast must write the same grade and comment rows as SaveAutoGrades (manual
  grades kept, needs_manual_grade as stock), in one commit per notebook;
- with shared engines, nbgrader's schema and course checks run for an engine's first Gradebook
  only (a new course id gets its row), closing keeps the pooled connection, and a replaced
  database file is checked (and filled with tables) again;
- judge._load_npy's known-header path must return what np.load returns, refuse what it
  refuses, and never unpickle.
"""
import base64
import copy
import io
import logging
import shutil

import nbformat
import numpy as np
import pytest
from nbconvert.exporters import NotebookExporter
from nbgrader.api import Gradebook
from nbgrader.preprocessors import OverwriteCells, OverwriteKernelspec, SaveAutoGrades
from traitlets.config import Configurable

import grading.nbgrader_plugins as plugins
from assignments_helpers import NOTEBOOKS, make_course, nbgrader, reference_submission
from grading import judge
from grading.nbgrader_plugins import (OverwriteCellsFast, OverwriteKernelspecFast,
                                      SaveAutoGradesFast, share_gradebook_engines)

ASSIGNMENT = "pooling"
NOTEBOOK = NOTEBOOKS[ASSIGNMENT]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course whose gradebook knows the release of ASSIGNMENT."""
    course = make_course(tmp_path_factory.mktemp("cost"))
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    return course


def _outcome(pp_class, nb, db_url, run=None):
    """_run's (notebook, warnings), or the error it raised."""
    try:
        return _run(pp_class, nb, db_url, run)
    except Exception as exc:  # noqa: BLE001 -- the error is what is compared
        return type(exc).__name__, str(exc)


def _run(pp_class, nb, db_url, run=None):
    """(notebook, warnings) after pp_class's preprocess; `run` is the converter of one autograde
    run (nbgrader's preprocessors have the exporter as parent and the converter as its parent)."""
    exporter = NotebookExporter(parent=run) if run is not None else None
    pp = pp_class(parent=exporter)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    pp.log = logging.getLogger(f"test-cost-{id(pp)}")
    pp.log.addHandler(handler)
    pp.log.propagate = False
    resources = {"nbgrader": {"notebook": NOTEBOOK, "assignment": ASSIGNMENT, "db_url": db_url,
                              "student": "alice"}}
    out, _ = pp.preprocess(copy.deepcopy(nb), resources)
    return out, [r.getMessage() for r in records if r.levelno >= logging.WARNING]


def _graded(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]


def _tampered(course):
    """(what, notebook) pairs: an honest submission and copies changed the ways OverwriteCells
    checks (locked source, points, cell type, an unknown grade id)."""
    nb = reference_submission(ASSIGNMENT, course)
    yield "honest", nb
    tests = [c for c in _graded(nb) if c.metadata.nbgrader.get("grade")]
    answers = [c for c in _graded(nb) if c.metadata.nbgrader.get("solution")]

    def edit(fn):
        bad = copy.deepcopy(nb)
        fn([c for c in _graded(bad) if c.metadata.nbgrader.get("grade")],
           [c for c in _graded(bad) if c.metadata.nbgrader.get("solution")])
        return bad

    assert tests and answers
    yield "test source", edit(lambda t, a: setattr(t[0], "source", "assert True"))
    yield "points", edit(lambda t, a: t[-1].metadata.nbgrader.update(points=99))
    yield "unknown id", edit(lambda t, a: t[0].metadata.nbgrader.update(grade_id="forged"))
    yield "markdown test", edit(lambda t, a: t[0].update(cell_type="markdown"))
    yield "graded answer", edit(lambda t, a: a[0].metadata.nbgrader.update(grade=True, points=5))


def test_overwrite_cells_fast_changes_what_stock_changes(course):
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    run = Configurable()
    share_gradebook_engines()
    warned = {}
    try:
        for what, nb in _tampered(course):
            want = _outcome(OverwriteCells, nb, db_url)
            assert _outcome(OverwriteCellsFast, nb, db_url, run) == want, what
            assert _outcome(OverwriteCellsFast, nb, db_url) == want, what  # no run: stock's
            warned[what] = want[1]
    finally:
        share_gradebook_engines(False)
    # an answer cell claiming points stops stock nbgrader with this error; ours too
    assert warned.pop("graded answer").startswith("No such grade cell: pooling/pooling/")
    # the release's test cells lack their hidden tests, so even "honest" warns (RestoreCells
    # refills them quietly in the course's pipeline); each tamper changes what is warned
    honest = warned.pop("honest")
    assert len(honest) == 6 and all(w != honest for w in warned.values())


def test_overwrite_kernelspec_fast_sets_what_stock_sets(course):
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    nb = reference_submission(ASSIGNMENT, course)
    nb.metadata["kernelspec"] = {"name": "evil", "display_name": "Evil", "language": "python"}
    want, _ = _run(OverwriteKernelspec, nb, db_url)
    assert want.metadata.kernelspec.name != "evil"
    assert _run(OverwriteKernelspecFast, nb, db_url, Configurable())[0] == want


def test_the_release_is_read_once_per_run(course, monkeypatch):
    """Ten notebooks of one run: one gradebook read for both preprocessors (stock: one per
    notebook and preprocessor, plus a query per graded cell)."""
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    opened = []

    class Counting(Gradebook):
        def __init__(self, *args, **kw):
            opened.append(args)
            super().__init__(*args, **kw)

    monkeypatch.setattr(plugins, "Gradebook", Counting)
    nb, run = reference_submission(ASSIGNMENT, course), Configurable()
    for _ in range(10):
        _run(OverwriteCellsFast, nb, db_url, run)
        _run(OverwriteKernelspecFast, nb, db_url, run)
    assert len(opened) == 1
    _run(OverwriteCellsFast, nb, db_url, Configurable())  # a new run reads it again
    assert len(opened) == 2


def _graded_submission(course):
    """The reference submission as if executed: the first test cell failed (an error), the second
    scored 0.5 through an execute_result, the others passed; one answer left as released."""
    nb = reference_submission(ASSIGNMENT, course)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    tests = [c for c in _graded(nb) if c.metadata.nbgrader.get("grade")]
    for cell in tests:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="passed\n")]
    tests[0].outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="no",
                                               traceback=[])]
    tests[1].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "0.5"},
                                               execution_count=None)]
    blank = next(c for c in _graded(release) if c.metadata.nbgrader.get("solution"))
    idx = next(i for i, c in enumerate(nb.cells)
               if c.metadata.get("nbgrader", {}).get("grade_id") ==
               blank.metadata.nbgrader.grade_id)
    nb.cells[idx] = copy.deepcopy(blank)
    return nb, tests


def _rows(db_url):
    """Every grade and comment of alice's notebook, by cell name."""
    with Gradebook(db_url) as gb:
        sub = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "alice")
        grades = sorted((g.name, g.auto_score, g.manual_score, g.needs_manual_grade)
                        for g in sub.grades)
        comments = sorted((c.name, c.auto_comment, c.manual_comment) for c in sub.comments)
    return grades, comments


def test_save_autogrades_fast_writes_the_same_rows(course, tmp_path):
    import sqlalchemy as sa
    nb, tests = _graded_submission(course)
    got = {}
    for pp_class in (SaveAutoGrades, SaveAutoGradesFast):
        db = tmp_path / f"{pp_class.__name__}.db"
        shutil.copy(course / "gradebook.db", db)
        url = f"sqlite:///{db}"
        with Gradebook(url) as gb:
            gb.add_student("alice")
            gb.update_or_create_submission(ASSIGNMENT, "alice")
            # a grader's manual score on one cell: the autograder must flag it for review
            grade = gb.find_grade(tests[2].metadata.nbgrader.grade_id, NOTEBOOK, ASSIGNMENT,
                                  "alice")
            grade.manual_score = 1.0
            gb.db.commit()
        commits = []
        share_gradebook_engines()  # one engine, so the commits can be counted on it
        try:
            with Gradebook(url) as gb:
                sa.event.listen(gb.engine, "commit", commits.append)
            _run(pp_class, nb, url)
        finally:
            share_gradebook_engines(False)
        got[pp_class] = (_rows(url), len(commits))
    (grades, comments), stock_commits = got[SaveAutoGrades]
    assert got[SaveAutoGradesFast][0] == (grades, comments)
    scored = {name: auto for name, auto, _, _ in grades}
    assert scored[tests[0].metadata.nbgrader.grade_id] == 0
    assert scored[tests[1].metadata.nbgrader.grade_id] == 0.5
    assert any(c[1] == "No response." for c in comments)  # the blank answer
    assert any(g[3] for g in grades)                       # the manual score's review flag
    # no submission in the gradebook: the same error as stock
    from nbgrader.api import MissingEntry
    errors = []
    for pp_class in (SaveAutoGrades, SaveAutoGradesFast):
        with pytest.raises(MissingEntry, match="No such") as exc:
            _run(pp_class, nb, f"sqlite:///{course / 'gradebook.db'}")
        errors.append(str(exc.value))
    assert errors[0] == errors[1]
    # stock commits once per graded or answer cell, ours once (the course check ran before)
    assert stock_commits > 4 and got[SaveAutoGradesFast][1] == 1


def test_the_schema_is_checked_once_per_engine(tmp_path, monkeypatch):
    import nbgrader.api as api
    checks, courses = [], []
    stock_schema, stock_course = api.Base.metadata.create_all, api.Gradebook.check_course
    monkeypatch.setattr(api.Base.metadata, "create_all",
                        lambda *a, **kw: checks.append(1) or stock_schema(*a, **kw))
    monkeypatch.setattr(api.Gradebook, "check_course",
                        lambda gb, **kw: courses.append(kw) or stock_course(gb, **kw))
    path = tmp_path / "gradebook.db"
    url = f"sqlite:///{path}"
    share_gradebook_engines()
    try:
        for student in ("alice", "bob", "carol"):
            with Gradebook(url) as gb:
                gb.add_student(student)
                engine = gb.engine
        assert len(checks) == 1 and len(courses) == 1
        assert engine.pool.checkedin() == 1  # closing kept the pooled connection
        with Gradebook(url, course_id="other") as gb:  # a new course still gets its row
            assert {c.id for c in gb.db.query(api.Course)} == {"default_course", "other"}
        assert len(checks) == 1 and len(courses) == 2
        path.unlink()  # a new file: its tables and course row are created again
        with Gradebook(url) as gb:
            gb.add_student("dave")
            assert [s.id for s in gb.students] == ["dave"]
            assert [c.id for c in gb.db.query(api.Course)] == ["default_course"]
        assert len(checks) == 2 and len(courses) == 3
    finally:
        share_gradebook_engines(False)
    with Gradebook(url) as gb:  # stock again: every Gradebook checks, and disposes on close
        engine = gb.engine
    assert len(checks) == 3 and len(courses) == 4 and engine.pool.checkedin() == 0


def _npy(arr, extra=b""):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return base64.b64encode(buf.getvalue() + extra).decode()


ARRAYS = [np.arange(12.0).reshape(3, 4), np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)),
          np.array(2.5), np.zeros((2, 0)), np.arange(6, dtype=">f4").reshape(2, 3),
          np.ones(5, dtype=np.float16), np.arange(4, dtype=np.int64),
          np.array([1 + 2j]), np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])]


@pytest.mark.parametrize("arr", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_known_npy_headers_load_as_np_load_does(arr, monkeypatch):
    monkeypatch.setattr(judge, "_LAYOUTS", {})
    for extra in (b"", b"trailing bytes"):
        first, err = judge._load_npy(_npy(arr, extra), 1 << 20)  # np.load reads it
        again, err2 = judge._load_npy(_npy(arr, extra), 1 << 20)  # the header is known now
        assert err is None and err2 is None
        for got in (first, again):
            assert type(got) is np.ndarray and got.dtype == arr.dtype
            assert got.shape == arr.shape and got.tobytes("A") == arr.tobytes("A")
            assert got.flags.c_contiguous == arr.flags.c_contiguous
            assert got.flags.writeable
    assert len(judge._LAYOUTS) == 1


def test_a_known_header_with_short_or_pickled_data_is_refused(monkeypatch):
    monkeypatch.setattr(judge, "_LAYOUTS", {})
    good = base64.b64decode(_npy(np.arange(100.0)))
    assert judge._load_npy(base64.b64encode(good).decode(), 1 << 20)[1] is None
    short = base64.b64encode(good[:-8]).decode()
    arr, err = judge._load_npy(short, 1 << 20)
    assert arr is None and "could not be read" in err
    pickled = _npy(np.array([{"x": 1}], dtype=object))
    for _ in range(2):
        arr, err = judge._load_npy(pickled, 1 << 20)
        assert arr is None and "could not be read" in err
    assert len(judge._LAYOUTS) == 1  # the object array's header was never learnt


def test_distinct_models_name_the_same_causes():
    """Every catalogued mistake's output (and the right answer, and zeros) on the cases of
    tests/test_certain_hints.py: judged with the case's mistake models kept once without those
    that compute the right answer, the verdict and its lines are the ones the full list gives."""
    from cs231n_lib import explain
    from grading.cases import build, expected
    from test_certain_hints import PARAMS, CASES
    dropped = compared = 0
    for name, i in PARAMS:
        case = CASES[name][i]
        inputs = build(name, case)
        want = expected(name, case, inputs)
        full = list(explain.mistake_models(name, case, inputs, want))
        distinct = explain.distinct_models(case, want, full)
        assert isinstance(distinct, explain.DistinctModels)
        dropped += len(full) - len(distinct)
        answers = [m[2] for m in full] + [want, {k: np.zeros_like(v) for k, v in want.items()}]
        for answer in answers:
            outputs = {k: (want[k] if v is None else v) for k, v in
                       {k: answer.get(k, want[k]) for k in want}.items()}
            got = explain.judge(name, case, inputs, outputs, want=want, models=lambda: distinct)
            assert got == explain.judge(name, case, inputs, outputs, want=want,
                                        models=lambda: full), (name, i)
            compared += 1
    assert dropped > 0 and compared > 100  # some models do compute the right answer somewhere


def test_the_exporter_writes_the_same_bytes_and_still_refuses_invalid_notebooks(course):
    """ValidatedOnceExporter (no second validation when writing) against nbconvert's own."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import ClearOutput
    from traitlets.config import Config

    from grading.nbgrader_plugins import ValidatedOnceExporter
    config = Config({"NotebookExporter": {"optimistic_validation": True}})
    nb = reference_submission(ASSIGNMENT, course)
    bad = copy.deepcopy(nb)
    bad.cells[0]["source"] = 5  # neither a string nor a list of strings
    written = []
    for cls in (NotebookExporter, ValidatedOnceExporter):
        exporter = cls(config=config)
        for pp in (ClearOutput, ClearMetadataPreprocessor):
            exporter.register_preprocessor(pp, enabled=True)
        out, resources = exporter.from_notebook_node(copy.deepcopy(nb))
        written.append((out, resources["output_suffix"]))
        with pytest.raises(nbformat.ValidationError):
            exporter.from_notebook_node(copy.deepcopy(bad))
    assert written[0] == written[1] and "pooling" in written[0][0]
