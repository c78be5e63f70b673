"""The trusted side of secure grading: turn a notebook into a sandbox job, and judge its results.

Runs in the grader's own process (nbgrader's, or an executor worker's), never in a process that
student code has run in. It

1. reads each autograded test cell's hidden block as DATA: `check(name, [dict(...), ...])` is
   parsed with `ast` and evaluated by a tiny literal evaluator, never executed; the hidden-test
   text never enters the sandbox;
2. builds every case's inputs here (grading.cases.build), writes them as .npy files (no pickle)
   for the sandbox, which only calls the student's functions on them and sends back raw arrays;
3. decides every verdict here: each array the sandbox sent must parse as a plain .npy without
   pickle, be of floating dtype (kind 'f'), of the expected shape and finite; then it is compared
   with the reference (grading.cases.expected, memoised per case: the same for every student)
   and a failure is explained in the student's terms (grading.cases);
4. writes the test cells' outputs itself, so nbgrader's SaveAutoGrades scores what the judge
   decided. With partial credit (the default): the report, then the cell's score as its first
   execute_result, `cell_score(points, cases passed, cases)` (grading.scoring), which nbgrader's
   determine_grade reads as the cell's points; nothing the student's code prints can come before
   it. Without: an error output (zero) or a pass line (full points).
"""
import ast
import base64
import binascii
import copy
import hashlib
import io
import json
import os
import re
import threading
import time

import numpy as np

from cs231n_lib import explain as _explain

from . import cases as _cases
from .scoring import cell_score

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
TEXT_CAP = 64 * 1024


class HiddenTestError(ValueError):
    """A hidden-test block that is not plain `check(name, [cases])` data (an instructor error)."""


