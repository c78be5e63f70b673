"""The measurements behind lecture 5 (cs231n_lib.lectures.l05_optimisation) and its two figure helpers.

Oracles: closed forms (gradient descent on a quadratic, least squares by np.linalg.lstsq, the 2 x 2
random-matrix probability (2 - sqrt 2) / 4, the sampling-without-replacement variance formula),
Sylvester's criterion instead of eigenvalues, and loops written out here.
"""
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cs231n_lib import optim, plot  # noqa: E402
from cs231n_lib.lectures import l05_optimisation as demos  # noqa: E402
from cs231n_lib.data import SURFACES  # noqa: E402

RAVINE = SURFACES["ravine"]


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    plt.close("all")


class LeastSquares:
    """loss = mean over examples of 0.5 * (x . w - y)^2: per-example gradients known in closed form."""

    def __init__(self, D, seed=0):
        self.params = {"w": np.random.default_rng(seed).normal(size=D)}

    def loss(self, X, y):
        r = X @ self.params["w"] - y                               # (N,)
        return 0.5 * float(np.mean(r ** 2)), {"w": X.T @ r / len(X)}


def ls_data(N=200, D=5, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    return X, X @ rng.normal(size=D) + 0.5 * rng.normal(size=N)


def gd_path(lr, steps):
    """Gradient descent on the ravine in closed form: each coordinate shrinks by (1 - lr * curvature)."""
    t = np.arange(steps + 1)[:, None]
    return RAVINE.start * (1 - lr * np.array([RAVINE.a, RAVINE.b])) ** t


# --------------------------------------------------------------------------- convergence
def test_convergence_step_matches_closed_form():
    lr, tol = 0.2, 1e-3
    path = gd_path(lr, 300)
    gaps = 0.5 * (RAVINE.a * path[:, 0] ** 2 + RAVINE.b * path[:, 1] ** 2)   # f(min) = 0
    expected = next(t for t, g in enumerate(gaps) if g <= tol)                # monotone here
    assert demos.convergence_step(RAVINE, path, tol) == expected
    assert demos.convergence_step("ravine", path[:expected], tol) is None     # cut short: not there yet


def test_convergence_step_requires_staying():
    path = np.array([[-9.0, 2.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.001], [0.0, 0.0]])
    assert demos.convergence_step(RAVINE, path, 1e-3) == 3                    # the visit at step 1 does not count
    assert demos.convergence_step(RAVINE, np.zeros((4, 2)), 1e-3) == 0


def test_convergence_table_rows():
    s = SURFACES["local_minima"]
    stuck = np.array([s.start, s.local_minimum])
    rows = demos.convergence_table(s, {"stuck": stuck, "good": np.array([s.start, s.minimum])})
    assert [r["name"] for r in rows] == ["stuck", "good"]
    assert rows[0]["steps"] is None and rows[1]["steps"] == 1
    assert rows[0]["final_loss"] == pytest.approx(-5 / 12)                   # f(1, 0) by hand
    assert rows[0]["gap"] == pytest.approx(-5 / 12 + 8 / 3)
    assert rows[1]["num_steps"] == 1
    np.testing.assert_array_equal(rows[0]["end"], s.local_minimum)


def test_format_rows():
    rows = [{"name": "sgd", "steps": 12, "loss": 0.5}, {"name": "adam", "steps": None, "loss": 0.25}]
    text = demos.format_rows(rows, ["name", "steps", "loss"], {"loss": "{:.2f}"})
    lines = text.splitlines()
    assert len(lines) == 4 and set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["sgd", "12", "0.50"]
    assert lines[3].split() == ["adam", "never", "0.25"]
    assert len({len(line) for line in lines}) == 1                           # columns line up


def test_steps_near_counts_by_loop():
    rng = np.random.default_rng(0)
    path, point = rng.normal(size=(50, 2)), np.array([0.2, -0.1])
    expected = sum(1 for p in path if math.hypot(*(p - point)) <= 0.7)
    assert demos.steps_near(path, point, 0.7) == expected
    with pytest.raises(ValueError, match="coordinates"):
        demos.steps_near(path, np.zeros(3), 1.0)


def test_best_learning_rate_on_the_ravine():
    # Gradient descent is stable only for lr < 2 / b = 0.5; below that, larger is faster along x.
    lr, steps, path = demos.best_learning_rate("sgd", RAVINE, [0.05, 0.2, 0.45, 0.55], 300)
    assert lr == 0.45
    np.testing.assert_allclose(path, gd_path(0.45, 300), rtol=1e-10, atol=1e-12)
    assert steps == demos.convergence_step(RAVINE, gd_path(0.45, 300))
    with pytest.raises(ValueError):
        demos.best_learning_rate("sgd", RAVINE, [], 10)


# --------------------------------------------------------------------------- effective learning rates
def test_effective_learning_rates_sgd_and_adagrad():
    grad = RAVINE.grad
    np.testing.assert_allclose(demos.effective_learning_rates("sgd", grad, RAVINE.start, 5,
                                                              {"learning_rate": 0.1}), 0.1)
    lr, w, cache, expected = 0.5, RAVINE.start.copy(), np.zeros(2), []
    for _ in range(30):                                       # AdaGrad written out
        g = grad(w)
        cache += g * g
        expected.append(lr / (np.sqrt(cache) + 1e-8))
        w = w - lr * g / (np.sqrt(cache) + 1e-8)
    got = demos.effective_learning_rates(optim.adagrad, grad, RAVINE.start, 30, {"learning_rate": lr})
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-7)
    assert np.all(np.diff(got, axis=0) <= 1e-12)             # AdaGrad's can only shrink (round-off aside)


