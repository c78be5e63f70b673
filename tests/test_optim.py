"""Update rules, schedules and the 2-D optimiser demos in cs231n_lib.optim.

Oracles: the update equations written out again here, closed forms for SGD on a quadratic, the
original (non-reparametrised) form of Nesterov momentum, and minima known by construction.
"""
import math
import warnings

import numpy as np
import pytest

from cs231n_lib import optim
from cs231n_lib.data import SURFACES

W0 = np.array([1.0, -2.0, 0.5])
GRADS = [np.array([0.3, -1.0, 2.0]), np.array([-0.2, 0.5, 1.5]), np.array([0.1, 0.1, -4.0])]


def run(rule, config, steps=3):
    """Apply `rule` to W0 with the gradients GRADS, returning every iterate."""
    w, out = W0.copy(), []
    for dw in GRADS[:steps]:
        w, config = rule(w, dw, config)
        out.append(w)
    return out


# --------------------------------------------------------------------------- first steps by hand
def test_sgd_steps():
    lr = 0.1
    w = W0.copy()
    for got, dw in zip(run(optim.sgd, {"learning_rate": lr}), GRADS):
        w = w - lr * dw
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_sgd_momentum_steps():
    lr, mu = 0.1, 0.9
    w, v = W0.copy(), np.zeros(3)
    for got, dw in zip(run(optim.sgd_momentum, {"learning_rate": lr, "momentum": mu}), GRADS):
        v = mu * v - lr * dw
        w = w + v
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_nesterov_steps_by_hand():
    lr, mu = 0.1, 0.9
    w, v = W0.copy(), np.zeros(3)
    for got, dw in zip(run(optim.nesterov_momentum, {"learning_rate": lr, "momentum": mu}), GRADS):
        v_prev = v
        v = mu * v - lr * dw
        w = w - mu * v_prev + (1 + mu) * v
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_nesterov_equals_lookahead_form():
    """The returned w is Nesterov's look-ahead point theta + mu * v of the textbook form."""
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    grad = lambda p: A @ p
    lr, mu = 0.05, 0.9
    theta, v = np.array([2.0, -1.0]), np.zeros(2)       # textbook: gradient at theta + mu v
    w, config = theta.copy(), {"learning_rate": lr, "momentum": mu}
    for _ in range(20):
        v = mu * v - lr * grad(theta + mu * v)
        theta = theta + v
        w, config = optim.nesterov_momentum(w, grad(w), config)
        np.testing.assert_allclose(w, theta + mu * v, rtol=1e-10, atol=1e-12)


def test_adagrad_steps():
    lr, eps = 0.5, 1e-8
    w, cache = W0.copy(), np.zeros(3)
    for got, dw in zip(run(optim.adagrad, {"learning_rate": lr}), GRADS):
        cache = cache + dw ** 2
        w = w - lr * dw / (np.sqrt(cache) + eps)
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_rmsprop_steps():
    lr, rho, eps = 0.01, 0.9, 1e-8
    w, cache = W0.copy(), np.zeros(3)
    for got, dw in zip(run(optim.rmsprop, {"learning_rate": lr, "decay_rate": rho}), GRADS):
        cache = rho * cache + (1 - rho) * dw ** 2
        w = w - lr * dw / (np.sqrt(cache) + eps)
        np.testing.assert_allclose(got, w, rtol=1e-12)


@pytest.mark.parametrize("bias_correction", [True, False])
def test_adam_steps(bias_correction):
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-8
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    config = {"learning_rate": lr, "beta1": b1, "beta2": b2, "bias_correction": bias_correction}
    for t, (got, dw) in enumerate(zip(run(optim.adam, config), GRADS), start=1):
        m = b1 * m + (1 - b1) * dw
        v = b2 * v + (1 - b2) * dw * dw
        m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_first_step_sizes_known_in_closed_form():
    """AdaGrad's and bias-corrected Adam's first step is lr per coordinate; RMSProp's is lr/sqrt(1-rho)."""
    dw = GRADS[0]
    step = lambda rule, cfg: W0 - rule(W0, dw, cfg)[0]
    np.testing.assert_allclose(step(optim.adagrad, {"learning_rate": 0.3}), 0.3 * np.sign(dw), rtol=1e-7)
    np.testing.assert_allclose(step(optim.adam, {"learning_rate": 0.3}), 0.3 * np.sign(dw), rtol=1e-7)
    np.testing.assert_allclose(step(optim.rmsprop, {"learning_rate": 0.3, "decay_rate": 0.99}),
                               0.3 / math.sqrt(0.01) * np.sign(dw), rtol=1e-6)


