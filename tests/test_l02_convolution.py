"""cs231n_lib.lectures.l02_convolution: the logic against loops and scipy, the figures draw quietly.

Oracles are written here (plain loops, scipy.signal), never numbers taken from the code under test.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.signal import convolve2d, correlate  # noqa: E402

from cs231n_lib.lectures import l02_convolution as cd  # noqa: E402
from cs231n_lib.fast_layers import conv_forward_fast  # noqa: E402


pytestmark = pytest.mark.usefixtures("quiet_figures")


# ---------------------------------------------------------------------------------------------- logic
@pytest.mark.parametrize("W, F, S, P, expected", [(7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (7, 3, 4, 0, 2),
                                                  (5, 3, 2, 1, 3), (32, 5, 1, 2, 32), (227, 11, 4, 0, 55)])
def test_output_size_text_fits(W, F, S, P, expected):
    size, text = cd.output_size_text(W, F, S, P)
    assert size == expected
    assert text.endswith(f"= {expected}") and f"({W} - {F} + 2*{P})/{S} + 1" in text


@pytest.mark.parametrize("W, F, S, P, shown", [(10, 3, 2, 0, "4.5"), (7, 3, 3, 0, "2.333"), (224, 11, 4, 0, "54.25")])
def test_output_size_text_rejects(W, F, S, P, shown):
    size, text = cd.output_size_text(W, F, S, P)
    assert size is None and shown in text and "does not fit" in text


def test_output_size_text_window_too_large():
    size, text = cd.output_size_text(2, 5, 1, 1)
    assert size is None and "larger" in text


@pytest.mark.parametrize("H, W, F, S, P, D", [(5, 5, 3, 1, 0, 1), (7, 5, 3, 2, 1, 1), (9, 9, 3, 1, 2, 2),
                                              (6, 8, 2, 2, 0, 1)])
def test_pixel_usage_counts_windows(H, W, F, S, P, D):
    counts = np.zeros((H + 2 * P, W + 2 * P), dtype=int)
    F_eff = D * (F - 1) + 1
    for y in range(0, H + 2 * P - F_eff + 1, S):
        for x in range(0, W + 2 * P - F_eff + 1, S):
            counts[y:y + F_eff:D, x:x + F_eff:D] += 1
    np.testing.assert_array_equal(cd.pixel_usage(H, W, F, S, P, D), counts[P:P + H, P:P + W])


def test_pixel_usage_corner_and_centre():
    usage = cd.pixel_usage(5, 5, 3)
    assert usage[0, 0] == 1 and usage[2, 2] == 9


@pytest.mark.parametrize("layers", [[(3, 1)], [(3, 1), (3, 1)], [(3, 1), (3, 2), (3, 4)], [(5, 1), (3, 3)]])
def test_influence_map_is_the_composed_kernel(layers):
    kernel = np.ones((1, 1))
    for F, D in layers:                            # full convolution of the (dilated) all-ones filters
        k = np.zeros((D * (F - 1) + 1,) * 2)
        k[::D, ::D] = 1
        kernel = convolve2d(kernel, k)
    size = kernel.shape[0] + 4
    expected = np.zeros((size, size), dtype=int)
    expected[2:-2, 2:-2] = np.rint(kernel)
    np.testing.assert_array_equal(cd.influence_map(size, layers), expected)


def test_influence_map_rejects_even_sizes():
    with pytest.raises(ValueError, match="odd"):
        cd.influence_map(8, [(3, 1)])
    with pytest.raises(ValueError, match="odd"):
        cd.influence_map(9, [(2, 1)])


def _lc_loop(x, w, b, S, P):
    N, C, H, W = x.shape
    H_out, W_out, K, _, F, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.zeros((N, K, H_out, W_out))
    for n in range(N):
        for k in range(K):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, k, i, j] = np.sum(xp[n, :, i * S:i * S + F, j * S:j * S + F] * w[i, j, k]) + b[i, j, k]
    return out


@pytest.mark.parametrize("S, P", [(1, 0), (2, 1), (1, 1)])
def test_locally_connected_matches_loop(S, P):
    rng = np.random.default_rng(S + 3 * P)
    x = rng.standard_normal((2, 3, 7, 7))
    H_out = (7 - 3 + 2 * P) // S + 1
    w = rng.standard_normal((H_out, H_out, 4, 3, 3, 3))
    b = rng.standard_normal((H_out, H_out, 4))
    np.testing.assert_allclose(cd.locally_connected_forward(x, w, b, S, P), _lc_loop(x, w, b, S, P), atol=1e-12)


def test_locally_connected_with_shared_filters_is_a_conv():
    rng = np.random.default_rng(1)
    x, wk, bk = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    w = np.broadcast_to(wk, (4, 4, 3, 2, 3, 3))
    b = np.broadcast_to(bk, (4, 4, 3))
    expected = np.stack([correlate(x[0], wk[k], mode="valid")[0] + bk[k] for k in range(3)])
    np.testing.assert_allclose(cd.locally_connected_forward(x, w, b)[0], expected, atol=1e-12)


def test_locally_connected_rejects_wrong_shapes():
    x = np.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match=r"needs \(4, 4, K, 2, F, F\)"):
        cd.locally_connected_forward(x, np.zeros((3, 3, 1, 2, 3, 3)), np.zeros((3, 3, 1)))
    with pytest.raises(ValueError, match="b must"):
        cd.locally_connected_forward(x, np.zeros((4, 4, 1, 2, 3, 3)), np.zeros((4, 4)))


def test_gabor_kernel_is_zero_mean_and_oriented():
    g = cd.gabor_kernel(9, 0.0, 4.0)
    assert g.shape == (9, 9)
    assert abs(g.sum()) < 1e-12 and np.isclose(np.abs(g).sum(), 1.0)
    r = np.arange(9)
    along = np.cos(2 * np.pi * r / 4.0)[None, :].repeat(9, 0)       # varies along x (theta = 0)
    across = along.T                                                  # varies along y
    assert abs(np.sum(g * along)) > 5 * abs(np.sum(g * across))
    np.testing.assert_allclose(cd.gabor_kernel(9, np.pi / 2, 4.0), g.T, atol=1e-12)


# ---------------------------------------------------------------------------------------------- figures
def test_conv_step_figure_shows_the_right_value():
    rng = np.random.default_rng(0)
    x, w, b = rng.integers(0, 3, (3, 5, 5)), rng.integers(-1, 2, (2, 3, 3, 3)), np.array([1, 0])
    out = conv_forward_fast(x[None].astype(float), w.astype(float), b.astype(float), {"stride": 2, "pad": 1})[0][0]
    for step in (0, 4, 13, 17):
        k, r = divmod(step, 9)
        i, j = divmod(r, 3)
        fig = cd.conv_step_figure(x, w, b, 2, 1, step)
        assert fig._suptitle.get_text().endswith(f"= {out[k, i, j]:.0f}")
        assert f"o[{i}, {j}, {k}]" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="step"):
        cd.conv_step_figure(x, w, b, 2, 1, 18)


def test_conv1d_figure_marks_a_stride_that_does_not_fit():
    ax = cd.conv1d_figure([3, 1, 4, 1, 5], [1, 0, -1], 0, 2, 1)
    assert ax.get_title().endswith("= 3")
    ax = cd.conv1d_figure([3, 1, 4, 1, 5], [1, 0, -1], 0, 3, 1)
    assert "does not fit" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert "?" in texts


def test_other_figures_draw():
    assert cd.volume_diagram([("in", 32, 32, 3), ("out", 28, 28, 6)], [("6 filters", 5)]).figure
    with pytest.raises(ValueError):
        cd.volume_diagram([("in", 32, 32, 3), ("out", 28, 28, 6)], [None, None])
    assert cd.dilation_figure(3, (1, 2, 4), n_inputs=9).figure
    fig = cd.im2col_figure(4, 4, 3, 1, 0, column=1)
    assert len(fig.axes) == 2
    ax = cd.output_size_chart(range(5, 12), (1, 2, 3), 3, 0)
    texts = [t.get_text() for t in ax.texts]
    assert "4.50" in texts                       # W=10, S=2: the red cell of the lecture
    fig = cd.activation_volumes([("in", np.random.default_rng(0).random((3, 8, 8))),
                                 ("maps", np.zeros((5, 8, 8))), ("scores", np.arange(10.0))], max_maps=3)
    assert len(fig.axes) == 1 + 3 + 1


def test_activation_volumes_centre_signed_maps_on_zero():
    rng = np.random.default_rng(0)
    signed = rng.standard_normal((2, 6, 6)) + 0.8                 # mostly positive, some negative values
    fig = cd.activation_volumes([("in", rng.random((3, 6, 6))), ("conv", signed), ("relu", np.maximum(signed, 0))],
                                max_maps=2)
    conv_maps = [ax.images[0] for ax in fig.axes if ax.images and ax.get_subplotspec().colspan.start == 1]
    relu_maps = [ax.images[0] for ax in fig.axes if ax.images and ax.get_subplotspec().colspan.start == 2]
    assert len(conv_maps) == len(relu_maps) == 2
    for im, m in zip(conv_maps, signed):
        lo, hi = im.get_clim()
        assert lo == -hi == -np.abs(m).max() and im.get_cmap().name == "RdBu_r"   # white is exactly 0
    assert all(im.get_cmap().name == "gray" for im in relu_maps)
