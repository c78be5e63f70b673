"""nbgrader preprocessors for this course, switched on in ../nbgrader_config.py (instructor only).

- RestoreCells (autograde, before OverwriteCells): puts back test and read-only cells that a
  student deleted or whose nbgrader metadata was stripped, so they are graded, not left for
  manual grading; and restores hidden tests quietly into untouched cells, so a clean submission
  logs no "checksum has changed" warning (stock nbgrader warns on every hidden-test cell).
- HideHiddenTests (generate_feedback): removes the hidden-test source from the feedback and
  scrubs any output line that quotes it (tracebacks print source lines).
- ForeignCells (autograde, after OverwriteCells): a cell that claims nbgrader metadata the release
  does not have (a grade id unknown to the gradebook, which OverwriteCells strips) becomes an
  ordinary cell, with a warning, instead of failing the whole notebook's metadata check; its
  "hidden tests" are never read and its points never counted.
- ProgressLog (autograde): one log line per notebook, "autograding 3 of 40: ...".
- CheckCellMetadataFast (autograde): nbgrader's CheckCellMetadata with its metadata schema
  compiled once, not checked again for every cell; same checks, same errors.
- share_gradebook_engines(): one SQLAlchemy engine per gradebook URL instead of one per Gradebook,
  with nbgrader's schema and course checks once per engine instead of per Gradebook, and its
  pooled connections kept.
- OverwriteCellsFast, OverwriteKernelspecFast (autograde): nbgrader's OverwriteCells and
  OverwriteKernelspec reading the release's cells and kernelspec from the gradebook once per run
  instead of once per cell and notebook; same changes, same warnings.
- ValidatedOnceExporter (autograde's exporter): nbconvert's NotebookExporter without the second,
  redundant schema validation when it writes the notebook out; the same bytes.
- SaveAutoGradesFast (autograde): nbgrader's SaveAutoGrades finding a notebook's grades and
  comments in one query each and committing once per notebook instead of once per cell; it
  writes the same rows.
"""
import copy
import glob
import json
import os
import re
import threading
import types
import weakref

import nbformat
from nbconvert.exporters import Exporter, NotebookExporter
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, NbGraderPreprocessor,
                                    OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

_DEF = re.compile(r"^def\s+(\w+)\s*\(", re.M)


def _nbg(cell):
    return cell.get("metadata", {}).get("nbgrader")


def _grade_id(cell):
    meta = _nbg(cell)
    return meta.get("grade_id") if meta else None


def _defined(cell):
    return set(_DEF.findall(cell.get("source", ""))) if cell.get("cell_type") == "code" else set()


_RELEASES = {}  # (path, mtime, db_url, assignment, notebook) -> (released graded cells, sources)
_RELEASES_LOCK = threading.Lock()


def _release(path, db_url, assignment, notebook):
    """The release notebook's graded cells and the full source of each from the gradebook.

    Read once per process and release: a run grades the whole class against the same release (and
    the parallel prefetch sanitises every notebook a second time). Regenerating the assignment
    rewrites the release notebook, so a new modification time reads both again.
    """
    key = (path, os.stat(path).st_mtime_ns, db_url, assignment, notebook)
    with _RELEASES_LOCK:
        if key in _RELEASES:
            return _RELEASES[key]
    released = [c for c in nbformat.read(path, as_version=4).cells if _grade_id(c)]
    full = {}
    with Gradebook(db_url) as gb:
        for cell in released:
            try:
                full[_grade_id(cell)] = gb.find_source_cell(_grade_id(cell), notebook,
                                                            assignment).source
            except MissingEntry:
                continue
    with _RELEASES_LOCK:
        _RELEASES[key] = (released, full)
    return released, full


