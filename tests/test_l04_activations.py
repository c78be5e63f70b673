"""The measurements behind lecture 4 (cs231n_lib.lectures.l04_activations) and its three figure helpers.

Oracles: centred finite differences (gradients of the MLP and of the 2-D loss), scipy quadrature
(Gaussian means and average slopes), units made dead or alive by hand, loops written out here and
the geometry of Kaczmarz steps.
"""
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import integrate, stats  # noqa: E402

from cs231n_lib import layers, plot  # noqa: E402
from cs231n_lib.lectures import l04_activations as demos  # noqa: E402
from cs231n_lib.data import make_blobs, make_spirals  # noqa: E402
from cs231n_lib.gradcheck import numerical_gradient, rel_error  # noqa: E402


# Warnings are errors, drawing included; nothing logged; figures closed (conftest.py).
pytestmark = pytest.mark.usefixtures("quiet_figures")


def _data(N=7, D=4, C=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), rng.integers(0, C, N)


# --------------------------------------------------------------------------- the MLP
@pytest.mark.parametrize("activation", demos.HIDDEN_ACTIVATIONS)
def test_mlp_gradients_match_finite_differences(activation):
    X, y = _data()
    model = demos.MLP(4, [5, 6], 3, activation, weight_scale=0.5, bias_init=0.1, seed=1)
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        num = numerical_gradient(lambda: model.loss(X, y)[0], param)
        assert grads[name].shape == param.shape
        assert rel_error(grads[name], num) < 1e-6, (activation, name)


def test_mlp_shapes_and_parameter_counts():
    model = demos.MLP(4, [5, 6], 3, "maxout", seed=0)
    assert model.params["W1"].shape == (2, 4, 5) and model.params["b1"].shape == (2, 5)
    assert model.params["W3"].shape == (6, 3)                 # the output layer is affine
    assert model.num_params == demos.maxout_params(4, 5) + demos.maxout_params(5, 6) + demos.affine_params(6, 3)
    prelu = demos.MLP(4, [5], 3, "prelu", prelu_init=0.25, seed=0)
    assert np.all(prelu.params["alpha1"] == 0.25) and "alpha2" not in prelu.params
    X, _ = _data()
    assert prelu.loss(X).shape == (7, 3)


def test_mlp_init_scale_and_bias():
    for scale, std in (("xavier", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400)), (0.3, 0.3)):
        w = demos.MLP(400, [300], 2, "relu", weight_scale=scale, bias_init=-2.0, seed=0).params
        assert abs(w["W1"].std() / std - 1) < 0.02
        assert np.all(w["b1"] == -2.0) and np.all(w["b2"] == 0.0)


def test_mlp_rejects_bad_options():
    with pytest.raises(ValueError, match="softplus"):
        demos.MLP(2, [3], 2, "softplus")
    with pytest.raises(ValueError, match="weight_scale"):
        demos.MLP(2, [3], 2, "relu", weight_scale="glorot")


def test_mlp_float32_stays_float32():
    X, y = _data()
    model = demos.MLP(4, [5], 3, "elu", dtype=np.float32, seed=0)
    loss, grads = model.loss(X.astype(np.float32), y)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_mlp_trains_with_the_solver():
    from cs231n_lib.solver import Solver

    X, y = make_blobs(3, 40, seed=0)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = demos.MLP(2, [20], 3, "leaky_relu", seed=0)
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 0.5}, num_epochs=5,
                    batch_size=20, verbose=False, progress=False, seed=0)
    solver.train()
    assert solver.best_val_acc > 0.9


# --------------------------------------------------------------------------- measurements
def test_layer_gradient_norms_are_the_norms_of_finite_difference_gradients():
    X, y = _data()
    model = demos.MLP(4, [5, 5], 3, "sigmoid", weight_scale=1.0, seed=2)
    norms = demos.layer_gradient_norms(model, X, y)
    expected = [np.linalg.norm(numerical_gradient(lambda: model.loss(X, y)[0], model.params[f"W{i}"]))
                for i in (1, 2, 3)]
    assert norms.shape == (3,) and np.allclose(norms, expected, rtol=1e-6)