def test_effective_learning_rates_zero_gradient_is_nan():
    got = demos.effective_learning_rates("sgd", lambda p: np.array([1.0, 0.0]), np.zeros(2), 3)
    assert np.all(np.isnan(got[:, 1])) and np.allclose(got[:, 0], 1e-2)


def test_with_schedule():
    lrs = [0.1 * 0.5 ** t for t in range(6)]
    rule = demos.with_schedule("sgd", lambda t: lrs[t])
    path = optim.run_optimizer(rule, lambda p: np.ones(1), np.zeros(1), 6)
    np.testing.assert_allclose(path[:, 0], -np.concatenate([[0], np.cumsum(lrs)]))
    fresh = demos.with_schedule(optim.sgd, lambda t: lrs[t])           # its own counter
    w, _ = fresh(np.zeros(1), np.ones(1))
    assert w[0] == pytest.approx(-0.1)


# --------------------------------------------------------------------------- random Hessians
def test_hessian_sign_fractions_small_dims():
    n = 40_000
    out = demos.hessian_sign_fractions([1, 2], num_samples=n, rng=0)
    se = lambda p: math.sqrt(p * (1 - p) / n)
    assert abs(out["minimum"][0] - 0.5) < 4 * se(0.5)
    p2 = (2 - math.sqrt(2)) / 4                                   # 2 x 2 GOE is positive definite
    assert abs(out["minimum"][1] - p2) < 4 * se(p2)
    np.testing.assert_allclose(out["minimum"] + out["maximum"] + out["saddle"], 1.0)
    assert out["saddle"][0] == 0.0                                # a 1-D critical point is never a saddle
    np.testing.assert_array_equal(out["dims"], [1, 2])


def test_hessian_sign_fractions_against_sylvester():
    n, D = 40_000, 3
    out = demos.hessian_sign_fractions([D], num_samples=n, rng=1)
    rng = np.random.default_rng(2)
    G = rng.normal(size=(n, D, D))
    A = 0.5 * (G + G.transpose(0, 2, 1))
    minors = np.stack([np.linalg.det(A[:, :k, :k]) for k in range(1, D + 1)], 1)  # leading principal minors
    p = np.mean(np.all(minors > 0, axis=1))
    assert abs(out["minimum"][0] - p) < 5 * math.sqrt(2 * p * (1 - p) / n)
    assert abs(out["index"][0] - 0.5) < 0.02
    with pytest.raises(ValueError):
        demos.hessian_sign_fractions([0, 2])


