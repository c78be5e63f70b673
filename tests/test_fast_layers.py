"""Tests of cs231n_lib.fast_layers against independent oracles.

Oracles written here, never numbers taken from the code under test: scipy.signal.correlate and
plain loops for the forward passes, centred finite differences for every backward pass, the
adjoint identity for col2im, and the textbook mean/variance formulas for batch normalisation.
Shapes are drawn from seeded generators whose coverage (strides, padding, dilation, N=1, C=1,
non-square and overlapping windows) is itself asserted.
"""
import numpy as np
import pytest
from scipy.signal import correlate

from cs231n_lib import fast_layers as fl

SEEDS = range(27)   # 27 = 3 strides x 3 paddings x 3 dilations, one combination per seed


# ----------------------------------------------------------------------------------------------
# oracles
# ----------------------------------------------------------------------------------------------
def rel_error(a, b):
    """Largest elementwise relative error, with a 1e-8 floor on the denominator."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def num_grad(f, x, dout, h=1e-5):
    """Centred differences of sum(f() * dout) w.r.t. x (perturbed in place, then restored)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        pos = f().copy()
        x[idx] = old - h
        neg = f().copy()
        x[idx] = old
        # subtract outputs before summing: outputs the perturbation cannot reach cancel exactly
        grad[idx] = np.sum((pos - neg) * dout) / (2 * h)
    return grad


def dilate_kernel(k, D):
    """Insert D-1 zeros between taps of the last two axes (the framework convention: D=1 ordinary)."""
    HH, WW = k.shape[-2:]
    out = np.zeros(k.shape[:-2] + (D * (HH - 1) + 1, D * (WW - 1) + 1), dtype=np.float64)
    out[..., ::D, ::D] = k
    return out


def conv_scipy(x, w, b, S, P, D):
    """Valid cross-correlation of the padded input with the dilated filter, then keep every S-th."""
    x_pad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (P, P), (P, P)))
    w_dil = dilate_kernel(w.astype(np.float64), D)
    rows = []
    for n in range(x.shape[0]):
        # 3-D correlate over (C, H, W) sums over channels: the valid output has depth 1
        rows.append([correlate(x_pad[n], w_dil[f], mode="valid", method="direct")[0, ::S, ::S] + b[f]
                     for f in range(w.shape[0])])
    return np.array(rows)


def conv_loop(x, w, b, S, P, D):
    """One dot product per output pixel, straight from the definition."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    x_pad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (P, P), (P, P)))
    H_out = (H + 2 * P - D * (HH - 1) - 1) // S + 1
    W_out = (W + 2 * P - D * (WW - 1) - 1) // S + 1
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for y in range(H_out):
                for xo in range(W_out):
                    field = x_pad[n, :, y * S:y * S + D * (HH - 1) + 1:D, xo * S:xo * S + D * (WW - 1) + 1:D]
                    out[n, f, y, xo] = np.sum(field * w[f]) + b[f]
    return out


def pool_loop(x, PH, PW, S, reduce):
    N, C, H, W = x.shape
    H_out, W_out = (H - PH) // S + 1, (W - PW) // S + 1
    out = np.zeros((N, C, H_out, W_out))
    for n in range(N):
        for c in range(C):
            for y in range(H_out):
                for xo in range(W_out):
                    out[n, c, y, xo] = reduce(x[n, c, y * S:y * S + PH, xo * S:xo * S + PW])
    return out


def max_pool_backward_loop(x, dout, PH, PW, S):
    """Each output's gradient to the first maximum (row-major) of its window."""
    dx = np.zeros(x.shape)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for y in range(H_out):
                for xo in range(W_out):
                    window = x[n, c, y * S:y * S + PH, xo * S:xo * S + PW]
                    i, j = np.unravel_index(np.argmax(window), window.shape)   # argmax: first on ties
                    dx[n, c, y * S + i, xo * S + j] += dout[n, c, y, xo]
    return dx