def test_adam_bias_correction_first_step():
    """Without correction the first step is (1-b1)/sqrt(1-b2) times the corrected one.

    Both moments are biased towards zero. With the default betas (0.9, 0.999) the tiny second
    moment wins and the uncorrected first step is ~3.2x LARGER; with b1 = b2 = 0.9 it is smaller.
    """
    dw = GRADS[0]
    for b1, b2 in [(0.9, 0.999), (0.9, 0.9)]:
        cfg = {"learning_rate": 1e-3, "beta1": b1, "beta2": b2}
        on = np.abs(W0 - optim.adam(W0, dw, dict(cfg))[0])
        off = np.abs(W0 - optim.adam(W0, dw, dict(cfg, bias_correction=False))[0])
        np.testing.assert_allclose(off / on, (1 - b1) / math.sqrt(1 - b2), rtol=1e-5)  # eps=1e-8 aside
    assert (1 - 0.9) / math.sqrt(1 - 0.999) > 3        # default: uncorrected step larger
    assert (1 - 0.9) / math.sqrt(1 - 0.9) < 1          # equal betas: uncorrected step smaller


# --------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("name", sorted(optim.RULES))
def test_config_defaults_and_state(name):
    rule = optim.RULES[name]
    w1, config = rule(W0, GRADS[0])
    assert "learning_rate" in config and config["learning_rate"] > 0
    if name == "adam":
        assert config["bias_correction"] is True and config["t"] == 1
    _, config2 = rule(w1, GRADS[1], config)
    assert config2 is config                              # updated in place and returned
    if name == "adam":
        assert config["t"] == 2


@pytest.mark.parametrize("name", sorted(optim.RULES))
def test_unknown_config_key_is_named(name):
    with pytest.raises(TypeError, match="learning rate"):
        optim.RULES[name](W0, GRADS[0], {"learning rate": 0.1})


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        optim.sgd(W0, np.ones(2))
    with pytest.raises(ValueError, match="learning_rate"):
        optim.sgd(W0, GRADS[0], {"learning_rate": -1.0})
    with pytest.raises(ValueError, match="shape"):        # one config shared by two parameter arrays
        _, cfg = optim.sgd_momentum(W0, GRADS[0])
        optim.sgd_momentum(np.ones((2, 2)), np.ones((2, 2)), cfg)
    with pytest.raises(ValueError, match="unknown update rule"):
        optim.run_optimizer("sgdd", lambda p: p, [1.0, 1.0], 3)


@pytest.mark.parametrize("name", sorted(optim.RULES))
def test_float32_stays_float32(name):
    w = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    dw = np.full((2, 3), 0.5, dtype=np.float32)
    config = {"learning_rate": np.float64(1e-2)}          # a float64 scalar must not upcast w
    for _ in range(2):
        w, config = optim.RULES[name](w, dw, config)
    assert w.dtype == np.float32


RATES = {"sgd": 0.1, "sgd_momentum": 0.05, "nesterov_momentum": 0.05, "adagrad": 0.5,
         "rmsprop": 0.01, "adam": 0.05}


@pytest.mark.parametrize("name", sorted(optim.RULES))
def test_every_rule_minimises_a_convex_quadratic(name):
    A = np.array([[4.0, 1.0], [1.0, 1.0]])               # positive definite
    c = np.array([1.5, -0.5])                             # the minimum, by construction
    f = lambda p: 0.5 * (p - c) @ A @ (p - c)
    x0 = np.array([-2.0, 2.0])
    path = optim.run_optimizer(name, lambda p: A @ (p - c), x0, 500, {"learning_rate": RATES[name]})
    assert path.shape == (501, 2)
    assert f(path[-1]) < 1e-3 * f(x0)
    assert np.linalg.norm(path[-1] - c) < 0.05


