"""cs231n_lib.layers against independent oracles: finite differences, hand-worked cases, loops, scipy."""
import math

import numpy as np
import pytest
from scipy.special import expit, log_softmax

from cs231n_lib import layers as L
from cs231n_lib.gradcheck import numerical_gradient, numerical_gradient_array, rel_error

TOL = 1e-7  # float64 centred differences; a wrong backward pass scores near 1
SEEDS = [0, 1, 2]  # seed 0 always uses a batch of one (N = 1)


def batch_size(rng, seed):
    return 1 if seed == 0 else int(rng.integers(2, 5))


def away_from_kinks(x, eps=1e-3):
    """Move entries off the kink at 0 so a step of h = 1e-5 never crosses it."""
    x = x.copy()
    x[np.abs(x) < eps] += 2 * eps
    return x


def check_grads(forward, args, grads, dout, which):
    """Each analytic gradient grads[j] vs centred differences of forward(...)[0] w.r.t. args[which[j]]."""
    for i, grad in zip(which, grads):
        def f(a, i=i):
            new = list(args)
            new[i] = a
            return forward(*new)[0]

        num = numerical_gradient_array(f, args[i], dout)
        assert grad.shape == args[i].shape
        assert rel_error(grad, num) < TOL, f"gradient w.r.t. argument {i}: rel error {rel_error(grad, num):.2e}"


# ----------------------------------------------------------------------------- affine
def test_affine_forward_hand_case():
    x = np.array([[1.0, 2.0, 3.0],
                  [4.0, 5.0, 6.0]])
    w = np.array([[1.0, 0.0],
                  [0.0, 1.0],
                  [1.0, 1.0]])
    b = np.array([10.0, 20.0])
    # row 0: [1 + 3 + 10, 2 + 3 + 20];  row 1: [4 + 6 + 10, 5 + 6 + 20]
    expected = np.array([[14.0, 25.0],
                         [20.0, 31.0]])
    out, _ = L.affine_forward(x, w, b)
    np.testing.assert_array_equal(out, expected)
    out_images, _ = L.affine_forward(x.reshape(2, 1, 3, 1), w, b)  # flattened per example
    np.testing.assert_array_equal(out_images, expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_backward(seed):
    rng = np.random.default_rng(seed)
    N = batch_size(rng, seed)
    d1, d2, M = rng.integers(1, 4, size=3)
    x = rng.standard_normal((N, d1, d2))
    w = rng.standard_normal((d1 * d2, M))
    b = rng.standard_normal(M)
    out, cache = L.affine_forward(x, w, b)
    assert out.shape == (N, M)
    dout = rng.standard_normal(out.shape)
    check_grads(L.affine_forward, [x, w, b], L.affine_backward(dout, cache), dout, [0, 1, 2])


def test_affine_errors():
    x, w, b = np.ones((4, 7)), np.ones((6, 3)), np.ones(3)
    with pytest.raises(ValueError, match=r"x has 7 features per example \(x shape \(4, 7\)\) "
                                         r"but w expects D = 6 \(w shape \(6, 3\)\)"):
        L.affine_forward(x, w, b)
    with pytest.raises(ValueError, match=r"b has 2 entries.*M = 3"):
        L.affine_forward(np.ones((4, 6)), w, np.ones(2))
    with pytest.raises(ValueError, match=r"x must have at least 2 dimensions.*\(6,\)"):
        L.affine_forward(np.ones(6), w, b)
    with pytest.raises(ValueError, match=r"w must have 2 dimensions"):
        L.affine_forward(np.ones((4, 6)), np.ones(6), b)
    with pytest.raises(TypeError, match="numeric"):
        L.affine_forward(np.array([["a"] * 6]), w, b)
    _, cache = L.affine_forward(np.ones((4, 6)), w, b)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 2\).*\(4, 3\)"):
        L.affine_backward(np.ones((4, 2)), cache)


