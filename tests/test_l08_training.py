"""cs231n_lib.lectures.l08_training and td.image_rows (lecture 8): checked against loops written here,
hand-worked examples and the model's own forward pass, never numbers copied from the code under test."""
import copy
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cs231n_lib.lectures import l08_training as td  # noqa: E402
from cs231n_lib.models import ThreeLayerConvNet  # noqa: E402


pytestmark = pytest.mark.usefixtures("quiet_figures")


# --------------------------------------------------------------------------- best_time
def test_best_time_measures_the_call_and_counts_calls():
    calls = []

    def nap(seconds, tag=None):
        calls.append(tag)
        time.sleep(seconds)

    t = td.best_time(nap, 0.02, repeat=2, number=3, tag="x")
    assert len(calls) == 6 and set(calls) == {"x"}
    assert 0.02 <= t < 0.2                     # per call, not per round of 3


@pytest.mark.parametrize("bad", [{"repeat": 0}, {"number": 0}, {"repeat": 1.5}, {"number": True}])
def test_best_time_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="positive integer"):
        td.best_time(lambda: None, **bad)


# --------------------------------------------------------------------------- activation_maps
def _loop_conv_same(x, w, b):
    """Stride-1 convolution with (HH - 1) / 2 zero padding, by loops."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    p = (HH - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((N, F, H, W))
    for n in range(N):
        for f in range(F):
            for i in range(H):
                for j in range(W):
                    out[n, f, i, j] = np.sum(xp[n, :, i:i + HH, j:j + WW] * w[f]) + b[f]
    return out


def _loop_pool2(x):
    N, F, H, W = x.shape
    out = np.zeros((N, F, H // 2, W // 2))
    for i in range(H // 2):
        for j in range(W // 2):
            out[:, :, i, j] = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3))
    return out


@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_activation_maps_match_loops(use_batchnorm):
    rng = np.random.default_rng(1)
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=4, filter_size=3, hidden_dim=5,
                              use_batchnorm=use_batchnorm, seed=0)
    X = rng.standard_normal((3, 2, 6, 6))
    if use_batchnorm:   # non-trivial running averages and scale/shift, as after training
        bn = model.bn_params[0]
        bn["running_mean"][:] = rng.standard_normal(4)
        bn["running_var"][:] = rng.uniform(0.5, 2.0, 4)
        model.params["gamma1"] = rng.uniform(0.5, 1.5, 4)
        model.params["beta1"] = rng.standard_normal(4)
    before_params = copy.deepcopy(model.params)
    before_bn = copy.deepcopy(model.bn_params)

    maps = td.activation_maps(model, X)

    P = model.params
    conv = _loop_conv_same(X, P["W1"], P["b1"])
    if use_batchnorm:
        bn = model.bn_params[0]
        shape = (1, -1, 1, 1)
        conv = (P["gamma1"].reshape(shape) * (conv - bn["running_mean"].reshape(shape))
                / np.sqrt(bn["running_var"].reshape(shape) + 1e-5) + P["beta1"].reshape(shape))
    assert maps["conv"].shape == (3, 4, 6, 6) and maps["pool"].shape == (3, 4, 3, 3)
    np.testing.assert_allclose(maps["conv"], conv, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(maps["relu"], np.maximum(conv, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(maps["pool"], _loop_pool2(np.maximum(conv, 0)), rtol=1e-10, atol=1e-12)
    for k in before_params:             # the model is untouched
        np.testing.assert_array_equal(model.params[k], before_params[k])
    for live, old in zip(model.bn_params, before_bn):
        assert live["mode"] == old["mode"]
        np.testing.assert_array_equal(live["running_mean"], old["running_mean"])
        np.testing.assert_array_equal(live["running_var"], old["running_var"])


def test_pooled_maps_are_what_the_rest_of_the_network_reads():
    rng = np.random.default_rng(2)
    model = ThreeLayerConvNet(num_filters=3, hidden_dim=7, seed=3)
    X = rng.standard_normal((4, 1, 8, 8))
    P = model.params
    pool = td.activation_maps(model, X)["pool"]
    hidden = np.maximum(pool.reshape(4, -1) @ P["W2"] + P["b2"], 0)
    np.testing.assert_allclose(hidden @ P["W3"] + P["b3"], model.loss(X), rtol=1e-10, atol=1e-12)


def test_activation_maps_keep_float32_and_check_shapes():
    model = ThreeLayerConvNet(num_filters=2, hidden_dim=3, dtype=np.float32, use_batchnorm=True, seed=0)
    maps = td.activation_maps(model, np.zeros((2, 1, 8, 8), np.float32))
    assert all(m.dtype == np.float32 for m in maps.values())
    with pytest.raises(ValueError, match=r"\(2, 1, 6, 6\)"):
        td.activation_maps(model, np.zeros((2, 1, 6, 6)))
    with pytest.raises(ValueError, match="4 dimensions"):
        td.activation_maps(model, np.zeros((1, 8, 8)))


# --------------------------------------------------------------------------- reading the mistakes
def test_softmax_rows_are_probabilities_without_overflow():
    scores = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    p = td.softmax(scores)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p[0], e / e.sum())
    np.testing.assert_allclose(p[1], [1.0, 0.0, 0.0], atol=1e-300)
    assert np.all(np.isfinite(p))


def test_confused_pairs_counts_off_diagonal_pairs():
    y_true = [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    y_pred = [0, 1, 2, 2, 1, 0, 0, 3, 2, 2]
    # mistakes by hand: (0->1) x1, (1->2) x2, (2->0) x2, (3->2) x2
    assert td.confused_pairs(y_true, y_pred) == [(1, 2, 2), (2, 0, 2), (3, 2, 2), (0, 1, 1)]
    assert td.confused_pairs([1, 2], [1, 2]) == []
    with pytest.raises(ValueError, match=r"\(N,\)"):
        td.confused_pairs([1, 2, 3], [1, 2])


def test_confident_mistakes_orders_wrong_answers_by_confidence():
    scores = np.log(np.array([[0.7, 0.2, 0.1],     # true 1: wrong, says 0 with 0.7
                              [0.1, 0.8, 0.1],     # true 1: right
                              [0.05, 0.05, 0.9],   # true 0: wrong, says 2 with 0.9
                              [0.4, 0.35, 0.25]]))  # true 2: wrong, says 0 with 0.4
    idx, prob = td.confident_mistakes(scores, [1, 1, 0, 2])
    assert idx.tolist() == [2, 0, 3]
    np.testing.assert_allclose(prob, [0.9, 0.7, 0.4])
    with pytest.raises(ValueError, match="4 rows"):
        td.confident_mistakes(scores, [1, 1, 0])


# --------------------------------------------------------------------------- td.image_rows
def test_image_rows_lays_out_rows_of_different_sizes():
    rows = [[np.eye(8), np.ones((8, 8)), np.zeros((8, 8))],
            [None, np.eye(4), np.eye(4) * 3]]
    fig = td.image_rows(rows, row_labels=["conv", "pool"], col_titles=["input", "f0", "f1"])
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].get_ylabel() == "conv" and axes[1, 0].get_ylabel() == "pool"
    assert [ax.get_title() for ax in axes[0]] == ["input", "f0", "f1"]
    assert len(axes[1, 0].images) == 0 and len(axes[1, 1].images) == 1
    # 'row': one colour range for the whole row (0 .. 3 in the second row)
    assert axes[1, 1].images[0].get_clim() == (0.0, 3.0) == axes[1, 2].images[0].get_clim()
    fig = td.image_rows(rows, normalize=["each", None])
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].images[0].get_clim() == (0.0, 1.0) and axes[1, 2].images[0].get_clim() == (0.0, 1.0)


def test_image_rows_keys_get_their_own_column_and_scale():
    rows = [[np.zeros((4, 4)), np.full((4, 4), 2.0)], [np.eye(2)]]
    key = np.arange(16.0).reshape(4, 4) - 5                      # -5 .. 10: must not stretch the row's range
    fig = td.image_rows(rows, keys=[key, None], key_title="input", col_titles=["a", "b"], row_labels=["x", "y"])
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes[0]] == ["input", "a", "b"]
    assert axes[0, 0].images[0].get_clim() == (-5.0, 10.0)
    assert axes[0, 1].images[0].get_clim() == (0.0, 2.0) == axes[0, 2].images[0].get_clim()
    assert len(axes[1, 0].images) == 0 and axes[1, 0].get_ylabel() == "y"
    with pytest.raises(ValueError, match="keys"):
        td.image_rows(rows, keys=[key])


@pytest.mark.parametrize("kwargs, message", [
    ({"normalize": "all"}, "normalize"),
    ({"row_labels": ["one"]}, "row labels"),
    ({"col_titles": list("abcd")}, "column titles"),
])
def test_image_rows_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        td.image_rows([[np.eye(2), np.eye(2)], [np.eye(2)]], **kwargs)


def test_image_rows_rejects_non_images():
    with pytest.raises(ValueError, match="2-D"):
        td.image_rows([[np.zeros((2, 2, 2))]])
    with pytest.raises(ValueError, match="at least one"):
        td.image_rows([])
