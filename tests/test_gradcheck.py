"""The gradient checker itself, against derivatives worked out by hand."""
import subprocess
import sys

import numpy as np
import pytest

from cs231n_lib.gradcheck import (compare, numerical_gradient, numerical_gradient_array,
                                  numerical_gradient_entries, rel_error, spread_entries)


@pytest.fixture
def rng():
    return np.random.default_rng(231)


def test_numerical_gradient_of_sum_of_cubes(rng):
    x = rng.standard_normal((3, 4))
    grad = numerical_gradient(lambda x: np.sum(x ** 3), x)
    assert grad.shape == x.shape
    assert rel_error(grad, 3 * x ** 2) < 1e-8


def test_numerical_gradient_of_quadratic_form(rng):
    # f(x) = x^T A x has gradient (A + A^T) x
    A = rng.standard_normal((5, 5))
    x = rng.standard_normal(5)
    grad = numerical_gradient(lambda x: x @ A @ x, x)
    assert rel_error(grad, (A + A.T) @ x) < 1e-8


def test_numerical_gradient_accepts_a_closure_without_arguments(rng):
    x = rng.standard_normal(4)
    grad = numerical_gradient(lambda: np.sum(np.sin(x)), x)  # closes over x, perturbed in place
    assert rel_error(grad, np.cos(x)) < 1e-8


def test_numerical_gradient_restores_x_exactly(rng):
    x = rng.standard_normal((2, 3))
    before = x.copy()
    numerical_gradient(lambda x: np.sum(np.exp(x)), x)
    assert np.array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def f(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert np.array_equal(x, [1.0, 2.0])


def test_numerical_gradient_rejects_integer_arrays():
    with pytest.raises(TypeError, match="floating"):
        numerical_gradient(lambda x: x.sum(), np.arange(3))


def test_numerical_gradient_array_of_elementwise_square(rng):
    x = rng.standard_normal((3, 2))
    dout = rng.standard_normal((3, 2))
    grad = numerical_gradient_array(lambda x: x ** 2, x, dout)
    assert rel_error(grad, 2 * x * dout) < 1e-8


def test_numerical_gradient_array_of_matrix_product(rng):
    # out = W @ A  =>  d sum(out * dout) / dW = dout @ A^T
    W, A = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    dout = rng.standard_normal((3, 2))
    grad = numerical_gradient_array(lambda W: W @ A, W, dout)
    assert rel_error(grad, dout @ A.T) < 1e-8


def test_numerical_gradient_array_copes_with_f_returning_a_view(rng):
    x = rng.standard_normal(4)
    dout = rng.standard_normal(4)
    grad = numerical_gradient_array(lambda x: x, x, dout)  # identity returns x itself
    assert rel_error(grad, dout) < 1e-8


def test_numerical_gradient_array_rejects_mismatched_dout():
    with pytest.raises(ValueError, match=r"dout has shape \(3,\).*\(2,\)"):
        numerical_gradient_array(lambda x: x * 2, np.ones(2), np.ones(3))


def test_a_wrong_gradient_is_caught(rng):
    # the check must be able to fail: d/dx x^3 is not 2x^2
    x = rng.standard_normal(6) + 3.0
    grad = numerical_gradient(lambda x: np.sum(x ** 3), x)
    assert rel_error(grad, 2 * x ** 2) > 0.1


def test_rel_error_hand_cases():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)                 # 2 / 4
    assert rel_error([1.0, 10.0], [1.0, 11.0]) == pytest.approx(1 / 21)  # worst entry wins
    assert rel_error([0.0], [1e-12]) == pytest.approx(1e-4)               # 1e-12 / 1e-8 floor
    with pytest.raises(ValueError, match=r"\(2,\) vs \(3,\)"):
        rel_error(np.ones(2), np.ones(3))


def test_compare_prints_and_reports(capsys):
    a = np.array([1.0, 2.0, 3.0])
    exact = compare("same", a, a.copy())
    assert exact == {"name": "same", "exact": True, "approx": True, "max_diff": 0.0}
    near = compare("near", a, a + 1e-10)
    assert not near["exact"] and near["approx"] and near["max_diff"] == pytest.approx(1e-10, rel=1e-3)
    far = compare("far", a, a + [0, 0, 0.5])
    assert not far["exact"] and not far["approx"] and far["max_diff"] == pytest.approx(0.5)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert "exact: True" in lines[0] and "approx: True" in lines[0]
    assert "exact: False" in lines[2] and "approx: False" in lines[2] and "max diff: 5.000e-01" in lines[2]
    with pytest.raises(ValueError, match="shapes differ"):
        compare("bad", np.ones(2), np.ones((2, 1)))


# ----------------------------------------------------------------------------- a few entries only
def test_spread_entries_hand_cases():
    # 5 of 24 entries: flat positions 0, 6 (5.75 rounded), 12 (11.5), 17 (17.25), 23
    rows, cols, deps = spread_entries((2, 3, 4), 5)
    assert list(zip(rows, cols, deps)) == [(0, 0, 0), (0, 1, 2), (1, 0, 0), (1, 1, 1), (1, 2, 3)]
    a = np.arange(24.0).reshape(2, 3, 4)
    assert a[spread_entries(a.shape, 5)].tolist() == [0, 6, 12, 17, 23]
    assert a[spread_entries(a.shape, 100)].tolist() == list(range(24))  # all when num >= size
    assert spread_entries(7, 1) == (np.array([0]),)  # an int shape is a 1-D array