def _hand_made(activation, X):
    """One hidden layer of 4 units on 2-D inputs with |x| <= 1: units 0 and 2 can never fire."""
    model = demos.MLP(2, [4], 2, activation, seed=0)
    w = np.array([[1.0, 1.0, 0.0, -1.0], [0.0, 1.0, 1.0, 0.0]])      # (2, 4)
    b = np.array([-5.0, 0.0, -3.0, 0.2])                            # units 0, 2: always below zero
    if activation == "maxout":
        model.params["W1"], model.params["b1"] = np.stack([w, w]), np.stack([b, b - 1])
    else:
        model.params["W1"], model.params["b1"] = w, b
    return model


def test_unit_activity_matches_a_loop():
    X, _ = make_spirals(3, 20, seed=0)
    model = _hand_made("relu", X)
    activity = demos.unit_activity(model, X)[0]
    W, b = model.params["W1"], model.params["b1"]
    loop = [np.mean([X[n] @ W[:, j] + b[j] > 0 for n in range(len(X))]) for j in range(4)]
    assert np.allclose(activity, loop) and activity[0] == 0 and activity[2] == 0 and 0 < activity[1] < 1


@pytest.mark.parametrize("activation, dead", [("relu", 0.5), ("leaky_relu", 0.0), ("elu", 0.0),
                                              ("prelu", 0.0), ("maxout", 0.0)])
def test_dead_unit_fractions_on_hand_made_units(activation, dead):
    X, _ = make_spirals(3, 20, seed=0)
    model = _hand_made(activation, X)
    counts = demos.dead_unit_fractions(model, X)
    assert counts["units"] == 4
    assert counts["never_active"] == 0.5               # units 0 and 2 are below zero on every example
    assert counts["no_gradient"] == dead               # but only ReLU's flat side passes no gradient


def test_dead_unit_fractions_counts_every_layer():
    X, _ = make_spirals(3, 20, seed=0)
    model = demos.MLP(2, [4, 6], 2, "relu", bias_init=-10.0, seed=0)
    counts = demos.dead_unit_fractions(model, X)
    assert counts == {"never_active": 1.0, "no_gradient": 1.0, "units": 10}


def test_train_learns_and_stops_at_the_target():
    X, y = make_blobs(3, 50, seed=0)
    model = demos.MLP(2, [20], 3, "relu", seed=0)
    hist = demos.train(model, X, y, lr=0.1, num_steps=200, record_every=10)
    assert len(hist["loss_history"]) == 200 and hist["loss_history"][-1] < 0.5 * hist["loss_history"][0]
    assert list(hist["acc_iters"]) == list(range(0, 201, 10)) and hist["acc_history"][-1] > 0.9
    assert hist["stopped_at"] is None
    early = demos.train(demos.MLP(2, [20], 3, "relu", seed=0), X, y, lr=0.1, num_steps=200, record_every=5,
                        target_accuracy=0.8)
    assert early["acc_history"][-1] >= 0.8 and early["acc_history"][:-1].max() < 0.8
    assert len(early["loss_history"]) == early["acc_iters"][-1]


def _reference_train(model, X, y, lr, num_steps, batch_size=None, momentum=0.9, record_every=10, seed=0,
                     target_accuracy=None):
    """Lecture 4's training loop written out by hand: what train() computed before it used the Solver.

    Accuracy on all of X at t = 0, record_every, ...; a step on a random batch of distinct examples (or
    on all of X); momentum v = mu v - lr dw, w = w + v; stop at the target or a non-finite loss."""
    rng = np.random.default_rng(seed)
    velocity = {k: np.zeros_like(w) for k, w in model.params.items()}
    losses, iters, accs, stopped = [], [], [], None
    for t in range(num_steps + 1):
        if t % record_every == 0:
            iters.append(t)
            accs.append(float(np.mean(np.argmax(model.loss(X), axis=1) == y)))
            if target_accuracy is not None and accs[-1] >= target_accuracy:
                break
        if t == num_steps:
            break
        batch = slice(None) if batch_size is None else rng.choice(len(X), batch_size, replace=False)
        loss, grads = model.loss(X[batch], y[batch])
        if not np.isfinite(loss):
            stopped = t
            break
        losses.append(loss)
        for k, dw in grads.items():
            velocity[k] = momentum * velocity[k] - lr * dw
            model.params[k] = model.params[k] + velocity[k]
    return {"loss_history": np.array(losses), "acc_iters": np.array(iters), "acc_history": np.array(accs),
            "stopped_at": stopped}