# ----------------------------------------------------------------------------------------------
# seeded random configurations
# ----------------------------------------------------------------------------------------------
def conv_case(seed, max_out=4):
    """Random valid conv configuration; seed fixes (S, P, D) so the 27 seeds cover all of 1-3 x 0-2 x 1-3."""
    rng = np.random.default_rng(seed)
    S, P, D = 1 + seed % 3, (seed // 3) % 3, 1 + (seed // 9) % 3
    HH, WW = (int(v) for v in rng.integers(1, 5, size=2))
    sizes = []
    for K in (HH, WW):
        size = S * (int(rng.integers(1, max_out + 1)) - 1) + D * (K - 1) + 1 - 2 * P
        while size < 1:        # padding larger than the field: move on to the next valid size
            size += S
        sizes.append(size)
    N, C, F = 1 + seed % 2, int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = rng.standard_normal((N, C, *sizes))
    w = rng.standard_normal((F, C, HH, WW))
    b = rng.standard_normal(F)
    return x, w, b, {"stride": S, "pad": P, "dilation": D}


def pool_case(seed):
    """Random valid pooling configuration; every fourth seed takes the tiling (stride == window) path."""
    rng = np.random.default_rng(100 + seed)
    PH, PW = (int(v) for v in rng.integers(1, 5, size=2))
    S = int(rng.integers(1, 4))
    if seed % 4 == 0:
        PW = PH = S = int(rng.integers(2, 4))
    H = S * (int(rng.integers(1, 4)) - 1) + PH
    W = S * (int(rng.integers(1, 4)) - 1) + PW
    N, C = 1 + seed % 2, int(rng.integers(1, 4))
    return rng.standard_normal((N, C, H, W)), {"pool_height": PH, "pool_width": PW, "stride": S}


def test_random_cases_cover_what_the_tests_claim():
    convs = [conv_case(s) for s in SEEDS]
    combos = {(p["stride"], p["pad"], p["dilation"]) for _, _, _, p in convs}
    assert combos == {(S, P, D) for S in (1, 2, 3) for P in (0, 1, 2) for D in (1, 2, 3)}
    assert any(x.shape[0] == 1 for x, *_ in convs) and any(x.shape[1] == 1 for x, *_ in convs)
    assert any(w.shape[2] != w.shape[3] for _, w, _, _ in convs)
    assert any(x.shape[2] % 2 == 1 and x.shape[2] != x.shape[3] for x, *_ in convs)
    pools = [pool_case(s) for s in SEEDS]
    assert any(p["stride"] < max(p["pool_height"], p["pool_width"]) for _, p in pools)   # overlapping
    assert any(p["stride"] == p["pool_height"] == p["pool_width"] for _, p in pools)    # tiling path
    assert any(p["pool_height"] != p["pool_width"] for _, p in pools)
    assert any(x.shape[0] == 1 for x, _ in pools)


# ----------------------------------------------------------------------------------------------
# im2col / col2im
# ----------------------------------------------------------------------------------------------
def test_im2col_alexnet_conv1_shape():
    x = np.zeros((1, 3, 227, 227), dtype=np.float32)
    cols = fl.im2col(x, 11, 11, stride=4)
    assert cols.shape == (363, 3025)          # 11*11*3 rows, 55*55 receptive fields
    assert cols.dtype == np.float32


@pytest.mark.parametrize("seed", range(0, 27, 4))
def test_im2col_layout_matches_the_contract(seed):
    x, w, _, p = conv_case(seed)
    (N, C, H, W), (_, _, HH, WW) = x.shape, w.shape
    S, P, D = p["stride"], p["pad"], p["dilation"]
    cols = fl.im2col(x, HH, WW, S, P, D)
    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    H_out = (H + 2 * P - D * (HH - 1) - 1) // S + 1
    W_out = (W + 2 * P - D * (WW - 1) - 1) // S + 1
    assert cols.shape == (C * HH * WW, N * H_out * W_out)
    for c in range(C):
        for i in range(HH):
            for j in range(WW):
                for n in range(N):
                    for y in range(H_out):
                        for xo in range(W_out):
                            assert (cols[(c * HH + i) * WW + j, (n * H_out + y) * W_out + xo]
                                    == x_pad[n, c, y * S + i * D, xo * S + j * D])


@pytest.mark.parametrize("seed", SEEDS)
def test_col2im_is_the_adjoint_of_im2col(seed):
    x, w, _, p = conv_case(seed)
    HH, WW = w.shape[2:]
    args = (HH, WW, p["stride"], p["pad"], p["dilation"])
    cols = fl.im2col(x, *args)
    y = np.random.default_rng(seed).standard_normal(cols.shape)
    back = fl.col2im(y, x.shape, *args)
    assert back.shape == x.shape
    assert np.isclose(np.sum(cols * y), np.sum(x * back), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_conv_forward_matches_scipy_and_loop(seed, dtype):
    x, w, b, p = (a.astype(dtype) if isinstance(a, np.ndarray) else a for a in conv_case(seed))
    out, _ = fl.conv_forward_fast(x, w, b, p)
    assert out.dtype == dtype
    args = (x, w, b, p["stride"], p["pad"], p["dilation"])
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(out, conv_scipy(*args), **tol)
    np.testing.assert_allclose(out, conv_loop(*args), **tol)


def test_conv_forward_outline_examples():
    # 1-D figure of the outline: input [0..4], weights [1, 0, -1], P=1 -> S=1: 5 outputs, S=2: 3
    x = np.arange(5.0).reshape(1, 1, 1, 5)
    w = np.array([1.0, 0.0, -1.0]).reshape(1, 1, 1, 3)
    out, _ = fl.conv_forward_fast(x, w, np.zeros(1), {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(out.ravel(), [-2, -2, -2])
    # CIFAR: 32x32x3, ten 5x5x3 filters, S=1, P=2 keeps 32x32
    out, _ = fl.conv_forward_fast(np.zeros((1, 3, 32, 32)), np.zeros((10, 3, 5, 5)), np.zeros(10),
                                  {"stride": 1, "pad": 2})
    assert out.shape == (1, 10, 32, 32)
    # dilation 2 reads x[0], x[2], x[4]
    out, _ = fl.conv_forward_fast(np.arange(5.0).reshape(1, 1, 1, 5), np.ones((1, 1, 1, 3)), np.zeros(1),
                                  {"stride": 1, "pad": 0, "dilation": 2})
    np.testing.assert_array_equal(out.ravel(), [0 + 2 + 4])


@pytest.mark.parametrize("seed", SEEDS)
def test_conv_backward_matches_finite_differences(seed):
    x, w, b, p = conv_case(seed, max_out=3)
    out, cache = fl.conv_forward_fast(x, w, b, p)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx, dw, db = fl.conv_backward_fast(dout, cache)
    f = lambda: fl.conv_forward_fast(x, w, b, p)[0]
    # conv is linear in each argument, so centred differences have no truncation error at any h;
    # a larger h shrinks the rounding error, which matters for gradient entries near zero
    assert rel_error(dx, num_grad(f, x, dout, h=1e-3)) < 1e-7
    assert rel_error(dw, num_grad(f, w, dout, h=1e-3)) < 1e-7
    assert rel_error(db, num_grad(f, b, dout, h=1e-3)) < 1e-7


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_pool_forward_matches_loops(seed, dtype):
    x, p = pool_case(seed)
    x = x.astype(dtype)
    PH, PW, S = p["pool_height"], p["pool_width"], p["stride"]
    out, _ = fl.max_pool_forward_fast(x, p)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, pool_loop(x, PH, PW, S, np.max))   # max is exact
    out, _ = fl.avg_pool_forward_fast(x, p)
    assert out.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, pool_loop(x, PH, PW, S, np.mean), rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", SEEDS)
def test_pool_backward_matches_finite_differences(seed):
    x, p = pool_case(seed)
    for forward, backward in ((fl.max_pool_forward_fast, fl.max_pool_backward_fast),
                              (fl.avg_pool_forward_fast, fl.avg_pool_backward_fast)):
        out, cache = forward(x, p)
        dout = np.random.default_rng(seed).standard_normal(out.shape)
        dx = backward(dout, cache)
        assert rel_error(dx, num_grad(lambda: forward(x, p)[0], x, dout)) < 1e-7


@pytest.mark.parametrize("seed", SEEDS)
def test_max_pool_backward_routes_to_first_max_on_ties(seed):
    # small integers make ties everywhere, where finite differences are useless
    x, p = pool_case(seed)
    x = np.random.default_rng(seed).integers(0, 3, size=x.shape).astype(np.float64)
    out, cache = fl.max_pool_forward_fast(x, p)
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
    expected = max_pool_backward_loop(x, dout, p["pool_height"], p["pool_width"], p["stride"])
    np.testing.assert_allclose(fl.max_pool_backward_fast(dout, cache), expected, rtol=1e-12, atol=1e-12)


def test_max_pool_all_equal_window_sends_gradient_to_top_left():
    for p in ({"pool_height": 2, "pool_width": 2, "stride": 2},      # tiling path
              {"pool_height": 2, "pool_width": 3, "stride": 1}):     # overlapping path
        x = np.ones((1, 1, 4, 5)) if p["stride"] == 1 else np.ones((1, 1, 4, 4))
        out, cache = fl.max_pool_forward_fast(x, p)
        dx = fl.max_pool_backward_fast(np.ones_like(out), cache)
        S = p["stride"]
        expected = np.zeros_like(x)
        for y in range(out.shape[2]):
            for xo in range(out.shape[3]):
                expected[0, 0, y * S, xo * S] += 1
        np.testing.assert_array_equal(dx, expected)


def test_max_pool_numeric_example():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float).reshape(1, 1, 4, 4)
    out, _ = fl.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out.reshape(2, 2), [[6, 8], [3, 4]])
    out, _ = fl.max_pool_forward_fast(x, {"pool_height": 3, "pool_width": 3, "stride": 1})
    np.testing.assert_array_equal(out.reshape(2, 2), [[7, 8], [7, 8]])


# ----------------------------------------------------------------------------------------------
# batch normalisation
# ----------------------------------------------------------------------------------------------
# Batch norm is not linear: truncation error grows like h**2, rounding error like 1/h; h = 1e-4
# balances the two, which matters for dx entries near zero (dx sums to zero over the batch).
BN_H = 1e-4


def bn_case(seed):
    rng = np.random.default_rng(200 + seed)
    N, D = int(rng.integers(4, 9)), int(rng.integers(1, 6))   # N = 2 pins x_hat to +-1: gradients ~ eps
    x = 3 * rng.standard_normal((N, D)) + rng.standard_normal(D)
    return x, rng.standard_normal(D), rng.standard_normal(D)


@pytest.mark.parametrize("seed", range(8))
def test_batchnorm_train_forward_matches_formula(seed):
    x, gamma, beta = bn_case(seed)
    out, _ = fl.batchnorm_forward_fast(x, gamma, beta, {"mode": "train", "eps": 1e-5})
    mean = x.sum(axis=0) / len(x)
    var = ((x - mean) ** 2).sum(axis=0) / len(x)          # biased: divide by N, not N - 1
    np.testing.assert_allclose(out, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-12, atol=1e-12)
    # with gamma = 1, beta = 0 every feature comes out with mean 0 and variance var / (var + eps)
    out, _ = fl.batchnorm_forward_fast(x, np.ones_like(gamma), np.zeros_like(beta), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), var / (var + 1e-5), rtol=1e-10)