# ----------------------------------------------------------------------------- activations
def test_activation_forward_hand_cases():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(L.relu_forward(x)[0], [0, 0, 0, 0.5, 3])
    np.testing.assert_allclose(L.leaky_relu_forward(x, alpha=0.1)[0], [-0.2, -0.05, 0, 0.5, 3])
    np.testing.assert_allclose(L.leaky_relu_forward(x)[0], [-0.02, -0.005, 0, 0.5, 3])
    np.testing.assert_allclose(L.tanh_forward(x)[0], [(math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) for v in x])


def test_elu_at_known_points():
    x = np.array([-50.0, -1.0, 0.0, 1.0, 100.0, 800.0])  # 800: exp would overflow if evaluated
    out, _ = L.elu_forward(x, alpha=2.0)
    np.testing.assert_allclose(out, [-2.0, 2.0 * (math.exp(-1) - 1), 0.0, 1.0, 100.0, 800.0], rtol=1e-12)
    slope = L.elu_backward(np.ones_like(x), L.elu_forward(x, alpha=2.0)[1])
    np.testing.assert_allclose(slope, [2 * math.exp(-50), 2 * math.exp(-1), 2.0, 1.0, 1.0, 1.0], rtol=1e-12)


def test_sigmoid_matches_scipy_and_is_stable():
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 30.0, 1000.0])
    out, _ = L.sigmoid_forward(x)  # pytest turns overflow warnings in cs231n_lib into errors
    np.testing.assert_allclose(out, expit(x), rtol=1e-14, atol=0)
    assert out[3] == 0.5 and out[0] == 0.0 and out[-1] == 1.0
    out32, _ = L.sigmoid_forward(x.astype(np.float32))
    assert np.all(np.isfinite(out32))


def test_prelu_forward_per_channel_against_loop():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5))
    alpha = np.array([0.1, -0.3, 2.0])
    out, _ = L.prelu_forward(x, alpha)
    expected = np.empty_like(x)
    for n, c, i, j in np.ndindex(x.shape):
        v = x[n, c, i, j]
        expected[n, c, i, j] = v if v > 0 else alpha[c] * v
    np.testing.assert_array_equal(out, expected)
    # a shared scalar slope is leaky ReLU
    np.testing.assert_array_equal(L.prelu_forward(x, 0.2)[0], L.leaky_relu_forward(x, 0.2)[0])


ELEMENTWISE = {
    "relu": (L.relu_forward, L.relu_backward),
    "leaky_relu": (lambda x: L.leaky_relu_forward(x, alpha=0.1), L.leaky_relu_backward),
    "elu": (lambda x: L.elu_forward(x, alpha=1.5), L.elu_backward),
    "sigmoid": (L.sigmoid_forward, L.sigmoid_backward),
    "tanh": (L.tanh_forward, L.tanh_backward),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_backward(name, seed):
    forward, backward = ELEMENTWISE[name]
    rng = np.random.default_rng(seed)
    shape = (batch_size(rng, seed),) + tuple(rng.integers(1, 4, size=int(rng.integers(1, 4))))
    x = away_from_kinks(2 * rng.standard_normal(shape))
    out, cache = forward(x)
    assert out.shape == x.shape
    dout = rng.standard_normal(out.shape)
    check_grads(forward, [x], [backward(dout, cache)], dout, [0])


@pytest.mark.parametrize("alpha_kind", ["per_feature", "per_channel", "scalar"])
@pytest.mark.parametrize("seed", SEEDS)
def test_prelu_backward(alpha_kind, seed):
    rng = np.random.default_rng(seed)
    N = batch_size(rng, seed)
    if alpha_kind == "per_feature":
        x = rng.standard_normal((N, 5))
        alpha = rng.uniform(0, 0.5, size=5)
    else:
        x = rng.standard_normal((N, 3, 2, 3))
        alpha = rng.uniform(0, 0.5, size=3) if alpha_kind == "per_channel" else np.array(0.25)
    x = away_from_kinks(x)
    out, cache = L.prelu_forward(x, alpha)
    dout = rng.standard_normal(out.shape)
    dx, dalpha = L.prelu_backward(dout, cache)
    assert dalpha.shape == alpha.shape
    check_grads(L.prelu_forward, [x, alpha], [dx, dalpha], dout, [0, 1])


def test_prelu_errors():
    with pytest.raises(ValueError, match=r"alpha must have shape \(\) or \(3,\).*got alpha shape \(4,\)"):
        L.prelu_forward(np.ones((2, 3, 4, 4)), np.ones(4))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        L.prelu_forward(np.ones(3), np.ones(3))


def test_activation_errors():
    with pytest.raises(TypeError, match="alpha must be a real number"):
        L.leaky_relu_forward(np.ones(3), alpha="0.1")
    with pytest.raises(TypeError, match="alpha must be a real number"):
        L.elu_forward(np.ones(3), alpha=None)
    _, cache = L.relu_forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"relu_backward: dout has shape \(3, 2\).*\(2, 3\)"):
        L.relu_backward(np.ones((3, 2)), cache)


