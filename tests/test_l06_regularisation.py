"""cs231n_lib.lectures.l06_regularisation and its figures, against oracles written here:
centred finite differences, loops, scipy's softmax and Monte-Carlo expectations."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.special import softmax as scipy_softmax  # noqa: E402

from cs231n_lib import fast_layers  # noqa: E402
from cs231n_lib.lectures import l06_regularisation as demos  # noqa: E402
from cs231n_lib.models import PatternNet  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _num_grad(f, w, h=1e-6):
    grad = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        old = w[i]
        w[i] = old + h
        fp = f(w)
        w[i] = old - h
        fm = f(w)
        w[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


# ----------------------------------------------------------------------------- penalties
@pytest.mark.parametrize("kind, a", [("l2", 0.0), ("l1", 1.0), ("elastic", 0.3)])
def test_penalty_value_and_gradient(kind, a):
    w = np.random.default_rng(0).standard_normal((4, 3)) + 0.05   # away from the kink of |w| at 0
    reg = 0.7
    value, dw = demos.penalty(w, kind, reg, l1_ratio=0.3)
    expected = reg * (a * np.sum(np.abs(w)) + (1 - a) * 0.5 * np.sum(w ** 2))
    assert np.isclose(value, expected)
    num = _num_grad(lambda v: demos.penalty(v, kind, reg, l1_ratio=0.3)[0], w.copy())
    assert np.allclose(dw, num, atol=1e-6)


def test_penalty_none_and_errors():
    value, dw = demos.penalty(np.ones(3), "none", 1.0)
    assert value == 0 and np.all(dw == 0)
    with pytest.raises(ValueError, match="unknown penalty"):
        demos.penalty(np.ones(3), "l3", 1.0)


def test_soft_threshold_loop():
    w = np.array([-2.0, -0.3, 0.0, 0.1, 0.5, 3.0])
    t = 0.4
    expected = [x - t if x > t else (x + t if x < -t else 0.0) for x in w]
    assert np.allclose(demos.soft_threshold(w, t), expected)


def test_softmax_matches_scipy():
    s = np.random.default_rng(1).standard_normal((5, 4)) * 30
    assert np.allclose(demos.softmax(s), scipy_softmax(s, axis=1))


# ----------------------------------------------------------------------------- softmax training
@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 10)) * 2
    y = np.repeat(np.arange(3), 30)
    X = centres[y] + rng.standard_normal((90, 10))
    return X[::2], y[::2], X[1::2], y[1::2]


def test_train_softmax_learns_and_records(blobs):
    X, y, Xv, yv = blobs
    out = demos.train_softmax(X, y, Xv, yv, "none", lr=0.1, num_steps=50)
    assert out["W"].shape == (10, 3) and out["b"].shape == (3,)
    assert len(out["loss_history"]) == 50 and len(out["val_acc_history"]) == 51
    assert out["loss_history"][-1] < out["loss_history"][0] and out["val_acc_history"][-1] > 0.8


def test_l1_gives_exact_zeros_and_l2_does_not(blobs):
    X, y, Xv, yv = blobs
    X = np.hstack([X, np.random.default_rng(5).standard_normal((len(X), 40))])   # 40 useless features
    Xv = np.hstack([Xv, np.random.default_rng(6).standard_normal((len(Xv), 40))])
    l1 = demos.train_softmax(X, y, Xv, yv, "l1", reg=0.05, lr=0.1, num_steps=200)["W"]
    l2 = demos.train_softmax(X, y, Xv, yv, "l2", reg=0.05, lr=0.1, num_steps=200)["W"]
    none = demos.train_softmax(X, y, Xv, yv, "none", lr=0.1, num_steps=200)["W"]
    assert np.mean(l1 == 0) > 0.5 and np.mean(l1[10:] == 0) > np.mean(l1[:10] == 0)
    assert np.all(l2 != 0) and np.abs(l2).sum() < np.abs(none).sum()


# ----------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("scheme", ["plain", "inverted"])
def test_dropout_expectation_matches_test_output(scheme):
    x = np.array([1.0, -2.0, 0.5])
    p = 0.7
    samples = demos.dropout_train(x, p, scheme, 0, num_masks=100_000)
    assert samples.shape == (100_000, 3)
    kept = samples != 0
    assert abs(kept.mean() - p) < 0.01
    scale = 1 / p if scheme == "inverted" else 1.0
    assert np.allclose(samples[kept], np.broadcast_to(x * scale, samples.shape)[kept])
    test = demos.dropout_test(x, p, scheme)
    assert np.allclose(test, x if scheme == "inverted" else p * x)
    assert np.allclose(samples.mean(axis=0), test, atol=0.02)


def test_dropout_unknown_scheme():
    with pytest.raises(ValueError, match="scheme"):
        demos.dropout_train(np.ones(2), 0.5, "gaussian", 0)
    with pytest.raises(ValueError, match="scheme"):
        demos.dropout_test(np.ones(2), 0.5, "gaussian")


# ----------------------------------------------------------------------------- batch norm, ensembles
def test_batch_dependence_with_and_without_batch_statistics():
    X = np.random.default_rng(0).standard_normal((50, 4))
    same = demos.batch_dependence(lambda b: 2 * b, X, 3, 8, 20, 0)
    assert same.shape == (20, 4) and np.allclose(same, 2 * X[3])
    bn = lambda b: fast_layers.batchnorm_forward_fast(b, np.ones(4), np.zeros(4), {"mode": "train"})[0]
    noisy = demos.batch_dependence(bn, X, 3, 8, 20, 0)
    assert noisy.std(axis=0).min() > 0.01


def test_ensemble_probs():
    rng = np.random.default_rng(2)
    members = [rng.standard_normal((6, 3)) for _ in range(4)]
    expected = sum(scipy_softmax(m, axis=1) for m in members) / 4
    assert np.allclose(demos.ensemble_probs(members), expected)
    assert np.allclose(demos.ensemble_probs(members[:1]), scipy_softmax(members[0], axis=1))
    with pytest.raises(ValueError):
        demos.ensemble_probs([])


class _Recorder:
    """A fake model that records what it is called with."""

    def __init__(self):
        self.params = {"W": np.zeros(2)}
        self.dropout_params = [{"p": 0.5, "mode": "train"}]
        self.calls, self.seeds = [], []

    def loss(self, X, y=None):
        self.calls.append((X.copy(), y is None))
        self.seeds.append(self.dropout_params[0].get("seed"))
        return np.zeros((len(X), 2)) if y is None else (0.0, {"W": np.zeros(2)})


def test_train_time_noise_reseeds_and_augments_only_in_training():
    model = _Recorder()
    net = demos.TrainTimeNoise(model, augment=lambda X, rng: X + 1, seed=0)
    assert net.params is model.params
    X = np.zeros((3, 1))
    net.loss(X, np.zeros(3, int))
    net.loss(X, np.zeros(3, int))
    net.loss(X)
    assert np.all(model.calls[0][0] == 1) and np.all(model.calls[2][0] == 0)       # no augmentation at test
    assert model.seeds[0] != model.seeds[1] and model.seeds[2] == model.seeds[1]    # fresh seed per training call
    again = _Recorder()
    demos.TrainTimeNoise(again, seed=0).loss(X, np.zeros(3, int))
    assert again.seeds[0] == model.seeds[0]                                           # reproducible


def test_fit_records_histories_and_is_reproducible():
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((40, 1, 2, 2)), "y_train": rng.integers(0, 3, 40),
            "X_val": rng.standard_normal((20, 1, 2, 2)), "y_val": rng.integers(0, 3, 20)}
    make = lambda: PatternNet("affine-relu-dropout-affine", input_dim=(1, 2, 2), num_classes=3, hidden_dim=16, seed=0)
    h1 = demos.fit(make(), data, num_epochs=5, batch_size=10, optim_config={"learning_rate": 1e-2}, seed=1)
    h2 = demos.fit(make(), data, num_epochs=5, batch_size=10, optim_config={"learning_rate": 1e-2}, seed=1)
    assert len(h1["loss_history"]) == 20 and len(h1["val_loss_history"]) == 6
    assert h1["train_loss_history"][-1] < h1["train_loss_history"][0]
    for k in h1:
        assert np.array_equal(h1[k], h2[k])


def test_summarise():
    h = [{"train_acc_history": np.array([0.5, 1.0]), "val_acc_history": np.array([0.4, 0.8]),
          "train_loss_history": np.array([2.0, 0.1]), "val_loss_history": np.array([2.0, 0.5])},
         {"train_acc_history": np.array([0.5, 0.9]), "val_acc_history": np.array([0.4, 0.7]),
          "train_loss_history": np.array([2.0, 0.3]), "val_loss_history": np.array([2.0, 0.7])}]
    s = demos.summarise(h)
    assert np.isclose(s["train_acc"], 0.95) and np.isclose(s["val_acc"], 0.75)
    assert np.isclose(s["acc_gap"], 0.2) and np.isclose(s["loss_gap"], 0.4)


def test_case_studies():
    resnet = demos.CASE_STUDIES["ResNet (2015)"]
    assert resnet["dropout"] is None and resnet["batch norm"] is True
    assert demos.CASE_STUDIES["Wide ResNet (2016)"]["batch norm"] and demos.CASE_STUDIES["Wide ResNet (2016)"]["dropout"]


# ----------------------------------------------------------------------------- plot helpers
def test_dropout_network_draws_crosses_for_dropped_units():
    keep = [np.ones(3, bool), np.array([True, False, True, False]), np.ones(2, bool)]
    ax = demos.dropout_network((3, 4, 2), keep)
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == 3 + (2 + 2 * 2) + 2            # a dropped unit is a hollow circle plus an x
    assert len(ax.lines) == 3 * 2 + 2 * 2           # only kept units are connected
    with pytest.raises(ValueError, match="one boolean per unit"):
        demos.dropout_network((3, 4), [np.ones(3, bool)])


def test_weight_histograms_titles_count_zeros():
    fig = demos.weight_histograms({"a": np.array([0.0, 0.0, 1.0, -1.0]), "b": np.ones(4)})
    titles = [ax.get_title() for ax in fig.axes]
    assert "50% zero" in titles[0] and "0% zero" in titles[1]


def test_generalisation_curves_panels():
    h = {"train_loss_history": [1, 0.5], "val_loss_history": [1, 0.7],
         "train_acc_history": [0.1, 0.9], "val_acc_history": [0.1, 0.8]}
    fig = demos.generalisation_curves({"run": h, "other": h})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4
    acc_only = {"train_acc_history": [0.1, 0.9], "val_acc_history": [0.1, 0.8]}
    assert len(demos.generalisation_curves({"x": acc_only}).axes) == 1


def test_strip_plot():
    ax = demos.strip_plot({"a": np.arange(5.0), "b": np.ones(3)}, marks={"a": 2.0})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert len(ax.collections) == 2 and len(ax.lines) == 1


# --------------------------------------------------------------------------- what the executed lecture shows
# The lecture's cells print their numbers and no longer assert them; these tests read the executed
# notebook (tests/executed.py) and recompute what it prints from the printed raw numbers, from
# definitions written out here, or from the sentence that quotes it.
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from executed import executed, outputs_text  # noqa: E402

LECTURE = Path(__file__).resolve().parents[1] / "notebooks" / "06_regularisation.ipynb"


@pytest.fixture(scope="module")
def shown():
    nb, _, _ = executed(LECTURE)
    return outputs_text(nb), "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_lecture_shows_overfitting_of_85002_parameters(shown):
    out, md = shown
    params = 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert f"{params:,} parameters, 100 training images" in out and f"{params:,} parameters" in md
    assert re.search(r"final train accuracy 100\.0%", out)
    lowest, epoch, final = re.search(r"val loss: lowest ([\d.]+) at epoch (\d+), final ([\d.]+)", out).groups()
    assert int(epoch) <= 20 and float(final) > float(lowest)       # "lowest within the first 20 epochs"


def test_lecture_measures_the_ensemble_on_mnist_with_its_spread(shown):
    out, md = shown
    members = [(float(a), int(e)) for a, e in re.findall(r"^member \d: test accuracy ([\d.]+)% \((\d+) errors\)", out, re.M)]
    assert len(members) == 5
    accs = np.array([a for a, _ in members])
    for acc, errors in members:
        assert abs(errors - (1 - acc / 100) * 750) <= 0.5 + 750 * 0.0005 and errors >= 20
    mean, std, best = map(float, re.search(r"one net:\s+([\d.]+)% \+- ([\d.]+)% \(mean \+- std over 5 seeds\), "
                                           r"best ([\d.]+)%", out).groups())
    assert abs(mean - accs.mean()) <= 0.06 and abs(std - accs.std(ddof=1)) <= 0.08 and best == accs.max()
    trios = float(re.search(r"ensembles of 3:\s+([\d.]+)%", out).group(1))
    ensemble = float(re.search(r"ensemble of all 5: ([\d.]+)%", out).group(1))
    assert ensemble > accs.max() and accs.mean() < trios < ensemble           # "land in between"
    assert ensemble - accs.mean() > 2 * accs.std(ddof=1)                     # "several times the spread"
    assert "several times the spread" in md and "mlxtend" in md


def _table(out):
    """The last regularisation table: {name: (train acc, val acc, val std, acc gap, train loss, val loss)}."""
    rows = {}
    for m in re.finditer(r"^(none|dropout 0\.5|L2 \(reg 0\.01\)|batch norm|augmentation)\s+([\d.]+)%\s+([\d.]+)% "
                         r"\+- ([\d.]+)%\s+([\d.]+)%\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M):
        rows[m.group(1)] = tuple(float(v) for v in m.groups()[1:])
    return rows


def test_lecture_regularisers_lower_the_validation_loss_over_three_seeds(shown):
    out, md = shown
    rows = _table(out)
    assert set(rows) == {"none", "dropout 0.5", "L2 (reg 0.01)", "batch norm", "augmentation"}
    for name, (train_acc, val_acc, val_std, acc_gap, train_loss, val_loss, loss_gap) in rows.items():
        assert abs(acc_gap - (train_acc - val_acc)) <= 0.11 and abs(loss_gap - (val_loss - train_loss)) <= 0.0015
        if name != "none":
            assert val_loss < rows["none"][5], f"{name} does not lower the validation loss"
    assert "trained with three seeds" in md
    best_none, best_drop = map(int, re.search(r"val loss lowest at epoch (\d+) without regularisation, at epoch (\d+) "
                                               r"with dropout", out).groups())
    assert best_drop > best_none + 10                                         # "keeps improving for much longer"


def test_lecture_reads_accuracy_differences_against_their_spread(shown):
    out, md = shown
    rows = _table(out)
    none_std = rows["none"][2]
    assert none_std > 1.0 and "more than a point from seed to" in md            # the sentence that says so
    gains = [rows[k][1] - rows["none"][1] for k in rows if k != "none"]
    assert max(gains) < 3 * none_std and "of the\norder of the seed-to-seed spread" in md
