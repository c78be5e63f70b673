"""The gradient checker itself, against derivatives worked out by hand."""
import numpy as np
import pytest

from cs231n_lib.gradcheck import compare, numerical_gradient, numerical_gradient_array, rel_error


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