def test_activations_table():
    assert set(L.ACTIVATIONS) == {"sigmoid", "tanh", "relu", "leaky_relu", "elu"}
    x = away_from_kinks(np.linspace(-4, 4, 41))
    for name, (f, df) in L.ACTIVATIONS.items():
        value = f(x)
        assert value.shape == x.shape, name
        np.testing.assert_allclose(value, ELEMENTWISE_DEFAULTS[name](x), rtol=1e-14, err_msg=name)
        num = numerical_gradient_array(f, x.copy(), np.ones_like(x))  # elementwise f: d sum f / dx_i = f'(x_i)
        assert rel_error(df(x), num) < TOL, name


ELEMENTWISE_DEFAULTS = {  # the plotting table uses each function's default parameters
    "sigmoid": lambda x: expit(x),
    "tanh": np.tanh,
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
}


# ----------------------------------------------------------------------------- maxout
def test_maxout_with_a_zero_piece_is_relu():
    rng = np.random.default_rng(3)
    x, w0, b0 = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    w = np.stack([w0, np.zeros_like(w0)])  # (2, 5, 3)
    b = np.stack([b0, np.zeros_like(b0)])  # (2, 3)
    out, _ = L.maxout_forward(x, w, b)
    np.testing.assert_allclose(out, np.maximum(x @ w0 + b0, 0), rtol=1e-13)


def test_maxout_forward_against_loop():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 2))
    out, _ = L.maxout_forward(x, w, b)
    for n, m in np.ndindex(out.shape):
        pieces = [sum(x[n, d] * w[j, d, m] for d in range(4)) + b[j, m] for j in range(3)]
        assert out[n, m] == pytest.approx(max(pieces), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_maxout_backward(seed):
    rng = np.random.default_rng(seed)
    N = batch_size(rng, seed)
    k, D, M = rng.integers(2, 4), rng.integers(1, 5), rng.integers(1, 4)
    x, w, b = rng.standard_normal((N, D)), rng.standard_normal((k, D, M)), rng.standard_normal((k, M))
    out, cache = L.maxout_forward(x, w, b)
    assert out.shape == (N, M)
    dout = rng.standard_normal(out.shape)
    check_grads(L.maxout_forward, [x, w, b], L.maxout_backward(dout, cache), dout, [0, 1, 2])


def test_maxout_errors():
    with pytest.raises(ValueError, match=r"x has 7 features.*D = 6"):
        L.maxout_forward(np.ones((2, 7)), np.ones((2, 6, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(k, M\) = \(2, 3\).*got \(3, 2\)"):
        L.maxout_forward(np.ones((2, 6)), np.ones((2, 6, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"w must have 3 dimensions \(k, D, M\)"):
        L.maxout_forward(np.ones((2, 6)), np.ones((6, 3)), np.ones((2, 3)))


# ----------------------------------------------------------------------------- dropout
def test_dropout_preserves_expected_activation():
    p = 0.3
    x = np.full((500, 200), 2.0)
    out, _ = L.dropout_forward(x, {"p": p, "mode": "train", "seed": 0})
    assert set(np.unique(out)) == {0.0, 2.0 / p}  # dropped, or kept and scaled by 1/p
    # 1e5 draws: standard error of the kept fraction is sqrt(p(1-p)/1e5) ~ 0.0015
    assert np.mean(out != 0) == pytest.approx(p, abs=0.01)
    assert out.mean() == pytest.approx(2.0, rel=0.03)


def test_dropout_test_mode_and_keep_all_are_identity():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    dout = rng.standard_normal((4, 5))
    for param in ({"p": 0.5, "mode": "test"}, {"p": 1.0, "mode": "train", "seed": 3}):
        out, cache = L.dropout_forward(x, param)
        np.testing.assert_array_equal(out, x)
        np.testing.assert_array_equal(L.dropout_backward(dout, cache), dout)


def test_dropout_same_seed_same_mask():
    x = np.ones((10, 10))
    a, _ = L.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 7})
    b, _ = L.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 7})
    c, _ = L.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 8})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_backward(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size(rng, seed), 6))
    param = {"p": 0.6, "mode": "train", "seed": seed}  # fixed seed: the same mask on every call
    out, cache = L.dropout_forward(x, param)
    dout = rng.standard_normal(out.shape)
    check_grads(lambda x: L.dropout_forward(x, param), [x], [L.dropout_backward(dout, cache)], dout, [0])


