"""The fast paths of cs231n_lib.fast_layers against loops written here and finite differences.

conv_forward_fast picks one of three algorithms from the shapes (Winograd F(2x2, 3x3), the Fourier
path, im2col); pooling uses phase planes and a scatter-add; spatial batch norm works block by block.
Each is compared with a plain loop from the definition on randomised shapes: the shapes each path
special-cases (odd and even sizes for the 2x2 Winograd tiles, padding 0/1/2, N = 1, C = 1, several
chunks and threads) and the ones it falls back on (stride 2, dilation 2, small C, big images).
Errors are max |fast - loop| / max |loop|: float64 within 1e-10, float32 within 1e-4.
"""
import numpy as np
import pytest

from cs231n_lib import _fast_conv_algorithms as algo, _threads, fast_layers as fl

TOL = {np.float64: 1e-10, np.float32: 1e-4}


def rel(a, b):
    """max |a - b| / max |b|, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(1e-300, np.max(np.abs(b))))


@pytest.fixture(params=["serial", "chunked"])
def chunking(request, monkeypatch):
    """Run a test once on one thread, once with tiny chunks on two threads (many chunks, parts, threads)."""
    if request.param == "chunked":
        monkeypatch.setattr(_threads, "CHUNK_BYTES", 2048)
        monkeypatch.setattr(_threads, "num_threads", lambda: 2)
    else:
        monkeypatch.setattr(_threads, "num_threads", lambda: 1)
    return request.param


# ----------------------------------------------------------------------------------------------
# loop oracles
# ----------------------------------------------------------------------------------------------
def conv_loop(x, w, b, S, P, D=1):
    """out[n, f, y, x] = sum_{c, i, j} x_pad[n, c, y*S + i*D, x*S + j*D] * w[f, c, i, j] + b[f]."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (P, P), (P, P)))
    H_out = (H + 2 * P - D * (HH - 1) - 1) // S + 1
    W_out = (W + 2 * P - D * (WW - 1) - 1) // S + 1
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for y in range(H_out):
                for xo in range(W_out):
                    field = xp[n, :, y * S:y * S + D * (HH - 1) + 1:D, xo * S:xo * S + D * (WW - 1) + 1:D]
                    out[n, f, y, xo] = np.sum(field * w[f]) + b[f]
    return out


def conv_backward_loop(dout, x, w, S, P, D=1):
    """The same loop run backwards: each output sends dout * (its field, its filter) to dw and dx."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (P, P), (P, P)))
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    db = np.zeros(F)
    for n in range(N):
        for f in range(F):
            for y in range(dout.shape[2]):
                for xo in range(dout.shape[3]):
                    rows = slice(y * S, y * S + D * (HH - 1) + 1, D)
                    cols = slice(xo * S, xo * S + D * (WW - 1) + 1, D)
                    g = float(dout[n, f, y, xo])
                    dw[f] += g * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += g * w[f]
                    db[f] += g
    return dxp[:, :, P:P + H, P:P + W], dw, db


def max_pool_loop(x, PH, PW, S):
    """out and dx-routing switches (row-major first maximum) from explicit window loops."""
    N, C, H, W = x.shape
    H_out, W_out = (H - PH) // S + 1, (W - PW) // S + 1
    out = np.zeros((N, C, H_out, W_out), x.dtype)
    where = np.zeros((N, C, H_out, W_out, 2), int)
    for n in range(N):
        for c in range(C):
            for y in range(H_out):
                for xo in range(W_out):
                    window = x[n, c, y * S:y * S + PH, xo * S:xo * S + PW]
                    i, j = np.unravel_index(np.argmax(window), window.shape)    # first maximum
                    out[n, c, y, xo] = window[i, j]
                    where[n, c, y, xo] = (y * S + i, xo * S + j)
    return out, where


def max_pool_backward_loop(dout, where, x_shape):
    dx = np.zeros(x_shape)
    for idx in np.ndindex(dout.shape):
        n, c = idx[:2]
        dx[n, c, where[idx][0], where[idx][1]] += dout[idx]
    return dx


def spatial_bn_loop(x, gamma, beta, eps):
    """Per channel, statistics over (N, H, W) with explicit sums; returns out, mean, var."""
    x = x.astype(np.float64)
    N, C, H, W = x.shape
    out = np.zeros_like(x)
    mean, var = np.zeros(C), np.zeros(C)
    for c in range(C):
        values = [x[n, c, i, j] for n in range(N) for i in range(H) for j in range(W)]
        mean[c] = sum(values) / len(values)
        var[c] = sum((v - mean[c]) ** 2 for v in values) / len(values)
        out[:, c] = gamma[c] * (x[:, c] - mean[c]) / np.sqrt(var[c] + eps) + beta[c]
    return out, mean, var


def spatial_bn_backward_loop(dout, x, gamma, eps):
    """dx through the chain rule written per channel: x_hat, then the mean and variance terms."""
    x, dout = x.astype(np.float64), dout.astype(np.float64)
    dx, dgamma, dbeta = np.zeros_like(x), np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        xc, dc = x[:, c], dout[:, c]
        M = xc.size
        mu = xc.sum() / M
        var = ((xc - mu) ** 2).sum() / M
        x_hat = (xc - mu) / np.sqrt(var + eps)
        dbeta[c], dgamma[c] = dc.sum(), (dc * x_hat).sum()
        dx_hat = dc * gamma[c]
        dvar = np.sum(dx_hat * (xc - mu)) * -0.5 * (var + eps) ** -1.5
        dmu = -np.sum(dx_hat) / np.sqrt(var + eps) + dvar * np.sum(-2 * (xc - mu)) / M
        dx[:, c] = dx_hat / np.sqrt(var + eps) + dvar * 2 * (xc - mu) / M + dmu / M
    return dx, dgamma, dbeta


def num_grad(f, a, dout, h=1e-3):
    """Centred differences of sum(f() * dout) w.r.t. a (conv is linear: exact up to rounding)."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + h
        pos = f()
        a[idx] = old - h
        neg = f()
        a[idx] = old
        grad[idx] = np.sum((pos - neg) * dout) / (2 * h)
    return grad


