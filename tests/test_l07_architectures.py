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


# ---------------------------------------------------------------- what the executed lecture shows
# The lecture's cells print their numbers and no longer assert them; these tests read the executed
# notebook (tests/executed.py) and compare each printed number with one computed here from the
# definitions (products of layer sizes, published counts) and with the sentence that quotes it.
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from executed import executed, outputs_text  # noqa: E402

LECTURE = Path(__file__).resolve().parents[1] / "notebooks" / "07_architectures_case_studies.ipynb"


@pytest.fixture(scope="module")
def shown():
    nb, _, _ = executed(LECTURE)
    return outputs_text(nb), "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def printed(pattern, text, group=1):
    m = re.search(pattern, text, re.M)
    assert m, f"the lecture no longer prints anything matching {pattern!r}"
    return m.group(group)


def test_lecture_shows_three_3x3_against_one_7x7(shown):
    out, md = shown
    for C in (1, 3, 64, 512):
        line = printed(rf"^C =\s*{C}: three 3x3\s+([\d,]+)\s+one 7x7\s+([\d,]+)", out, 0)
        three, one = (int(v.replace(",", "")) for v in re.findall(r"[\d,]{2,}", line.split(":", 1)[1]))
        assert (three, one) == (3 * 9 * C * C, 49 * C * C)
    assert float(printed(r"ReLU between layers: False\s+max \|stack - one 7x7 conv\| = (\S+)", out)) < 1e-10
    assert float(printed(r"ReLU between layers: True\s+max \|stack - one 7x7 conv\| = (\S+)", out)) > 1e-2


def test_lecture_shows_the_notes_memory_example(shown):
    out, md = shown
    acts = 3 * 224 * 224 * 64
    assert int(printed(r"^([\d,]+) activations; with gradients", out).replace(",", "")) == acts
    quoted = f"{acts * 2 * 4 / 1e6:.1f} MB ({acts * 2 * 4 / 2**20:.1f} MiB)"
    assert printed(r"with gradients at float32: (.*)$", out) == quoted and quoted in md
    first_two = 2 * 224 * 224 * 64
    assert int(printed(r"VGG16 conv1_1 \+ conv1_2: ([\d,]+) activations", out).replace(",", "")) == first_two
    assert f"{first_two:,} activations, about {first_two * 8 / 1e6:.0f} MB" in md


def test_lecture_shows_vgg16_totals_and_the_gpu_batches(shown):
    out, md = shown
    total = printed(r"^TOTAL\s+1x1x1000\s+([\d,]+)\s+([\d.]+)\s+([\d,]+)\s+([\d,]+)$", out, 0).split()
    acts, params = int(total[2].replace(",", "")), int(total[4].replace(",", ""))
    assert params == 138_357_544                    # VGG16 (configuration D): the published count
    assert acts == 150_528 + sum(h * h * c * k for h, c, k in ((224, 64, 2), (112, 64, 1), (112, 128, 2),
                                 (56, 128, 1), (56, 256, 3), (28, 256, 1), (28, 512, 3), (14, 512, 1),
                                 (14, 512, 3), (7, 512, 1))) + 4096 + 4096 + 1000
    assert f"{acts:,}" in md and f"{params:,}" in md
    per_image = acts * 2 * 4                         # activations and their gradients, float32
    fixed = 3 * params * 4                           # parameters, gradients, momentum
    batches = {}
    for gib in (3, 4, 6, 12):
        batches[gib] = int(printed(rf"^\s*{gib} GiB GPU: at most (\d+) images", out))
        assert batches[gib] == (gib * 2**30 - fixed) // per_image
    assert f"{batches[3]} images on 3 GB, {batches[12]} on 12 GB" in md


def test_lecture_shows_lenet5_and_alexnet_counts(shown):
    out, md = shown
    lenet = printed(r"^TOTAL\s+1x1x10\s+[\d,]+\s+[\d.]+\s+([\d,]+)", out)
    by_hand = (6 * 25 + 6) + 6 * 2 + 1516 + 16 * 2 + (120 * 400 + 120) + (84 * 120 + 84) + 84 * 10
    assert int(lenet.replace(",", "")) == by_hand == 60_840 and "60,840" in md
    alex = printed(r"^TOTAL\s+1x1x1000\s+1,049,571\s+[\d.]+\s+([\d,]+)", out)
    convs = [(11, 3, 96), (5, 96, 256), (3, 256, 384), (3, 384, 384), (3, 384, 256)]
    fcs = [(9216, 4096), (4096, 4096), (4096, 1000)]
    count = sum(k * k * c * f + f for k, c, f in convs) + sum(i * o + o for i, o in fcs)
    assert int(alex.replace(",", "")) == count == 62_378_344


def test_lecture_credits_lecun_1989_before_lenet5(shown):
    _, md = shown
    section = md[md.index("### 6.1 LeNet-5"):md.index("### 6.2")]
    assert "first successful ConvNet application" not in section
    assert "1989" in section and "LeNet-5 is the later" in section
