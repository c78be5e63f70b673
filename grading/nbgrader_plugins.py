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
- share_gradebook_engines(): one SQLAlchemy engine per gradebook URL instead of one per Gradebook.
"""
import copy
import glob
import os
import re
import threading

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata, ClearHiddenTests, NbGraderPreprocessor

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
        released, full = _release(path, info["db_url"], info["assignment"], info["notebook"])
        released = copy.deepcopy(released)
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


def share_gradebook_engines(on=True):
    """Make nbgrader's Gradebook reuse one SQLAlchemy engine per database URL in this process.

    Stock nbgrader creates a new engine for every Gradebook it opens, about ten per graded
    notebook, so each one reflects the schema again and every query is compiled afresh (an
    engine keeps its compiled queries). Sharing one halves the cost of opening a Gradebook and
    lets queries hit the cache. A SQLite file that was replaced or deleted since (a new inode)
    gets a new engine, so pooled connections never write to a file that is gone.
    With on=False, stock behaviour comes back (the grading benchmark's baseline).
    """
    import nbgrader.api as api
    shared = getattr(api.create_engine, "shared_per_url", None)
    if not on:
        if shared is not None:
            api.create_engine = shared
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