# --------------------------------------------------------------------------- mini-batch noise
def test_minibatch_gradient_noise_matches_sampling_formula():
    X, y = ls_data()
    model = LeastSquares(X.shape[1])
    N = len(X)
    r = X @ model.params["w"] - y
    per_example = X * r[:, None]                                   # (N, D) single-example gradients
    g = per_example.mean(0)
    sigma2 = np.mean(np.sum((per_example - g) ** 2, axis=1))       # population spread of single gradients
    batch_sizes = [1, 10, 50]
    got = demos.minibatch_gradient_noise(model, X, y, batch_sizes, num_batches=3000, rng=0)
    theory = [math.sqrt(sigma2 / B * (N - B) / (N - 1)) / np.linalg.norm(g) for B in batch_sizes]
    np.testing.assert_allclose(got, theory, rtol=0.06)
    assert demos.minibatch_gradient_noise(model, X, y, [N], num_batches=2)[0] == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="batch size"):
        demos.minibatch_gradient_noise(model, X, y, [N + 1])


# --------------------------------------------------------------------------- training on a real problem
def test_train_epochs_full_batch_is_gradient_descent():
    X, y = ls_data(N=60)
    model, ref = LeastSquares(5, seed=3), LeastSquares(5, seed=3)
    out = demos.train_epochs(model, X, y, "sgd", {"learning_rate": 0.1}, num_epochs=4, batch_size=60)
    w, losses = ref.params["w"].copy(), []
    for _ in range(5):
        r = X @ w - y
        losses.append(0.5 * np.mean(r ** 2))
        w = w - 0.1 * X.T @ r / len(X)
    np.testing.assert_allclose(out["epoch_loss"], losses, rtol=1e-12)
    np.testing.assert_allclose(out["loss_history"], losses[:4], rtol=1e-12)
    np.testing.assert_allclose(out["lr_history"], 0.1)


def test_train_epochs_schedule_and_divergence():
    X, y = ls_data(N=100)
    seen = []
    out = demos.train_epochs(LeastSquares(5), X, y, "sgd", {"learning_rate": 1.0}, num_epochs=2,
                             batch_size=25, lr_schedule=lambda e: seen.append(e) or 0.01 / (1 + e))
    assert seen == [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]        # fractional epochs, before each step
    np.testing.assert_allclose(out["lr_history"], [0.01 / (1 + e) for e in seen])
    assert len(out["epoch_loss"]) == 3 and out["epoch_loss"][-1] < out["epoch_loss"][0]
    blown = demos.train_epochs(LeastSquares(5), X, y, "sgd", {"learning_rate": 1e3}, num_epochs=50,
                               batch_size=10)
    assert len(blown["epoch_loss"]) == 51 and np.isnan(blown["epoch_loss"][-1])


def test_minimize_full_batch_is_least_squares():
    X, y = ls_data()
    model = LeastSquares(5)
    f_star, iters = demos.minimize_full_batch(model, X, y)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(model.params["w"], w, rtol=1e-6, atol=1e-8)
    assert f_star == pytest.approx(0.5 * np.mean((X @ w - y) ** 2), rel=1e-10)
    assert iters >= 1


# --------------------------------------------------------------------------- figures
def test_curves():
    ax = plot.curves(np.arange(4), {"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 0.0, -1.0, 2.0]}, logy=True,
                     xlabel="epoch", styles={"b": {"ls": "--"}})
    a, b = ax.get_lines()
    assert len(a.get_xdata()) == 4 and len(b.get_xdata()) == 2          # non-positive values left out
    assert b.get_linestyle() == "--" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    ax = plot.curves({"a": [1, 10, 100]}, {"a": [3.0, 2.0, 1.0]}, logx=True)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 10, 100])
    with pytest.raises(ValueError, match="curve 'a'"):
        plot.curves(np.arange(3), {"a": [1.0, 2.0]})
    ax.figure.canvas.draw()