class RestoreCells(NbGraderPreprocessor):
    """Re-attach stripped metadata, re-insert deleted graded/read-only cells, refill hidden tests."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        path = os.path.join(coursedir.format_path(coursedir.release_directory, ".",
                                                  info["assignment"]), info["notebook"] + ".ipynb")
        if not os.path.exists(path):
            self.log.warning("RestoreCells: no release notebook at %s; nothing restored", path)
            return nb, resources
        # read only here: a cell or metadata taken from `released` is deep-copied where it is
        # put into the notebook (the cached release is shared by every notebook of the run)
        released, full = _release(path, info["db_url"], info["assignment"], info["notebook"])
        self._reattach(nb, released)
        self._reinsert(nb, released)
        for cell in nb.cells:  # untouched read-only cells get their hidden tests back, silently
            gid = _grade_id(cell)
            rel = next((c for c in released if _grade_id(c) == gid), None)
            if rel is not None and utils.is_locked(rel) and cell.source == rel.source and gid in full:
                cell.source = full[gid]
        return nb, resources

    def _reattach(self, nb, released):
        present = {_grade_id(c) for c in nb.cells if _grade_id(c)}
        for rel in released:
            gid = _grade_id(rel)
            if gid in present:
                continue
            for cell in nb.cells:
                if _nbg(cell) or cell.cell_type != rel.cell_type:
                    continue
                same = cell.source.strip() == rel.source.strip()
                if same or (utils.is_solution(rel) and _defined(rel) and
                            _defined(rel) <= _defined(cell)):
                    cell.metadata["nbgrader"] = copy.deepcopy(rel.metadata["nbgrader"])
                    present.add(gid)
                    self.log.warning("Cell %s had lost its nbgrader metadata; restored it", gid)
                    break

    def _reinsert(self, nb, released):
        for i, rel in enumerate(released):
            gid = _grade_id(rel)
            if not (utils.is_grade(rel) or utils.is_locked(rel)) or \
                    any(_grade_id(c) == gid for c in nb.cells):
                continue
            pos = 0  # after the nearest earlier released cell still in the notebook
            for prev in reversed(released[:i]):
                idx = next((k for k, c in enumerate(nb.cells) if _grade_id(c) == _grade_id(prev)),
                           None)
                if idx is not None:
                    pos = idx + 1
                    break
            cell = copy.deepcopy(rel)
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            nb.cells.insert(pos, cell)
            self.log.warning("Cell %s was missing from the submission; restored it", gid)


class ForeignCells(NbGraderPreprocessor):
    """Cells with nbgrader metadata but no grade id the gradebook knows become ordinary cells."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        known = _known_ids(info["db_url"], info["assignment"], info["notebook"])
        for i, cell in enumerate(nb.cells):
            meta = _nbg(cell)
            if meta is None or meta.get("grade_id") in known:
                continue
            del cell.metadata["nbgrader"]
            self.log.warning("%s/%s: cell %d claims to be an nbgrader cell (%s) the release does not "
                             "have; graded as ordinary code, no points", info.get("student"),
                             info.get("notebook"), i, meta.get("grade_id") or "no grade id")
        return nb, resources


_KNOWN = {}


def _known_ids(db_url, assignment, notebook):
    key = (db_url, assignment, notebook)
    with _RELEASES_LOCK:
        if key in _KNOWN:
            return _KNOWN[key]
    with Gradebook(db_url) as gb:
        try:
            ids = {c.name for c in gb.find_notebook(notebook, assignment).source_cells}
        except MissingEntry:
            ids = set()
    with _RELEASES_LOCK:
        _KNOWN[key] = ids
    return ids


class HideHiddenTests(ClearHiddenTests):
    """Feedback: drop hidden-test source from the cells and from every output quoting it."""

    placeholder = "# (hidden tests run here; their verdict is in the output below)"

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or self.begin_test_delimeter not in cell.source:
            return cell, resources
        hidden, kept, inside = [], [], False
        for line in cell.source.split("\n"):
            if self.begin_test_delimeter in line:
                inside = True
                kept.append(self.placeholder)
            elif self.end_test_delimeter in line:
                inside = False
            elif inside:
                if len(line.strip()) > 3:
                    hidden.append(line.strip())
            else:
                kept.append(line)
        cell.source = "\n".join(kept)
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                out.traceback = [t for t in out.traceback if not _quotes(t, hidden)] or \
                    [f"{out.ename}: {out.evalue}"]
                if _quotes(out.evalue, hidden):
                    out.evalue = "(hidden)"
            elif out.output_type == "stream":
                out.text = "\n".join(t for t in out.text.split("\n") if not _quotes(t, hidden))
            elif "data" in out and "text/plain" in out.data:
                if _quotes(out.data["text/plain"], hidden):
                    out.data = {"text/plain": "(output hidden)"}
        return cell, resources


def _quotes(text, hidden):
    from nbconvert.filters import strip_ansi
    plain = strip_ansi(text)
    return any(h in plain for h in hidden)


class ProgressLog(NbGraderPreprocessor):
    """Log 'autograding k of n' as each submitted notebook is sanitised."""

    _done = {}

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        pattern = os.path.join(coursedir.format_path(coursedir.submitted_directory,
                                                     coursedir.student_id, info["assignment"]),
                               "*.ipynb")
        total = len(glob.glob(pattern))
        key = (coursedir.root, info["assignment"])
        ProgressLog._done[key] = ProgressLog._done.get(key, 0) + 1
        self.log.info("autograding %d of %d: %s / %s / %s.ipynb", ProgressLog._done[key], total,
                      info["student"], info["assignment"], info["notebook"])
        return nb, resources