@pytest.mark.parametrize("activation, options, ends", [
    ("relu", {"lr": 0.5, "num_steps": 40, "record_every": 7}, "full"),                # full batch, momentum 0.9
    ("relu", {"lr": 3.0, "num_steps": 60, "batch_size": 16, "momentum": 0.0, "record_every": 60, "seed": 4},
     "full"),
    ("tanh", {"lr": 0.3, "num_steps": 300, "batch_size": 10, "record_every": 5, "seed": 1,
              "target_accuracy": 0.7}, "target"),
    ("leaky_relu", {"lr": 1e3, "num_steps": 50, "batch_size": 20, "record_every": 5, "seed": 2}, "diverged"),
])
def test_train_matches_the_reference_loop_bit_for_bit(activation, options, ends):
    X, y = make_spirals(3, 30, seed=0)
    runs = []
    for train in (demos.train, _reference_train):
        model = demos.MLP(2, [20, 20], 3, activation, seed=2)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            runs.append((train(model, X, y, **options), model.params))
    (new, new_params), (ref, ref_params) = runs
    assert new["stopped_at"] == ref["stopped_at"]
    for key in ("loss_history", "acc_iters", "acc_history"):
        np.testing.assert_array_equal(new[key], ref[key], err_msg=key)
    for k in ref_params:
        np.testing.assert_array_equal(new_params[k], ref_params[k], err_msg=k)
    # each case ends the way it is meant to (so the comparison covers that ending)
    assert (ref["stopped_at"] is not None) == (ends == "diverged")
    assert (len(ref["loss_history"]) == options["num_steps"]) == (ends == "full")


def test_train_rejects_a_bad_record_every():
    X, y = _data()
    with pytest.raises(ValueError, match="record_every"):
        demos.train(demos.MLP(4, [5], 3, seed=0), X, y, lr=0.1, num_steps=5, record_every=0)


def test_iterations_to_reach():
    iters, values = [0, 10, 20, 30], [0.1, 0.5, 0.95, 0.9]
    assert demos.iterations_to_reach(iters, values, 0.9) == 20
    assert demos.iterations_to_reach(iters, values, 0.99) is None
    assert demos.iterations_to_reach(iters, [3.0, 2.0, 1.0, 0.5], 1.0, below=True) == 20


def test_dead_unit_experiment_with_a_hopeless_bias():
    X, y = make_spirals(3, 30, seed=0)
    relu = demos.dead_unit_experiment("relu", X, y, hidden_dims=(20,), bias_init=-5.0, num_steps=50, seeds=(0, 1))
    assert relu["never_active_before"] == relu["no_gradient"] == 1.0 and len(relu["runs"]) == 2
    assert abs(relu["accuracy"] - 1 / 3) < 1e-12          # a constant prediction: one class of three
    leaky = demos.dead_unit_experiment("leaky_relu", X, y, hidden_dims=(20,), bias_init=-5.0, num_steps=50)
    assert leaky["no_gradient"] == 0.0


def test_iterations_race():
    X, y = make_blobs(3, 30, seed=0)
    race = demos.iterations_race(["relu", "tanh"], X, y, [0.1, 1.0], hidden_dims=(10,), target=0.9,
                                 max_steps=100, seeds=(0,), record_every=5)
    assert set(race) == {"relu", "tanh"} and race["relu"].shape == (2,)
    assert all(v % 5 == 0 and 0 <= v <= 100 for row in race.values() for v in row)
    assert race["relu"][1] <= race["relu"][0]              # a larger step size gets there sooner here


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "elu"])
def test_gaussian_output_mean_matches_quadrature(activation):
    f = layers.ACTIVATIONS[activation][0]
    integrand = lambda z: f(np.array([z]))[0] * stats.norm.pdf(z)
    oracle = integrate.quad(integrand, -np.inf, 0)[0] + integrate.quad(integrand, 0, np.inf)[0]
    assert demos.gaussian_output_mean(activation) == pytest.approx(oracle, abs=1e-7)