# ----------------------------------------------------------------------------------------------
# which algorithm runs
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, w_shape, S, P, D, method", [
    ((2, 16, 9, 16), (4, 16, 3, 3), 1, 1, 1, "winograd"),
    ((1, 32, 4, 18), (3, 32, 3, 3), 1, 0, 1, "winograd"),
    ((2, 16, 9, 16), (4, 16, 3, 3), 2, 1, 1, "im2col"),     # stride 2
    ((2, 16, 9, 16), (4, 16, 3, 3), 1, 2, 2, "im2col"),     # dilation 2
    ((2, 8, 9, 16), (4, 8, 3, 3), 1, 1, 1, "im2col"),       # too few channels to pay for the transforms
    ((2, 16, 9, 15), (4, 16, 3, 3), 1, 0, 1, "im2col"),     # output 13 wide: too few tiles per row
    ((2, 16, 9, 16), (4, 16, 3, 5), 1, 1, 1, "im2col"),     # 3x5: neither path
    ((2, 16, 9, 16), (4, 16, 1, 1), 1, 0, 1, "im2col"),
    ((2, 8, 12, 10), (4, 8, 5, 5), 1, 2, 1, "fourier"),
    ((2, 8, 12, 10), (4, 8, 7, 5), 1, 0, 1, "fourier"),
    ((2, 8, 12, 10), (4, 8, 5, 5), 2, 2, 1, "im2col"),      # stride 2
    ((2, 4, 12, 10), (4, 4, 5, 5), 1, 2, 1, "im2col"),      # few channels
    ((1, 8, 70, 70), (2, 8, 5, 5), 1, 2, 1, "im2col"),      # big image: the matrix DFT would cost too much
])
def test_dispatch(x_shape, w_shape, S, P, D, method):
    assert fl.conv_algorithm(x_shape, w_shape, {"stride": S, "pad": P, "dilation": D}) == method


# ----------------------------------------------------------------------------------------------
# convolution: each path against the loops, on random shapes
# ----------------------------------------------------------------------------------------------
def conv_shapes(seed, kernel):
    """Random (x, w, P) with the given kernel sizes; seeds cycle through P = 0, 1, 2 and N = 1."""
    rng = np.random.default_rng(seed)
    HH, WW = kernel
    P = seed % 3
    N = 1 if seed % 4 == 0 else int(rng.integers(2, 4))
    C = 1 if seed % 5 == 0 else int(rng.integers(2, 11))
    F = int(rng.integers(1, 6))
    H = int(rng.integers(max(1, HH - 2 * P), HH + 6))
    W = int(rng.integers(max(1, WW - 2 * P), WW + 6))
    return rng, (N, C, H, W), (F, C, HH, WW), P