# ----------------------------------------------------------------------------- once per run
def _run_cache(pp):
    """A dict that lives as long as the autograde run that made `pp`: nbgrader's converter (the
    exporter's parent, pp's grandparent), or None when pp runs on its own (no caching)."""
    converter = getattr(getattr(pp, "parent", None), "parent", None)
    if converter is None:
        return None
    cache = converter.__dict__.get("_grading_run_cache")
    if cache is None:
        cache = converter.__dict__.setdefault("_grading_run_cache", {})
    return cache


def released_notebook_or_none(gb, notebook, assignment):
    """The gradebook's record of a released notebook, or None when the release has no such one."""
    try:
        return gb.find_notebook(notebook, assignment)
    except MissingEntry:
        return None


def _released_notebook(pp, db_url, assignment, notebook):
    """What the gradebook holds of one released notebook, read in one go and kept for the run:
    {'source': {name: source cell}, 'graded': {name: grade or task cell}, 'kernelspec'}, as plain
    records with the attributes nbgrader's own objects have. The gradebook's release does not
    change while autograde runs (only generate_assignment writes it)."""
    cache = _run_cache(pp)
    key = ("released", db_url, assignment, notebook)
    with _RELEASES_LOCK:
        if cache is not None and key in cache:
            return cache[key]
    out = {"source": {}, "graded": {}, "kernelspec": None}
    with Gradebook(db_url) as gb:
        nbk = released_notebook_or_none(gb, notebook, assignment)
        if nbk is not None:
            for c in nbk.source_cells:
                out["source"][c.name] = types.SimpleNamespace(
                    name=c.name, cell_type=c.cell_type, locked=c.locked, checksum=c.checksum,
                    source=c.source)
            for c in list(nbk.task_cells) + list(nbk.grade_cells):  # a grade cell wins, as in
                out["graded"][c.name] = types.SimpleNamespace(  # find_graded_cell
                    name=c.name, max_score=c.max_score)
            out["kernelspec"] = nbk.kernelspec
    if cache is not None:
        with _RELEASES_LOCK:
            cache[key] = out
    return out


class _ReleasedCells:
    """The two lookups OverwriteCells makes, answered from _released_notebook's record."""

    def __init__(self, record):
        self.record = record

    def find_source_cell(self, name, notebook, assignment):
        try:
            return self.record["source"][name]
        except KeyError:
            raise MissingEntry(f"No such source cell: {assignment}/{notebook}/{name}") from None

    def find_graded_cell(self, name, notebook, assignment):
        try:
            return self.record["graded"][name]
        except KeyError:
            raise MissingEntry(f"No such grade cell: {assignment}/{notebook}/{name}") from None


class OverwriteCellsFast(OverwriteCells):
    """nbgrader's OverwriteCells (its own per-cell checks and warnings, unchanged), with the
    release's cells read once per run instead of two queries per graded cell."""

    def preprocess(self, nb, resources):
        if self.add_missing_cells or _run_cache(self) is None:
            return super().preprocess(nb, resources)  # stock: it needs the gradebook's objects
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.db_url = resources["nbgrader"]["db_url"]
        self.gradebook = _ReleasedCells(_released_notebook(self, self.db_url, self.assignment_id,
                                                           self.notebook_id))
        return NbGraderPreprocessor.preprocess(self, nb, resources)  # every cell, as stock


class OverwriteKernelspecFast(OverwriteKernelspec):
    """nbgrader's OverwriteKernelspec with the release's kernelspec read once per run."""

    def preprocess(self, nb, resources):
        if _run_cache(self) is None:
            return super().preprocess(nb, resources)
        info = resources["nbgrader"]
        kernelspec = _released_notebook(self, info["db_url"], info["assignment"],
                                        info["notebook"])["kernelspec"]
        if kernelspec is not None:
            kernelspec = json.loads(kernelspec)
        self.log.debug("Source notebook kernelspec: {}".format(kernelspec))
        self.log.debug("Submitted notebook kernelspec: {}".format(nb.metadata.get("kernelspec")))
        if kernelspec:
            self.log.debug("Overwriting submitted notebook kernelspec: {}".format(kernelspec))
            nb.metadata["kernelspec"] = kernelspec
        return nb, resources


