"""A probe of the core library with wrong or unusual input: every call must either give a clear error
(a ValueError / TypeError / FloatingPointError raised by the library itself, naming the problem) or a
right answer. It fails on a bare error from deep inside NumPy or Python (IndexError, KeyError, a
NumPy broadcasting error ...) and on a silent wrong answer (NaN written into running averages, a
typo in a parameter dict ignored, one NaN pixel spoiling every output).

Each case is one test. ``python tests/test_bad_input_probe.py`` prints the tally
(clear / right / bare / silent / vague / refused); with PYTHONPATH pointing at an older copy of the library it
measures that one.
"""
import importlib
import re
import sys
import traceback
import warnings

import numpy as np
import pytest

import matplotlib

matplotlib.use("Agg")

from cs231n_lib import architectures, data, fast_layers as fl, gradcheck, layers, models, optim, plot, shapes  # noqa: E402
from cs231n_lib.solver import Solver  # noqa: E402


def _lecture(new, old):
    """A lecture module: cs231n_lib.lectures.<new>, or <old> in the older flat layout (to measure it)."""
    try:
        return importlib.import_module(f"cs231n_lib.{old}")
    except ImportError:
        return importlib.import_module(f"cs231n_lib.lectures.{new}")


L01, L02 = _lecture("l01_history", "history"), _lecture("l02_convolution", "conv_demos")
L03, L04 = _lecture("l03_pooling_normalisation", "fc_conv"), _lecture("l04_activations", "activation_demos")
L05, L06 = _lecture("l05_optimisation", "optim_demos"), _lecture("l06_regularisation", "regularisation_demos")
L07, L08 = _lecture("l07_architectures", "resnet_demo"), _lecture("l08_training", "training_demos")

CLEAR_TYPES = (ValueError, TypeError, FloatingPointError, KeyError)   # when the library raises them itself
rng = np.random.default_rng(0)
X4 = rng.standard_normal((2, 3, 8, 8))
W4 = rng.standard_normal((4, 3, 3, 3))
B4 = np.zeros(4)
CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
EMPTY4 = np.zeros((0, 3, 8, 8))
G3, BE3 = np.ones(3), np.zeros(3)


def _bn(**extra):
    return {"mode": "train", **extra}


def _running(mode="test", **extra):
    return {"mode": mode, "running_mean": np.ones(3), "running_var": np.full(3, 4.0), **extra}


class _Linear:
    """A tiny softmax classifier for the Solver cases."""

    def __init__(self):
        self.params = {"W": np.zeros((2, 2))}

    def loss(self, X, y=None):
        X = np.asarray(X, dtype=float)
        scores = X @ self.params["W"]
        if y is None:
            return scores
        loss, dscores = layers.softmax_loss(scores, np.asarray(y))
        return loss, {"W": X.T @ dscores}


def _toy(**change):
    d = {"X_train": np.eye(2).repeat(4, axis=0), "y_train": np.array([0, 1] * 4),
         "X_val": np.eye(2), "y_val": np.array([0, 1])}
    d.update(change)
    return d


def _solve(data=None, **options):
    s = Solver(_Linear(), data or _toy(), num_epochs=1, batch_size=4, verbose=False, progress=False, **options)
    s.train()
    return s


# ---------------------------------------------------------------------------------------------------
# cases: (id, call, expectation). expectation is a regex the clear error must match ("error: ..."),
# or a check of the returned value ("ok").
# ---------------------------------------------------------------------------------------------------
def err(pattern):
    return ("error", pattern)


def ok(check):
    return ("ok", check)


def _shape(shape):
    return ok(lambda r: np.shape(r[0] if isinstance(r, tuple) else r) == shape)


def _nan_local(result):
    out = result[0]
    return 0 < np.isnan(out).sum() < out.size / 4