def test_gaussian_output_mean_with_alpha():
    for alpha in (0.5, 2.0):
        integrand = lambda z: layers.elu_forward(np.array([z]), alpha)[0][0] * stats.norm.pdf(z)
        oracle = integrate.quad(integrand, -np.inf, 0)[0] + integrate.quad(integrand, 0, np.inf)[0]
        assert demos.gaussian_output_mean("elu", alpha=alpha) == pytest.approx(oracle, abs=1e-7)
    assert demos.gaussian_output_mean("leaky_relu", alpha=0.2) == pytest.approx(0.8 / np.sqrt(2 * np.pi))
    with pytest.raises(ValueError, match="swish"):
        demos.gaussian_output_mean("swish")


def test_mean_slope_matches_quadrature():
    scales = [0.1, 1.0, 5.0]
    got = demos.mean_slope("tanh", scales, num=400_000)
    oracle = [integrate.quad(lambda z: (1 - np.tanh(s * z) ** 2) * stats.norm.pdf(z), -np.inf, np.inf)[0]
              for s in scales]
    assert np.allclose(got, oracle, atol=3e-3)
    assert np.allclose(demos.mean_slope("relu", scales), 0.5, atol=5e-3)
    assert demos.mean_slope("sigmoid", [1e-4])[0] == pytest.approx(0.25, abs=1e-6)


def test_same_sign_fraction():
    dw = np.array([[1.0, -1.0, 2.0, 0.0],
                   [3.0, -2.0, -1.0, 0.0],
                   [0.0, -1.0, 1.0, 0.0]])                  # columns: +, -, mixed, all zero
    assert demos.same_sign_fraction(dw) == 0.75
    assert demos.same_sign_fraction(np.outer(np.array([0.2, 0.9, 0.5]), np.array([1.0, -3.0]))) == 1.0
    with pytest.raises(ValueError):
        demos.same_sign_fraction(np.ones(3))


# --------------------------------------------------------------------------- the 2-D zig-zag
def test_linear_regression_surface():
    rng = np.random.default_rng(0)
    X = rng.random((50, 2))
    surf = demos.LinearRegression2D(X, (1.0, -1.0))
    p = np.array([0.3, 0.7])
    loop = np.mean([0.5 * (x @ (p - surf.minimum)) ** 2 for x in X])
    assert surf.f(p) == pytest.approx(loop) and surf.f(surf.minimum) == 0
    num = numerical_gradient(lambda: float(surf.f(p)), p)
    assert rel_error(surf.grad(p), num) < 1e-8
    assert np.allclose(surf.hess(np.zeros((3, 2))), X.T @ X / 50)
    assert surf.f(np.zeros((4, 5, 2))).shape == (4, 5)      # vectorised over a grid


def test_sgd_path_steps_along_an_input_and_solves_it():
    rng = np.random.default_rng(1)
    X = rng.random((20, 2)) + 0.05                          # all positive
    target = np.array([1.0, -1.0])
    path = demos.sgd_path(X, target, num_steps=15, seed=3)
    assert path.shape == (16, 2) and np.all(path[0] == 0)
    for before, after in zip(path[:-1], path[1:]):
        step = after - before
        cross = np.abs(step[0] * X[:, 1] - step[1] * X[:, 0])   # parallel to some input x
        n = np.argmin(cross)
        assert cross[n] < 1e-12
        assert X[n] @ after == pytest.approx(X[n] @ target)    # Kaczmarz: lands on that example's line
    assert demos.step_quadrants(path) == 1.0
    plain = demos.sgd_path(X, target, lr=0.1, num_steps=5, normalized=False, seed=3)
    assert plain.shape == (6, 2)


def test_step_quadrants():
    path = np.array([[0, 0], [1, 1], [0.5, 0.2], [0.5, 0.2], [1.0, -0.3]])   # ++, --, no move, +-
    assert demos.step_quadrants(path) == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- PReLU, timing, counts, history
