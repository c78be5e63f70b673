"""FC <-> CONV conversions: checked against convolutions and networks written with loops here."""
import numpy as np
import pytest

from cs231n_lib.lectures.l03_pooling_normalisation import (SlidingNet, conv_as_fc_matrix, crop_grid, dense_score_map, fc_to_filters,
                                num_crops)


def loop_conv(x, w, b, stride=1, pad=0):
    """Cross-correlation of one image x (C, H, W) with w (F, C, HH, WW), written with loops."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    F, _, HH, WW = w.shape
    H_out = (x.shape[1] - HH) // stride + 1
    W_out = (x.shape[2] - WW) // stride + 1
    out = np.zeros((F, H_out, W_out))
    for f in range(F):
        for i in range(H_out):
            for j in range(W_out):
                out[f, i, j] = np.sum(x[:, i * stride:i * stride + HH, j * stride:j * stride + WW] * w[f]) + b[f]
    return out


def loop_net(net, image):
    """SlidingNet's FC classifier on one (C, crop, crop) image, with loops and plain NumPy."""
    p, h = net.params, image
    for i in (1, 2):
        h = np.maximum(loop_conv(h, p[f"W{i}"], p[f"b{i}"], pad=net.pad), 0)
        C, H, W = h.shape
        h = np.array([[[h[c, 2 * y:2 * y + 2, 2 * x:2 * x + 2].max() for x in range(W // 2)]
                       for y in range(H // 2)] for c in range(C)])
    hidden = np.maximum(h.reshape(-1) @ p["W3"] + p["b3"], 0)
    return hidden @ p["W4"] + p["b4"]


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 0), (1, 1), (2, 1)])
def test_conv_as_fc_matrix_reproduces_the_conv(stride, pad):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    M = conv_as_fc_matrix(w, x.shape, stride, pad)
    expected = loop_conv(x, w, b, stride, pad)
    assert M.shape == (expected.size, x.size)
    np.testing.assert_allclose(M @ x.reshape(-1) + np.repeat(b, expected[0].size), expected.reshape(-1))


def test_conv_as_fc_matrix_is_sparse_with_tied_rows():
    w = np.arange(1, 1 + 2 * 1 * 2 * 2, dtype=float).reshape(2, 1, 2, 2)
    M = conv_as_fc_matrix(w, (1, 3, 3))                  # 2 filters x 2x2 outputs = 8 rows, 9 columns
    assert M.shape == (8, 9)
    assert np.count_nonzero(M) == 8 * 4                  # each row: one 2x2 filter, the rest zeros
    for f in range(2):
        for row in M[4 * f:4 * f + 4]:
            assert sorted(row[row != 0]) == sorted(w[f].ravel())   # the same (tied) weights in every row
    np.testing.assert_array_equal(M[0], [1, 2, 0, 3, 4, 0, 0, 0, 0])


def test_conv_as_fc_matrix_rejects_mismatched_channels():
    with pytest.raises(ValueError, match="channels"):
        conv_as_fc_matrix(np.zeros((1, 2, 3, 3)), (3, 5, 5))


def test_fc_to_filters_gives_the_same_dot_products():
    rng = np.random.default_rng(1)
    vol, w = rng.standard_normal((4, 3, 3)), rng.standard_normal((36, 5))
    filters = fc_to_filters(w, vol.shape)
    assert filters.shape == (5, 4, 3, 3)
    np.testing.assert_allclose([np.sum(filters[m] * vol) for m in range(5)], vol.reshape(-1) @ w)
    with pytest.raises(ValueError, match="C\\*H\\*W"):
        fc_to_filters(w, (4, 4, 4))


def test_num_crops_and_crop_grid():
    assert num_crops(384, 224, 32) == 6
    with pytest.raises(ValueError):
        num_crops(380, 224, 32)
    x = np.arange(2 * 1 * 6 * 6, dtype=float).reshape(2, 1, 6, 6)
    crops = crop_grid(x, 4, 2)
    assert crops.shape == (2, 2, 2, 1, 4, 4)
    np.testing.assert_array_equal(crops[1, 1, 0, 0], x[1, 0, 2:6, 0:4])


@pytest.mark.parametrize("pad", [0, 1])
def test_sliding_net_scores_match_a_loop_network(pad):
    crop = 18 if pad == 0 else 16
    net = SlidingNet(crop=crop, pad=pad, seed=3)
    x = np.random.default_rng(2).standard_normal((2, 3, crop, crop))
    expected = np.array([loop_net(net, image) for image in x])
    np.testing.assert_allclose(net.scores(x), expected, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="score_map"):
        net.scores(np.zeros((1, 3, crop + 4, crop + 4)))


def test_one_pass_equals_every_crop_without_padding():
    net = SlidingNet(crop=18, pad=0, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 38, 38))
    smap = net.score_map(x)
    assert smap.shape == (2, 10, 6, 6)
    np.testing.assert_allclose(smap, net.crop_scores(x), rtol=1e-10, atol=1e-10)
    # the crop at grid position (i, j) is the one starting at pixel (4i, 4j)
    one = net.scores(x[:1, :, 8:26, 12:30])[0]
    np.testing.assert_allclose(smap[0, :, 2, 3], one, rtol=1e-10, atol=1e-10)


def test_padding_breaks_the_equality():
    net = SlidingNet(crop=16, pad=1, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 3, 36, 36))
    smap, crops = net.score_map(x), net.crop_scores(x)
    assert smap.shape == crops.shape == (1, 10, 6, 6)
    assert not np.allclose(smap, crops)
    # but the padded net still gives the crop's scores when that crop IS the whole image
    np.testing.assert_allclose(net.score_map(x[:, :, :16, :16])[0, :, 0, 0], crops[0, :, 0, 0], rtol=1e-10)


def test_dense_score_map_interleaves_shifted_passes():
    net = SlidingNet(crop=18, pad=0, seed=1)
    x = np.random.default_rng(4).standard_normal((1, 3, 38, 38))
    dense = dense_score_map(net.score_map, x, crop=18, stride=4, shift=2)
    assert dense.shape == (1, 10, 11, 11)
    np.testing.assert_allclose(dense, net.crop_scores(x, stride=2), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dense[:, :, ::2, ::2], net.score_map(x))
    with pytest.raises(ValueError, match="divide"):
        dense_score_map(net.score_map, x, crop=18, stride=4, shift=3)


def test_float32_stays_float32():
    net = SlidingNet(crop=18, dtype=np.float32)
    x = np.zeros((1, 3, 22, 22), dtype=np.float32)
    assert net.score_map(x).dtype == np.float32
    assert net.scores(x[:, :, :18, :18]).dtype == np.float32
    assert conv_as_fc_matrix(net.params["W1"], (3, 5, 5)).dtype == np.float32