# ----------------------------------------------------------------------------- parsing cells
def _literal(node):
    """Evaluate constants, tuples, lists, dicts and dict(k=v) calls; anything else is an error."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool,
                                                                  type(None))):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        vals = [_literal(e) for e in node.elts]
        return tuple(vals) if isinstance(node, ast.Tuple) else vals
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand)
        if isinstance(v, (int, float)):
            return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" \
            and not node.args and all(k.arg for k in node.keywords):
        return {k.arg: _literal(k.value) for k in node.keywords}
    raise HiddenTestError(f"not plain data: {ast.dump(node)[:120]}")


_SPLIT = {}  # test cell source -> split_test_cell's answer: the same for every student
_SPLIT_CAP = 1024


def split_test_cell(source):
    """-> (hidden calls [(name, [case, ...]), ...], visible source without the hidden block),
    or (None, source) when the cell has no hidden block. Parsed once per source and process;
    each caller gets its own copy of the calls."""
    hit = _SPLIT.get(source)
    if hit is None:
        hit = _split_test_cell(source)
        if len(_SPLIT) < _SPLIT_CAP:
            _SPLIT[source] = hit
    calls, visible = hit
    return copy.deepcopy(calls), visible


def _split_test_cell(source):
    lines = source.split("\n")
    try:
        b = next(i for i, ln in enumerate(lines) if BEGIN in ln)
        e = next(i for i, ln in enumerate(lines) if END in ln and i > b)
    except StopIteration:
        return None, source
    hidden = "\n".join(lines[b + 1:e])
    visible = "\n".join(lines[:b] + lines[e + 1:])
    calls = []
    try:
        tree = ast.parse(hidden)
    except SyntaxError as exc:
        raise HiddenTestError(f"hidden tests do not parse: {exc}") from None
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "grading":
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
                isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "check" and \
                len(stmt.value.args) == 2 and not stmt.value.keywords:
            name = _literal(stmt.value.args[0])
            case_list = _literal(stmt.value.args[1])
            if name not in _cases.RETURNS or not isinstance(case_list, list) or \
                    not all(isinstance(c, dict) for c in case_list):
                raise HiddenTestError(f"check({name!r}, ...) is not a graded function with a "
                                      f"list of case dicts")
            calls.append((name, case_list))
            continue
        raise HiddenTestError("a hidden-test block may only hold `from grading import check` and "
                              "`check(name, [dict(...), ...])` calls, so that it can be judged "
                              "outside the student's process; found: "
                              + ast.get_source_segment(hidden, stmt)[:200])
    if not calls:
        raise HiddenTestError("a hidden-test block without any check(...) call")
    return calls, visible


def _nbg(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_autograded_test(cell):
    m = _nbg(cell)
    return cell.get("cell_type") == "code" and m.get("grade") and not m.get("solution")


# ----------------------------------------------------------------------------- inputs
_CACHE_LOCK = threading.Lock()
_INPUTS, _EXPECTED, _VARIANTS = {}, {}, {}
_KEY_LOCKS = {}


def _key(name, case):
    return _cases.salt_id() + ":" + name + ":" + json.dumps(case, sort_keys=True)


def _memo(table, tag, k, compute):
    """table[k], computed once per process even when several grading threads ask at once."""
    with _CACHE_LOCK:
        if k in table:
            return table[k]
        lock = _KEY_LOCKS.setdefault((tag, k), threading.Lock())
    with lock:
        with _CACHE_LOCK:
            if k in table:
                return table[k]
        value = compute()
        with _CACHE_LOCK:
            table[k] = value
            _KEY_LOCKS.pop((tag, k), None)
        return value


def inputs_for(name, case):
    return _memo(_INPUTS, "in", _key(name, case), lambda: _cases.build(name, case))


def expected_for(name, case, inputs):
    return _memo(_EXPECTED, "exp", _key(name, case),
                 lambda: _cases.expected(name, case, inputs))


def models_for(name, case, inputs, want):
    """The known mistakes' outputs on a case (for its likely cause), computed once per process
    and only when a student fails the case: the same for every student who fails it. Those that
    compute the right answer on this case are left out here, once, not for each student."""
    return _memo(_VARIANTS, "alt", _key(name, case), lambda: _explain.distinct_models(
        case, want, _explain.mistake_models(name, case, inputs, want)))


# ----------------------------------------------------------------------------- the job
def untrusted_test_cells(nb, trusted):
    """Cells that claim to be autograded tests but are not the release's: grade ids the source
    does not have, or a source that differs from the source's cell. `trusted` maps grade id ->
    source (from the gradebook); None trusts every test cell (the in-process checker)."""
    if trusted is None:
        return []
    return [i for i, cell in enumerate(nb.cells) if is_autograded_test(cell) and
            trusted.get(_nbg(cell).get("grade_id")) != cell.get("source")]


def make_job(nb, limits_for_job, submission_files=(), trusted=None):
    """(job dict for the worker, plan) from a sanitised notebook. The plan keeps, per test cell,
    the hidden calls and cases; it never goes to the sandbox.

    Only test cells whose source is the release's own (`trusted`: grade id -> source) are read
    for hidden cases; any other cell is run as the student's code, and never builds inputs here.
    """
    steps, plan, count = [], {}, 0
    untrusted = set(untrusted_test_cells(nb, trusted))
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        count += 1
        if is_autograded_test(cell) and i not in untrusted:
            calls, visible = split_test_cell(cell.source)
            if calls is None:
                raise HiddenTestError(
                    f"test cell {_nbg(cell).get('grade_id')!r} has no hidden `check(...)` block: "
                    f"its verdict would have to come from the student's process")
            plan[i] = {"calls": calls, "grade_id": _nbg(cell).get("grade_id"),
                       "visible": bool(visible.strip())}
            job_calls = []
            for c, (name, case_list) in enumerate(calls):
                for j, case in enumerate(case_list):
                    job_calls.append({"fn": name, "inputs": _key_hash(name, case),
                                      "_key": (c, j)})
            plan[i]["order"] = [jc.pop("_key") for jc in job_calls]
            steps.append({"op": "grade", "cell": i, "calls": job_calls})
            if visible.strip():
                steps.append({"op": "exec", "cell": i, "source": visible, "count": count,
                              "visible_part": True})
        else:
            steps.append({"op": "exec", "cell": i, "source": cell.source, "count": count})
    job = {"steps": steps, "limits": limits_for_job,
           "copy": [f"/job/submission/{p}" for p in submission_files]}
    _check_sizes(plan)
    return job, plan


MAX_CASE_ELEMENTS = 4_000_000  # per array of one case: far above any real test, far below harm


def _check_sizes(plan):
    """Refuse hidden cases whose arrays would be huge before anything is built (an instructor's
    typo, or anything that slipped past the checks above), instead of exhausting the grader."""
    for p in plan.values():
        for name, case_list in p["calls"]:
            for case in case_list:
                for key in ("x", "w"):
                    shape = case.get(key)
                    if shape is None:
                        continue
                    if not (isinstance(shape, (list, tuple)) and 1 <= len(shape) <= 6 and
                            all(isinstance(n, int) and 0 <= n <= 100_000 for n in shape)):
                        raise HiddenTestError(f"{name}: case shape {key}={shape!r} is not a "
                                              f"short tuple of small non-negative integers")
                    size = 1
                    for n in shape:
                        size *= n
                    if size > MAX_CASE_ELEMENTS:
                        raise HiddenTestError(f"{name}: case {key}={tuple(shape)} has {size:,} "
                                              f"elements, more than {MAX_CASE_ELEMENTS:,}")


def _key_hash(name, case):
    return hashlib.sha256(_key(name, case).encode()).hexdigest()[:24]


def plan_inputs(plan):
    """{folder name: (name, case)} of every graded call's inputs in a plan."""
    out = {}
    for calls in (p["calls"] for p in plan.values()):
        for name, case_list in calls:
            for case in case_list:
                out.setdefault(_key_hash(name, case), (name, case))
    return out