def check_conv_path(forward, backward, seed, kernel, dtype):
    rng, x_shape, w_shape, P = conv_shapes(seed, kernel)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out, saved = forward(x, w, b, P)
    assert out.dtype == dtype
    assert rel(out, conv_loop(x, w, b, 1, P)) < TOL[dtype]
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = backward(dout, x, w, saved, P)
    for got, want in zip(grads, conv_backward_loop(dout, x, w, 1, P)):
        assert got.dtype == dtype
        assert rel(got, want) < TOL[dtype]


SEEDS = range(24)


def test_random_conv_shapes_cover_the_special_cases():
    shapes = [conv_shapes(seed, (3, 3)) for seed in SEEDS]
    H_outs = {x[2] + 2 * P - 2 for _, x, _, P in shapes}
    W_outs = {x[3] + 2 * P - 2 for _, x, _, P in shapes}
    assert {h % 2 for h in H_outs} == {0, 1} and {w % 2 for w in W_outs} == {0, 1}   # odd/even tiling
    assert {P for *_, P in shapes} == {0, 1, 2}
    assert any(x[0] == 1 for _, x, _, _ in shapes) and any(x[1] == 1 for _, x, _, _ in shapes)
    assert 1 in H_outs or 1 in W_outs                                                   # a single output row
    assert any(x[2] != x[3] for _, x, _, _ in shapes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_winograd_matches_loops(seed, dtype, chunking):
    check_conv_path(algo.winograd_forward, lambda d, x, w, U, P: algo.winograd_backward(d, x, U, P),
                    seed, (3, 3), dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd_chunks_of_several_images_with_a_shorter_last_one(dtype, threads, monkeypatch):
    """Chunks of 2 images, then 1: the flat layout changes with the chunk size, and the padding and
    spare tiles must be zeroed again for it (stale numbers from the bigger chunk would leak in)."""
    monkeypatch.setattr(_threads, "num_threads", lambda: threads)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3, 6, 7)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    wino = algo._Winograd(x.shape, 4, 1, dtype)
    monkeypatch.setattr(algo, "WINOGRAD_COLUMNS", 2 * wino.B)
    wino = algo._Winograd(x.shape, 4, 1, dtype)
    assert [c.stop - c.start for c in wino.chunks()] == [2, 2, 1]
    out, U = algo.winograd_forward(x, w, b, 1)
    assert rel(out, conv_loop(x, w, b, 1, 1)) < TOL[dtype]
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw = algo.winograd_backward(dout, x, U, 1)
    want_dx, want_dw, _ = conv_backward_loop(dout, x, w, 1, 1)
    assert rel(dx, want_dx) < TOL[dtype] and rel(dw, want_dw) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(16))