def test_trajectory_grid():
    p = optim.run_optimizer("sgd", RAVINE.grad, RAVINE.start, 10, {"learning_rate": 0.3})
    fig = demos.trajectory_grid(RAVINE, [[p, p, p], [p, p[:3], p]], ["sgd", "adam"], ["a", "b", "c"],
                               notes=[["x", None, "z"], [None, None, "w"]], suptitle="grid")
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert fig.axes[0].get_legend() is None
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sorted(texts) == ["w", "x", "z"]
    path_line = fig.axes[4].get_lines()[1]                             # after the minimum's star
    np.testing.assert_allclose(path_line.get_xdata(), p[:3, 0])
    with pytest.raises(ValueError, match="nested"):
        demos.trajectory_grid(RAVINE, [[p]], ["sgd", "adam"], ["a"])
    fig.canvas.draw()


# ---------------------------------------------------------------- what the executed lecture shows
# The lecture's cells print their numbers and no longer assert them; these tests read the executed
# notebook (tests/executed.py) and compare each number with an independent computation and with the
# sentence of the lecture that quotes it.
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from executed import executed, outputs_text  # noqa: E402

LECTURE = Path(__file__).resolve().parents[1] / "notebooks" / "05_optimisation.ipynb"


@pytest.fixture(scope="module")
def shown():
    nb, _, _ = executed(LECTURE)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return outputs_text(nb), markdown


def printed(pattern, text, group=1):
    m = re.search(pattern, text)
    assert m, f"the lecture no longer prints anything matching {pattern!r}"
    return float(m.group(group).replace(",", ""))


def test_lecture_shows_the_ravine_condition_number_ceiling_and_crawl(shown):
    out, md = shown
    a, b = RAVINE.a, RAVINE.b
    assert printed(r"condition number (\S+)", out) == b / a
    assert "condition number** of 40" in md and b / a == 40
    assert printed(r"largest stable lr = 2 / \S+ = (\S+)", out) == 2 / b
    assert printed(r"w1 is multiplied by (\S+),", out) == round(1 - 0.45 * a, 3)
    assert printed(r"w2 by (\S+) every step", out) == round(1 - 0.45 * b, 3)
    steps = round(math.log(1e-3) / math.log(1 - 0.45 * a))
    assert printed(r"shrinking w1 by 1000x takes (\d+) steps", out) == steps
    assert f"{steps} steps to shrink it a thousandfold" in md


def test_lecture_shows_momentum_top_speed(shown):
    out, md = shown
    assert abs(printed(r"= ([\d.]+) x the SGD step", out) - 1 / (1 - 0.9)) < 5e-3


def test_lecture_shows_adagrad_first_step_ratio(shown):
    out, md = shown
    w1, w2 = RAVINE.start
    ratio = abs(RAVINE.b * w2) / abs(RAVINE.a * w1)          # the gradients' ratio, written out
    assert printed(r"gets a ([\d.]+)x larger learning rate", out) == round(ratio, 1)
    assert f"{ratio:.1f} times larger" in md


def test_lecture_shows_adam_without_bias_correction_too_large(shown):
    out, md = shown
    b1, b2, eps = 0.9, 0.999, 1e-8
    t = np.arange(1, 3001)
    step = (1 - b1 ** t) / (np.sqrt(1 - b2 ** t) + eps)        # constant gradient 1, no correction
    assert printed(r"without: first step ([\d.]+) x lr", out) == round(step[0], 3)
    assert printed(r"at step (\d+);", out) == step.argmax() + 1
    assert printed(r"peak ([\d.]+) x lr", out) == round(step.max(), 2)
    assert f"peaking at step {step.argmax() + 1}" in md and f"{step[0]:.2f} lr" in md


def test_lecture_shows_saddles_taking_over(shown):
    out, md = shown
    assert abs(printed(r"D = 2: minimum\s+(\S+)", out) - (2 - math.sqrt(2)) / 4) < 0.01
    assert printed(r"D = 6: minimum\s+(\S+)", out) < 1e-4 and printed(r"D = 6: minimum\s+\S+\s+saddle (\S+)", out) > 0.999