def test_batchnorm_running_averages_and_test_mode():
    rng = np.random.default_rng(7)
    D, momentum, eps = 4, 0.8, 1e-3
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    bn_param = {"mode": "train", "momentum": momentum, "eps": eps}
    running_mean, running_var = np.zeros(D), np.zeros(D)      # the documented defaults
    for _ in range(4):
        x = 2 * rng.standard_normal((10, D)) + 5
        fl.batchnorm_forward_fast(x, gamma, beta, bn_param)
        running_mean = momentum * running_mean + (1 - momentum) * x.mean(axis=0)
        running_var = momentum * running_var + (1 - momentum) * x.var(axis=0)
    np.testing.assert_allclose(bn_param["running_mean"], running_mean, rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], running_var, rtol=1e-12)

    bn_param["mode"] = "test"
    x = rng.standard_normal((3, D))
    out, _ = fl.batchnorm_forward_fast(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta, rtol=1e-12)
    np.testing.assert_array_equal(bn_param["running_mean"], running_mean)   # test mode does not update
    # a single test example is fine: nothing depends on the batch
    out1, _ = fl.batchnorm_forward_fast(x[:1], gamma, beta, bn_param)
    np.testing.assert_allclose(out1, out[:1], rtol=1e-12)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("seed", range(8))