class SaveAutoGradesFast(SaveAutoGrades):
    """nbgrader's SaveAutoGrades writing the same rows: the notebook's grade and comment rows
    are found by one query per kind (not a query per cell), and its scores are committed once,
    together, instead of once per cell (one notebook is all or nothing)."""

    def preprocess(self, nb, resources):
        from nbgrader.api import (Assignment, BaseCell, Comment, Grade, Notebook, Student,
                                  SubmittedAssignment, SubmittedNotebook)
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            db = self.gradebook.db
            # find_grade looks for a grade cell, then a task cell; find_comment for a solution
            # cell, then a task cell: the same preference, by the cell's kind. The joins are
            # find_grade's own, from the row to the student.
            self._rows = {}
            for model, first in ((Grade, "GradeCell"), (Comment, "SolutionCell")):
                by_name = self._rows[model.__name__] = {}
                query = (db.query(model, BaseCell.name, BaseCell.type)
                         .join(BaseCell, BaseCell.id == model.cell_id)
                         .join(SubmittedNotebook, SubmittedNotebook.id == model.notebook_id)
                         .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                         .join(SubmittedAssignment,
                               SubmittedAssignment.id == SubmittedNotebook.assignment_id)
                         .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                         .join(Student, Student.id == SubmittedAssignment.student_id)
                         .filter(Notebook.name == self.notebook_id,
                                 Assignment.name == self.assignment_id,
                                 Student.id == self.student_id))
                for row, name, kind in query:
                    if kind == first or (kind == "TaskCell" and name not in by_name):
                        by_name[name] = row
            nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
            db.commit()
        return nb, resources

    def _row(self, kind, cell):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        row = self._rows[kind].get(grade_id)
        if row is None:  # not there: stock's own lookup, with its error
            find = self.gradebook.find_grade if kind == "Grade" else self.gradebook.find_comment
            row = find(grade_id, self.notebook_id, self.assignment_id, self.student_id)
        return row

    def _add_score(self, cell, resources):
        grade = self._row("Grade", cell)
        auto_score, _ = utils.determine_grade(cell, self.log)
        grade.auto_score = auto_score
        # a manual grade, or no autograder score: the grade needs a look (as stock)
        grade.needs_manual_grade = (grade.manual_score is not None) or (grade.auto_score is None)

    def _add_comment(self, cell, resources):
        comment = self._row("Comment", cell)
        if cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell) and \
                not utils.is_task(cell):
            comment.auto_comment = "No response."
        else:
            comment.auto_comment = None


# ----------------------------------------------------------------------------- the exporter
class ValidatedOnceExporter(NotebookExporter):
    """nbconvert's NotebookExporter for autograde: each pass validates the notebook once.

    The exporter validates the notebook after the pass's preprocessors (raising when it is
    invalid; c.NotebookExporter.optimistic_validation: once, after the last), and then
    nbformat.writes validated the very same notebook again only to log what the first check
    had already raised. Here it is written out as nbformat.writes writes it, without that second
    check: the same bytes.
    """

    def from_notebook_node(self, nb, resources=None, **kw):
        if not self._preprocessors or self.nbformat_version != nb.get("nbformat"):
            return super().from_notebook_node(nb, resources, **kw)  # nothing validated it yet
        nb_copy, resources = Exporter.from_notebook_node(self, nb, resources, **kw)
        resources["output_suffix"] = ".nbconvert"
        output = nbformat.versions[self.nbformat_version].writes_json(nb_copy)
        if not output.endswith("\n"):
            output = output + "\n"
        return output, resources


# ----------------------------------------------------------------------------- gradebook engines
_ENGINES = {}  # (url, options) -> (engine, identity of the database file when it was opened)
_ENGINES_LOCK = threading.Lock()


def _sqlite_identity(url):
    """(device, inode) of a SQLite database file, or None (other databases, in-memory, missing)."""
    text = str(url)
    if not text.startswith("sqlite:///") or text.endswith(":memory:"):
        return None
    try:
        st = os.stat(text[len("sqlite:///"):])
    except OSError:
        return None
    return st.st_dev, st.st_ino


# shared engines whose database has nbgrader's tables -> course ids whose row it has
_SCHEMA_READY = weakref.WeakKeyDictionary()