def test_fourier_matches_loops(seed, dtype, chunking):
    kernel = [(5, 5), (7, 5), (5, 6), (6, 7)][seed % 4]
    check_conv_path(algo.fourier_forward,
                    lambda d, x, w, saved, P: algo.fourier_backward(d, x.shape, w.shape, saved, P),
                    seed, kernel, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, S, P, D", [
    ((2, 16, 7, 17), (3, 16, 3, 3), 2, 1, 1),  # stride 2
    ((2, 16, 5, 20), (3, 16, 3, 3), 1, 2, 2),  # dilation 2
    ((1, 2, 8, 9), (3, 2, 5, 5), 1, 2, 1),     # 5x5, few channels
    ((3, 1, 6, 6), (2, 1, 3, 3), 1, 1, 1),     # 3x3, C = 1
    ((2, 9, 5, 16), (2, 9, 3, 3), 1, 1, 1),    # 3x3, C = 9 (< 16)
    ((1, 16, 4, 14), (2, 16, 3, 3), 1, 1, 1),  # 3x3, output 14 wide (< 16)
    ((2, 8, 9, 7), (4, 8, 3, 5), 1, 1, 1),     # 3x5
    ((1, 8, 66, 5), (2, 8, 5, 5), 1, 0, 1),    # image too tall for the matrix DFT
])
def test_public_conv_falls_back_to_im2col_and_matches_loops(x_shape, w_shape, S, P, D, dtype, chunking):
    assert fl.conv_algorithm(x_shape, w_shape, {"stride": S, "pad": P, "dilation": D}) == "im2col"
    rng = np.random.default_rng(sum(x_shape) + S * 10 + D)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": S, "pad": P, "dilation": D})
    assert out.dtype == dtype and rel(out, conv_loop(x, w, b, S, P, D)) < TOL[dtype]
    dout = rng.standard_normal(out.shape).astype(dtype)
    for got, want in zip(fl.conv_backward_fast(dout, cache), conv_backward_loop(dout, x, w, S, P, D)):
        assert got.dtype == dtype and rel(got, want) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, P", [
    ((2, 16, 3, 16), (3, 16, 3, 3), 1),        # Winograd, odd height
    ((1, 16, 4, 19), (2, 16, 3, 3), 0),        # Winograd, odd width: the last tile column sticks out
    ((2, 8, 6, 7), (3, 8, 5, 5), 2),           # Fourier
])
def test_public_conv_uses_the_fast_paths_and_matches_loops(x_shape, w_shape, P, dtype, chunking):
    assert fl.conv_algorithm(x_shape, w_shape, {"stride": 1, "pad": P}) in ("winograd", "fourier")
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": 1, "pad": P})
    assert out.dtype == dtype and rel(out, conv_loop(x, w, b, 1, P)) < TOL[dtype]
    dout = rng.standard_normal(out.shape)                        # float64 dout: gradients stay in x's dtype
    for got, want in zip(fl.conv_backward_fast(dout, cache), conv_backward_loop(dout, x, w, 1, P)):
        assert got.dtype == dtype and rel(got, want) < TOL[dtype]


@pytest.mark.parametrize("path", ["winograd", "fourier"])
def test_fast_path_backward_matches_finite_differences(path):
    rng = np.random.default_rng(3)
    if path == "winograd":
        x, w, P = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 3, 3)), 1
        forward = algo.winograd_forward
        backward = lambda dout, saved: algo.winograd_backward(dout, x, saved, P)
    else:
        x, w, P = rng.standard_normal((2, 3, 3, 4)), rng.standard_normal((2, 3, 5, 5)), 2
        forward = algo.fourier_forward
        backward = lambda dout, saved: algo.fourier_backward(dout, x.shape, w.shape, saved, P)
    b = rng.standard_normal(w.shape[0])
    out, saved = forward(x, w, b, P)
    dout = rng.standard_normal(out.shape)
    dx, dw = backward(dout, saved)
    f = lambda: forward(x, w, b, P)[0]
    assert rel(dx, num_grad(f, x, dout)) < 1e-8
    assert rel(dw, num_grad(f, w, dout)) < 1e-8


@pytest.mark.parametrize("x1_shape, x2_shape, w_shape, P", [
    ((2, 8, 6, 6), (3, 8, 7, 5), (4, 8, 5, 5), 2),         # Fourier
    ((2, 16, 5, 16), (1, 16, 7, 18), (4, 16, 3, 3), 1),    # Winograd
    ((2, 3, 6, 6), (3, 3, 7, 5), (4, 3, 3, 3), 1),         # im2col
])
def test_results_do_not_share_memory_with_reused_buffers(x1_shape, x2_shape, w_shape, P):
    """Scratch buffers are reused across calls: results and caches of one call survive the next."""
    rng = np.random.default_rng(11)
    x1, x2 = rng.standard_normal(x1_shape), rng.standard_normal(x2_shape)
    w = rng.standard_normal(w_shape)
    b = np.zeros(w_shape[0])
    param = {"stride": 1, "pad": P}
    out1, cache1 = fl.conv_forward_fast(x1, w, b, param)
    kept = out1.copy()
    dout1 = rng.standard_normal(out1.shape)
    fl.conv_forward_fast(x2, w, b, param)                                 # other shape, same buffers
    out2, cache2 = fl.conv_forward_fast(x1 + 1, w, b, param)
    fl.conv_backward_fast(rng.standard_normal(out2.shape), cache2)
    np.testing.assert_array_equal(out1, kept)
    first = fl.conv_backward_fast(dout1, cache1)
    for got, want in zip(first, conv_backward_loop(dout1, x1, w, 1, P)):
        assert rel(got, want) < 1e-10
    for again, got in zip(fl.conv_backward_fast(dout1, cache1), first):   # a cache can be used twice
        np.testing.assert_array_equal(again, got)