def test_batchnorm_backward_matches_finite_differences(seed, mode):
    x, gamma, beta = bn_case(seed)
    D = x.shape[1]
    rng = np.random.default_rng(seed)
    stats = {"running_mean": rng.standard_normal(D), "running_var": rng.random(D) + 0.5}

    def f():
        return fl.batchnorm_forward_fast(x, gamma, beta, {"mode": mode, **stats})[0]

    out, cache = fl.batchnorm_forward_fast(x, gamma, beta, {"mode": mode, **stats})
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = fl.batchnorm_backward_fast(dout, cache)
    assert rel_error(dx, num_grad(f, x, dout, h=BN_H)) < 1e-7
    assert rel_error(dgamma, num_grad(f, gamma, dout, h=BN_H)) < 1e-7
    assert rel_error(dbeta, num_grad(f, beta, dout, h=BN_H)) < 1e-7


def spatial_case(seed):
    rng = np.random.default_rng(300 + seed)
    N, C = 1 + seed % 3, int(rng.integers(1, 4))        # N = 1 is fine: statistics also run over H, W
    H, W = (int(v) for v in rng.integers(2, 5, size=2))   # >= 4 values per channel (2 would pin x_hat)
    x = 2 * rng.standard_normal((N, C, H, W)) + rng.standard_normal((1, C, 1, 1))
    return x, rng.standard_normal(C), rng.standard_normal(C)