_STREAM_LOCK = threading.Lock()
_STREAMS = {}  # signature of an input set -> bytes (trusted, built once per process)


def input_stream(plan):
    """The inputs of every graded call in `plan` as one byte stream for the worker's stdin:
    a JSON header line {"files": [[path, size], ...]} and then the files (spec.json and plain
    .npy arrays per call, no pickle). Built once per process for every job with the same hidden
    cases (every student of an assignment); it never touches the disk on this side."""
    need = plan_inputs(plan)
    sig = hashlib.sha256(json.dumps([_cases.salt_id()] + sorted(need)).encode()).hexdigest()
    with _STREAM_LOCK:
        entry = _STREAMS.setdefault(sig, {"lock": threading.Lock(), "data": None})
    with entry["lock"]:
        if entry["data"] is None:
            files = []
            for folder, (name, case) in sorted(need.items()):
                files += [(f"{folder}/{rel}", data) for rel, data in
                          encode_inputs(inputs_for(name, case))]
            header = json.dumps({"files": [[rel, len(data)] for rel, data in files]})
            entry["data"] = header.encode() + b"\n" + b"".join(data for _, data in files)
        return entry["data"]


def encode_inputs(inputs):
    """inputs (arrays, dicts, lists of arrays) -> [(file name, bytes)]: spec.json + a<k>.npy."""
    files = []

    def enc(v):
        if isinstance(v, np.ndarray):
            fname = f"a{len(files)}.npy"
            buf = io.BytesIO()
            np.save(buf, v, allow_pickle=False)
            files.append((fname, buf.getvalue()))
            return {"__array__": fname}
        if isinstance(v, dict):
            return {k: enc(u) for k, u in v.items()}
        if isinstance(v, (list, tuple)):
            return [enc(u) for u in v]
        if isinstance(v, (np.integer, np.floating)):
            return v.item()
        return v
    spec = enc(inputs)
    return [("spec.json", json.dumps(spec).encode())] + files