def test_winograd_identity_in_one_dimension():
    """F(2, 3): A^T [(G g) * (B^T d)] gives the two outputs of a 3-tap correlation with 4 multiplies."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    y = algo._AT @ ((algo._G @ g) * (algo._BT @ d))
    np.testing.assert_allclose(y, [d[0:3] @ g, d[1:4] @ g], rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
def pool_shapes(seed):
    rng = np.random.default_rng(500 + seed)
    PH, PW = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    S = [1, 2, 3, PH][seed % 4]                  # overlapping, stride 2 and 3, tiling
    if seed % 8 == 3:
        PW = PH = S = 2
    H = S * int(rng.integers(0, 5)) + PH
    W = S * int(rng.integers(0, 5)) + PW
    N, C = (1 if seed % 3 == 0 else 2), int(rng.integers(1, 4))
    return rng, (N, C, H, W), PH, PW, S


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_matches_loops(seed, ties, dtype, chunking):
    rng, shape, PH, PW, S = pool_shapes(seed)
    x = (rng.integers(0, 3, size=shape) if ties else rng.standard_normal(shape)).astype(dtype)
    param = {"pool_height": PH, "pool_width": PW, "stride": S}
    out, cache = fl.max_pool_forward_fast(x, param)
    want, where = max_pool_loop(x, PH, PW, S)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, want)                      # max is exact
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = fl.max_pool_backward_fast(dout, cache)
    assert dx.dtype == dtype and rel(dx, max_pool_backward_loop(dout, where, shape)) < TOL[dtype]


def test_random_pool_shapes_cover_the_special_cases():
    configs = [pool_shapes(seed)[1:] for seed in range(24)]
    assert any(S < max(PH, PW) for _, PH, PW, S in configs)               # overlapping windows
    assert any(S > min(PH, PW) for _, PH, PW, S in configs)               # gaps between windows
    assert any(S == PH == PW > 1 for _, PH, PW, S in configs)             # tiling
    assert {S for *_, S in configs} >= {1, 2, 3}
    assert any(shape[0] == 1 for shape, *_ in configs)


@pytest.mark.parametrize("size", [15, 16])
def test_max_pool_windows_with_more_offsets_than_a_byte_holds(size):
    """Switches are stored in one byte up to 255 window offsets and in four beyond."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 2, size + 2, size + 1))
    param = {"pool_height": size, "pool_width": size, "stride": 1}
    out, cache = fl.max_pool_forward_fast(x, param)
    want, where = max_pool_loop(x, size, size, 1)
    np.testing.assert_array_equal(out, want)
    assert cache[1].dtype == (np.uint8 if size * size <= 255 else np.int32)
    dout = rng.standard_normal(out.shape)
    assert rel(fl.max_pool_backward_fast(dout, cache), max_pool_backward_loop(dout, where, x.shape)) < 1e-12


# ----------------------------------------------------------------------------------------------
# spatial batch norm
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_spatial_batchnorm_matches_loops(seed, dtype, chunking):
    rng = np.random.default_rng(700 + seed)
    N, C, H, W = 1 + seed % 3, int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(2, 5))
    # a large mean next to a small spread: centring each block (then merging) must keep the variance exact
    x = (rng.standard_normal((N, C, H, W)) + 10.0 ** (seed % 3) * rng.standard_normal((1, C, 1, 1))).astype(dtype)
    gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    bn_param = {"mode": "train", "eps": 1e-5, "momentum": 0.9}
    out, cache = fl.spatial_batchnorm_forward_fast(x, gamma, beta, bn_param)
    want, mean, var = spatial_bn_loop(x, gamma, beta, 1e-5)
    assert out.dtype == dtype and rel(out, want) < TOL[dtype]
    assert rel(bn_param["running_mean"], 0.1 * mean) < TOL[dtype]
    assert rel(bn_param["running_var"], 0.1 * var) < TOL[dtype]
    dout = rng.standard_normal(x.shape).astype(dtype)
    grads = fl.spatial_batchnorm_backward_fast(dout, cache)
    for got, want in zip(grads, spatial_bn_backward_loop(dout, x, gamma, 1e-5)):
        assert got.dtype == dtype and rel(got, want) < (1e-9 if dtype == np.float64 else 1e-3)