@pytest.mark.parametrize("num", [0, -1, 2.5, True, "3"])
def test_spread_entries_rejects_a_bad_count(num):
    with pytest.raises(ValueError, match="whole number >= 1"):
        spread_entries((3, 3), num)


def test_spread_entries_rejects_an_empty_array():
    with pytest.raises(ValueError, match="no entries"):
        spread_entries((2, 0), 3)


def test_numerical_gradient_entries_matches_the_full_gradient_there(rng):
    x = rng.standard_normal((3, 4, 5))
    dout = rng.standard_normal((3, 4, 5))
    f = lambda x: np.sin(x) * x.sum()  # noqa: E731 -- every output depends on every entry
    at = spread_entries(x.shape, 9)
    grad = numerical_gradient_entries(f, x, dout, at)
    assert grad.shape == (9,)
    assert rel_error(grad, numerical_gradient_array(f, x, dout)[at]) < 1e-9
    # analytic: d/dx_k sum(sin(x) * S * dout) = cos(x_k) S dout_k + sum(sin(x) * dout)
    exact = np.cos(x) * x.sum() * dout + np.sum(np.sin(x) * dout)
    assert rel_error(grad, exact[at]) < 1e-7


def test_numerical_gradient_entries_calls_f_twice_per_entry_and_restores_x(rng):
    x = rng.standard_normal((4, 6))
    before = x.copy()
    calls = []

    def f(x):
        calls.append(1)
        return 2 * x

    at = (np.array([0, 3, 3]), np.array([5, 0, 2]))
    grad = numerical_gradient_entries(f, x, np.ones((4, 6)), at)
    assert len(calls) == 6
    assert np.allclose(grad, 2.0) and np.array_equal(x, before)


def test_numerical_gradient_entries_accepts_np_nonzero_and_catches_a_wrong_entry(rng):
    x = rng.standard_normal((3, 3))
    dout = np.ones((3, 3))
    wrong = 3 * x ** 2
    wrong[1, 1] = 0.0  # one wrong entry: found only when it is checked
    diag = np.nonzero(np.eye(3))
    num = numerical_gradient_entries(lambda x: x ** 3, x, dout, diag)
    assert rel_error(wrong[diag], num) > 0.1
    corners = (np.array([0, 2]), np.array([0, 2]))
    assert rel_error(wrong[corners], numerical_gradient_entries(lambda x: x ** 3, x, dout, corners)) < 1e-7


@pytest.mark.parametrize("entries,match", [
    ([np.array([0]), np.array([0])], "tuple of 2 index arrays"),
    ((np.array([0]),), "got tuple of length 1"),
    ((np.array([0.0]), np.array([1.0])), "integer indices"),
    ((np.array([0]), np.array([3])), r"do not fit an array of shape \(2, 3\)"),
    ((np.array([-1]), np.array([0])), r"do not fit an array of shape \(2, 3\)"),
])
def test_numerical_gradient_entries_rejects_bad_entries(entries, match):
    with pytest.raises(ValueError, match=match):
        numerical_gradient_entries(lambda x: x, np.zeros((2, 3)), np.ones((2, 3)), entries)


def test_numerical_gradient_entries_checks_x_h_and_dout():
    at = (np.array([0]),)
    with pytest.raises(TypeError, match="floating"):
        numerical_gradient_entries(lambda x: x, np.arange(3), np.ones(3), at)
    with pytest.raises(ValueError, match="step h"):
        numerical_gradient_entries(lambda x: x, np.zeros(3), np.ones(3), at, h=0)
    with pytest.raises(ValueError, match=r"dout has shape \(2,\)"):
        numerical_gradient_entries(lambda x: x, np.zeros(3), np.ones(2), at)


def test_spread_entries_are_distinct_and_span_the_array():
    for size in range(1, 120):
        for num in range(1, size + 2):
            flat = np.ravel_multi_index(spread_entries((size,), num), (size,))
            assert len(flat) == min(num, size) and np.all(np.diff(flat) > 0), (size, num)
            assert flat[0] == 0 and (num == 1 or flat[-1] == size - 1), (size, num)


def test_sampled_checks_import_nothing_heavy():
    # The assignments' gradient checks run in every graded notebook: np.unique, for one, imports
    # numpy.ma on first use (about 20 ms).
    code = ("import sys, numpy as np\n"
            "from cs231n_lib.gradcheck import numerical_gradient_entries, spread_entries\n"
            "before = set(sys.modules)\n"
            "x = np.ones((2, 3, 4)); at = spread_entries(x.shape, 5)\n"
            "numerical_gradient_entries(lambda x: 2 * x, x, np.ones_like(x), at)\n"
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True).stdout.strip()
    assert out == "[]", f"first use imports {out}"