def write_job(job_dir, job, submission_dir=None, submission_files=()):
    """Fill job_dir for the worker: the job and the student's own files. The hidden inputs are
    not written here: they reach the worker through its stdin, after every cell has run."""
    os.makedirs(job_dir, exist_ok=True)
    sub = os.path.join(job_dir, "submission")
    os.makedirs(sub, exist_ok=True)
    for rel in submission_files:
        dst = os.path.join(sub, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(os.path.join(submission_dir, rel), "rb") as a, open(dst, "wb") as b:
            b.write(a.read())
    with open(os.path.join(job_dir, "job.json"), "w") as f:
        json.dump(job, f)


def submission_files(folder, max_files=50, max_bytes=16 << 20):
    """The student's own non-notebook files (regular files only, no links, size-capped)."""
    out, total = [], 0
    if not folder or not os.path.isdir(folder):
        return out
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in sorted(files):
            p = os.path.join(root, f)
            if f.endswith(".ipynb") or f.startswith(".") or os.path.islink(p) or \
                    not os.path.isfile(p):
                continue
            total += os.path.getsize(p)
            if len(out) >= max_files or total > max_bytes:
                return out
            out.append(os.path.relpath(p, folder))
    return out


# ----------------------------------------------------------------------------- results
def parse_records(lines):
    """Untrusted JSON lines -> {'cells': {i: [rec]}, 'cases': {(i, k): rec}, 'done', 'fatal'}.

    Cell records count only before the first boundary record ({"t": "cells_done"}): the hidden
    inputs enter the sandbox only after it, so no cell output can carry them to the feedback.
    Malformed lines and records are skipped; nothing here can raise.
    """
    cells, cases, done, fatal, boundary = {}, {}, False, None, False
    for line in lines:
        if not line.strip() or len(line) > (64 << 20):
            continue
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        if not isinstance(rec, dict):
            continue
        t = rec.get("t")
        cell, k = rec.get("cell"), rec.get("k")
        if t == "cells_done":
            boundary = True
        elif t == "cell" and type(cell) is int and not boundary:
            cells.setdefault(cell, []).append(rec)
        elif t == "case" and type(cell) is int and type(k) is int:
            cases[(cell, k)] = rec  # the last word counts (the worker's own record comes after
            # anything the student's code wrote earlier; either way it is only ever the
            # student's answer, judged here)
        elif t == "done":
            done = True
        elif t == "fatal":
            fatal = str(rec.get("error"))[-3000:]
    return {"cells": cells, "cases": cases, "done": done, "fatal": fatal}


MESSAGE_CAP = 240          # characters of a student's error message shown per case
_DECIMAL = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d{5,}")


def _student_message(msg):
    """A student's error message for the feedback: capped, with decimal numbers masked. Graded
    calls see the hidden inputs; their messages are the one text that leaves them, so they carry
    shapes and names (what a student needs to debug) but not values."""
    return _DECIMAL.sub("…", str(msg))[:MESSAGE_CAP]


def _load_npy(b64, max_bytes):
    """Plain .npy bytes -> ndarray, or a message. Never unpickles."""
    if not isinstance(b64, str) or len(b64) > 2 * max_bytes + 4096:
        return None, "is larger than any correct answer"
    try:
        raw = base64.b64decode(b64, validate=True)
        arr = _known_layout(raw)
        if arr is None:
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
            _learn_layout(raw, arr)
    except (binascii.Error, ValueError, OSError, EOFError) as exc:
        return None, f"could not be read as a plain NumPy array ({type(exc).__name__})"
    if type(arr) is not np.ndarray:  # noqa: E721
        return None, "is not a plain NumPy array"
    return arr, None


# .npy header -> (dtype, shape, Fortran order): np.load parses the header's text with
# ast.literal_eval, most of its cost for the small arrays answers are. Every student's answer to
# one case has the same header, so each distinct header that np.load has read is kept (capped).
_LAYOUTS = {}
_LAYOUTS_CAP = 4096
_MAGIC = b"\x93NUMPY"


def _header_end(raw):
    """Where a version 1 or 2 .npy header ends (the data starts), or None."""
    if raw[:6] != _MAGIC or len(raw) < 12:
        return None
    if raw[6] == 1:
        return 10 + int.from_bytes(raw[8:10], "little")
    if raw[6] == 2:
        return 12 + int.from_bytes(raw[8:12], "little")
    return None


def _known_layout(raw):
    """The array of `raw` when its header is one np.load has read before and its data is all
    there, built as np.load builds it (a fresh, writable array); None: let np.load read it."""
    end = _header_end(raw)
    layout = _LAYOUTS.get(raw[:end]) if end is not None else None
    if layout is None:
        return None
    dtype, shape, fortran = layout
    count = 1
    for n in shape:
        count *= n
    if count == 0 or len(raw) - end < count * dtype.itemsize:
        return None
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=end).copy()
    if fortran:
        arr.shape = shape[::-1]
        return arr.transpose()
    arr.shape = shape
    return arr


