"""The figure helpers in cs231n_lib.plot: they draw what they are given, return it, and stay quiet."""
import logging
import warnings
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cs231n_lib import plot  # noqa: E402
from cs231n_lib.data import SURFACES  # noqa: E402


@pytest.fixture(autouse=True)
def quiet(monkeypatch, caplog):
    """Every test: warnings are errors, no plt.show(), no logged warnings, figures closed after."""
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plot helpers must not call plt.show()"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING):
            yield
            for fig_num in plt.get_fignums():                   # draw: layout warnings happen here
                plt.figure(fig_num).canvas.draw()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    plt.close("all")


def test_style_applied_on_import():
    rc = matplotlib.rcParams
    assert rc["axes.spines.top"] is False and rc["axes.spines.right"] is False
    assert rc["axes.grid"] is True
    assert [to_hex(c["color"]) for c in rc["axes.prop_cycle"]][:3] == [c.lower() for c in plot.COLORS[:3]]
    matplotlib.rcParams["axes.grid"] = False
    plot.use_style()
    assert rc["axes.grid"] is True


def test_image_grid_gray():
    imgs = np.random.default_rng(0).normal(size=(5, 1, 8, 8))
    fig = plot.image_grid(imgs, ncols=3, titles=list("abcde"), suptitle="digits")
    assert isinstance(fig, plt.Figure)
    assert len(fig.axes) == 5                                      # the empty sixth cell is removed
    shown = fig.axes[2].images[0].get_array()
    assert shown.shape == (8, 8)
    assert shown.min() == pytest.approx(0) and shown.max() == pytest.approx(1)   # 'each'
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    raw = imgs[2, 0]
    np.testing.assert_allclose(shown, (raw - raw.min()) / (raw.max() - raw.min()))


def test_image_grid_channels_first_colour_and_shared_scale():
    filters = np.random.default_rng(1).normal(size=(4, 3, 5, 5))   # like conv filters (F, C, HH, WW)
    fig = plot.image_grid(filters, normalize="all")
    shown = np.stack([ax.images[0].get_array() for ax in fig.axes])
    assert shown.shape == (4, 5, 5, 3)
    lo, hi = filters.min(), filters.max()
    np.testing.assert_allclose(shown, (filters.transpose(0, 2, 3, 1) - lo) / (hi - lo))
    fig = plot.image_grid(np.full((2, 4, 4, 3), 2.0), normalize=None)           # clipped, not warned
    assert fig.axes[0].images[0].get_array().max() == 1.0


def test_image_grid_bad_input():
    with pytest.raises(ValueError, match="titles"):
        plot.image_grid(np.zeros((3, 4, 4)), titles=["a"])
    with pytest.raises(ValueError, match=r"\(2, 5, 4, 4\)"):
        plot.image_grid(np.zeros((2, 5, 4, 4)))


def test_function_and_gradient():
    x = np.linspace(-3, 3, 50)
    ax = plot.function_and_gradient(x, np.tanh, lambda v: 1 - np.tanh(v) ** 2, "tanh")
    lines = [l for l in ax.get_lines() if l.get_label().startswith("tanh")]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), np.tanh(x))
    np.testing.assert_allclose(lines[1].get_ydata(), 1 / np.cosh(x) ** 2)
    assert len(ax.get_legend().get_texts()) == 2
    fig, axes = plt.subplots(1, 2)
    assert plot.function_and_gradient(x, np.tanh(x), 1 - np.tanh(x) ** 2, "tanh", ax=axes[1]) is axes[1]


def test_loss_surface_draws_every_trajectory():
    s = SURFACES["ravine"]
    paths = {"a": np.array([s.start, [-5.0, 1.0], [0.0, 0.0]]),
             "b": np.array([s.start, [-8.0, -1.0]]),
             "c": np.array([s.start, [50.0, 50.0]])}                 # runs off the window: clipped
    ax = plot.loss_surface("ravine", paths, title="ravine demo")
    assert ax.get_title() == "ravine demo"
    assert ax.get_xlim() == s.xlim and ax.get_ylim() == s.ylim
    for name, path in paths.items():
        (line,) = [l for l in ax.get_lines() if l.get_label() == name]
        np.testing.assert_allclose(line.get_xydata(), path)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a", "b", "c", "start", "end", "minimum"]
    assert ax.collections                                          # the contours are there


