"""The two bookkeeping speed-ups in grading/nbgrader_plugins.py keep nbgrader's behaviour.

- CheckCellMetadataFast must accept and reject exactly what stock CheckCellMetadata does, with the
  same error, on the course's own notebooks and on corrupted copies of them;
- share_gradebook_engines() must hand every Gradebook of one database the same engine, give a
  replaced SQLite file a new one (no write may land in a deleted file), and switch off again.
"""
import copy
import logging
import os

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import CheckCellMetadata

from assignments_helpers import NOTEBOOKS, ROOT
from grading.nbgrader_plugins import (CheckCellMetadataFast, _FastMetadataValidator,
                                      share_gradebook_engines)


def _graded(nb):
    return [c for c in nb.cells if "nbgrader" in c.metadata]


def _corruptions(nb):
    """(what, corrupted copy) pairs, each breaking the metadata in one way nbgrader checks."""
    def edit(fn):
        bad = copy.deepcopy(nb)
        fn(_graded(bad))
        return bad

    tests = lambda cells: [c for c in cells if c.metadata.nbgrader.get("grade")]  # noqa: E731
    yield "points not a number", edit(lambda cs: tests(cs)[0].metadata.nbgrader.update(points="ten"))
    yield "grade not a boolean", edit(lambda cs: cs[0].metadata.nbgrader.update(grade=1))
    yield "old schema", edit(lambda cs: cs[0].metadata.nbgrader.update(schema_version=2))
    yield "new schema", edit(lambda cs: cs[0].metadata.nbgrader.update(schema_version=4))
    yield "no grade_id", edit(lambda cs: tests(cs)[0].metadata.nbgrader.pop("grade_id"))
    yield "empty grade_id", edit(lambda cs: tests(cs)[0].metadata.nbgrader.update(grade_id=""))
    yield "no points", edit(lambda cs: tests(cs)[0].metadata.nbgrader.pop("points"))
    yield "duplicate id", edit(lambda cs: tests(cs)[1].metadata.nbgrader.update(
        grade_id=tests(cs)[0].metadata.nbgrader["grade_id"]))
    yield "extra key", edit(lambda cs: cs[0].metadata.nbgrader.update(colour="red"))


def _error(check, nb):
    """(exception name, message) that check(copy of nb) raises, or None."""
    try:
        check(copy.deepcopy(nb))
        return None
    except Exception as exc:  # noqa: BLE001 -- the exception is what is compared
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_fast_metadata_check_agrees_with_stock(assignment):
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb",
                       as_version=4)
    stock, fast = CheckCellMetadata(), CheckCellMetadataFast()
    for pp in (stock, fast):
        pp.log = logging.getLogger("quiet")
        pp.log.disabled = True
    assert _error(lambda n: stock.preprocess(n, {}), nb) is None
    assert _error(lambda n: fast.preprocess(n, {}), nb) is None
    rejected = 0
    for what, bad in _corruptions(nb):
        want = _error(lambda n: stock.preprocess(n, {}), bad)
        assert _error(lambda n: fast.preprocess(n, {}), bad) == want, what
        # the underlying reason (which the log shows) is the same error, word for word
        assert (_error(_FastMetadataValidator().validate_nb, bad) ==
                _error(MetadataValidator().validate_nb, bad)), what
        rejected += want is not None
    assert rejected >= 8  # all but "extra key" (stock only warns when upgrading) are errors


@pytest.fixture
def shared():
    share_gradebook_engines()
    yield
    share_gradebook_engines(False)


def test_gradebooks_of_one_database_share_an_engine(tmp_path, shared):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_student("alice")
        first = gb.engine
    with Gradebook(url) as gb, Gradebook(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert gb.engine is first
        assert other.engine is not first
        assert [s.id for s in gb.students] == ["alice"]


def test_a_replaced_gradebook_file_gets_a_new_engine(tmp_path, shared):
    path = tmp_path / "gradebook.db"
    url = f"sqlite:///{path}"
    with Gradebook(url) as gb:
        gb.add_student("alice")
        old = gb.engine
    os.remove(path)
    with Gradebook(url) as gb:
        assert gb.engine is not old
        gb.add_student("bob")
    share_gradebook_engines(False)  # read back with a stock engine: bob is in the file on disk
    with Gradebook(url) as gb:
        assert [s.id for s in gb.students] == ["bob"]


def test_sharing_switches_off(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    share_gradebook_engines()
    share_gradebook_engines(False)
    with Gradebook(url) as a, Gradebook(url) as b:
        assert a.engine is not b.engine