def _learn_layout(raw, arr):
    """Keep the header of a .npy that np.load has just read as a plain array."""
    end = _header_end(raw)
    if end is None or type(arr) is not np.ndarray or len(_LAYOUTS) >= _LAYOUTS_CAP:  # noqa: E721
        return
    fp = io.BytesIO(raw[:end])
    version = np.lib.format.read_magic(fp)
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
            np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read(fp)
    if dtype.hasobject or dtype.itemsize == 0 or fp.tell() != end:
        return
    _LAYOUTS[raw[:end]] = (dtype, tuple(shape), bool(fortran))


def validate_output(key, raw, want):
    """(array, None) when raw is a real numeric ndarray of want's shape and dtype kind, else
    (None, message)."""
    if raw is None:
        return None, None  # absent: cases' own judge explains missing values
    if not isinstance(raw, dict):
        return None, f"{key} could not be read"
    if "npy" not in raw:
        if "too_big" in raw:
            return None, (f"{key} is huge ({raw.get('too_big')} bytes, shape "
                          f"{tuple(raw.get('shape') or ())}), expected shape {want.shape}")
        if "dtype" in raw:
            return None, (f"{key} has dtype {str(raw['dtype'])[:40]}; expected an array of "
                          f"floating-point numbers")
        t = str(raw.get("type", "?"))[:80]
        return None, (f"{key} is a {t}, not a NumPy ndarray: return a plain numpy.ndarray "
                      f"(subclasses and array-like objects are not accepted)")
    arr, err = _load_npy(raw["npy"], max(want.nbytes * 2, 1 << 16))
    if err:
        return None, f"{key} {err}"
    if arr.dtype.kind != "f":
        return None, f"{key} has dtype {arr.dtype}; expected floating-point numbers"
    if arr.shape != want.shape:
        return arr, None  # shape messages (with hints) come from grading.cases
    if not np.all(np.isfinite(arr)):
        return None, f"{key} contains NaN or inf"
    return arr, None


def judge_case(name, case, inputs, rec):
    """One case from its (untrusted) record -> (passed, lines, library_message or None)."""
    if rec is None:
        return False, [f"{name} did not finish this case (no result came back: the notebook "
                       f"stopped, ran out of time or printed too much)"], None
    if not isinstance(rec, dict):
        return False, [f"{name} sent back no usable result"], None
    status = rec.get("status")
    fn = str(rec.get("fn", name))[:60]
    msg = _student_message(rec.get("message", ""))
    if status == "library":
        return False, [f"{fn} calls a library implementation instead of computing its result"], \
            f"{fn}: {msg}"
    if status == "timeout":
        if msg.startswith("not run"):
            return False, [f"{fn} was not run on this case: it ran longer than the time limit "
                           f"earlier in this notebook (an endless loop?), so it is not run "
                           f"again"], None
        return False, [f"{fn} did not return within the time limit for one case (an endless "
                       f"loop?)"], None
    if status == "crashed":
        return False, [f"{fn} crashed: {msg}"], None
    if status == "error":
        line = msg or f"{fn} failed"
        if fn != name:
            line += f", so {name} could not be tested"
        return False, [line], None
    if status != "ok" or not isinstance(rec.get("outputs"), dict):
        return False, [f"{name} sent back no usable result"], None
    want = expected_for(name, case, inputs)
    outputs, problems = {}, []
    for key in want:
        arr, err = validate_output(key, rec["outputs"].get(key), np.asarray(want[key]))
        if err:
            problems.append(err)
        elif arr is not None:
            outputs[key] = arr
    keys = _cases.checked_keys(case, want)
    problems = [p for p in problems if p.split(" ")[0] in keys]
    if problems:
        return False, problems, None
    passed, lines = _cases.judge(name, case, inputs, outputs, want=want,
                                 models=lambda: models_for(name, case, inputs, want))
    return passed, lines, None