def test_loss_surface_without_trajectories_and_bad_shape():
    ax = plot.loss_surface(SURFACES["saddle"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["minimum"]
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        plot.loss_surface("saddle", {"bad": np.zeros((3, 3))})


def fake_run(n=200, epochs=5, seed=0):
    rng = np.random.default_rng(seed)
    return dict(loss_history=list(2.3 * np.exp(-np.arange(n) / 60) + 0.1 * rng.random(n)),
                train_acc_history=list(np.linspace(0.1, 0.9, epochs + 1)),
                val_acc_history=list(np.linspace(0.1, 0.8, epochs + 1)))


def test_training_curves_from_solver_like_object_and_dict():
    hist = fake_run()
    for run in (SimpleNamespace(**hist), hist):
        fig = plot.training_curves(run, title="one run")
        ax_loss, ax_acc = fig.axes
        assert len(fig.axes) == 2
        np.testing.assert_allclose(ax_loss.get_lines()[0].get_ydata(), hist["loss_history"])  # raw loss
        acc = {l.get_label(): l.get_ydata() for l in ax_acc.get_lines()}
        np.testing.assert_allclose(acc["train"], hist["train_acc_history"])
        np.testing.assert_allclose(acc["val"], hist["val_acc_history"])


def test_training_curves_several_runs_and_loss_only():
    fig = plot.training_curves({"lr=1e-3": fake_run(seed=1), "lr=1e-2": fake_run(seed=2)})
    ax_loss, ax_acc = fig.axes
    assert [t.get_text() for t in ax_loss.get_legend().get_texts()] == ["lr=1e-3", "lr=1e-2"]
    assert len(ax_acc.get_lines()) == 4                            # train and val per run
    fig = plot.training_curves({"loss_history": [3.0, 2.0, 1.0]})
    assert len(fig.axes) == 1
    with pytest.raises(TypeError, match="loss_history"):
        plot.training_curves(SimpleNamespace(foo=1))


def test_bar_chart_labels_values_and_highlight():
    labels, values = ["LeNet-5", "AlexNet", "VGG-16"], [60_000, 62_378_344, 138_357_544]
    ax = plot.bar_chart(labels, values, highlight="AlexNet", title="parameters", ylabel="count")
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 3
    np.testing.assert_allclose([b.get_height() for b in bars], values)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["60,000", "62,378,344", "138,357,544"]
    colors = [to_hex(b.get_facecolor()) for b in bars]
    assert colors[1] != colors[0] == colors[2]
    ax = plot.bar_chart(labels, values, horizontal=True, log=True, value_fmt=lambda v: f"{v / 1e6:.1f}M")
    assert [t.get_text() for t in ax.texts] == ["0.1M", "62.4M", "138.4M"]
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="labels"):
        plot.bar_chart(["a"], [1, 2])


def test_confusion_matrix_counts():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 60)
    y_pred = np.where(rng.random(60) < 0.7, y_true, rng.integers(0, 4, 60))
    ax = plot.confusion_matrix(y_true, y_pred)
    expected = np.zeros((4, 4), int)
    for t, p in zip(y_true, y_pred):                               # loop oracle
        expected[t, p] += 1
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert len(ax.texts) == np.count_nonzero(expected)
    assert ax.get_title() == f"accuracy {100 * np.mean(y_true == y_pred):.1f}%"
    ax = plot.confusion_matrix(y_true, y_pred, normalize=True, labels=list("abcd"))
    np.testing.assert_allclose(ax.images[0].get_array().sum(1), 1.0)


