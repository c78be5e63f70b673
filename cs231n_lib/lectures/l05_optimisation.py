"""Measurements behind lecture 5 (optimisation): how fast, how far, how noisy.

The update rules live in ``optim``; the loss surfaces in ``data``. This module holds the small
experiments the lecture runs on them, so the notebook shows results rather than bookkeeping:

- convergence_step / convergence_table: how many steps a trajectory needs to reach the minimum's loss
- steps_near: how long a trajectory lingers around a point (a saddle)
- best_learning_rate: a rule's best learning rate on a surface, from a grid
- effective_learning_rates: the step each coordinate actually took per unit of gradient
- with_schedule: an update rule whose learning rate follows a schedule (for run_optimizer)
- hessian_sign_fractions: how often a random symmetric Hessian is a minimum, a maximum or a saddle
- minibatch_gradient_noise: how far a mini-batch gradient is from the full-batch gradient
- train_epochs: mini-batch training on a real problem, recording the full training loss per epoch
- minimize_full_batch: the exact minimum of that loss (L-BFGS on the full batch), to measure gaps
"""
from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np

from cs231n_lib._threads import one_blas_thread
from cs231n_lib.data import get_surface
from cs231n_lib.optim import RULES, run_optimizer
from cs231n_lib.plot import COLORS, INK, loss_surface
from cs231n_lib.shapes import check_array
from cs231n_lib.solver import Solver

__all__ = [
    "convergence_step", "convergence_table", "format_rows", "steps_near", "best_learning_rate",
    "effective_learning_rates", "with_schedule", "hessian_sign_fractions", "minibatch_gradient_noise",
    "full_loss", "train_epochs", "minimize_full_batch",
    "trajectory_grid",  # figures
]


def _path(path, name="path"):
    return check_array(path, name, ndim=2, shape_hint="(T, D)")


def _rule(rule):
    if isinstance(rule, str):
        if rule not in RULES:
            raise ValueError(f"unknown update rule {rule!r}; choose from {sorted(RULES)}")
        return RULES[rule]
    return rule


# --------------------------------------------------------------------------- convergence on a surface
def convergence_step(surface, path, tol=1e-3):
    """First step from which the loss stays within `tol` of the global minimum's loss.

    surface: a data.Surface or its name;  path: (T, 2) trajectory, row 0 the start;  tol: loss gap.
    "Stays" matters: an optimiser that passes through the minimum and swings out again has not
    converged. Returns the step index (0 = already there at the start), or None if the last point
    is still more than tol above the minimum (a local minimum, a saddle, a run that diverged).
    """
    surface = get_surface(surface)
    path = _path(path)
    gap = surface.f(path) - surface.f(surface.minimum)        # (T,)
    above = np.flatnonzero(gap > tol)
    if len(above) and above[-1] == len(path) - 1:
        return None
    return int(above[-1] + 1) if len(above) else 0


def convergence_table(surface, trajectories, tol=1e-3):
    """One row per trajectory: steps to converge (convergence_step), final loss, where it ended.

    trajectories: {name: (T, 2)}. Returns a list of dicts with keys 'name', 'steps' (int or None),
    'final_loss', 'gap' (final loss minus the global minimum's loss), 'end' ((2,) last point) and
    'num_steps' (T - 1; fewer than asked means run_optimizer stopped a diverging run).
    """
    surface = get_surface(surface)
    f_min = float(surface.f(surface.minimum))
    rows = []
    for name, path in trajectories.items():
        path = _path(path, f"trajectory {name!r}")
        final = float(surface.f(path[-1]))
        rows.append({"name": name, "steps": convergence_step(surface, path, tol), "final_loss": final,
                     "gap": final - f_min, "end": path[-1].copy(), "num_steps": len(path) - 1})
    return rows


