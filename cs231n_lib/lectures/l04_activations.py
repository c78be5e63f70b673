"""Measurements behind lecture 4 (activation functions): gradients, dead units, zig-zags, timings.

The activations themselves live in ``layers``. This module holds the experiments the lecture runs
with them, so the notebook shows results rather than bookkeeping:

- MLP: a fully connected classifier with any hidden activation ('sigmoid', 'tanh', 'relu',
  'leaky_relu', 'prelu', 'elu', 'maxout'); it follows the Solver's model contract and also reports
  its hidden pre-activations
- layer_gradient_norms: how much gradient reaches each layer (saturation kills it)
- unit_activity / dead_unit_fractions: units that are never active, and units that never pass gradient
- train: full- or mini-batch SGD with momentum through the Solver, recording loss and accuracy
- iterations_to_reach: the first recorded iteration at which a curve reaches a target
- dead_unit_experiment / iterations_race: the two training experiments, averaged over seeds
- mean_slope, gaussian_output_mean: saturation and zero-centredness for Gaussian pre-activations
- same_sign_fraction: how many neurons get weight gradients that all share one sign
- LinearRegression2D / sgd_path: the 2-D zig-zag forced by all-positive inputs
- fit_prelu_slope: learn PReLU's slope alpha by gradient descent on a teacher's data
- time_call: the best of several wall-clock timings of a function
- affine_params / maxout_params: parameter counts of a layer
- ACTIVATION_HISTORY, ALEXNET_RELU_CLAIM: who introduced what, and the AlexNet paper's claim
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from cs231n_lib import layers
from cs231n_lib._threads import one_blas_thread
from cs231n_lib.data import Surface
from cs231n_lib.lectures import best_time
from cs231n_lib.plot import COLORS, MUTED, _new_ax, function_and_gradient
from cs231n_lib.shapes import check_array
from cs231n_lib.solver import Solver

__all__ = [
    "HIDDEN_ACTIVATIONS", "MLP", "layer_gradient_norms", "unit_activity", "dead_unit_fractions",
    "train", "iterations_to_reach", "dead_unit_experiment", "iterations_race", "mean_slope",
    "gaussian_output_mean", "same_sign_fraction", "LinearRegression2D", "sgd_path",
    "step_quadrants", "fit_prelu_slope", "best_time", "affine_params", "maxout_params",
    "Milestone", "ACTIVATION_HISTORY", "ALEXNET_RELU_CLAIM",
    "activation_grid", "step_directions", "unit_boundaries",  # figures
]

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "maxout")


# ----------------------------------------------------------------------------- history and claims
@dataclass(frozen=True)
class Milestone:
    """One activation function entering the literature (or becoming standard)."""
    year: int
    name: str
    what: str
    citation: str


ACTIVATION_HISTORY: tuple[Milestone, ...] = (
    Milestone(2009, "Rectification in ConvNets",
              "absolute-value rectification |tanh(x)| after each filter bank; rectifying was the "
              "single most important ingredient for recognition accuracy",
              "Jarrett, Kavukcuoglu, Ranzato & LeCun 2009, What is the best multi-stage architecture "
              "for object recognition? (ICCV)"),
    Milestone(2010, "ReLU max(0, x)",
              "rectified linear units, named and used in restricted Boltzmann machines",
              "Nair & Hinton 2010, Rectified linear units improve restricted Boltzmann machines (ICML)"),
    Milestone(2011, "ReLU in deep supervised nets",
              "deep rectifier networks train well without unsupervised pre-training",
              "Glorot, Bordes & Bengio 2011, Deep sparse rectifier neural networks (AISTATS)"),
    Milestone(2012, "AlexNet popularises ReLU",
              "ReLUs in a large ConvNet that wins ILSVRC-2012; ReLU becomes the default",
              "Krizhevsky, Sutskever & Hinton 2012, ImageNet classification with deep convolutional "
              "neural networks (NIPS)"),
    Milestone(2013, "Maxout",
              "the maximum of k affine pieces (k = 2 doubles the parameters)",
              "Goodfellow, Warde-Farley, Mirza, Courville & Bengio 2013, Maxout networks (ICML)"),
    Milestone(2013, "Leaky ReLU",
              "a small slope 0.01 x for x < 0 instead of a flat zero",
              "Maas, Hannun & Ng 2013, Rectifier nonlinearities improve neural network acoustic models (ICML)"),
    Milestone(2015, "PReLU",
              "the negative slope alpha is learned (initialised at 0.25)",
              "He, Zhang, Ren & Sun 2015, Delving deep into rectifiers (ICCV)"),
    Milestone(2015, "ELU",
              "alpha (exp(x) - 1) for x <= 0: smooth, mean activations closer to zero",
              "Clevert, Unterthiner & Hochreiter 2015, Fast and accurate deep network learning by "
              "exponential linear units (arXiv 1511.07289; ICLR 2016)"),
)

#: The claim in the AlexNet paper's Figure 1 (a claim about their experiment, not a law).
ALEXNET_RELU_CLAIM = {
    "speedup": 6,
    "target_train_error": 0.25,
    "dataset": "CIFAR-10",
    "network": "a four-layer convolutional network, ReLU vs tanh, each with its own best learning rate",
    "source": "Krizhevsky, Sutskever & Hinton 2012, Figure 1",
}


# ----------------------------------------------------------------------------- parameter counts
def affine_params(D, M):
    """Parameters of an affine layer from D inputs to M outputs: D*M weights + M biases."""
    return D * M + M


def maxout_params(D, M, k=2):
    """Parameters of a maxout layer with M units, each the max of k affine pieces: k (D*M + M)."""
    return k * affine_params(D, M)


# ----------------------------------------------------------------------------- the model
def _init_std(weight_scale, fan_in):
    if weight_scale == "xavier":
        return 1.0 / np.sqrt(fan_in)
    if weight_scale == "he":
        return np.sqrt(2.0 / fan_in)
    if isinstance(weight_scale, str):
        raise ValueError(f"weight_scale must be 'xavier', 'he' or a number, got {weight_scale!r}")
    return float(weight_scale)


class MLP:
    """A fully connected classifier: [affine - activation] x L - affine - softmax.

    Inputs:
    - input_dim D, hidden_dims (H_1, ..., H_L), num_classes C
    - activation: one of HIDDEN_ACTIVATIONS, the same in every hidden layer. 'maxout' makes each hidden
      layer a maxout layer with k = 2 pieces (W_l (2, D_l, H_l), b_l (2, H_l)); 'prelu' adds a learned
      slope alpha_l (H_l,) per layer, initialised at prelu_init
    - weight_scale: 'xavier' (std 1/sqrt(fan_in)), 'he' (std sqrt(2/fan_in)) or a number (the std)
    - bias_init: the value of every hidden bias at the start (a large negative value kills ReLUs)
    - leaky_alpha (0.01), elu_alpha (1.0), prelu_init (0.25); seed; dtype
    Parameters: W1, b1, ..., W{L+1}, b{L+1} (and alpha1 ... alphaL for prelu).
    loss(X) -> scores (N, C); loss(X, y) -> (loss, grads) (the Solver's contract).
    """

    def __init__(self, input_dim, hidden_dims, num_classes, activation="relu", weight_scale="xavier",
                 bias_init=0.0, leaky_alpha=0.01, elu_alpha=1.0, prelu_init=0.25, seed=None,
                 dtype=np.float64):
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {HIDDEN_ACTIVATIONS}")
        self.activation, self.num_hidden = activation, len(hidden_dims)
        self.leaky_alpha, self.elu_alpha = float(leaky_alpha), float(elu_alpha)
        rng = np.random.default_rng(seed)
        dims = [int(input_dim), *map(int, hidden_dims), int(num_classes)]
        self.params = {}
        for i, (D, M) in enumerate(zip(dims[:-1], dims[1:]), start=1):
            hidden = i <= self.num_hidden
            pieces = (2,) if hidden and activation == "maxout" else ()
            std = _init_std(weight_scale, D)
            self.params[f"W{i}"] = (std * rng.standard_normal(pieces + (D, M))).astype(dtype)
            self.params[f"b{i}"] = np.full(pieces + (M,), bias_init if hidden else 0.0, dtype=dtype)
            if hidden and activation == "prelu":
                self.params[f"alpha{i}"] = np.full(M, prelu_init, dtype=dtype)

    # one hidden layer: affine + activation, or maxout
    def _hidden_forward(self, i, x):
        P, act = self.params, self.activation
        if act == "maxout":
            out, cache = layers.maxout_forward(x, P[f"W{i}"], P[f"b{i}"])
            return out, out, cache                     # a maxout unit's "pre-activation" is its output
        z, fc_cache = layers.affine_forward(x, P[f"W{i}"], P[f"b{i}"])
        if act == "prelu":
            out, act_cache = layers.prelu_forward(z, P[f"alpha{i}"])
        elif act == "leaky_relu":
            out, act_cache = layers.leaky_relu_forward(z, self.leaky_alpha)
        elif act == "elu":
            out, act_cache = layers.elu_forward(z, self.elu_alpha)
        else:
            out, act_cache = getattr(layers, f"{act}_forward")(z)
        return out, z, (fc_cache, act_cache)

    def _hidden_backward(self, i, dout, cache, grads):
        act = self.activation
        if act == "maxout":
            dx, grads[f"W{i}"], grads[f"b{i}"] = layers.maxout_backward(dout, cache)
            return dx
        fc_cache, act_cache = cache
        if act == "prelu":
            dz, grads[f"alpha{i}"] = layers.prelu_backward(dout, act_cache)
        else:
            dz = getattr(layers, f"{act}_backward")(dout, act_cache)
        dx, grads[f"W{i}"], grads[f"b{i}"] = layers.affine_backward(dz, fc_cache)
        return dx

    def forward(self, X):
        """Scores (N, C), the hidden pre-activations [z_1 (N, H_1), ...] and the caches.

        For maxout the "pre-activation" of a unit is its output (there is no separate z).
        """
        x, hidden, caches = X, [], []
        for i in range(1, self.num_hidden + 1):
            x, z, cache = self._hidden_forward(i, x)
            hidden.append(z)
            caches.append(cache)
        L = self.num_hidden + 1
        scores, cache = layers.affine_forward(x, self.params[f"W{L}"], self.params[f"b{L}"])
        caches.append(cache)
        return scores, hidden, caches

    def loss(self, X, y=None):
        """Scores (N, C) if y is None, else the mean softmax loss and the gradient of every parameter."""
        scores, _, caches = self.forward(X)
        if y is None:
            return scores
        loss, dout = layers.softmax_loss(scores, y)
        grads = {}
        L = self.num_hidden + 1
        dout, grads[f"W{L}"], grads[f"b{L}"] = layers.affine_backward(dout, caches[-1])
        for i in range(self.num_hidden, 0, -1):
            dout = self._hidden_backward(i, dout, caches[i - 1], grads)
        return float(loss), grads

    def predict(self, X):
        return self.loss(X).argmax(axis=1)

    def accuracy(self, X, y):
        return float(np.mean(self.predict(X) == y))

    @property
    def num_params(self):
        return sum(p.size for p in self.params.values())


# ----------------------------------------------------------------------------- measurements
def layer_gradient_norms(model, X, y):
    """||dL/dW_l|| (Frobenius) for every layer l = 1 .. L+1 of an MLP, input side first. Returns (L+1,)."""
    with one_blas_thread():
        _, grads = model.loss(X, y)
    return np.array([np.linalg.norm(grads[f"W{i}"]) for i in range(1, model.num_hidden + 2)])


def _local_slopes(model, i, z):
    """d out / d z of hidden layer i, elementwise (N, H): zero where no gradient passes back."""
    act, P = model.activation, model.params
    if act == "maxout":
        return np.ones_like(z)          # the winning piece always receives the gradient
    if act == "prelu":
        return layers.prelu_backward(np.ones_like(z), layers.prelu_forward(z, P[f"alpha{i}"])[1])[0]
    if act == "leaky_relu":
        return layers.leaky_relu_backward(np.ones_like(z), (z, model.leaky_alpha))
    if act == "elu":
        return layers.elu_backward(np.ones_like(z), (z, model.elu_alpha))
    return layers.ACTIVATIONS[act][1](z)  # sigmoid, tanh, relu


def unit_activity(model, X):
    """For every hidden layer, the fraction of the N examples on which each unit is active.

    "Active" means pre-activation z > 0 (for maxout: output > 0). Returns a list of (H_l,) arrays.
    """
    _, hidden, _ = model.forward(X)
    return [np.mean(z > 0, axis=0) for z in hidden]


def dead_unit_fractions(model, X):
    """How many hidden units are never active, and how many never pass any gradient, on all of X.

    never_active: z <= 0 for every example (ReLU's output is then 0 everywhere).
    no_gradient:  the activation's local slope is 0 for every example, so the unit's incoming weights
                  and bias never change again: the unit is dead. For ReLU the two coincide; Leaky ReLU,
                  PReLU (alpha != 0), ELU and maxout always pass some gradient.
    Returns {'never_active': float, 'no_gradient': float, 'units': int} over all hidden units.
    """
    _, hidden, _ = model.forward(X)
    never = sum(int(np.sum(np.all(z <= 0, axis=0))) for z in hidden)
    stuck = sum(int(np.sum(np.all(_local_slopes(model, i, z) == 0, axis=0)))
                for i, z in enumerate(hidden, start=1))
    units = sum(z.shape[1] for z in hidden)
    return {"never_active": never / units, "no_gradient": stuck / units, "units": units}


def train(model, X, y, lr, num_steps, batch_size=None, momentum=0.9, record_every=10, seed=0,
          target_accuracy=None):
    """Train with SGD + momentum; record the training loss every step and the accuracy on all of X.

    X (N, D), y (N,); batch_size None means full batch, otherwise every step draws batch_size distinct
    examples at random (the Solver's batch_sampling='random', seeded by seed). Accuracy is measured
    every record_every iterations (and at iteration 0). Stops early when a recorded accuracy reaches
    target_accuracy (if given), or, with stopped_at set, when the loss stops being finite.
    Returns {'loss_history': (T,), 'acc_iters': (R,), 'acc_history': (R,), 'stopped_at': int | None}.
    """
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X has {len(X)} examples and y {len(y)}: need the same number, at least one")
    if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every must be a positive integer, got {record_every!r}")
    acc_iters, accs = [], []

    def record(t):
        """Measure the accuracy after t steps; True once it reaches the target (the Solver then stops)."""
        acc_iters.append(t)
        accs.append(model.accuracy(X, y))
        return target_accuracy is not None and bool(accs[-1] >= target_accuracy)

    def after_step(solver):
        t = len(solver.loss_history)
        return t % record_every == 0 and record(t)

    solver = Solver(model, {"X_train": X, "y_train": y}, update_rule="sgd_momentum",
                    optim_config={"learning_rate": lr, "momentum": momentum}, num_steps=num_steps,
                    batch_size=batch_size, batch_sampling="random", seed=seed, callback=after_step,
                    record_accuracy=False, keep_best=False, verbose=False, progress=False)
    stopped = None
    with one_blas_thread():
        if not record(0):
            try:
                solver.train()
            except FloatingPointError:      # diverged: the steps before it are the result
                stopped = len(solver.loss_history)
    return {"loss_history": np.array(solver.loss_history), "acc_iters": np.array(acc_iters),
            "acc_history": np.array(accs), "stopped_at": stopped}


def iterations_to_reach(iters, values, target, below=False):
    """The first iteration at which values reach target (>= target, or <= target with below=True).

    iters, values: (R,) recorded pairs. Returns an int, or None if the target is never reached.
    """
    values = np.asarray(values)
    hit = np.flatnonzero(values <= target if below else values >= target)
    return int(np.asarray(iters)[hit[0]]) if len(hit) else None


def dead_unit_experiment(activation, X, y, hidden_dims=(100,), bias_init=0.0, lr=1.0, num_steps=1000,
                         batch_size=30, momentum=0.0, seeds=(0, 1, 2), weight_scale="xavier"):
    """Train one MLP per seed and count its dead units before and after, averaged over the seeds.

    Plain mini-batch SGD by default: a large lr or a large negative bias_init is what kills ReLUs.
    Returns {'never_active_before', 'never_active', 'no_gradient', 'accuracy'} (means over seeds, floats)
    and 'runs', the per-seed dicts of the same numbers.
    """
    runs = []
    for seed in seeds:
        model = MLP(X.shape[1], hidden_dims, int(y.max()) + 1, activation, weight_scale=weight_scale,
                    bias_init=bias_init, seed=seed)
        with one_blas_thread():
            before = dead_unit_fractions(model, X)["never_active"]
            train(model, X, y, lr, num_steps, batch_size=batch_size, momentum=momentum,
                  record_every=num_steps, seed=seed)
            after = dead_unit_fractions(model, X)
            accuracy = model.accuracy(X, y)
        runs.append({"never_active_before": before, "never_active": after["never_active"],
                     "no_gradient": after["no_gradient"], "accuracy": accuracy})
    summary = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    summary["runs"] = runs
    return summary


def iterations_race(activations, X, y, lrs, hidden_dims=(100, 100, 100), target=0.9, max_steps=600,
                    seeds=(0, 1, 2), weight_scale="xavier", momentum=0.0, record_every=5):
    """Iterations (full-batch steps) each activation needs to reach `target` training accuracy.

    Every activation starts from the same init scheme and runs at every learning rate in lrs, one run
    per seed; a run that never gets there counts as max_steps (so the mean is a lower bound).
    Returns {activation: (len(lrs),) mean iterations over the seeds}.
    """
    table = {}
    for act in activations:
        row = []
        for lr in lrs:
            counts = []
            for seed in seeds:
                model = MLP(X.shape[1], hidden_dims, int(y.max()) + 1, act, weight_scale=weight_scale, seed=seed)
                hist = train(model, X, y, lr, max_steps, momentum=momentum, record_every=record_every,
                             seed=seed, target_accuracy=target)
                hit = iterations_to_reach(hist["acc_iters"], hist["acc_history"], target)
                counts.append(max_steps if hit is None else hit)
            row.append(float(np.mean(counts)))
        table[act] = np.array(row)
    return table


def mean_slope(activation, scales, num=100_000, seed=0):
    """Average local slope f'(z) for pre-activations z ~ N(0, scale^2), one value per scale.

    The average gradient a unit passes back when its inputs have that spread: saturating
    activations (sigmoid, tanh) drop towards 0 as the scale grows, ReLU stays at 1/2.
    activation: a name in layers.ACTIVATIONS. Returns (len(scales),).
    """
    _, df = layers.ACTIVATIONS[activation]
    z = np.random.default_rng(seed).standard_normal(num)
    return np.array([df(s * z).mean() for s in scales])


def gaussian_output_mean(activation, alpha=None):
    """Exact E[f(z)] for z ~ N(0, 1): how far from zero-centred an activation's outputs are.

    sigmoid 1/2 and tanh 0 (by symmetry); relu 1/sqrt(2 pi); leaky_relu (1 - alpha)/sqrt(2 pi);
    elu 1/sqrt(2 pi) + alpha (e^(1/2) Phi(-1) - 1/2), using E[e^z; z <= 0] = e^(1/2) Phi(-1).
    alpha defaults to 0.01 (leaky_relu) and 1.0 (elu).
    """
    from math import erf, exp, pi, sqrt

    half_normal = 1 / sqrt(2 * pi)                 # E[z; z > 0]
    phi_minus_1 = 0.5 * (1 + erf(-1 / sqrt(2)))    # P(z <= -1)
    means = {
        "sigmoid": lambda a: 0.5,
        "tanh": lambda a: 0.0,
        "relu": lambda a: half_normal,
        "leaky_relu": lambda a: (1 - (0.01 if a is None else a)) * half_normal,
        "elu": lambda a: half_normal + (1.0 if a is None else a) * (exp(0.5) * phi_minus_1 - 0.5),
    }
    if activation not in means:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(means)}")
    return float(means[activation](alpha))


def same_sign_fraction(dw, atol=0.0):
    """Fraction of neurons (columns of dw (D, M)) whose incoming weight gradients all share one sign.

    Entries with |value| <= atol (exact zeros from zero inputs) count as either sign.
    """
    dw = check_array(dw, "dw", ndim=2, shape_hint="(D, M)")
    nonneg = np.all(dw >= -atol, axis=0)
    nonpos = np.all(dw <= atol, axis=0)
    return float(np.mean(nonneg | nonpos))


# ----------------------------------------------------------------------------- the 2-D zig-zag
class LinearRegression2D(Surface):
    """Expected loss of a 2-input linear neuron that must learn w_target from inputs x (N, 2).

    f(w) = mean_n 0.5 (x_n . (w - w_target))^2, a quadratic bowl with Hessian mean_n x_n x_n^T.
    Its per-example gradient (x_n . (w - w_target)) x_n is a multiple of x_n: with all-positive x_n,
    both components of every step share a sign.
    """

    name = "linear neuron"

    def __init__(self, X, w_target, start=(0.0, 0.0), xlim=(-0.6, 1.6), ylim=(-1.6, 0.6)):
        self.X = check_array(X, "X", ndim=2, shape_hint="(N, 2)").astype(np.float64)
        self.minimum = np.asarray(w_target, dtype=np.float64)
        self.start = np.asarray(start, dtype=np.float64)
        self.xlim, self.ylim = xlim, ylim
        self.H = self.X.T @ self.X / len(self.X)                 # (2, 2)

    def f(self, p):
        d = np.asarray(p, dtype=np.float64) - self.minimum       # (..., 2)
        return 0.5 * np.einsum("...i,ij,...j->...", d, self.H, d)

    def grad(self, p):
        return (np.asarray(p, dtype=np.float64) - self.minimum) @ self.H

    def hess(self, p):
        return np.broadcast_to(self.H, np.shape(p)[:-1] + (2, 2)).copy()


def sgd_path(X, w_target, w0=(0.0, 0.0), lr=1.0, num_steps=30, normalized=True, seed=0):
    """Plain SGD, one example per step, on the linear neuron of LinearRegression2D.

    Each step w -= eta * (x . (w - w_target)) x for an x drawn from X (N, 2), with eta = lr / ||x||^2
    if normalized (lr = 1 then lands exactly on the line x . w = x . w_target: Kaczmarz's method),
    else eta = lr. Every step is a multiple of x, so it points along +x or -x.
    Returns the path (num_steps + 1, 2), row 0 = w0.
    """
    X = check_array(X, "X", ndim=2, shape_hint="(N, 2)")
    rng = np.random.default_rng(seed)
    w, target = np.asarray(w0, dtype=np.float64), np.asarray(w_target, dtype=np.float64)
    path = [w.copy()]
    for n in rng.integers(0, len(X), size=num_steps):
        x = X[n]
        eta = lr / (x @ x) if normalized else lr
        w = w - eta * (x @ (w - target)) * x
        path.append(w.copy())
    return np.array(path)


def step_quadrants(path, atol=1e-12):
    """Fraction of the steps of a path (T, 2) whose two components share a sign (quadrant I or III)."""
    steps = np.diff(check_array(path, "path", ndim=2, shape_hint="(T, 2)"), axis=0)
    moving = np.abs(steps).max(axis=1) > atol
    same = np.sign(steps[:, 0]) * np.sign(steps[:, 1]) >= 0
    return float(np.mean(same[moving]))


# ----------------------------------------------------------------------------- PReLU's slope
def fit_prelu_slope(alpha_true=0.3, alpha0=0.0, N=500, D=5, lr=0.2, num_steps=200, seed=0):
    """Learn PReLU's slope by gradient descent: fit y = prelu(x w + b, alpha) to a teacher's outputs.

    The teacher is a PReLU unit with slope alpha_true and random w, b; the student starts from
    w = 0.5 * w_teacher, b = 0, alpha = alpha0 and follows the exact gradients of the mean squared error
    (prelu_backward gives dalpha). Returns {'alpha': (num_steps+1,), 'loss': (num_steps+1,), 'w_error': float}.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    w_true, b_true = rng.standard_normal((D, 1)), rng.standard_normal(1)
    y, _ = layers.prelu_forward(X @ w_true + b_true, np.array(alpha_true))       # (N, 1)
    w, b, alpha = 0.5 * w_true, np.zeros(1), np.array(float(alpha0))
    alphas, losses = [], []
    for _ in range(num_steps + 1):
        z, fc_cache = layers.affine_forward(X, w, b)
        out, cache = layers.prelu_forward(z, alpha)
        diff = out - y
        alphas.append(float(alpha))
        losses.append(float(0.5 * np.mean(diff ** 2)))
        dz, dalpha = layers.prelu_backward(diff / N, cache)
        _, dw, db = layers.affine_backward(dz, fc_cache)
        w, b, alpha = w - lr * dw, b - lr * db, alpha - lr * dalpha
    return {"alpha": np.array(alphas), "loss": np.array(losses),
            "w_error": float(np.abs(w - w_true).max())}



# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
def activation_grid(x, functions, ncols=4, ylim=(-1.6, 3.2), suptitle=None):
    """Every activation with its gradient, one small panel each (function_and_gradient in a grid).

    x: (N,) points;  functions: {name: (f, df)} callables on arrays, or their values (N,) each;
    ylim: one shared value range, so slopes can be compared across panels (None: each its own).
    Returns the figure, with exactly len(functions) axes.
    """
    if not functions:
        raise ValueError("activation_grid needs at least one function")
    n = len(functions)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(3.3 * ncols, 2.7 * nrows + 0.4 * bool(suptitle)))
    for ax, (name, (f, df)) in zip(axes.flat, functions.items()):
        function_and_gradient(x, f, df, name, ax=ax)
        ax.legend(loc="upper left", fontsize=8)
        if ylim is not None:
            ax.set_ylim(ylim)
    for ax in axes.flat[n:]:
        ax.remove()
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    return fig


def step_directions(paths, ax=None, title=None):
    """The direction of every step of some 2-D paths, drawn as unit arrows from the origin.

    paths: {name: (T, 2)} weight trajectories. Quadrants I and III (both components of a step with
    the same sign) are shaded: a neuron whose inputs are all positive can only step there.
    Returns the axes.
    """
    paths = {name: np.asarray(path, dtype=np.float64) for name, path in paths.items()}
    for name, path in paths.items():
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"path {name!r} must have shape (T, 2), got {path.shape}")
    ax = _new_ax(ax, figsize=(4.2, 4.2))
    for quadrant in ((0, 0), (-1.25, -1.25)):
        ax.add_patch(mpl.patches.Rectangle(quadrant, 1.25, 1.25, fc="#EEF2F7", ec="none", zorder=0))
    ax.text(1.2, 1.2, "both +", ha="right", va="top", fontsize=9, color="#555555")
    ax.text(-1.2, -1.2, "both \u2212", ha="left", va="bottom", fontsize=9, color="#555555")
    for i, (name, path) in enumerate(paths.items()):
        steps = np.diff(path, axis=0)
        norms = np.linalg.norm(steps, axis=1)
        unit = steps[norms > 0] / norms[norms > 0, None]        # (S, 2)
        color = COLORS[i % len(COLORS)]
        for k, (dx, dy) in enumerate(unit):
            ax.plot([0, dx], [0, dy], color=color, lw=1.2, alpha=0.7, label=name if k == 0 else None)
            ax.plot(dx, dy, "o", color=color, ms=3)
    ax.axhline(0, color=MUTED, lw=0.8)
    ax.axvline(0, color=MUTED, lw=0.8)
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.set(xlabel="step in $w_1$ (direction)", ylabel="step in $w_2$ (direction)")
    ax.set_title(title if title is not None else "direction of each update")
    ax.legend(loc="lower right", fontsize=8.5)
    return ax


def unit_boundaries(X, y, w, b, dead=None, ax=None, title=None, lim=1.25):
    """2-D data and the line w_j . x + b_j = 0 of every first-layer unit; dead units drawn apart.

    X (N, 2), y (N,) classes;  w (2, M), b (M,) the first layer;  dead (M,) bool (None: all alive).
    A ReLU unit is active on the side where w_j . x + b_j > 0; a dead unit's line misses the data,
    with every point on its inactive side. Returns the axes.
    """
    X, w, b = np.asarray(X, dtype=np.float64), np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or w.shape[0] != 2 or w.shape[1:] != b.shape:
        raise ValueError(f"need X (N, 2), w (2, M), b (M,); got X {X.shape}, w {w.shape}, b {b.shape}")
    dead = np.zeros(b.shape, bool) if dead is None else np.asarray(dead, bool)
    ax = _new_ax(ax, figsize=(4.6, 4.4))
    t = np.linspace(-3 * lim, 3 * lim, 2)
    for j in np.argsort(dead):                                   # alive first, dead on top
        wj, bj = w[:, j], b[j]
        norm = np.hypot(*wj)
        if norm == 0:
            continue
        p0 = -bj * wj / norm ** 2                                # closest point of the line to the origin
        d = np.array([-wj[1], wj[0]]) / norm                     # direction along the line
        style = dict(color=COLORS[1], lw=1.1, ls="--") if dead[j] else dict(color=MUTED, lw=0.7)
        ax.plot(p0[0] + t * d[0], p0[1] + t * d[1], zorder=1, **style)
    for k in np.unique(y):
        ax.scatter(*X[y == k].T, s=9, color=COLORS[[0, 2, 3, 4, 5][int(k) % 5]], zorder=3)
    handles = [Line2D([], [], color=MUTED, lw=1, label=f"alive units ({int((~dead).sum())})"),
               Line2D([], [], color=COLORS[1], lw=1.1, ls="--", label=f"dead units ({int(dead.sum())})")]
    ax.legend(handles=handles, loc="upper right", fontsize=8.5, framealpha=0.9, frameon=True)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.grid(False)
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    if title:
        ax.set_title(title)
    return ax