def judge_isolated(name, case, rec):
    """judge_case for one case that cannot fail: whatever came back (wrong ndim, forged or
    malformed records) costs this case alone, with a message, never the cell or the notebook."""
    try:
        return judge_case(name, case, inputs_for(name, case), rec)
    except Exception as exc:  # noqa: BLE001
        return False, [f"{name} returned something the grader could not compare with the "
                       f"expected result ({type(exc).__name__}); check the shapes and types it "
                       f"returns"], None


def report(name, case_list, results):
    """checks.check's report for one check(name, cases) -> None when all passed, else text."""
    failures = [(i, case, lines) for i, (case, (ok, lines, _)) in
                enumerate(zip(case_list, results), start=1) if not ok]
    total = len(case_list)
    library = [lib for (_, _, lib) in results if lib]
    if library:
        return (f"{name} scores zero: it calls the course library (or another library's) "
                f"implementation instead of computing the result itself.\n"
                f"  {library[0]}\n"
                f"  Graded functions must be your own code: write the loops (or the NumPy "
                f"vectorisation) yourself.")
    if not failures:
        return None
    return _cases.failure_report(name, total, failures)


# ----------------------------------------------------------------------------- cell outputs
def _clean_text(v, cap=TEXT_CAP):
    if isinstance(v, list):
        v = "".join(x for x in v if isinstance(x, str))
    return v[:cap] if isinstance(v, str) else ""


def _clean_outputs(outputs):
    """Student-made outputs -> nbformat outputs: text, PNG images and errors only (no HTML or
    JavaScript from a student reaches the instructor's browser)."""
    out = []
    if not isinstance(outputs, list):
        return out
    for o in outputs[:12]:
        if not isinstance(o, dict):
            continue
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") in ("stdout", "stderr"):
            out.append({"output_type": "stream", "name": o["name"], "text": _clean_text(o.get("text"))})
        elif kind == "display_data" and isinstance(o.get("data"), dict):
            data = {}
            png = o["data"].get("image/png")
            if isinstance(png, str) and len(png) < (4 << 20):
                try:
                    if base64.b64decode(png[:64] + "=" * (-len(png[:64]) % 4))[:8] == \
                            b"\x89PNG\r\n\x1a\n":
                        data["image/png"] = png
                except (binascii.Error, ValueError):
                    pass
            txt = _clean_text(o["data"].get("text/plain"))
            if txt:
                data["text/plain"] = txt
            if data:
                out.append({"output_type": "display_data", "data": data, "metadata": {}})
        elif kind == "error":
            tb = o.get("traceback") if isinstance(o.get("traceback"), list) else []
            out.append({"output_type": "error", "ename": _clean_text(o.get("ename"), 200) or "Error",
                        "evalue": _clean_text(o.get("evalue"), 4000),
                        "traceback": [_clean_text(t, 8000) for t in tb[:40]]})
    return out


def _score_outputs(text, points, passed, total, library):
    """A test cell's outputs under partial credit: the report with the tally, then the score as
    the first execute_result (what nbgrader's determine_grade reads). Using a library
    implementation scores zero whatever else passed."""
    k = 0 if library else passed
    score = min(float(points), cell_score(float(points), k, total, partial=True))
    tally = f"{k} of {total} hidden cases passed: {score:g} of {float(points):g} points"
    if library and passed:
        tally += " (a library implementation was called)"
    return [{"output_type": "stream", "name": "stdout", "text": f"{text}\n{tally}\n"},
            {"output_type": "execute_result", "execution_count": None, "metadata": {},
             "data": {"text/plain": f"{score:g}"}}]