def format_rows(rows, columns, formats=None):
    """A plain-text table of `rows` (list of dicts): one line per row, the given columns in order.

    formats: {column: format string or callable}; None values print as 'never'. Returns the string.
    """
    formats = formats or {}
    if not all(isinstance(r, dict) for r in rows):
        raise TypeError(f"rows must be dicts {{column: value}}, got {[type(r).__name__ for r in rows][:3]}")
    missing = sorted({c for r in rows for c in columns if c not in r})
    if missing:
        raise ValueError(f"rows lack the columns {missing}")

    def cell(row, col):
        value = row[col]
        if value is None:
            return "never"
        fmt = formats.get(col, "{}")
        return fmt(value) if callable(fmt) else fmt.format(value)

    table = [list(columns)] + [[cell(r, c) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = ["  ".join(s.ljust(w) if i == 0 else s.rjust(w) for i, (s, w) in enumerate(zip(line, widths)))
             for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def steps_near(path, point, radius):
    """Number of iterates of `path` (T, D) within Euclidean distance `radius` of `point` (D,)."""
    path = _path(path)
    point = check_array(point, "point", ndim=1, shape_hint="(D,)")
    if point.shape[0] != path.shape[1]:
        raise ValueError(f"point has {point.shape[0]} coordinates but the path has {path.shape[1]}")
    return int(np.sum(np.linalg.norm(path - point, axis=1) <= radius))


def best_learning_rate(rule, surface, lrs, num_steps, tol=1e-3, config=None):
    """The learning rate in `lrs` that converges in the fewest steps on `surface` (from its start).

    Ties and never-converging grids are broken by the smallest final loss. config: the rule's other
    hyperparameters. Returns (lr, steps or None, trajectory (T, 2)).
    """
    surface = get_surface(surface)
    if len(lrs) == 0:
        raise ValueError("lrs must hold at least one learning rate")
    best = None
    for lr in lrs:
        path = run_optimizer(rule, surface.grad, surface.start, num_steps, {**(config or {}), "learning_rate": lr})
        steps = convergence_step(surface, path, tol)
        key = (steps is None, steps if steps is not None else 0, float(surface.f(path[-1])))
        if best is None or key < best[0]:
            best = (key, float(lr), steps, path)
    return best[1], best[2], best[3]


def effective_learning_rates(rule, grad, x0, num_steps, config=None):
    """The learning rate each coordinate effectively got at each step: -(w_next - w) / dw.

    For SGD this is the constant lr; for AdaGrad lr / (sqrt(cache) + eps), shrinking as squared
    gradients pile up; for RMSProp it levels off. (For momentum rules the step is not proportional
    to the current gradient, so the ratio mixes in past gradients.)
    rule: a name in optim.RULES or an update rule;  grad: p (D,) -> (D,);  x0: (D,).
    Returns (num_steps, D); a coordinate whose gradient is exactly 0 at a step gets nan there.
    """
    rule = _rule(rule)
    w = check_array(x0, "x0", ndim=1, shape_hint="(D,)").astype(np.float64)
    config = dict(config or {})
    out = np.full((int(num_steps), len(w)), np.nan)
    for t in range(int(num_steps)):
        dw = np.asarray(grad(w), dtype=np.float64)
        w_next, config = rule(w, dw, config)
        nonzero = dw != 0
        out[t, nonzero] = -(w_next - w)[nonzero] / dw[nonzero]
        w = w_next
    return out


def with_schedule(rule, lr_at):
    """An update rule that sets its learning rate to lr_at(step) before every step (step = 0, 1, ...).

    rule: a name in optim.RULES or an update rule;  lr_at: callable step -> lr (e.g. a lambda around
    optim.cosine_schedule). The step counter lives in the returned function: make a new one per run.
    """
    rule = _rule(rule)
    step = 0

    def scheduled(w, dw, config=None):
        nonlocal step
        config = {} if config is None else config
        config["learning_rate"] = float(lr_at(step))
        step += 1
        return rule(w, dw, config)

    return scheduled


# --------------------------------------------------------------------------- high dimensions
def hessian_sign_fractions(dims, num_samples=20_000, rng=None):
    """How often a random symmetric D x D "Hessian" is positive definite, negative definite, or neither.

    At a critical point (gradient 0) the Hessian decides: all eigenvalues > 0 is a minimum, all < 0 a
    maximum, mixed signs a saddle. With entries drawn at random (A = (G + G^T) / 2, G standard normal:
    the Gaussian orthogonal ensemble) the chance that all D signs agree collapses as D grows.
    dims: iterable of D;  rng: np.random.Generator, a seed or None.
    Returns a dict of (len(dims),) arrays: 'dims', 'minimum', 'maximum', 'saddle' (fractions of
    num_samples), and 'index' (mean fraction of negative eigenvalues).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    dims = np.asarray(list(dims), dtype=int)
    if dims.size == 0 or np.any(dims < 1):
        raise ValueError(f"dims must be positive integers, got {dims.tolist()}")
    out = {k: np.zeros(len(dims)) for k in ("minimum", "maximum", "saddle", "index")}
    for i, D in enumerate(dims):
        G = rng.standard_normal((num_samples, D, D))
        eig = np.linalg.eigvalsh(0.5 * (G + G.transpose(0, 2, 1)))    # (num_samples, D)
        pos, neg = np.all(eig > 0, axis=1), np.all(eig < 0, axis=1)
        out["minimum"][i], out["maximum"][i] = pos.mean(), neg.mean()
        out["saddle"][i] = np.mean(~pos & ~neg)
        out["index"][i] = np.mean(eig < 0)
    out["dims"] = dims
    return out


def _flat_grads(model, X, y):
    _, grads = model.loss(X, y)
    return np.concatenate([np.ravel(grads[k]) for k in sorted(grads)])


def minibatch_gradient_noise(model, X, y, batch_sizes, num_batches=20, rng=None):
    """Root-mean-square relative error of mini-batch gradients g_B against the full-batch gradient g.

    model: anything with loss(X, y) -> (loss, grads dict) (see solver.Solver; it must be
    deterministic, so no dropout); X (N, ...), y (N,); batch_sizes: iterable of B <= N; every batch
    is drawn without replacement. Returns (len(batch_sizes),) values sqrt(mean |g_B - g|^2) / |g| over
    num_batches batches per size. For a loss that averages over examples the expected squared error
    is sigma^2 / B * (N - B) / (N - 1) (sigma^2: the spread of single-example gradients), so the error
    shrinks like 1 / sqrt(B) and is exactly 0 at B = N.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    N = len(X)
    if len(y) != N:
        raise ValueError(f"X has {N} examples but y has {len(y)}")
    for B in batch_sizes:
        if not 1 <= B <= N:
            raise ValueError(f"batch size {B} must be between 1 and N = {N}")
    errors = []
    with one_blas_thread():
        g = _flat_grads(model, X, y)
        norm = np.linalg.norm(g)
        for B in batch_sizes:
            sq = [np.sum((_flat_grads(model, X[idx], y[idx]) - g) ** 2)
                  for idx in (rng.choice(N, size=int(B), replace=False) for _ in range(num_batches))]
            errors.append(np.sqrt(np.mean(sq)) / norm)
    return np.array(errors)


# --------------------------------------------------------------------------- a real problem
def full_loss(model, X, y):
    """The training objective on all of X (N, ...) at once: model.loss(X, y)[0] as a float."""
    return float(model.loss(X, y)[0])


def train_epochs(model, X, y, update_rule="sgd", optim_config=None, num_epochs=10, batch_size=50,
                 lr_schedule=None, seed=0):
    """Mini-batch training that records the FULL training loss after every epoch (for comparing optimisers).

    The Solver does the training (record_accuracy=False: the loss the optimiser is minimising,
    measured on the whole training set, is what matters here, so curves are not blurred by
    mini-batch noise); a callback records it at the end of every epoch and moves the learning rate.
    model: params dict + loss(X, y) -> (loss, grads), updated in place;  X (N, ...), y (N,);
    update_rule: a name in optim.RULES or a rule;  optim_config: its hyperparameters;
    lr_schedule: None or a callable epoch -> lr, called before every step with the fractional epoch
    (e.g. 2.5 halfway through the third), so smooth schedules decay smoothly; stepwise ones still step.
    A run whose loss or gradient stops being finite ends early (the learning rate was too high).
    Returns {'loss_history': per-step mini-batch losses, 'epoch_loss': (num_epochs + 1,) full training
    loss at the start and after each epoch (nan after a divergence), 'lr_history': lr of each step}.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X has {len(X)} examples and y {len(y)}: need the same number, at least one")
    steps_per_epoch = max(len(X) // batch_size, 1)
    config = dict(optim_config or {})
    if lr_schedule is not None:
        config["learning_rate"] = float(lr_schedule(0.0))
    epoch_loss, lr_history = [full_loss(model, X, y)], []

    def after_step(solver):
        lr_history.append(next(iter(solver.optim_configs.values())).get("learning_rate", np.nan))
        epoch, i = divmod(len(solver.loss_history), steps_per_epoch)
        if i == 0:
            loss = full_loss(model, X, y)
            epoch_loss.append(loss if np.isfinite(loss) else np.nan)
        if lr_schedule is not None and epoch < num_epochs:   # the learning rate of the next step
            lr = float(lr_schedule(epoch + i / steps_per_epoch))
            for c in solver.optim_configs.values():
                c["learning_rate"] = lr

    solver = Solver(model, {"X_train": X, "y_train": y}, update_rule=update_rule, optim_config=config,
                    num_epochs=num_epochs, batch_size=batch_size, seed=seed, callback=after_step,
                    record_accuracy=False, verbose=False, progress=False)
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):
        try:
            solver.train()
        except FloatingPointError:                         # diverged: the remaining epochs are nan
            epoch_loss += [np.nan] * (num_epochs + 1 - len(epoch_loss))
    return {"loss_history": np.array(solver.loss_history), "epoch_loss": np.array(epoch_loss),
            "lr_history": np.array(lr_history)}


def minimize_full_batch(model, X, y, maxiter=1000, gtol=1e-10):
    """Minimise model.loss(X, y) over all of model.params with L-BFGS on the full batch (scipy).

    For a convex loss (a linear softmax classifier with L2) this is the true minimum f*, so a
    stochastic run can be judged by its gap f - f*. The minimiser is written into model.params.
    Returns (f*, number of L-BFGS iterations).
    """
    from scipy.optimize import minimize  # only this experiment needs scipy

    keys = sorted(model.params)
    shapes = [model.params[k].shape for k in keys]
    sizes = [int(np.prod(s)) for s in shapes]

    def unflatten(theta):
        for k, s, piece in zip(keys, shapes, np.split(theta, np.cumsum(sizes)[:-1])):
            model.params[k] = piece.reshape(s).copy()

    def loss_and_grad(theta):
        unflatten(theta)
        loss, grads = model.loss(X, y)
        return float(loss), np.concatenate([np.ravel(grads[k]) for k in keys]).astype(np.float64)

    theta0 = np.concatenate([np.ravel(model.params[k]) for k in keys]).astype(np.float64)
    with one_blas_thread():
        result = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                          options={"maxiter": int(maxiter), "gtol": gtol, "ftol": 1e-15})
    unflatten(result.x)
    return float(result.fun), int(result.nit)


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
def trajectory_grid(surface, paths, row_labels, col_labels, notes=None, suptitle=None, panel_size=(3.0, 2.3)):
    """Small multiples on one loss surface: one trajectory per panel, rows x columns.

    surface: a data.Surface or its name;  paths: nested list [row][col] of (T, 2) trajectories
    (e.g. rows = update rules, columns = learning rates);  row_labels / col_labels: strings written
    left of each row and above each column;  notes: nested list of short strings (or None) written in
    each panel's lower-left corner (e.g. the final loss). Each row keeps one colour. Returns the figure.
    """
    R, C = len(row_labels), len(col_labels)
    if len(paths) != R or any(len(row) != C for row in paths):
        raise ValueError(f"paths must be a {R} x {C} nested list (rows x columns), got "
                         f"{[len(row) for row in paths]}")
    fig, axes = plt.subplots(R, C, figsize=(panel_size[0] * C, panel_size[1] * R + 0.4 * bool(suptitle)),
                             squeeze=False, sharex=True, sharey=True)
    for r in range(R):
        for c in range(C):
            ax = axes[r, c]
            loss_surface(surface, None, ax=ax, title=col_labels[c] if r == 0 else "", levels=14)
            ax.get_legend().remove()
            path = np.asarray(paths[r][c], dtype=np.float64)
            color = COLORS[r % len(COLORS)]
            ax.plot(path[:, 0], path[:, 1], color=color, lw=1.3, marker="." if len(path) <= 80 else None, ms=3)
            ax.plot(*path[0], marker="o", ms=7, mfc="white", mec=color, mew=1.4, ls="none")
            ax.plot(*path[-1], marker="o", ms=5, color=color, ls="none")
            ax.set_xlabel("$w_1$" if r == R - 1 else "")
            ax.set_ylabel(f"{row_labels[r]}\n$w_2$" if c == 0 else "")
            if notes is not None and notes[r][c]:
                ax.text(0.03, 0.04, notes[r][c], transform=ax.transAxes, fontsize=8.5, color=INK,
                        bbox=dict(fc="white", ec="none", alpha=0.8, pad=1.5))
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    return fig
