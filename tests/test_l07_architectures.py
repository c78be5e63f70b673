"""cs231n_lib.lectures.l07_architectures: the plain / residual DeepMLP against a forward pass written out here and
against finite differences, and and the figures of lecture 7."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cs231n_lib.lectures import l07_architectures as l07  # noqa: E402
from cs231n_lib.architectures import Conv, Input, analyze, inception_cost, receptive_field  # noqa: E402
from cs231n_lib.gradcheck import numerical_gradient, rel_error  # noqa: E402
from cs231n_lib.lectures.l07_architectures import RESNET_2015_TRACKS, DeepMLP, gradient_norms  # noqa: E402
from cs231n_lib.solver import Solver  # noqa: E402


pytestmark = pytest.mark.usefixtures("quiet_figures")


def _small(residual, use_batchnorm=True, seed=0, **kw):
    return DeepMLP(input_dim=5, hidden_dim=4, num_blocks=2, num_classes=3, residual=residual,
                   use_batchnorm=use_batchnorm, seed=seed, **kw)


def _data(N=6, D=5, C=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), rng.integers(0, C, N)


# ---------------------------------------------------------------------------------------- DeepMLP
def test_depth_params_and_shared_initialisation():
    plain, res = _small(False), _small(True)
    assert plain.depth == res.depth == 6
    assert sorted(plain.params) == sorted(res.params)
    for name in plain.params:                       # the only difference is the shortcut
        np.testing.assert_array_equal(plain.params[name], res.params[name])
    assert plain.params["W1"].shape == (5, 4) and plain.params["W6"].shape == (4, 3)
    assert len(plain.bn_params) == 5 and "gamma6" not in plain.params


def test_forward_matches_a_loop_written_here():
    """No batch norm: scores of both versions against the block equations written out by hand."""
    X, _ = _data()
    for residual in (False, True):
        model = _small(residual, use_batchnorm=False)
        P = model.params
        h = np.maximum(X @ P["W1"] + P["b1"], 0)
        for i in (2, 4):
            a = np.maximum(h @ P[f"W{i}"] + P[f"b{i}"], 0)
            b = a @ P[f"W{i + 1}"] + P[f"b{i + 1}"]
            h = np.maximum(b + h, 0) if residual else np.maximum(b, 0)
        expected = h @ P["W6"] + P["b6"]
        np.testing.assert_allclose(model.loss(X), expected, rtol=1e-12, atol=1e-12)


def test_identity_shortcut_passes_input_when_branch_is_zero():
    """With zero weights in every block's second layer, a residual net is the stem: F(x) = 0 -> x."""
    X, _ = _data()
    res, plain = _small(True, use_batchnorm=False), _small(False, use_batchnorm=False)
    for model in (res, plain):
        for i in (3, 5):
            model.params[f"W{i}"][:] = 0
    stem = np.maximum(X @ res.params["W1"] + res.params["b1"], 0)
    np.testing.assert_allclose(res.loss(X), stem @ res.params["W6"] + res.params["b6"], atol=1e-12)
    np.testing.assert_allclose(plain.loss(X), np.tile(plain.params["b6"], (len(X), 1)), atol=1e-12)


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_gradients_match_finite_differences(residual, use_batchnorm):
    X, y = _data()
    model = _small(residual, use_batchnorm, reg=0.1)
    for name in model.params:                       # non-trivial gamma, beta, biases
        if not name.startswith("W"):
            model.params[name] += 0.1 * np.random.default_rng(3).standard_normal(model.params[name].shape)
    _, grads = model.loss(X, y)
    assert sorted(grads) == sorted(model.params)
    for name, param in model.params.items():
        num = numerical_gradient(lambda: model.loss(X, y)[0], param, h=1e-6)
        # biases right before batch norm have a zero gradient: compare those in absolute terms
        assert rel_error(grads[name], num) < 1e-6 or np.abs(grads[name] - num).max() < 1e-8, name


def test_test_mode_uses_running_statistics_and_float32_stays_float32():
    X, y = _data()
    model = _small(True, dtype=np.float32)
    model.loss(X.astype(np.float32), y)             # one training step updates the running averages
    assert not np.allclose(model.bn_params[0]["running_mean"], 0)
    assert all(p["mode"] == "train" for p in model.bn_params)
    scores = model.loss(X[:1].astype(np.float32))   # a batch of one works only with running statistics
    assert scores.dtype == np.float32 and scores.shape == (1, 3)
    assert all(p["mode"] == "test" for p in model.bn_params)
    assert all(v.dtype == np.float32 for v in model.params.values())


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="expects 5"):
        _small(False).loss(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="num_blocks"):
        DeepMLP(num_blocks=-1)
    with pytest.raises(TypeError, match="float32 or float64"):
        DeepMLP(dtype=np.int64)