def test_spatial_dropout_zeroes_whole_maps():
    rng = np.random.default_rng(1)
    x = rng.uniform(1, 2, size=(20, 8, 3, 4))  # no zeros of its own
    p = 0.5
    out, _ = L.spatial_dropout_forward(x, {"p": p, "mode": "train", "seed": 2})
    zero_maps = np.all(out == 0, axis=(2, 3))                 # (N, C)
    kept_maps = np.all(np.isclose(out, x / p), axis=(2, 3))   # (N, C)
    assert np.all(zero_maps ^ kept_maps)  # every map entirely dropped or entirely kept
    assert 0.3 < zero_maps.mean() < 0.7   # 160 maps, keep probability 0.5


def test_spatial_dropout_preserves_expected_activation_and_test_mode():
    x = np.ones((400, 50, 2, 2))
    out, _ = L.spatial_dropout_forward(x, {"p": 0.8, "mode": "train", "seed": 0})
    assert out.mean() == pytest.approx(1.0, rel=0.03)  # 2e4 maps: standard error ~0.0035
    out, cache = L.spatial_dropout_forward(x[:2], {"p": 0.8, "mode": "test"})
    np.testing.assert_array_equal(out, x[:2])
    np.testing.assert_array_equal(L.spatial_dropout_backward(x[:2] * 3, cache), x[:2] * 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_spatial_dropout_backward(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size(rng, seed), 3, 2, 3))
    param = {"p": 0.5, "mode": "train", "seed": seed}
    out, cache = L.spatial_dropout_forward(x, param)
    dout = rng.standard_normal(out.shape)
    dx = L.spatial_dropout_backward(dout, cache)
    check_grads(lambda x: L.spatial_dropout_forward(x, param), [x], [dx], dout, [0])


def test_dropout_errors():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="unknown dropout mode 'eval'"):
        L.dropout_forward(x, {"p": 0.5, "mode": "eval"})
    for p in (0, 0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"keep probability p must be in \(0, 1\]"):
            L.dropout_forward(x, {"p": p, "mode": "train"})
    with pytest.raises(ValueError, match="missing the key 'mode'"):
        L.dropout_forward(x, {"p": 0.5})
    with pytest.raises(TypeError, match="dropout_param must be a dict"):
        L.dropout_forward(x, 0.5)
    with pytest.raises(ValueError, match=r"x must have 4 dimensions \(N, C, H, W\), got shape \(2, 3\)"):
        L.spatial_dropout_forward(x, {"p": 0.5, "mode": "train"})
    _, cache = L.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 0})
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\)"):
        L.dropout_backward(np.ones((3, 2)), cache)