# --------------------------------------------------------------------------- schedules
def test_step_decay():
    assert optim.step_decay(0.1, 0) == pytest.approx(0.1)
    assert optim.step_decay(0.1, 9) == pytest.approx(0.1)
    assert optim.step_decay(0.1, 10) == pytest.approx(0.01)
    assert optim.step_decay(0.1, 25) == pytest.approx(0.001)
    assert optim.step_decay(1.0, 6, drop=0.5, every=3) == pytest.approx(0.25)
    np.testing.assert_allclose(optim.step_decay(1.0, np.arange(4), drop=0.5, every=2), [1, 1, 0.5, 0.5])


def test_exponential_decay():
    assert optim.exponential_decay(0.1, 0, 0.5) == pytest.approx(0.1)
    assert optim.exponential_decay(0.1, 4, 0.5) == pytest.approx(0.1 * math.exp(-2.0))


def test_cosine_schedule():
    lr0, lr_min, T = 0.1, 0.01, 20
    assert optim.cosine_schedule(lr0, 0, T, lr_min) == pytest.approx(lr0)
    assert optim.cosine_schedule(lr0, T // 2, T, lr_min) == pytest.approx((lr0 + lr_min) / 2)
    assert optim.cosine_schedule(lr0, T, T, lr_min) == pytest.approx(lr_min)
    assert optim.cosine_schedule(lr0, 5, T) == pytest.approx(lr0 * (1 + math.cos(math.pi / 4)) / 2)
    assert optim.cosine_schedule(lr0, 3 * T, T, lr_min) == pytest.approx(lr_min)
    with pytest.raises(ValueError):
        optim.cosine_schedule(lr0, -1, T)


# --------------------------------------------------------------------------- 2-D demos
def test_run_optimizer_sgd_matches_closed_form():
    """SGD on f = (a x^2 + b y^2)/2 multiplies each coordinate by (1 - lr a) and (1 - lr b) per step."""
    a, b, lr = 0.1, 4.0, 0.2
    x0 = np.array([-9.0, 2.0])
    cfg = {"learning_rate": lr}
    path = optim.run_optimizer(optim.sgd, lambda p: np.array([a, b]) * p, x0, 30, cfg)
    t = np.arange(31)[:, None]
    np.testing.assert_allclose(path, x0 * np.array([1 - lr * a, 1 - lr * b]) ** t, rtol=1e-10)
    assert cfg == {"learning_rate": lr}                   # the caller's dict is not touched


def test_run_optimizer_stops_a_diverging_run_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = optim.run_optimizer("sgd", lambda p: 4.0 * p, [1.0, 1.0], 1000, {"learning_rate": 1.0})
    assert len(path) < 1001 and np.all(np.isfinite(path))


def test_newton_one_step_on_a_quadratic():
    A = np.array([[5.0, 2.0], [2.0, 1.0]])
    c = np.array([-1.0, 3.0])
    path = optim.newton_method(lambda p: 0.5 * (p - c) @ A @ (p - c), lambda p: A @ (p - c),
                               lambda p: A, [4.0, 4.0], num_steps=3)
    assert path.shape == (4, 2)
    np.testing.assert_allclose(path[0], [4.0, 4.0])
    np.testing.assert_allclose(path[1], c, atol=1e-12)


def test_newton_one_step_on_the_ravine():
    s = SURFACES["ravine"]
    path = optim.newton_method(s.f, s.grad, s.hess, s.start, num_steps=1)
    np.testing.assert_allclose(path[-1], s.minimum, atol=1e-12)


def test_lbfgs_converges_on_the_ravine():
    s = SURFACES["ravine"]
    path = optim.lbfgs_trajectory(s.f, s.grad, s.start, maxiter=50)
    assert path.ndim == 2 and path.shape[1] == 2 and 2 <= len(path) <= 51
    np.testing.assert_allclose(path[0], s.start)
    np.testing.assert_allclose(path[-1], s.minimum, atol=1e-4)
    # and it gets there far faster than plain SGD at its best stable rate
    sgd_path = optim.run_optimizer("sgd", s.grad, s.start, len(path) - 1, {"learning_rate": 0.45})
    assert np.linalg.norm(sgd_path[-1] - s.minimum) > 100 * np.linalg.norm(path[-1] - s.minimum)