@pytest.mark.parametrize("alpha_true", [0.1, 0.3])
def test_fit_prelu_slope_learns_the_teachers_slope(alpha_true):
    fit = demos.fit_prelu_slope(alpha_true=alpha_true, alpha0=0.0, num_steps=300)
    assert fit["alpha"][0] == 0.0 and fit["alpha"][-1] == pytest.approx(alpha_true, abs=5e-3)
    assert fit["loss"][-1] < 1e-4 * fit["loss"][0] and fit["w_error"] < 0.05


def test_best_time():
    assert demos.best_time(time.sleep, 0.01, repeat=2) >= 0.01


def test_parameter_counts():
    assert demos.affine_params(4096, 4096) == 4096 * 4096 + 4096
    for k in (2, 3):
        w, b = np.zeros((k, 7, 5)), np.zeros((k, 5))         # what maxout_forward takes
        assert demos.maxout_params(7, 5, k) == w.size + b.size


def test_activation_history():
    years = [m.year for m in demos.ACTIVATION_HISTORY]
    assert years == sorted(years)
    alexnet = next(m for m in demos.ACTIVATION_HISTORY if "AlexNet" in m.name)
    earlier = [m for m in demos.ACTIVATION_HISTORY if m.year < alexnet.year]
    assert {"Jarrett", "Nair"} <= {m.citation.split()[0].rstrip(",") for m in earlier}
    assert "popularises" in alexnet.name
    assert demos.ALEXNET_RELU_CLAIM["speedup"] == 6 and demos.ALEXNET_RELU_CLAIM["dataset"] == "CIFAR-10"


# --------------------------------------------------------------------------- figures
def test_activation_grid():
    xs = np.linspace(-3, 3, 50)
    funcs = {name: layers.ACTIVATIONS[name] for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu")}
    fig = demos.activation_grid(xs, funcs, ncols=3, suptitle="x")
    assert len(fig.axes) == 5 and fig.axes[0].get_title() == "sigmoid"
    with pytest.raises(ValueError):
        demos.activation_grid(xs, {})


def test_step_directions():
    paths = {"a": np.array([[0, 0], [1, 1], [0, 0.5]]), "b": np.array([[0, 0], [1, -1]])}
    ax = demos.step_directions(paths)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="'b'"):
        demos.step_directions({"b": np.zeros((3, 3))})


def test_unit_boundaries():
    X, y = make_spirals(3, 10, seed=0)
    w, b = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]), np.array([0.0, -5.0, 0.3])
    ax = demos.unit_boundaries(X, y, w, b, dead=[False, True, False], title="t")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["alive units (2)", "dead units (1)"]
    assert len(ax.lines) == 3
    with pytest.raises(ValueError, match="w \\(2, M\\)"):
        demos.unit_boundaries(X, y, w.T, b)


def test_bar_chart_and_loss_surface_take_colours_to_match_other_panels():
    import matplotlib.colors as mcolors
    ax = plot.bar_chart(["a", "b", "c"], [1, 2, 3], colors=[plot.COLORS[2], plot.COLORS[0], "black"], highlight="a")
    assert [mcolors.to_hex(p.get_facecolor()) for p in ax.patches] == \
        [mcolors.to_hex(plot.COLORS[2]), mcolors.to_hex(plot.COLORS[0]), "#000000"]
    with pytest.raises(ValueError, match="2 colors for 3 bars"):
        plot.bar_chart(["a", "b", "c"], [1, 2, 3], colors=["red", "blue"])
    surface = demos.LinearRegression2D(np.random.default_rng(0).standard_normal((20, 2)), np.array([1.0, -1.0]))
    path = np.array([[0.0, 0.0], [0.5, -0.5], [1.0, -1.0]])
    ax = plot.loss_surface(surface, {"p": path, "q": path + 0.1}, colors={"p": plot.COLORS[3]})
    by_label = {line.get_label(): mcolors.to_hex(line.get_color()) for line in ax.lines}
    assert by_label["p"] == mcolors.to_hex(plot.COLORS[3])        # given
    assert by_label["q"] == mcolors.to_hex(plot.COLORS[1 % len(plot.COLORS)])   # default: 2nd palette colour