@pytest.mark.parametrize("seed", range(6))
def test_spatial_batchnorm_forward(seed):
    x, gamma, beta = spatial_case(seed)
    bn_param = {"mode": "train"}
    out, _ = fl.spatial_batchnorm_forward_fast(x, gamma, beta, bn_param)
    # per channel over N, H, W, written straight from the definition
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    g, bt = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(out, g * (x - mean) / np.sqrt(var + 1e-5) + bt, rtol=1e-12, atol=1e-12)
    # and it equals plain batch norm on the (N*H*W, C) rows of the transposed input
    C = x.shape[1]
    flat_param = {"mode": "train"}
    flat, _ = fl.batchnorm_forward_fast(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta, flat_param)
    np.testing.assert_allclose(out, flat.reshape(x.shape[0], *x.shape[2:], C).transpose(0, 3, 1, 2),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn_param["running_mean"], flat_param["running_mean"], rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], flat_param["running_var"], rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_spatial_batchnorm_backward_matches_finite_differences(seed):
    x, gamma, beta = spatial_case(seed)

    def f():
        return fl.spatial_batchnorm_forward_fast(x, gamma, beta, {"mode": "train"})[0]

    out, cache = fl.spatial_batchnorm_forward_fast(x, gamma, beta, {"mode": "train"})
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx, dgamma, dbeta = fl.spatial_batchnorm_backward_fast(dout, cache)
    assert dx.shape == x.shape and dgamma.shape == gamma.shape
    assert rel_error(dx, num_grad(f, x, dout, h=BN_H)) < 1e-7
    assert rel_error(dgamma, num_grad(f, gamma, dout, h=BN_H)) < 1e-7
    assert rel_error(dbeta, num_grad(f, beta, dout, h=BN_H)) < 1e-7


# ----------------------------------------------------------------------------------------------
# float32 stays float32
# ----------------------------------------------------------------------------------------------
def test_float32_in_float32_out():
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    x, w, b = f32(2, 3, 6, 6), f32(4, 3, 3, 3), f32(4)
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1, "dilation": 2})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in fl.conv_backward_fast(np.ones_like(out), cache))
    assert fl.col2im(fl.im2col(x, 3, 3, 1, 1), x.shape, 3, 3, 1, 1).dtype == np.float32
    for p in ({"pool_height": 2, "pool_width": 2, "stride": 2}, {"pool_height": 3, "pool_width": 2, "stride": 1}):
        for forward, backward in ((fl.max_pool_forward_fast, fl.max_pool_backward_fast),
                                  (fl.avg_pool_forward_fast, fl.avg_pool_backward_fast)):
            out, cache = forward(x, p)
            assert out.dtype == np.float32 and backward(np.ones_like(out), cache).dtype == np.float32
    # a NumPy float64 eps must not drag float32 data up to float64
    for mode in ("train", "test"):
        bn_param = {"mode": mode, "eps": np.float64(1e-5), "momentum": np.float64(0.9)}
        out, cache = fl.batchnorm_forward_fast(f32(5, 3), f32(3), f32(3), bn_param)
        assert out.dtype == np.float32
        assert all(g.dtype == np.float32 for g in fl.batchnorm_backward_fast(np.ones_like(out), cache))
    bn_param = {"mode": "train"}
    out, cache = fl.spatial_batchnorm_forward_fast(x, f32(3), f32(3), bn_param)
    assert out.dtype == np.float32
    assert bn_param["running_mean"].dtype == bn_param["running_var"].dtype == np.float32
    assert all(g.dtype == np.float32 for g in fl.spatial_batchnorm_backward_fast(np.ones_like(out), cache))