def test_gradient_norms_one_per_weight_matrix():
    X, y = _data()
    model = _small(True)
    norms = gradient_norms(model, X, y)
    _, grads = model.loss(X, y)
    assert norms.shape == (6,)
    np.testing.assert_allclose(norms, [np.sqrt(np.sum(grads[f"W{i}"] ** 2)) for i in range(1, 7)])


def test_shortcuts_train_a_deep_net_better():
    """The lecture's claim on a small synthetic problem: 16 layers, same start, same batches."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 10))
    y = (X[:, :3].sum(1) > 0).astype(int) + (X[:, 3] > 0.5)                  # 3 classes
    data = {"X_train": X, "y_train": y, "X_val": X[:50], "y_val": y[:50]}
    final = {}
    for residual in (False, True):
        model = DeepMLP(input_dim=10, hidden_dim=16, num_blocks=7, num_classes=3, residual=residual, seed=0)
        solver = Solver(model, data, update_rule="sgd_momentum", optim_config={"learning_rate": 0.05},
                        num_epochs=8, batch_size=40, progress=False, verbose=False, seed=0)
        solver.train()
        final[residual] = np.mean(solver.loss_history[-10:])
    assert final[True] < final[False]


def test_tracks():
    assert len(RESNET_2015_TRACKS) == 5
    assert {t.competition for t in RESNET_2015_TRACKS} == {"ILSVRC 2015", "COCO 2015"}
    margins = {(t.competition, t.task): t.margin for t in RESNET_2015_TRACKS}
    assert margins[("ILSVRC 2015", "localisation")] == 27 and margins[("ILSVRC 2015", "classification")] is None


# ---------------------------------------------------------------------------------------- plot helpers
@pytest.mark.parametrize("kernels, strides", [([3, 3, 3], None), ([7], None), ([3, 3], [2, 1]),
                                              ([5, 3, 3], [1, 2, 1])])
def test_cone_width_is_the_receptive_field(kernels, strides):
    S = strides or [1] * len(kernels)
    cone = l07._rf_cone(kernels, S, top=20)
    assert len(cone) == len(kernels) + 1 and cone[-1] == [20]
    expected = receptive_field([(F, s) for F, s in zip(kernels, S)])
    assert cone[0][-1] - cone[0][0] + 1 == len(cone[0]) == expected


def test_receptive_field_cone_draws_and_labels():
    ax = l07.receptive_field_cone([3, 3, 3], title="three")
    texts = [t.get_text() for t in ax.texts]
    assert ["sees 3 inputs", "sees 5 inputs", "sees 7 inputs"] == [t for t in texts if t.startswith("sees")]
    assert ax.get_title() == "three"
    with pytest.raises(ValueError, match="odd kernel sizes"):
        l07.receptive_field_cone([4])


def test_inception_module_boxes_come_from_the_rows():
    analysis = inception_cost(28, 28, 256, 128, 64, 192, 64, 96, 64)
    ax = l07.inception_module(analysis, (28, 28, 256))
    texts = " | ".join(t.get_text() for t in ax.texts)
    boxes = [p for p in ax.patches if type(p).__name__ == "FancyBboxPatch"]
    assert len(boxes) == len(analysis.rows[0].children) + 2 == 9       # the layers, the input, the concatenation
    assert "28x28x480" in texts and "input  28x28x256" in texts and "271M" in texts
    for child in analysis.rows[0].children:
        assert child.desc in texts
    with pytest.raises(ValueError, match="Inception"):
        l07.inception_module(analyze([Input(8, 8, 3), Conv(4, 3, 1, 1)], count_input=False), (8, 8, 3))


def test_residual_block_labels():
    res = l07.residual_block(residual=True)
    plain = l07.residual_block(residual=False)
    assert "F(x) + x" in [t.get_text() for t in res.texts] and "H(x)" not in [t.get_text() for t in res.texts]
    assert "H(x)" in [t.get_text() for t in plain.texts]
    assert res.get_title() == "residual block" and plain.get_title() == "plain block"


def test_per_layer_lines():
    ax = l07.per_layer_lines({"a": [1.0, 2.0, 4.0], "b": [3.0, 2.0]}, log=True, ylabel="norm")
    assert len(ax.lines) == 2 and ax.get_yscale() == "log" and ax.get_ylabel() == "norm"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    with pytest.raises(ValueError, match="1-D"):
        l07.per_layer_lines({"a": np.ones((2, 2))})