def share_gradebook_engines(on=True):
    """Make nbgrader's Gradebook reuse one SQLAlchemy engine per database URL in this process.

    Stock nbgrader creates a new engine for every Gradebook it opens, about ten per graded
    notebook, so each one reflects the schema again and every query is compiled afresh (an
    engine keeps its compiled queries). Sharing one halves the cost of opening a Gradebook and
    lets queries hit the cache. A SQLite file that was replaced or deleted since (a new inode)
    gets a new engine, so pooled connections never write to a file that is gone.
    Each Gradebook also lists the database's tables and runs create_all (a query per table),
    then makes sure the course has its row, and disposes of its engine (every pooled connection)
    when it closes: with a shared engine the first Gradebook does the first two (and each new
    course id its row), which leaves the tables and the row in place; the engine keeps its
    pooled connections.
    With on=False, stock behaviour comes back (the grading benchmark's baseline).
    """
    import nbgrader.api as api
    shared = getattr(api.create_engine, "shared_per_url", None)
    if not on:
        if shared is not None:
            api.create_engine = shared
            api.Gradebook.__init__ = api.Gradebook.__init__.stock_init
            api.Gradebook.close = api.Gradebook.close.stock_close
        return
    if shared is not None:
        return
    original = api.create_engine

    def create_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        ident = _sqlite_identity(url)
        with _ENGINES_LOCK:
            hit = _ENGINES.get(key)
            if hit is not None:
                engine, known = hit
                if known is None and ident is not None and str(url).startswith("sqlite"):
                    known = ident  # the file this engine created when it first connected
                    _ENGINES[key] = (engine, known)
                if not str(url).startswith("sqlite") or (ident is not None and ident == known):
                    return engine
                engine.dispose()  # a new or replaced SQLite file (or an in-memory one, as stock)
            engine = original(url, **options)
            _ENGINES[key] = (engine, ident)
            return engine

    create_engine.shared_per_url = original
    api.create_engine = create_engine
    api.Gradebook.__init__ = _schema_checked_once(api.Gradebook.__init__)
    api.Gradebook.close = _pooled_close(api.Gradebook.close)


def _schema_checked_once(stock_init):
    """Gradebook.__init__ that runs stock's schema check only for an engine not yet checked, and
    its course check (the course's row, added when missing) once per engine and course id."""
    from sqlalchemy.orm import scoped_session, sessionmaker

    import nbgrader.api as api

    def __init__(self, db_url, course_id="default_course", authenticator=None):
        engine = api.create_engine(db_url, echo=False, future=True)
        if engine not in _SCHEMA_READY:
            stock_init(self, db_url, course_id, authenticator)
            _SCHEMA_READY[self.engine] = {course_id}
            return
        self.engine = engine  # stock's __init__ from here on, without the schema check
        self.db = scoped_session(sessionmaker(autoflush=True, bind=engine, future=True))
        courses = _SCHEMA_READY[engine]
        if course_id not in courses:  # nbgrader never deletes a course's row
            self.check_course(course_id=course_id)
            courses.add(course_id)
        self.course_id = course_id
        self.authenticator = authenticator

    __init__.stock_init = stock_init
    return __init__


def _pooled_close(stock_close):
    """Gradebook.close that keeps a shared engine's pooled connections (stock disposes of the
    engine, so the next Gradebook connects again); any other engine is disposed of as stock."""

    def close(self):
        if self.engine in _SCHEMA_READY:
            self.db.remove()  # the session's connection goes back to the engine's pool
            return
        stock_close(self)

    close.stock_close = stock_close
    return close


# ----------------------------------------------------------------------------- cell metadata
class _CompiledSchema(BaseMetadataValidator):
    """The schema step of nbgrader's cell check, with the schema's validator built once.

    jsonschema.validate() first checks the schema itself against the JSON Schema meta-schema, on
    every call: nbgrader calls it for every graded cell, twice per submission, and that check was
    most of CheckCellMetadata's cost (about 14 ms per notebook). The instance check and the error
    raised (jsonschema's best match) are the ones jsonschema.validate() gives.
    """

    _compiled = {}

    def validate_cell(self, cell):
        meta = cell.metadata.get("nbgrader") if "metadata" in cell else None
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)  # absent, or too old/new: stock behaviour
        validator = self._compiled.get(self.schema_version)
        if validator is None:
            import jsonschema
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            validator = self._compiled[self.schema_version] = cls(self.schema)
        from jsonschema.exceptions import best_match
        error = best_match(validator.iter_errors(meta))
        if error is not None:
            raise error


class _FastMetadataValidator(MetadataValidator, _CompiledSchema):
    """nbgrader's current MetadataValidator; its schema step resolves to _CompiledSchema's."""


_VALIDATOR = []


class CheckCellMetadataFast(CheckCellMetadata):
    """CheckCellMetadata with one validator per process and the schema compiled once."""

    def preprocess(self, nb, resources):
        if not _VALIDATOR:
            _VALIDATOR.append(_FastMetadataValidator())
        validator = _VALIDATOR[0]
        validator.log = self.log
        try:
            validator.validate_nb(nb)
        except ValidationError:
            import traceback
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)
        return nb, resources