def test_lecture_shows_noise_floor_and_decay(shown):
    out, md = shown
    exact = printed(r"exact gradient\s+mean loss over the last 50 steps: (\S+)", out)
    const = printed(r"noisy, constant lr\s+mean loss over the last 50 steps: (\S+)", out)
    decay = printed(r"noisy, lr / 10 after 150 steps\s+mean loss over the last 50 steps: (\S+)", out)
    assert exact < 1e-5 < decay < const / 10
    assert "more than ten times lower" in md


def test_lecture_shows_schedules_beating_a_constant_rate(shown):
    out, md = shown
    gaps = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"^(\S.*?)\s+gap after 20 epochs: (\S+)$", out, re.M)}
    assert set(gaps) == {"constant", "step (x0.1 every 7)", "exponential (k = 0.2)", "cosine"}, gaps
    assert all(v < gaps["constant"] / 3 for k, v in gaps.items() if k != "constant")
    assert "at least three times closer" in md


def test_lecture_shows_newton_stuck_on_the_saddle_and_lbfgs_escaping(shown):
    out, md = shown
    saddle = SURFACES["saddle"]
    newton = re.search(r"saddle\s+Newton: .*ends at \(([-+.\d]+), ([-+.\d]+)\), loss ([-+.\d]+)", out)
    lbfgs = re.search(r"saddle\s+L-BFGS: .*loss ([-+.\d]+)", out)
    assert newton and lbfgs
    assert np.allclose([float(newton.group(1)), float(newton.group(2))], saddle.saddle, atol=1e-3)
    assert float(newton.group(3)) == round(float(saddle.f(saddle.saddle)), 4)
    assert float(lbfgs.group(1)) == round(float(saddle.f(saddle.minimum)), 4) == -0.25


def test_lecture_shows_the_cost_of_newton_for_vgg16(shown):
    out, md = shown
    N = 138_357_544                 # VGG16 (configuration D), Simonyan & Zisserman 2014: the known count
    assert printed(r"parameters N\s+= ([\d,]+)", out) == N
    assert printed(r"-> ([\d.]+) PB", out) == round(N ** 2 * 4 / 1e15, 1)
    assert printed(r"-> (\d+) years", out) == round(N ** 3 / 1e15 / 3.156e7)
    assert f"{N ** 2 * 4 / 1e15:.1f} PB" in md and f"{N ** 3 / 1e15 / 3.156e7:.0f} years" in md


def test_lecture_cites_the_optimisers_papers(shown):
    _, md = shown
    for citation in ("Kingma & Ba 2015", "Duchi, Hazan & Singer 2011", "Nesterov 1983", "Sutskever",
                     "Liu & Nocedal 1989", "Polyak"):
        assert citation in md, f"lecture 5 does not cite {citation}"


def test_lecture_says_what_a_static_copy_of_the_explorer_shows(shown):
    _, md = shown
    section = md[md.index("## 13. Try it yourself"):]
    section = section[:section.index("\n## ", 5) if "\n## " in section[5:] else len(section)]
    assert "shows the default choice once" not in section       # the old promise: it shows nothing
    assert "empty" in section and "static copy" in section


def test_log_sliders_show_the_value_they_start_at():
    """A FloatLogSlider's front end snaps its value to base ** (min + k * step): with value 0.05,
    min -3 and step 0.05 the slider read 0.0501 (issue 19). Every log slider in the lectures must
    start on its own grid, so what the student reads is the value the text talks about."""
    import ast
    import json
    import math
    from pathlib import Path

    import ipywidgets as widgets

    root = Path(__file__).resolve().parents[1]
    found = 0
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] != "code" or "widgets." not in src:
                continue
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr in ("FloatLogSlider", "SelectionSlider"):
                    found += 1
                    w = eval(compile(ast.Expression(node), str(path), "eval"),  # noqa: S307
                             {"widgets": widgets})
                    if node.func.attr == "SelectionSlider":
                        assert w.label == str(w.value), (path.name, w.label, w.value)
                        continue
                    k = round((math.log(w.value, w.base) - w.min) / w.step)
                    shown = format(w.base ** (w.min + k * w.step), w.readout_format)
                    assert shown == format(w.value, w.readout_format), \
                        f"{path.name}: a log slider set to {w.value} reads {shown}"
    assert found, "no log or selection slider found in the lectures"