def test_timeline():
    events = [(2012, "AlexNet"), (1998, "LeNet-5"), (2015, "ResNet"), (2014, "VGG"), (2014, "GoogLeNet")]
    ax = plot.timeline(events, highlight="AlexNet", title="history")
    dots = [l for l in ax.get_lines() if l.get_marker() == "o"]
    assert sorted(float(d.get_xdata()[0]) for d in dots) == sorted(float(y) for y, _ in events)
    assert len(ax.texts) == len(events)
    assert ax.get_title() == "history"
    with pytest.raises(ValueError):
        plot.timeline([])


def test_helpers_draw_into_given_axes():
    fig, axes = plt.subplots(2, 2)
    assert plot.loss_surface("local_minima", ax=axes[0, 0]) is axes[0, 0]
    assert plot.bar_chart(["a", "b"], [1.5, 2.5], ax=axes[0, 1], value_fmt="{:.1f}") is axes[0, 1]
    assert plot.confusion_matrix([0, 1, 1], [0, 1, 0], ax=axes[1, 0]) is axes[1, 0]
    assert plot.timeline([(2000, "x")], ax=axes[1, 1]) is axes[1, 1]
    assert len(fig.axes) == 4 and len(plt.get_fignums()) == 1


def test_image_grid_reads_channel_first_filters_as_square_images():
    import matplotlib.pyplot as plt
    from cs231n_lib import plot
    for shape, expected in [((4, 1, 3, 3), (3, 3)), ((4, 3, 5, 5), (5, 5, 3)), ((4, 6, 7), (6, 7)),
                            ((4, 9, 9, 3), (9, 9, 3))]:
        fig = plot.image_grid(np.random.default_rng(0).random(shape))
        assert [ax.images[0].get_array().shape for ax in fig.axes] == [expected] * 4, shape
        plt.close(fig)



def test_signed_image_puts_zero_at_white_and_equal_magnitudes_at_equal_strength():
    # 1 row: -1 (strong blue), 0 (white), 0.25 (light red), 1 (strong red); a lopsided range
    # (min -1, max 1 here, but see the second array) must not shift where zero sits.
    a = np.array([[-1.0, 0.0, 0.25, 1.0]])
    fig, ax = plt.subplots()
    im = plot.signed_image(a, ax=ax, colorbar=False)
    lo, hi = im.get_clim()
    assert (lo, hi) == (-1.0, 1.0)
    white = np.array(plt.get_cmap("RdBu_r")(0.5)[:3])
    assert np.allclose(im.cmap(im.norm(0.0))[:3], white)
    # a mostly negative array (min -3, max 0.5): zero is still the centre of the map
    im2 = plot.signed_image(np.array([[-3.0, 0.0, 0.5]]), ax=ax, colorbar=False)
    assert im2.get_clim() == (-3.0, 3.0)
    assert np.allclose(im2.cmap(im2.norm(0.0))[:3], white)
    plt.close(fig)


def test_signed_image_all_zero_and_bad_shape():
    fig, ax = plt.subplots()
    im = plot.signed_image(np.zeros((2, 2)), ax=ax, colorbar=False)
    assert im.get_clim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="2-D"):
        plot.signed_image(np.zeros((2, 2, 2)), ax=ax)
    plt.close(fig)


def test_image_grid_signed_keeps_zero_white():
    # two kernels of very different ranges; with 'signed-each' the zero pixel of each is drawn
    # with the centre colour of the map, whatever the image's min and max
    k = np.zeros((2, 3, 3))
    k[0, 0, 0], k[0, 2, 2] = -4.0, 1.0
    k[1, 0, 0] = 2.0
    fig = plot.image_grid(k, cmap="RdBu_r", normalize="signed-each")
    for ax in fig.axes:
        shown = ax.images[0].get_array()
        assert np.isclose(shown[1, 1], 0.5)          # the zero entry maps to the centre
    assert np.isclose(fig.axes[0].images[0].get_array()[2, 2], 0.5 + 1.0 / 8)
    plt.close(fig)
    fig = plot.image_grid(k, cmap="RdBu_r", normalize="signed-all")
    assert np.isclose(fig.axes[1].images[0].get_array()[0, 0], 0.5 + 2.0 / 8)
    plt.close(fig)
    with pytest.raises(ValueError, match="signed-each"):
        plot.image_grid(k, normalize="signed")