# ----------------------------------------------------------------------------- LRN
def lrn_loop(x, k, n, alpha, beta):
    """Local response normalisation written straight from the AlexNet paper's formula."""
    N, C, H, W = x.shape
    out = np.empty_like(x)
    for b, c, i, j in np.ndindex(N, C, H, W):
        lo, hi = max(0, c - n // 2), min(C - 1, c + n // 2)
        s = sum(x[b, cc, i, j] ** 2 for cc in range(lo, hi + 1))
        out[b, c, i, j] = x[b, c, i, j] / (k + alpha * s) ** beta
    return out


@pytest.mark.parametrize("shape, param", [
    ((2, 7, 3, 3), {}),                                                 # AlexNet defaults
    ((1, 6, 2, 4), {"k": 1.0, "n": 3, "alpha": 0.5, "beta": 0.5}),      # a visible effect
    ((2, 2, 3, 2), {"k": 0.5, "n": 5, "alpha": 1.0, "beta": 0.75}),     # fewer channels than n
    ((1, 4, 2, 2), {"n": 1, "alpha": 2.0}),                             # each channel alone
])
def test_lrn_forward_against_loop(shape, param):
    x = 3 * np.random.default_rng(9).standard_normal(shape)
    full = {"k": 2.0, "n": 5, "alpha": 1e-4, "beta": 0.75, **param}
    out, _ = L.lrn_forward(x, param)
    np.testing.assert_allclose(out, lrn_loop(x, **full), rtol=1e-12)


def test_lrn_errors():
    with pytest.raises(ValueError, match="positive odd integer, got 4"):
        L.lrn_forward(np.ones((1, 5, 2, 2)), {"n": 4})
    with pytest.raises(ValueError, match=r"unknown lrn_param keys \['size'\]"):
        L.lrn_forward(np.ones((1, 5, 2, 2)), {"size": 5})
    with pytest.raises(ValueError, match=r"4 dimensions \(N, C, H, W\), got shape \(5, 2\)"):
        L.lrn_forward(np.ones((5, 2)), {})


# ----------------------------------------------------------------------------- losses
def test_softmax_loss_of_uniform_scores_is_log_C():
    N, C = 4, 10
    y = np.array([0, 3, 9, 3])
    loss, dscores = L.softmax_loss(np.full((N, C), 1.7), y)
    assert loss == pytest.approx(math.log(C), rel=1e-14)
    expected = np.full((N, C), 1 / C)
    expected[np.arange(N), y] -= 1
    np.testing.assert_allclose(dscores, expected / N, rtol=1e-12)


def test_softmax_loss_hand_case_and_scipy():
    scores = np.array([[1.0, 2.0, 3.0],
                       [0.0, 0.0, math.log(2.0)]])
    y = np.array([2, 0])
    row0 = -math.log(math.exp(3) / (math.exp(1) + math.exp(2) + math.exp(3)))
    row1 = -math.log(1 / (1 + 1 + 2))  # e^0 / (e^0 + e^0 + e^log 2)
    loss, _ = L.softmax_loss(scores, y)
    assert loss == pytest.approx((row0 + row1) / 2, rel=1e-14)
    rng = np.random.default_rng(0)
    scores, y = 5 * rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    loss, _ = L.softmax_loss(scores, y)
    assert loss == pytest.approx(-log_softmax(scores, axis=1)[np.arange(6), y].mean(), rel=1e-13)


def test_softmax_loss_is_stable_for_huge_scores():
    loss, dscores = L.softmax_loss(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert loss == pytest.approx(500.0)  # row 0 costs ~0, row 1 costs 1000
    np.testing.assert_allclose(dscores, [[0, 0], [-0.5, 0.5]], atol=1e-12)


def test_svm_loss_hand_case():
    scores = np.array([[2.0, 1.5, -1.0],    # y=0: max(0, 1.5-2+1)=0.5, max(0, -1-2+1)=0   -> 0.5
                       [0.0, 3.0, 2.5],     # y=1: max(0, 0-3+1)=0,    max(0, 2.5-3+1)=0.5 -> 0.5
                       [4.0, 1.0, 1.0]])    # y=2: max(0, 4-1+1)=4,    max(0, 1-1+1)=1     -> 5
    y = np.array([0, 1, 2])
    loss, dscores = L.svm_loss(scores, y)
    assert loss == pytest.approx(6.0 / 3)
    expected = np.array([[-1, 1, 0],
                         [0, -1, 1],
                         [1, 1, -2]]) / 3
    np.testing.assert_allclose(dscores, expected)
    loss_wide, _ = L.svm_loss(scores, y, delta=2.0)
    # delta 2: row 0: 1.5 + 0; row 1: 0 + 1.5; row 2: 5 + 2
    assert loss_wide == pytest.approx(10.0 / 3)


@pytest.mark.parametrize("loss_fn", [L.softmax_loss, L.svm_loss])
@pytest.mark.parametrize("seed", SEEDS)
def test_loss_gradients(loss_fn, seed):
    rng = np.random.default_rng(seed)
    N = batch_size(rng, seed)
    C = int(rng.integers(2, 6))
    scores, y = rng.standard_normal((N, C)), rng.integers(0, C, size=N)
    _, dscores = loss_fn(scores, y)
    num = numerical_gradient(lambda s: loss_fn(s, y)[0], scores)
    assert rel_error(dscores, num) < TOL


@pytest.mark.parametrize("loss_fn", [L.softmax_loss, L.svm_loss])
def test_loss_errors(loss_fn):
    scores = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"labels y must be in \[0, C\) = \[0, 3\), got values from 0 to 3"):
        loss_fn(scores, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"from -1"):
        loss_fn(scores, np.array([0, -1, 2, 1]))
    with pytest.raises(ValueError, match=r"shape \(N,\) = \(4,\).*got \(3,\)"):
        loss_fn(scores, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="labels y must be integers"):
        loss_fn(scores, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"scores must have 2 dimensions \(N, C\)"):
        loss_fn(np.zeros(3), np.array([0]))


# ----------------------------------------------------------------------------- float32 in, float32 out
def _f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _roundtrip(forward, backward, *args):
    out, cache = forward(*args)
    grads = backward(np.ones_like(out), cache)
    return [out] + list(grads if isinstance(grads, tuple) else [grads])


FLOAT32_CASES = {
    "affine": lambda: _roundtrip(L.affine_forward, L.affine_backward, _f32(2, 3, 2), _f32(6, 4), _f32(4)),
    "relu": lambda: _roundtrip(L.relu_forward, L.relu_backward, _f32(2, 3)),
    "leaky_relu": lambda: _roundtrip(L.leaky_relu_forward, L.leaky_relu_backward, _f32(2, 3), 0.2),
    "prelu_scalar": lambda: _roundtrip(L.prelu_forward, L.prelu_backward, _f32(2, 3, 2, 2), 0.25),
    "prelu_channel": lambda: _roundtrip(L.prelu_forward, L.prelu_backward, _f32(2, 3, 2, 2), _f32(3)),
    "elu": lambda: _roundtrip(L.elu_forward, L.elu_backward, _f32(2, 3)),
    "sigmoid": lambda: _roundtrip(L.sigmoid_forward, L.sigmoid_backward, _f32(2, 3)),
    "tanh": lambda: _roundtrip(L.tanh_forward, L.tanh_backward, _f32(2, 3)),
    "maxout": lambda: _roundtrip(L.maxout_forward, L.maxout_backward, _f32(2, 3), _f32(2, 3, 4), _f32(2, 4)),
    "dropout": lambda: _roundtrip(L.dropout_forward, L.dropout_backward, _f32(5, 3), {"p": 0.7, "mode": "train"}),
    "spatial_dropout": lambda: _roundtrip(L.spatial_dropout_forward, L.spatial_dropout_backward,
                                          _f32(2, 3, 2, 2), {"p": 0.7, "mode": "train"}),
    "lrn": lambda: [L.lrn_forward(_f32(2, 6, 3, 3) * 10, {"alpha": 0.1})[0]],
    "softmax_loss": lambda: list(L.softmax_loss(_f32(3, 4), np.array([0, 3, 1]))),
    "svm_loss": lambda: list(L.svm_loss(_f32(3, 4), np.array([0, 3, 1]))),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_in_float32_out(name):
    results = FLOAT32_CASES[name]()
    for r in results:
        assert np.asarray(r).dtype == np.float32, f"{name}: got {np.asarray(r).dtype}"


def test_activations_table_keeps_float32():
    x = _f32(7)
    for name, (f, df) in L.ACTIVATIONS.items():
        assert f(x).dtype == np.float32 and df(x).dtype == np.float32, name