def fill_notebook(nb, plan, parsed, run_info, keep=None, partial_credit=True):
    """Write every cell's outputs: student cells from the sandbox (cleaned), test cells from the
    judge. Returns {grade_id: (passed, report)} for logging. keep: a dict that receives what the
    verdict store keeps ({'cases': [case_facts...], 'cells': {grade_id: {...}}}), or None.

    partial_credit: a test cell scores in proportion to its hidden cases passed (a crash or a
    timeout costs the cases it touched); off: all or nothing."""
    import nbformat
    verdicts = {}
    cells, cases = parsed["cells"], parsed["cases"]
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        recs = cells.get(i, [])
        student = _clean_outputs(recs[-1].get("outputs")) if recs else []
        cell.execution_count = None
        if i not in plan:
            if not recs and run_info:
                student = [{"output_type": "error", "ename": "NotRun",
                            "evalue": f"this cell did not run: {run_info}", "traceback": []}]
            cell.outputs = [nbformat.from_dict(o) for o in student]
            continue
        p = plan[i]
        results = {}
        for (c, j), k in zip(p["order"], range(len(p["order"]))):
            name, case_list = p["calls"][c]
            t0 = time.perf_counter()
            results[(c, j)] = judge_isolated(name, case_list[j], cases.get((i, k)))
            if keep is not None:
                keep.setdefault("cases", []).append(dict(
                    case_facts(name, case_list[j], cases.get((i, k)), results[(c, j)]),
                    grade_id=p["grade_id"], call=c, k=j, judge_s=time.perf_counter() - t0))
        reports, passed_n, total_n, library = [], 0, 0, False
        for c, (name, case_list) in enumerate(p["calls"]):
            got = [results[(c, j)] for j in range(len(case_list))]
            passed_n += sum(1 for ok, _, _ in got if ok)
            total_n += len(got)
            library = library or any(lib for _, _, lib in got)
            try:
                rep = report(name, case_list, got)
            except Exception as exc:  # noqa: BLE001 -- never lose the cell to a reporting bug
                failed = sum(1 for ok, _, _ in got if not ok)
                rep = (f"{name} failed {failed} of {len(case_list)} hidden cases "
                       f"({type(exc).__name__} while describing them)") if failed else None
            if rep:
                reports.append(rep)
        points = _nbg(cell).get("points") or 0
        if reports and partial_credit:
            text = "\n".join(reports)
            outs = _score_outputs(text, points, passed_n, total_n, library)
            verdicts[p["grade_id"]] = (False, text)
        elif reports:
            text = "\n".join(reports)
            lines = text.splitlines()
            outs = [{"output_type": "error", "ename": "GradingFailure", "evalue": lines[0],
                     "traceback": ["GradingFailure: " + lines[0]] + lines[1:]}]
            verdicts[p["grade_id"]] = (False, text)
        else:
            passed = "".join(f"{name}: all {len(cl)} hidden cases passed.\n"
                             for name, cl in p["calls"])
            outs = [{"output_type": "stream", "name": "stdout", "text": passed}]
            if partial_credit:  # the hidden cases decide, whatever the visible part below does
                outs.append({"output_type": "execute_result", "execution_count": None,
                             "metadata": {}, "data": {"text/plain": f"{float(points):g}"}})
            if not recs and run_info and p["visible"]:
                outs.append({"output_type": "error", "ename": "NotRun", "evalue":
                             f"the rest of this cell did not run: {run_info}", "traceback": []})
            outs += student
            verdicts[p["grade_id"]] = (not any(o["output_type"] == "error" for o in outs), "")
        cell.outputs = [nbformat.from_dict(o) for o in outs]
        if keep is not None:
            all_cases = all(ok for ok, _, _ in results.values())
            keep.setdefault("cells", {})[p["grade_id"]] = {
                "passed": verdicts[p["grade_id"]][0],
                # the cell failed with every hidden case right: its visible part (the student's
                # own process) raised, or it did not run
                "other_error": all_cases and not verdicts[p["grade_id"]][0]}
    return verdicts


