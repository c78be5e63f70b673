"""The graded assignments are well formed: assignments/ is exactly what nbgrader generates from
solutions/ and leaks nothing; every test cell is one docstring, one function, explicit points and
plain-data hidden cases; the grader's reference layers agree with finite differences and loop
oracles; its reports speak the student's language; `nbgrader validate` passes every source
notebook and fails every released one."""
import ast
import json
import re
import sys

import nbformat
import numpy as np
import pytest

from assignments_helpers import GRADED, NOTEBOOKS, ROOT, make_course, nbgrader

sys.path.insert(0, str(ROOT))  # the instructor-only grading package
from cs231n_lib import mistakes as ref  # noqa: E402
from grading import GradingFailure, check  # noqa: E402
from grading.cases import TOL, build, expected, invoke, judge  # noqa: E402

ASSIGNMENTS = sorted(NOTEBOOKS)
TOTALS = {"conv": 30, "pooling": 20, "batchnorm": 30}


def source_nb(a):
    return nbformat.read(ROOT / "solutions" / a / f"{NOTEBOOKS[a]}.ipynb", 4)


def release_path(a):
    return ROOT / "assignments" / a / f"{NOTEBOOKS[a]}.ipynb"


def region(src, begin, end):
    """Lines strictly between the begin and end markers (all regions of a cell)."""
    out, inside = [], False
    for line in src.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def test_release_is_what_nbgrader_generates(tmp_path):
    course = make_course(tmp_path)
    generated = course / "assignments"
    nbgrader("generate_assignment", "*", "--force", cwd=course)  # all, from the copy's solutions/
    ours = sorted(p.relative_to(ROOT / "assignments") for p in (ROOT / "assignments").rglob("*")
                  if p.is_file())
    theirs = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert ours == theirs, "assignments/ holds different files from what generate_assignment makes"
    for rel in ours:
        a = json.loads((ROOT / "assignments" / rel).read_text())
        b = json.loads((generated / rel).read_text())
        assert a == b, (f"assignments/{rel} differs from `nbgrader generate_assignment`'s output: "
                        f"rerun it from the repository root and commit the result")


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_release_leaks_no_solution_or_hidden_test(a):
    released = release_path(a).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "from grading", "check("):
        assert marker not in released, f"{a}: the release contains {marker!r}"
    secret = []
    for cell in source_nb(a).cells:
        secret += region(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
        secret += region(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    public = "\n".join(c.source for c in source_nb(a).cells if "### BEGIN" not in c.source)
    public += "\n".join(line for c in source_nb(a).cells if "### BEGIN" in c.source
                        for line in c.source.split("\n") if line not in
                        region(c.source, "### BEGIN SOLUTION", "### END SOLUTION") + region(
                            c.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
    # a line the students are shown anyway (a formula in a docstring) is no leak
    secret = [s.strip() for s in secret if len(s.strip()) >= 12 and s.strip() not in public]
    assert secret, "found no solution or hidden-test lines to look for"
    text = "\n".join(c.source for c in nbformat.read(release_path(a), 4).cells)
    leaked = [s for s in secret if s in text]
    assert not leaked, f"{a}: the release contains solution or hidden-test lines: {leaked[:3]}"


def test_only_notebooks_in_solutions_and_assignments():
    for folder in ("solutions", "assignments"):
        others = [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".ipynb"
                  and ".ipynb_checkpoints" not in p.parts]
        assert not others, f"{folder}/ must hold notebooks only (nbgrader copies other files " \
                           f"into the release; no paired text files): {others}"
        for nb_path in (ROOT / folder).rglob("*.ipynb"):
            meta = json.loads(nb_path.read_text())["metadata"]
            assert "jupytext" not in meta, f"{nb_path} is paired with a text file"


def _test_cells(a):
    return [c for c in source_nb(a).cells if c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_test_cells_are_well_formed(a):
    nb = source_nb(a)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), f"{a}: duplicate grade ids"
    cells = _test_cells(a)
    assert cells
    total = 0
    for cell in cells:
        meta = cell.metadata["nbgrader"]
        gid, points = meta["grade_id"], meta["points"]
        first = cell.source.split("\n")[0]
        assert re.fullmatch(r'"""[^"]+\."""', first), f"{gid}: must open with a one-line docstring"
        assert f"({points:g} points)" in first, f"{gid}: docstring and metadata disagree on points"
        assert points > 0 and meta["locked"] and not meta["solution"]
        called = re.findall(r'check\("(\w+)"', cell.source)
        assert len(called) == 1 and called[0] in GRADED[a], f"{gid}: one check(...) of one function"
        mentioned = {n for n in GRADED[a] if re.search(rf"\b{n}\b", first)}
        assert mentioned == set(called), f"{gid}: the docstring must name the function it tests"
        total += points
    assert total == TOTALS[a]
    intro = nb.cells[0].source
    assert f"**{TOTALS[a]} points**" in intro, f"{a}: the introduction must state the total"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_hidden_cases_are_plain_data(a):
    """Each hidden test is `from grading import check` + check("name", [literal dicts])."""
    for cell in _test_cells(a):
        code = "\n".join(region(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
        tree = ast.parse(code)
        assert isinstance(tree.body[0], ast.ImportFrom) and tree.body[0].module == "grading"
        assert len(tree.body) == 2, "nothing but the import and one check(...) call"
        call = tree.body[1].value
        assert isinstance(call, ast.Call) and call.func.id == "check"
        name = ast.literal_eval(call.args[0])
        cases = call.args[1]
        assert isinstance(cases, ast.List) and cases.elts
        for case in cases.elts:
            assert isinstance(case, ast.Call) and case.func.id == "dict" and not case.args
            values = {kw.arg: ast.literal_eval(kw.value) for kw in case.keywords}
            assert "seed" in values, f"{name}: every case is seeded"
            build(name, values)  # builds without touching student code


# ----------------------------------------------------------------------------- grader oracles
def _numeric(f, x, dout, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(f() * dout)
        x[idx] = old - h
        minus = np.sum(f() * dout)
        x[idx] = old
        g[idx] = (plus - minus) / (2 * h)
    return g


@pytest.mark.parametrize("S,P,wshape", [(1, 1, (3, 2, 3, 3)), (2, 0, (2, 2, 2, 3)),
                                        (3, 2, (2, 2, 3, 1))])
def test_reference_conv_against_loops_and_finite_differences(S, P, wshape):
    rng = np.random.default_rng(S * 10 + P)
    x, w = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal(wshape)
    b = rng.standard_normal(wshape[0])
    out = ref.conv_forward(x, w, b, S, P)
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    HH, WW = wshape[2:]
    for n, f, i, j in np.ndindex(out.shape):  # the definition, one entry at a time
        want = np.sum(xp[n, :, i * S:i * S + HH, j * S:j * S + WW] * w[f]) + b[f]
        assert abs(out[n, f, i, j] - want) < 1e-10
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ref.conv_backward(dout, x, w, S, P)
    assert np.allclose(dx, _numeric(lambda: ref.conv_forward(x, w, b, S, P), x, dout), atol=1e-6)
    assert np.allclose(dw, _numeric(lambda: ref.conv_forward(x, w, b, S, P), w, dout), atol=1e-6)
    assert np.allclose(db, _numeric(lambda: ref.conv_forward(x, w, b, S, P), b, dout), atol=1e-6)


@pytest.mark.parametrize("ph,pw,S", [(2, 2, 2), (3, 3, 2), (2, 3, 1)])
def test_reference_pool_against_loops_and_finite_differences(ph, pw, S):
    rng = np.random.default_rng(ph * 100 + pw * 10 + S)
    x = rng.standard_normal((2, 2, 7, 6))
    out = ref.max_pool_forward(x, ph, pw, S)
    for n, c, i, j in np.ndindex(out.shape):
        assert out[n, c, i, j] == x[n, c, i * S:i * S + ph, j * S:j * S + pw].max()
    dout = rng.standard_normal(out.shape)
    dx = ref.max_pool_backward(dout, x, ph, pw, S)
    assert np.allclose(dx, _numeric(lambda: ref.max_pool_forward(x, ph, pw, S), x, dout), atol=1e-6)


@pytest.mark.parametrize("spatial", [False, True])
def test_reference_batchnorm_against_formula_and_finite_differences(spatial):
    rng = np.random.default_rng(7)
    shape = (3, 2, 3, 4) if spatial else (6, 4)
    C = shape[1]
    x = 2 + 3 * rng.standard_normal(shape)
    gamma, beta = rng.uniform(0.5, 2, C), rng.standard_normal(C)
    fwd = ref.spatial_bn_forward if spatial else ref.bn_forward
    back = ref.spatial_bn_backward if spatial else ref.bn_backward
    out, rm, rv = fwd(x, gamma, beta, eps=0.1, momentum=0.8)
    axes = (0, 2, 3) if spatial else (0,)
    view = (1, C, 1, 1) if spatial else (1, C)
    mu, var = x.mean(axis=axes), ((x - x.mean(axis=axes, keepdims=True)) ** 2).mean(axis=axes)
    want = gamma.reshape(view) * (x - mu.reshape(view)) / np.sqrt(var.reshape(view) + 0.1) \
        + beta.reshape(view)
    assert np.allclose(out, want) and np.allclose(rm, 0.2 * mu) and np.allclose(rv, 0.2 * var)
    test_out, _, _ = fwd(x, gamma, beta, mode="test", eps=0.1, running_mean=mu, running_var=var)
    assert np.allclose(test_out, want)
    dout = rng.standard_normal(shape)
    dx, dgamma, dbeta = back(dout, x, gamma, eps=0.1)
    f = lambda: fwd(x, gamma, beta, eps=0.1)[0]  # noqa: E731
    assert np.allclose(dx, _numeric(f, x, dout), atol=1e-6)
    assert np.allclose(dgamma, _numeric(f, gamma, dout), atol=1e-6)
    assert np.allclose(dbeta, _numeric(f, beta, dout), atol=1e-6)


# ----------------------------------------------------------------------------- the judge
def _loop_conv(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    return ref.conv_forward(x, w, b, S, P), (x, w, b, conv_param)


def test_check_passes_quietly_and_returns_nothing(capsys):
    # a returned value would be taken by nbgrader as partial credit
    assert check("conv_forward_naive", [dict(x=(1, 2, 4, 4), w=(2, 2, 3, 3), stride=1, pad=1,
                                              seed=0)], {"conv_forward_naive": _loop_conv}) is None
    assert "all 1 hidden cases passed" in capsys.readouterr().out


def test_failure_report_names_case_shape_and_cause_without_source():
    def no_stride(x, w, b, conv_param):
        return _loop_conv(x, w, b, {"stride": 1, "pad": conv_param["pad"]})
    cases = [dict(x=(2, 3, 5, 5), w=(3, 3, 3, 3), stride=1, pad=1, seed=1),
             dict(x=(2, 3, 7, 7), w=(3, 3, 3, 3), stride=2, pad=1, seed=2)]
    with pytest.raises(GradingFailure) as info:
        check("conv_forward_naive", cases, {"conv_forward_naive": no_stride})
    report = "\n".join(info.value._render_traceback_())
    assert "failed 1 of 2 hidden cases" in report
    assert "case 2 (x (2, 3, 7, 7), w (3, 3, 3, 3), stride 2, pad 1)" in report
    assert "out has shape (2, 3, 7, 7), expected (2, 3, 4, 4)" in report
    assert "likely cause: the stride was ignored" in report
    assert "cases passed: 1" in report
    assert "File " not in report and "seed" not in report and "def " not in report


def test_failure_report_points_at_the_students_line():
    ns = {}
    exec(compile("def conv_forward_naive(x, w, b, conv_param):\n    return x[9, 9]\n",
                 "/tmp/ipykernel_1/123.py", "exec"), ns)
    with pytest.raises(GradingFailure) as info:
        check("conv_forward_naive", [dict(x=(1, 1, 3, 3), w=(1, 1, 2, 2), stride=1, pad=0,
                                          seed=0)], ns)
    assert "raised IndexError" in info.value.report and "line 2" in info.value.report


def test_missing_function_and_unimplemented_are_verdicts_not_crashes():
    def stub(*args):
        raise NotImplementedError()
    with pytest.raises(GradingFailure, match="not defined"):
        check("max_pool_forward_naive", [dict(x=(1, 1, 4, 4), pool_height=2, pool_width=2,
                                              stride=2, seed=0)], {})
    with pytest.raises(GradingFailure, match="max_pool_forward_naive is not implemented yet.*"
                                             "so max_pool_backward_naive could not be tested"):
        check("max_pool_backward_naive", [dict(x=(1, 1, 4, 4), pool_height=2, pool_width=2,
                                               stride=2, seed=0)],
              {"max_pool_forward_naive": stub, "max_pool_backward_naive": stub})


def test_judge_tolerance_accepts_float32_and_rejects_small_bugs():
    case = dict(x=(4, 3), eps=0.5, seed=3)
    inputs = build("batchnorm_backward", case)
    want = expected("batchnorm_backward", case, inputs)
    f32 = {k: v.astype(np.float32) for k, v in want.items()}
    assert judge("batchnorm_backward", case, inputs, f32)[0]
    off = dict(want, dgamma=want["dgamma"] * (1 + 10 * TOL))
    ok, lines = judge("batchnorm_backward", case, inputs, off)
    assert not ok and lines[0].startswith("dgamma wrong by up to") and "dx and dbeta correct" in lines[0]


def test_invoke_gives_students_copies():
    def vandal(x, pool_param):
        x[...] = 0  # a student writing into its input must not change the judge's copy
        return x[:, :, ::2, ::2], None
    case = dict(x=(1, 1, 4, 4), pool_height=2, pool_width=2, stride=2, seed=5)
    inputs = build("max_pool_forward_naive", case)
    before = inputs["x"].copy()
    invoke("max_pool_forward_naive", case, inputs, {"max_pool_forward_naive": vandal})
    assert np.array_equal(inputs["x"], before)


# ----------------------------------------------------------------------------- nbgrader validate
def test_validate_passes_sources_and_fails_releases(tmp_path):
    course = make_course(tmp_path)
    sources = [f"solutions/{a}/{NOTEBOOKS[a]}.ipynb" for a in ASSIGNMENTS]
    out = nbgrader("validate", *sources, cwd=course).stdout
    assert out.count("Success! Your notebook passes all the tests.") == len(sources), out[-3000:]
    student = tmp_path / "student"  # a student's folder: released notebooks, no grader, no config
    student.mkdir()
    for a in ASSIGNMENTS:
        (student / f"{a}.ipynb").write_text(release_path(a).read_text())
    out = nbgrader("validate", *[f"{a}.ipynb" for a in ASSIGNMENTS], cwd=student).stdout
    assert out.count("VALIDATION FAILED") == len(ASSIGNMENTS), out[-3000:]
    assert "NotImplementedError" in out


def test_unexplained_errors_get_a_hint_about_where_they_sit():
    def ones_padding(x, w, b, conv_param):  # pads with ones: matches no catalogued bug
        P = conv_param["pad"]
        xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)), constant_values=1.0)
        return ref.conv_forward(xp, w, b, conv_param["stride"], 0), None
    with pytest.raises(GradingFailure, match="right in the interior and wrong only where a window "
                                             "reaches into the zero padding"):
        check("conv_forward_naive", [dict(x=(2, 3, 5, 5), w=(2, 3, 3, 3), stride=1, pad=1,
                                          seed=1)], {"conv_forward_naive": ones_padding})
