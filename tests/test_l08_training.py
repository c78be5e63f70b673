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


# --------------------------------------------------------------------------- what the executed lecture shows
# The lecture's cells print their numbers and no longer assert them; these tests read the executed
# notebook (tests/executed.py) and recompute what it prints from the printed raw numbers, from
# definitions written out here, or from the sentence that quotes it.
import base64  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from executed import executed, outputs_text  # noqa: E402

LECTURE = Path(__file__).resolve().parents[1] / "notebooks" / "08_training_a_convnet.ipynb"


@pytest.fixture(scope="module")
def lecture():
    nb, _, _ = executed(LECTURE)
    return nb


def _code_cell(nb, needle):
    cells = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(cells) == 1, f"expected one code cell containing {needle!r}, found {len(cells)}"
    return cells[0]


def _markdown(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_lecture_training_cell_keeps_one_progress_bar_not_one_output_per_redraw(lecture):
    cell = _code_cell(lecture, "solver.train()\ntrain_seconds")
    outputs = cell.outputs
    streams = [o for o in outputs if o.output_type == "stream"]
    bars = [o for o in outputs if o.output_type == "display_data"
            and re.search(r"step/s|s/step", o["data"].get("text/plain", ""))]      # tqdm's rate, either way up
    assert not any("\r" in o.text for o in streams), "progress-bar redraws ('\\r') were saved as stream outputs"
    assert len(bars) == 1 and "500/500" in bars[0]["data"]["text/plain"], [o.output_type for o in outputs]
    assert len(outputs) <= 20 + 4, f"{len(outputs)} outputs for a 20-epoch run"    # one line per epoch at most


def test_lecture_shows_the_digits_model_numbers(lecture):
    out, md = outputs_text(lecture), _markdown(lecture)
    params = (32 * 9 + 32) + (512 * 128 + 128) + (128 * 10 + 10) + 2 * (32 + 128)
    assert re.search(rf"^total\s+{params:,}$", out, re.M) and f"{params:,} parameters" in md
    acc, right, n = re.search(r"test accuracy:\s+([\d.]+)%\s+\((\d+) of (\d+) test digits\)", out).groups()
    assert int(n) == 270 and round(100 * int(right) / int(n), 1) == float(acc)
    assert float(acc) >= 97 and "at least 97%" in md
    assert float(re.search(r"log\(10\)\s+= (\S+)", out).group(1)) == round(np.log(10), 4)


def test_lecture_compares_batch_norm_over_three_seeds_on_the_harder_digits(lecture):
    out, md = outputs_text(lecture), _markdown(lecture)
    rows = re.findall(r"^(with BN|without BN)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+(\d+)$", out, re.M)
    runs = {}
    for name, seed, val1, test, errors in rows:
        runs.setdefault(name, {})[int(seed)] = (float(val1), float(test), int(errors))
    assert set(runs) == {"with BN", "without BN"} and len(runs["with BN"]) >= 3
    assert set(runs["with BN"]) == set(runs["without BN"])
    n_test = 750                                             # load_mnist_5k: 15% of 5,000
    means = {}
    for name, by_seed in runs.items():
        tests = np.array([t for _, t, _ in by_seed.values()])
        for _, t, errors in by_seed.values():
            assert abs(errors - (1 - t / 100) * n_test) <= 0.5 + n_test * 0.0005     # % printed to 0.1
            assert errors >= 20, "a comparison on a handful of errors is what the harder set avoids"
        mean, std = re.search(rf"^{name}: test accuracy ([\d.]+)% \+- ([\d.]+)% \(mean \+- std over (\d+) seeds\)",
                              out, re.M).groups()[:2]
        assert abs(float(mean) - tests.mean()) <= 0.06 and abs(float(std) - tests.std(ddof=1)) <= 0.08
        means[name] = (tests.mean(), tests.std(ddof=1))
    for seed in runs["with BN"]:                             # the markdown: every seed ahead, both ways
        assert runs["with BN"][seed][0] > runs["without BN"][seed][0]
        assert runs["with BN"][seed][1] > runs["without BN"][seed][1]
    worst_bn = min(t for _, t, _ in runs["with BN"].values())
    best_plain = max(t for _, t, _ in runs["without BN"].values())
    assert worst_bn > best_plain                             # "the two ranges do not overlap"
    gap = means["with BN"][0] - means["without BN"][0]
    assert gap > max(means["with BN"][1], means["without BN"][1])
    assert "the two ranges do not\noverlap" in md and "larger than the spread" in md and "mlxtend" in md


def test_lecture_pytorch_section_runs_or_says_why_not(lecture):
    out = outputs_text(lecture)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "PyTorch is not installed in this environment: section 10 is skipped" in out
        assert "max |PyTorch - ours|" not in out
        return
    diff = float(re.search(r"max \|PyTorch - ours\| = (\S+);", out).group(1))
    same, total = map(int, re.search(r"same prediction for (\d+) of (\d+) test digits", out).groups())
    ours, theirs = map(float, re.search(r"training loss: ours (\S+), PyTorch (\S+)", out).groups())
    errors = [float(e) for e in re.findall(r"gradient of W\d: relative error (\S+)", out)]
    assert diff < 1e-8 and same == total == 270 and abs(ours - theirs) < 1e-6
    assert len(errors) == 3 and max(errors) < 1e-6


def test_lecture_filter_grid_fits_the_notebook_width_and_is_signed(lecture):
    from PIL import Image
    cell = _code_cell(lecture, "learned first-layer filters W1")
    png = next(o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {}))
    width = Image.open(io.BytesIO(base64.b64decode(png))).size[0]
    assert width <= 1000, f"the filter grid is {width} px wide: shrunk to fit a notebook it is unreadable"
    assert 'normalize="signed-each"' in cell.source and "RdBu_r" in cell.source