CASES = [
    # shapes
    ("conv_output_size stride 0", lambda: shapes.conv_output_size(5, 3, 0, 0), err("stride")),
    ("conv_output_size negative pad", lambda: shapes.conv_output_size(5, 3, 1, -1), err("pad")),
    ("conv_output_size float size", lambda: shapes.conv_output_size(5.5, 3, 1, 0), err("")),
    ("conv_output_size window too big", lambda: shapes.conv_output_size(2, 3, 1, 0), err("")),
    ("pool_output_size stride 0", lambda: shapes.pool_output_size(4, 2, 0), err("stride")),
    ("check_array strings", lambda: shapes.check_array(["a"], "x"), err("numeric")),
    ("check_array ragged list", lambda: shapes.check_array([[1], [1, 2]], "x"), err("")),
    ("check_array list converts", lambda: shapes.check_array([[1, 2]], "x"), ok(lambda r: r.dtype == np.float64)),
    # layers
    ("affine_forward mismatched w", lambda: layers.affine_forward(np.ones((2, 3)), np.ones((4, 5)), np.ones(5)), err("")),
    ("affine_forward N=0", lambda: layers.affine_forward(np.zeros((0, 3)), np.ones((3, 5)), np.ones(5)), _shape((0, 5))),
    ("affine_forward b wrong", lambda: layers.affine_forward(np.ones((2, 3)), np.ones((3, 5)), np.ones(4)), err("b")),
    ("affine_forward lists", lambda: layers.affine_forward([[1.0, 2.0]], [[1.0], [1.0]], [0.0]), ok(lambda r: r[0][0, 0] == 3.0)),
    ("relu_forward strings", lambda: layers.relu_forward(np.array(["a"])), err("numeric")),
    ("relu_forward N=0", lambda: layers.relu_forward(np.zeros((0, 3))), _shape((0, 3))),
    ("relu_backward wrong dout", lambda: layers.relu_backward(np.ones((2, 2)), layers.relu_forward(np.ones((2, 3)))[1]), err("")),
    ("leaky_relu alpha string", lambda: layers.leaky_relu_forward(np.ones((2, 2)), "0.1"), err("")),
    ("elu alpha string", lambda: layers.elu_forward(np.ones((2, 2)), "1"), err("alpha")),
    ("maxout wrong pieces", lambda: layers.maxout_forward(np.ones((2, 3)), np.ones((3, 4, 2)), np.ones((3, 2))), err("")),
    ("dropout unknown key", lambda: layers.dropout_forward(np.ones((2, 3)), {"p": 0.5, "mode": "train", "sed": 1}), err("sed")),
    ("dropout p 1.5", lambda: layers.dropout_forward(np.ones((2, 3)), {"p": 1.5, "mode": "train"}), err("p")),
    ("dropout mode eval", lambda: layers.dropout_forward(np.ones((2, 3)), {"p": 0.5, "mode": "eval"}), err("mode")),
    ("dropout N=0", lambda: layers.dropout_forward(np.zeros((0, 3)), {"p": 0.5, "mode": "train"}), _shape((0, 3))),
    ("dropout not a dict", lambda: layers.dropout_forward(np.ones((2, 3)), 0.5), err("dict")),
    ("spatial dropout unknown key", lambda: layers.spatial_dropout_forward(X4, {"p": 0.5, "mode": "train", "keep": 1}), err("keep")),
    ("spatial dropout 2-D", lambda: layers.spatial_dropout_forward(np.ones((2, 3)), {"p": 0.5, "mode": "train"}), err("")),
    ("lrn unknown key", lambda: layers.lrn_forward(X4, {"size": 5}), err("size")),
    ("lrn even n", lambda: layers.lrn_forward(X4, {"n": 4}), err("n")),
    ("softmax_loss N=0", lambda: layers.softmax_loss(np.zeros((0, 3)), np.zeros(0, int)), err("")),
    ("softmax_loss label out of range", lambda: layers.softmax_loss(np.zeros((2, 3)), np.array([0, 3])), err("label")),
    ("softmax_loss float labels", lambda: layers.softmax_loss(np.zeros((2, 3)), np.array([0.5, 1.0])), err("")),
    ("svm_loss wrong y shape", lambda: layers.svm_loss(np.zeros((2, 3)), np.array([[0, 1]])), err("")),
    # fast layers: convolution
    ("conv typo padding", lambda: fl.conv_forward_fast(X4, W4, B4, {"stride": 1, "padding": 1}), err("padding")),
    ("conv stride 0", lambda: fl.conv_forward_fast(X4, W4, B4, {"stride": 0, "pad": 1}), err("stride")),
    ("conv param not dict", lambda: fl.conv_forward_fast(X4, W4, B4, [1, 1]), err("dict")),
    ("conv channels differ", lambda: fl.conv_forward_fast(X4, W4[:, :2], B4, CONV), err("channels")),
    ("conv N=0", lambda: fl.conv_forward_fast(EMPTY4, W4, B4, CONV), _shape((0, 4, 8, 8))),
    ("conv N=0 backward", lambda: fl.conv_backward_fast(np.zeros((0, 4, 8, 8)), fl.conv_forward_fast(EMPTY4, W4, B4, CONV)[1]),
     ok(lambda r: r[0].shape == (0, 3, 8, 8) and not r[1].any())),
    ("conv dout wrong shape", lambda: fl.conv_backward_fast(np.ones((2, 4, 7, 7)), fl.conv_forward_fast(X4, W4, B4, CONV)[1]), err("dout")),
    ("conv lists", lambda: fl.conv_forward_fast(X4.tolist(), W4.tolist(), B4.tolist(), CONV), _shape((2, 4, 8, 8))),
    ("conv NaN pixel on the Fourier path", lambda: fl.conv_forward_fast(
        np.where(np.arange(2 * 8 * 12 * 10).reshape(2, 8, 12, 10) == 1000, np.nan, 1.0),
        np.ones((4, 8, 5, 5)), np.zeros(4), {"stride": 1, "pad": 2}), ok(_nan_local)),
    ("im2col window too big", lambda: fl.im2col(X4, 9, 9), err("")),
    ("col2im wrong cols", lambda: fl.col2im(np.ones((5, 5)), X4.shape, 3, 3, 1, 1), err("cols")),
    # fast layers: pooling
    ("max pool typo", lambda: fl.max_pool_forward_fast(X4, {"pool_height": 2, "pool_width": 2, "strides": 2}), err("strides")),
    ("max pool N=0", lambda: fl.max_pool_forward_fast(EMPTY4, POOL), _shape((0, 3, 4, 4))),
    ("max pool N=0 backward", lambda: fl.max_pool_backward_fast(np.zeros((0, 3, 4, 4)), fl.max_pool_forward_fast(EMPTY4, POOL)[1]),
     _shape((0, 3, 8, 8))),
    ("avg pool N=0", lambda: fl.avg_pool_forward_fast(EMPTY4, POOL), _shape((0, 3, 4, 4))),
    ("max pool stride 0", lambda: fl.max_pool_forward_fast(X4, {"pool_height": 2, "pool_width": 2, "stride": 0}), err("stride")),
    ("max pool 3-D", lambda: fl.max_pool_forward_fast(X4[0], POOL), err("")),
    ("max pool window too big", lambda: fl.max_pool_forward_fast(X4, {"pool_height": 9, "pool_width": 9, "stride": 1}), err("")),
    # fast layers: batch norm
    ("bn typo running_average", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), G3, BE3,
                                                                  {"mode": "test", "running_average": np.ones(3)}), err("running_average")),
    ("bn typo epsilon", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), G3, BE3, _bn(epsilon=1e-3)), err("epsilon")),
    ("spatial bn typo", lambda: fl.spatial_batchnorm_forward_fast(X4, G3, BE3, _bn(momentun=0.5)), err("momentun")),
    ("bn mode missing", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), G3, BE3, {}), err("mode")),
    ("bn momentum 1.5", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), G3, BE3, _bn(momentum=1.5)), err("momentum")),
    ("bn eps 0", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), G3, BE3, _bn(eps=0)), err("eps")),
    ("bn train N=0", lambda: fl.batchnorm_forward_fast(np.zeros((0, 3)), G3, BE3, _running("train")), err("")),
    ("spatial bn train N=0", lambda: fl.spatial_batchnorm_forward_fast(EMPTY4, G3, BE3, _running("train")), err("")),
    ("bn test N=0", lambda: fl.batchnorm_forward_fast(np.zeros((0, 3)), G3, BE3, _running()), _shape((0, 3))),
    ("spatial bn test N=0", lambda: fl.spatial_batchnorm_forward_fast(EMPTY4, G3, BE3, _running()), _shape((0, 3, 8, 8))),
    ("bn gamma wrong", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), np.ones(2), BE3, _bn()), err("gamma")),
    ("bn running_mean wrong", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), G3, BE3, _bn(running_mean=np.ones(2))), err("running_mean")),
    ("bn test mode uses running stats", lambda: fl.batchnorm_forward_fast(np.full((2, 3), 3.0), G3, BE3, _running()),
     ok(lambda r: np.allclose(r[0], (3.0 - 1.0) / np.sqrt(4.0 + 1e-5)))),
    ("bn not a dict", lambda: fl.batchnorm_forward_fast(np.ones((4, 3)), G3, BE3, "train"), err("dict")),
    # optim
    ("sgd unknown key", lambda: optim.sgd(np.ones(3), np.ones(3), {"lr": 0.1}), err("lr")),
    ("sgd negative lr", lambda: optim.sgd(np.ones(3), np.ones(3), {"learning_rate": -0.1}), err("learning_rate")),
    ("sgd NaN lr", lambda: optim.sgd(np.ones(3), np.ones(3), {"learning_rate": float("nan")}), err("learning_rate")),
    ("sgd inf lr", lambda: optim.sgd(np.ones(3), np.ones(3), {"learning_rate": float("inf")}), err("learning_rate")),
    ("sgd shapes differ", lambda: optim.sgd(np.ones(3), np.ones(4)), err("shape")),
    ("sgd lists", lambda: optim.sgd([1.0, 2.0], [1.0, 1.0], {"learning_rate": 1.0}), ok(lambda r: np.allclose(r[0], [0.0, 1.0]))),
    ("sgd config not dict", lambda: optim.sgd(np.ones(3), np.ones(3), 0.1), err("dict")),
    ("momentum 1.5", lambda: optim.sgd_momentum(np.ones(3), np.ones(3), {"momentum": 1.5}), err("momentum")),
    ("momentum 1.0", lambda: optim.sgd_momentum(np.ones(3), np.ones(3), {"momentum": 1.0}), err("momentum")),
    ("nesterov momentum -0.5", lambda: optim.nesterov_momentum(np.ones(3), np.ones(3), {"momentum": -0.5}), err("momentum")),
    ("adagrad epsilon 0", lambda: optim.adagrad(np.zeros(3), np.zeros(3), {"epsilon": 0.0}), err("epsilon")),
    ("rmsprop decay 1.0", lambda: optim.rmsprop(np.ones(3), np.ones(3), {"decay_rate": 1.0}), err("decay_rate")),
    ("rmsprop decay 1.5", lambda: optim.rmsprop(np.ones(3), np.ones(3), {"decay_rate": 1.5}), err("decay_rate")),
    ("adam beta1 1.0", lambda: optim.adam(np.ones(3), np.ones(3), {"beta1": 1.0}), err("beta1")),
    ("adam beta2 1.0", lambda: optim.adam(np.ones(3), np.ones(3), {"beta2": 1.0}), err("beta2")),
    ("adam beta1 -0.1", lambda: optim.adam(np.ones(3), np.ones(3), {"beta1": -0.1}), err("beta1")),
    ("adam bias_correction string", lambda: optim.adam(np.ones(3), np.ones(3), {"bias_correction": "no"}), err("bias_correction")),
    ("adam state of another shape", lambda: optim.adam(np.ones(3), np.ones(3), {"m": np.ones(4)}), err("shape")),
    ("adam unknown key", lambda: optim.adam(np.ones(3), np.ones(3), {"beta_1": 0.9}), err("beta_1")),
    ("step_decay every 0", lambda: optim.step_decay(0.1, 3, every=0), err("every")),
    ("step_decay negative epoch", lambda: optim.step_decay(0.1, -1), err("epoch")),
    ("cosine num_epochs 0", lambda: optim.cosine_schedule(0.1, 1, 0), err("num_epochs")),
    ("exponential_decay string", lambda: optim.exponential_decay(0.1, 2, "fast"), err("")),
    ("run_optimizer unknown rule", lambda: optim.run_optimizer("sgdd", lambda w: w, [1.0, 1.0], 3), err("sgdd")),
    ("run_optimizer negative steps", lambda: optim.run_optimizer("sgd", lambda w: w, [1.0, 1.0], -1), err("num_steps")),
    # Solver
    ("Solver unknown option", lambda: Solver(_Linear(), _toy(), epochs=3), err("epochs")),
    ("Solver optim_config typo", lambda: Solver(_Linear(), _toy(), optim_config={"learning rate": 0.1}), err("learning rate")),
    ("Solver update_rule unknown", lambda: Solver(_Linear(), _toy(), update_rule="adamw"), err("adamw")),
    ("Solver batch_size 0", lambda: Solver(_Linear(), _toy(), batch_size=0), err("batch_size")),
    ("Solver lists", lambda: _solve(_toy(X_train=np.eye(2).repeat(4, axis=0).tolist(), y_train=[0, 1] * 4,
                                          X_val=[[1.0, 0.0], [0.0, 1.0]], y_val=[0, 1])),
     ok(lambda s: len(s.loss_history) == 2)),
    ("Solver labels of another length", lambda: Solver(_Linear(), _toy(y_train=np.array([0, 1]))), err("y_train")),
    ("Solver data not a dict", lambda: Solver(_Linear(), [np.eye(2)]), err("dict")),
    ("Solver lr_decay 0", lambda: Solver(_Linear(), _toy(), lr_decay=0.0), err("lr_decay")),
    ("Solver diverging loss", lambda: _solve(optim_config={"learning_rate": float("inf")}), err("")),
    ("Solver batch_sampling typo", lambda: Solver(_Linear(), _toy(), batch_sampling="shuffled"), err("shuffled")),
    ("Solver random batch too large", lambda: Solver(_Linear(), _toy(), batch_size=9, batch_sampling="random"),
     err("batch_size 9 > 8")),
    ("Solver num_steps float", lambda: Solver(_Linear(), _toy(), num_steps=2.5), err("num_steps")),
    ("Solver num_steps with num_epochs", lambda: Solver(_Linear(), _toy(), num_epochs=1, num_steps=3), err("num_steps")),
    ("Solver callback returns a number", lambda: _solve(callback=lambda s: 1.0), err("callback")),
    # models
    ("PatternNet bad token", lambda: models.PatternNet("conv-relu-foo-affine", input_dim=(1, 8, 8)), err("foo")),
    ("ThreeLayerConvNet negative filters", lambda: models.ThreeLayerConvNet(num_filters=-1), err("num_filters")),
    ("ThreeLayerConvNet unknown option", lambda: models.ThreeLayerConvNet(filters=4), err("filters")),
    # architectures
    ("format_table unit GB", lambda: architectures.format_table(architectures.analyze(architectures.lenet5()), unit="GB"), err("unit")),
    ("format_bytes unit GB", lambda: architectures.format_bytes(1e9, unit="GB"), ok(lambda r: r == "1.0 GB")),
    ("format_bytes unit TB", lambda: architectures.format_bytes(1e9, unit="TB"), err("unit")),
    # gradcheck
    ("rel_error shapes differ", lambda: gradcheck.rel_error(np.ones(3), np.ones(4)), err("shape")),
    ("numerical_gradient h 0", lambda: gradcheck.numerical_gradient(lambda x: float(np.sum(x)), np.ones(3), h=0.0), err("h")),
    # data
    ("get_surface unknown", lambda: data.get_surface("bowl"), err("bowl")),
    ("make_spirals 0 classes", lambda: data.make_spirals(num_classes=0), err("num_classes")),
    ("resize to 0", lambda: data.resize(np.ones((8, 8)), (0, 4)), err("")),
    # plot
    ("image_grid empty", lambda: plot.image_grid([]), err("images")),
    ("image_grid 5-D", lambda: plot.image_grid(np.ones((1, 2, 3, 4, 5))), err("images")),
    ("bar_chart mismatch", lambda: plot.bar_chart(["a", "b"], [1]), err("labels")),
    ("confusion_matrix mismatch", lambda: plot.confusion_matrix([0, 1], [0]), err("y_pred")),
    ("training_curves no run", lambda: plot.training_curves({}), err("run")),
    ("training_curves no loss", lambda: plot.training_curves({"a": {"acc": [1]}}), err("loss_history")),
    ("loss_surface unknown", lambda: plot.loss_surface("bowl"), err("bowl")),
    ("curves empty", lambda: plot.curves(None, {}), err("curve")),
    ("timeline empty", lambda: plot.timeline([]), err("event")),
    # architectures
    ("analyze empty", lambda: architectures.analyze([]), err("Input")),
    ("vgg unknown", lambda: architectures.vgg("Z"), err("Z")),
    ("conv_params negative", lambda: architectures.conv_params(-3, 3, 3), err("C")),
    ("fc_params zero", lambda: architectures.fc_params(0, 10), err("n_in")),
    ("receptive_field of no layers", lambda: architectures.receptive_field([]), ok(lambda r: r == 1)),
    # data
    ("sample_image unknown", lambda: data.sample_image("nope"), err("nope")),
    ("noisy_grad negative noise", lambda: data.noisy_grad("ravine", np.zeros(2), -1.0, 0), err("noise")),
    ("make_blobs 0 points", lambda: data.make_blobs(points_per_class=0), err("points_per_class")),
    # models
    ("parse_pattern empty", lambda: models.parse_pattern(""), err("pattern")),
    ("PatternNet unknown option", lambda: models.PatternNet("affine", input_dim=(1, 8, 8), drop=0.5), err("drop")),
    # lectures
    ("L01 event unknown", lambda: L01.event("nope"), err("nope")),
    ("L01 imagenet_results split", lambda: L01.imagenet_results(split="train"), err("train")),
    ("L02 output_size_text stride 0", lambda: L02.output_size_text(5, 3, 0), err("stride")),
    ("L02 pixel_usage stride 0", lambda: L02.pixel_usage(5, 5, 3, 0), err("stride")),
    ("L03 num_crops window too big", lambda: L03.num_crops(5, 7, 1), err("window")),
    ("L03 crop_grid window too big", lambda: L03.crop_grid(X4, 9, 1), err("window")),
    ("L04 MLP unknown activation", lambda: L04.MLP(2, [3], 2, "swish"), err("swish")),
    ("L04 train N mismatch", lambda: L04.train(L04.MLP(2, [3], 2, "relu"), np.ones((4, 2)), np.zeros(3, int), 0.1, 2),
     err("examples")),
    ("L05 convergence_step unknown surface", lambda: L05.convergence_step("bowl", np.zeros((3, 2))), err("bowl")),
    ("L05 train_epochs batch 0", lambda: L05.train_epochs(L04.MLP(2, [3], 2, "relu"), np.ones((4, 2)), np.zeros(4, int),
                                                          batch_size=0), err("batch_size")),
    ("L05 format_rows lists", lambda: L05.format_rows([[1, 2]], ["a"]), err("dict")),
    ("L06 penalty unknown", lambda: L06.penalty(np.ones(3), "l3", 0.1), err("l3")),
    ("L06 summarise no runs", lambda: L06.summarise([]), err("run")),
    ("L07 DeepMLP 0 hidden", lambda: L07.DeepMLP(4, 0, 3), err("hidden_dim")),
    ("L08 confused_pairs mismatch", lambda: L08.confused_pairs([0, 1], [0]), err("y_pred")),
    ("L08 softmax 1-D", lambda: L08.softmax(np.ones(3)), err("dimensions")),
]