# ----------------------------------------------------------------------------- what is kept
_CAUSE = "likely cause: "


def case_facts(name, case, rec, verdict):
    """What the verdict store (grading.store) keeps of one judged case: the verdict's facts in
    plain values, and the returned arrays as the plain .npy bytes the sandbox sent (each one
    parsed here without pickle first; anything else is kept as its description only).
    Never raises: whatever came back, the verdict stands and the facts say what they can."""
    try:
        return _case_facts(name, case, rec, verdict)
    except Exception as exc:  # noqa: BLE001 -- a forged record must not cost the notebook
        return {"fn": name, "case": case, "passed": bool(verdict[0]), "status": "unusable",
                "error_class": None if verdict[0] else "unusable", "cause": None,
                "max_diff": None, "message": f"{type(exc).__name__} while describing it",
                "arrays": {}, "described": {}}


def _case_facts(name, case, rec, verdict):
    passed, lines, lib = verdict
    status = rec.get("status") if isinstance(rec, dict) else None
    facts = {"fn": name, "case": case, "passed": bool(passed),
             "status": str(status)[:16] if status else "missing", "error_class": None,
             "cause": None, "max_diff": None, "message": None, "arrays": {}, "described": {}}
    if isinstance(rec, dict) and status != "ok":
        facts["message"] = _student_message(rec.get("message", "")) or None
    try:
        want = expected_for(name, case, inputs_for(name, case))
    except Exception:  # noqa: BLE001 -- the verdict stands; only its facts are thinner
        want = {}
    outputs = rec.get("outputs") if isinstance(rec, dict) else None
    got = {}
    for key in want if isinstance(outputs, dict) else ():
        raw = outputs.get(key)
        if not isinstance(raw, dict):
            continue
        if "npy" in raw:
            arr, _ = _load_npy(raw["npy"], max(np.asarray(want[key]).nbytes * 2, 1 << 16))
            if arr is not None:
                got[key] = arr
                facts["arrays"][key] = base64.b64decode(raw["npy"])
        else:
            facts["described"][key] = {k: raw[k] for k in ("type", "dtype", "too_big", "shape")
                                       if k in raw and isinstance(raw[k], (str, int, list))}
    if passed:
        return facts
    causes = [ln[len(_CAUSE):].split("; your ")[0] for ln in lines if ln.startswith(_CAUSE)]
    causes = causes or [ln[len("hint: "):] for ln in lines if ln.startswith("hint: ")]
    facts["error_class"] = {"library": "library call", "timeout": "timeout", "crashed": "crashed",
                            "error": "exception"}.get(status, "no result")
    if lib:
        facts["error_class"] = "library call"
    elif status == "ok" and isinstance(outputs, dict):
        facts["error_class"] = "wrong values"
        keys = _cases.checked_keys(case, want) if want else []
        diffs = []
        for key in keys:
            arr, w = got.get(key), np.asarray(want[key])
            if arr is None:
                facts["error_class"] = "not an array" if key in facts["described"] else "missing"
            elif arr.dtype.kind != "f":
                facts["error_class"] = "wrong dtype"
            elif arr.shape != w.shape:
                facts["error_class"] = "wrong shape"  # a cause only when certain (the judge's)
            elif not np.all(np.isfinite(arr)):
                facts["error_class"] = "NaN or inf"
            else:
                diffs.append(float(np.max(np.abs(arr.astype(np.float64) - w), initial=0.0)))
            if facts["error_class"] != "wrong values":
                break
        facts["max_diff"] = max(diffs) if diffs else None
    facts["cause"] = " | ".join(causes) or None
    return facts

