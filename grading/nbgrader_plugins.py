"""nbgrader preprocessors for this course, switched on in ../nbgrader_config.py (instructor only).

- RestoreCells (autograde, before OverwriteCells): puts back test and read-only cells that a
  student deleted or whose nbgrader metadata was stripped, so they are graded, not left for
  manual grading; and restores hidden tests quietly into untouched cells, so a clean submission
  logs no "checksum has changed" warning (stock nbgrader warns on every hidden-test cell).
- HideHiddenTests (generate_feedback): removes the hidden-test source from the feedback and
  scrubs any output line that quotes it (tracebacks print source lines).
- ProgressLog (autograde): one log line per notebook, "autograding 3 of 40: ...".
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
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

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