def classify(call, expectation):
    """('clear' | 'right' | 'bare' | 'silent' | 'vague' | 'refused', detail)."""
    kind, want = expectation
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except BaseException as exc:       # noqa: BLE001 -- every outcome is classified
        frames = traceback.extract_tb(exc.__traceback__)
        inner = frames[-1] if frames else None
        ours = inner is not None and "cs231n_lib" in inner.filename and (inner.line or "").startswith("raise")
        # Python's own check of keyword arguments names the bad one: as clear as the library's
        ours = ours or (isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc))
        detail = f"{type(exc).__name__}: {exc}"[:300]
        if isinstance(exc, CLEAR_TYPES) and ours:
            if kind == "ok":
                return "refused", detail                 # a valid (if unusual) input was refused
            if re.search(want, str(exc)):
                return "clear", detail
            return "vague", detail + f" (does not mention {want!r})"
        return "bare", f"{detail} (raised at {inner.filename}:{inner.lineno})" if inner else detail
    if kind == "error":
        return "silent", f"accepted the bad input, returned {type(result).__name__}"
    try:
        good = bool(want(result))
    except Exception as exc:            # noqa: BLE001
        good = False
        return "silent", f"returned something unexpected ({type(exc).__name__}: {exc})"
    return ("right", "") if good else ("silent", "returned a wrong answer")


@pytest.mark.parametrize("name, call, expectation", CASES, ids=[c[0] for c in CASES])
def test_probe(name, call, expectation):
    outcome, detail = classify(call, expectation)
    assert outcome in ("clear", "right"), f"{outcome}: {detail}"


if __name__ == "__main__":
    tally = {}
    for name, call, expectation in CASES:
        outcome, detail = classify(call, expectation)
        tally[outcome] = tally.get(outcome, 0) + 1
        if outcome not in ("clear", "right"):
            print(f"{outcome:7s} {name}: {detail}")
    print(f"{len(CASES)} calls:", ", ".join(f"{k} {v}" for k, v in sorted(tally.items())), file=sys.stderr)