# ----------------------------------------------------------------------------------------------
# bad input gets a clear error
# ----------------------------------------------------------------------------------------------
CONV = {"stride": 1, "pad": 0}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
X, Wt, B = np.zeros((2, 3, 8, 8)), np.zeros((2, 3, 3, 3)), np.zeros(2)


@pytest.mark.parametrize("call, error, match", [
    (lambda: fl.conv_forward_fast(np.zeros((3, 8, 8)), Wt, B, CONV), ValueError,
     r"x must have 4 dimensions \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (lambda: fl.conv_forward_fast(X, np.zeros((2, 4, 3, 3)), B, CONV), ValueError,
     "x has 3 channels but w expects 4"),
    (lambda: fl.conv_forward_fast(X, np.zeros((2, 3, 3)), B, CONV), ValueError, "w must have 4 dimensions"),
    (lambda: fl.conv_forward_fast(X, Wt, np.zeros(3), CONV), ValueError, r"b must have shape \(F,\) = \(2,\)"),
    (lambda: fl.conv_forward_fast(X, Wt, B, {"stride": 2, "pad": 0}), ValueError,
     r"\(8 - 3 \+ 2\*0\)/2 \+ 1 = 3.5 is not a whole number"),
    (lambda: fl.conv_forward_fast(X, np.zeros((2, 3, 9, 3)), B, CONV), ValueError,
     "window of size 9 .* does not fit the padded input height"),
    (lambda: fl.conv_forward_fast(X, Wt, B, {"stride": 1, "pad": 0, "dilation": 5}), ValueError,
     r"window of size 11 \(F=3, D=5\) does not fit"),
    (lambda: fl.conv_forward_fast(X, Wt, B, {"stride": 1, "pad": 0, "dilation": 0}), ValueError,
     "dilation D must be >= 1"),
    (lambda: fl.conv_forward_fast(X, Wt, B, {"stride": 1.5, "pad": 0}), TypeError, "stride S must be an integer"),
    (lambda: fl.conv_forward_fast(X, Wt, B, {"stride": 1, "pad": -1}), ValueError, "padding P must be >= 0"),
    (lambda: fl.conv_forward_fast(X, Wt, B, {"stride": 1}), ValueError, r"conv_param is missing \['pad'\]"),
    (lambda: fl.conv_forward_fast(X, Wt, B, {"stride": 1, "pad": 0, "padding": 1}), ValueError,
     r"conv_param has unknown keys \['padding'\]"),
    (lambda: fl.conv_forward_fast(X, Wt, B, (1, 0)), TypeError, "conv_param must be a dict"),
    (lambda: fl.conv_forward_fast(np.full((2, 3, 8, 8), "a"), Wt, B, CONV), TypeError, "x must be a numeric array"),
    (lambda: fl.im2col(np.zeros((8, 8)), 3, 3), ValueError, "x must have 4 dimensions"),
    (lambda: fl.im2col(X, 3, 3, stride=0), ValueError, "stride S must be >= 1"),
    (lambda: fl.col2im(np.zeros((27, 10)), X.shape, 3, 3), ValueError,
     r"cols has shape \(27, 10\) but .* needs .* = \(27, 72\)"),
    (lambda: fl.col2im(np.zeros((27, 72)), (3, 8, 8), 3, 3), ValueError, "x_shape must be"),
    (lambda: fl.max_pool_forward_fast(np.zeros((8, 8)), POOL), ValueError, "x must have 4 dimensions"),
    (lambda: fl.max_pool_forward_fast(np.zeros((1, 1, 7, 8)), POOL), ValueError,
     r"along the height: .*\(7 - 2 \+ 2\*0\)/2 \+ 1 = 3.5"),
    (lambda: fl.avg_pool_forward_fast(np.zeros((1, 1, 8, 8)), {"pool_height": 9, "pool_width": 2, "stride": 1}),
     ValueError, "window of size 9 .* does not fit"),
    (lambda: fl.avg_pool_forward_fast(X, {"pool_height": 2, "stride": 2}), ValueError,
     r"pool_param is missing \['pool_width'\]"),
    (lambda: fl.max_pool_forward_fast(X, {**POOL, "pad": 1}), ValueError, r"pool_param has unknown keys \['pad'\]"),
    (lambda: fl.batchnorm_forward_fast(np.zeros((4, 3)), np.ones(3), np.zeros(3), {"mode": "eval"}), ValueError,
     r"bn_param\['mode'\] must be 'train' or 'test', got 'eval'"),
    (lambda: fl.batchnorm_forward_fast(np.zeros((4, 3)), np.ones(3), np.zeros(3), {}), ValueError, "got None"),
    (lambda: fl.batchnorm_forward_fast(np.zeros((4, 3)), np.ones(4), np.zeros(3), {"mode": "train"}), ValueError,
     r"gamma has shape \(4,\) but x has D=3 features"),
    (lambda: fl.batchnorm_forward_fast(np.zeros((4, 3)), np.ones(3), np.zeros(2), {"mode": "train"}), ValueError,
     r"beta has shape \(2,\) but x has D=3 features"),
    (lambda: fl.batchnorm_forward_fast(np.zeros((4, 3)), np.ones(3), np.zeros(3),
                                       {"mode": "test", "running_mean": np.zeros(5)}), ValueError,
     r"bn_param\['running_mean'\] has shape \(5,\) but x has D=3"),
    (lambda: fl.batchnorm_forward_fast(np.zeros((4, 3)), np.ones(3), np.zeros(3), {"mode": "train", "eps": 0}),
     ValueError, "need eps > 0"),
    (lambda: fl.batchnorm_forward_fast(np.zeros((4, 3, 2)), np.ones(3), np.zeros(3), {"mode": "train"}),
     ValueError, r"x must have 2 dimensions \(N, D\)"),
    (lambda: fl.spatial_batchnorm_forward_fast(X, np.ones(2), np.zeros(3), {"mode": "train"}), ValueError,
     r"gamma has shape \(2,\) but x has C=3 channels"),
    (lambda: fl.spatial_batchnorm_forward_fast(np.zeros((4, 3)), np.ones(3), np.zeros(3), {"mode": "train"}),
     ValueError, r"x must have 4 dimensions \(N, C, H, W\)"),
])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_backward_rejects_dout_of_the_wrong_shape():
    out, cache = fl.conv_forward_fast(X, Wt, B, CONV)
    with pytest.raises(ValueError, match=r"dout has shape \(2, 2, 6, 5\) but the forward output had shape \(2, 2, 6, 6\)"):
        fl.conv_backward_fast(np.zeros((2, 2, 6, 5)), cache)
    for forward, backward in ((fl.max_pool_forward_fast, fl.max_pool_backward_fast),
                              (fl.avg_pool_forward_fast, fl.avg_pool_backward_fast)):
        out, cache = forward(X, POOL)
        with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 4\)"):
            backward(np.zeros((2, 3, 4)), cache)
    out, cache = fl.batchnorm_forward_fast(np.ones((4, 3)), np.ones(3), np.zeros(3), {"mode": "train"})
    with pytest.raises(ValueError, match=r"dout has shape \(3, 4\) but the forward output had shape \(4, 3\)"):
        fl.batchnorm_backward_fast(np.zeros((3, 4)), cache)
    out, cache = fl.spatial_batchnorm_forward_fast(X, np.ones(3), np.zeros(3), {"mode": "train"})
    with pytest.raises(ValueError, match="dout has shape"):
        fl.spatial_batchnorm_backward_fast(np.zeros((2, 3, 8)), cache)


def test_graded_names_are_not_in_the_library():
    graded = {"conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
              "batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward"}
    assert not graded & set(dir(fl))