def test_spatial_batchnorm_test_mode_matches_loops(chunking):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4, 5, 2))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    mean, var = rng.standard_normal(4), rng.random(4) + 0.5
    out, cache = fl.spatial_batchnorm_forward_fast(
        x, gamma, beta, {"mode": "test", "running_mean": mean, "running_var": var})
    want = np.zeros_like(x)
    for c in range(4):
        want[:, c] = gamma[c] * (x[:, c] - mean[c]) / np.sqrt(var[c] + 1e-5) + beta[c]
    assert rel(out, want) < 1e-12
    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = fl.spatial_batchnorm_backward_fast(dout, cache)
    for c in range(4):
        x_hat = (x[:, c] - mean[c]) / np.sqrt(var[c] + 1e-5)
        assert abs(dgamma[c] - np.sum(dout[:, c] * x_hat)) < 1e-12 and abs(dbeta[c] - dout[:, c].sum()) < 1e-12
        assert rel(dx[:, c], dout[:, c] * gamma[c] / np.sqrt(var[c] + 1e-5)) < 1e-12


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, parts", [(1, 4), (5, 2), (7, 3), (64, 2), (3, 1)])
def test_split_covers_the_range_once(n, parts):
    slices = _threads.split(n, parts)
    assert len(slices) == min(n, parts)
    assert [i for s in slices for i in range(n)[s]] == list(range(n))


def test_num_threads_follows_the_blas_setting(monkeypatch):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert _threads.num_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.num_threads() == 1


def test_parallel_keeps_the_order_and_runs_every_item(monkeypatch):
    monkeypatch.setattr(_threads, "num_threads", lambda: 2)
    assert _threads.parallel(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]


# ----------------------------------------------------------------------------------------------
# output memory
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", ["conv", "spatial batch norm"])
def test_large_outputs_are_released_when_the_caller_lets_go(layer):
    """Once the caller drops the output and the cache, the library keeps no reference to the output's
    memory (before, an output recycler kept the last few outputs over 32 MB alive: 34 MB here)."""
    import gc
    import weakref
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 256, 256), dtype=np.float32)                 # 33.5 MB
    if layer == "conv":
        w, b = rng.standard_normal((16, 16, 1, 1), dtype=np.float32), np.zeros(16, np.float32)
        out, cache = fl.conv_forward_fast(x, w, b, {"stride": 1, "pad": 0})
    else:
        out, cache = fl.spatial_batchnorm_forward_fast(x, np.ones(16), np.zeros(16), {"mode": "train"})
    memory = out
    while memory.base is not None:                   # the array that owns the output's memory
        memory = memory.base
    assert memory.nbytes >= x.nbytes
    alive = weakref.ref(memory)
    del out, cache, memory
    gc.collect()
    assert alive() is None, "the library still holds the memory of an output the caller dropped"


# ----------------------------------------------------------------------------------------------
# non-finite numbers stay where they are
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, w_shape, P", [
    ((2, 8, 12, 10), (4, 8, 5, 5), 2),          # Fourier shapes
    ((2, 16, 9, 16), (4, 16, 3, 3), 1),         # Winograd shapes
    ((2, 16, 9, 18), (4, 16, 3, 3), 0),
])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_one_nan_pixel_spoils_only_the_windows_that_read_it(x_shape, w_shape, P):
    """As in the loop, only outputs whose window holds the NaN pixel are NaN (before, the Fourier
    path turned every output of the image NaN: 480 of 960), and likewise backwards for an inf in dout."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    x[1, 3, 4, 5] = np.nan
    assert fl.conv_algorithm(x_shape, w_shape, {"stride": 1, "pad": P}) in ("winograd", "fourier")
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": 1, "pad": P})
    want = conv_loop(x, w, b, 1, P)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    assert 0 < np.isnan(out).sum() < out.size / 4

    x[1, 3, 4, 5] = 0.0
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": 1, "pad": P})
    dout = rng.standard_normal(out.shape)
    dout[0, 1, 2, 3] = np.inf
    dx = fl.conv_backward_fast(dout, cache)[0]
    want_dx = conv_backward_loop(dout, x, w, 1, P)[0]
    np.testing.assert_array_equal(np.isfinite(dx), np.isfinite(want_dx))
    assert np.isfinite(dx[1]).all() and not np.isfinite(dx[0]).all()
