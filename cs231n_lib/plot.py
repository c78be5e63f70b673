"""The figures of the course, with one look.

Importing this module applies `use_style()` (a small set of rcParams: sizes, light grid, a
colour-blind-safe colour cycle, no top/right spines, pixel-exact images). Every helper draws and
returns; none calls plt.show() (Jupyter shows the returned figure). Helpers that take `ax` draw into
it (or into a new figure when ax is None) and return the axes; the figure is `ax.figure`.
"""
from __future__ import annotations

import math
import numbers

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import matplotlib.ticker as mticker
from matplotlib.lines import Line2D

__all__ = [
    "COLORS", "STYLE", "use_style", "image_grid", "function_and_gradient", "loss_surface",
    "training_curves", "bar_chart", "confusion_matrix", "timeline",
]

# Okabe & Ito's colour-blind-safe palette (yellow left out: it vanishes on white), Tol's wine, a grey.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#555555"]
MUTED = "#B8BEC6"   # bars and lines that are context, not the point
INK = "#333333"     # text and axes

STYLE = {
    "figure.figsize": (6.0, 4.0),
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "normal",
    "axes.labelsize": 11,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#666666",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.8,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "xtick.color": INK,
    "ytick.color": INK,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
    "image.interpolation": "nearest",   # an 8x8 digit should look like 64 pixels, not a blur
    "image.cmap": "viridis",
}


def use_style():
    """Apply the course style to matplotlib's rcParams (done once on import of this module)."""
    mpl.rcParams.update(STYLE)


use_style()


def _new_ax(ax, figsize=None):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


# --------------------------------------------------------------------------- images
def _as_images(images) -> np.ndarray:
    """(N, H, W) grey or (N, H, W, 3) colour from (N, H, W), (N, H, W, 1|3), (N, 1|3, H, W) or a list."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 2:                                   # one image
        x = x[None]
    # The library's layout (N, C, H, W) wins when both readings are possible: (F, 1, 3, 3) filters
    # are 3x3 grey images, not 1x3 colour strips.
    if x.ndim == 4 and x.shape[1] in (1, 3):
        x = x.transpose(0, 2, 3, 1)                   # (N, C, H, W) -> (N, H, W, C)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise ValueError(f"images must be (N, H, W), (N, H, W, 3) or (N, C, H, W) with C = 1 or 3, "
                         f"got shape {np.shape(images)}")
    return x


def _scale(x, lo, hi):
    return np.clip((x - lo) / (hi - lo), 0, 1) if hi > lo else np.full_like(x, 0.5)


def image_grid(images, ncols=None, titles=None, cmap="gray", normalize="each", suptitle=None):
    """Show N images in a grid, without ticks.

    images:    (N, H, W), (N, H, W, 3), (N, 1, H, W) or (N, 3, H, W) (e.g. conv filters (F, 3, HH, WW))
    ncols:     images per row (default min(N, 8));  titles: N strings or None
    normalize: 'each' stretch every image to its own min..max (shows the pattern of each filter);
               'all' one shared min..max (brightness comparable across images);
               None values are taken as [0, 1] (colour is clipped there)
    Returns the figure, with exactly N axes.
    """
    x = _as_images(images)
    N = len(x)
    if normalize not in ("each", "all", None):
        raise ValueError(f"normalize must be 'each', 'all' or None, got {normalize!r}")
    if titles is not None and len(titles) != N:
        raise ValueError(f"got {len(titles)} titles for {N} images")
    ncols = min(N, 8) if ncols is None else int(ncols)
    nrows = math.ceil(N / ncols)
    cell = 1.5 if max(x.shape[1:3]) > 16 else 1.1
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(max(2.0, ncols * cell), nrows * cell + 0.3 * (titles is not None)
                                      + 0.4 * (suptitle is not None)))
    lo_all, hi_all = x.min(), x.max()
    for i, ax in enumerate(axes.flat):
        if i >= N:
            ax.remove()                               # no empty frames at the end of the grid
            continue
        img = x[i]
        if normalize == "each":
            img = _scale(img, img.min(), img.max())
        elif normalize == "all":
            img = _scale(img, lo_all, hi_all)
        else:
            img = np.clip(img, 0, 1)
        ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9, fontweight="normal")
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    return fig


# --------------------------------------------------------------------------- functions and surfaces
def function_and_gradient(x, f, df, name, ax=None):
    """Plot a function and its derivative on the same axes (the activation-function figures).

    x: (N,) points;  f, df: callables on arrays, or their values (N,);  name: e.g. 'sigmoid'.
    Returns the axes.
    """
    ax = _new_ax(ax, figsize=(4.5, 3.2))
    x = np.asarray(x, dtype=np.float64)
    fx = f(x) if callable(f) else np.asarray(f)
    dfx = df(x) if callable(df) else np.asarray(df)
    ax.axhline(0, color=MUTED, lw=0.8, zorder=1)
    ax.axvline(0, color=MUTED, lw=0.8, zorder=1)
    ax.plot(x, fx, color=COLORS[0], label=f"{name}(x)")
    ax.plot(x, dfx, color=COLORS[1], ls="--", label=f"{name}\u2032(x)  (gradient)")
    ax.set_title(name)
    ax.set_xlabel("x")
    ax.legend(loc="best")
    return ax


def loss_surface(surface, trajectories=None, ax=None, title=None, levels=20, show_minimum=True, colors=None):
    """Contours of a 2-D loss surface with optimiser trajectories on top.

    surface:      a cs231n_lib.data Surface or its name ('ravine', 'saddle', 'local_minima')
    trajectories: {name: (T, 2) array} from run_optimizer / newton_method / lbfgs_trajectory;
                  each gets its own colour, a hollow circle at the start and a dot at the end
    levels:       number of contour levels (spaced by quantiles of the loss, so every surface
                  shows detail near its minima as well as on its walls)
    colors:       optional {name: colour} to keep a trajectory's colour the same across panels
    Returns the axes. The view is the surface's xlim / ylim; runaway paths are clipped, not zoomed.
    """
    from .data import get_surface

    surface = get_surface(surface)
    ax = _new_ax(ax, figsize=(6.0, 4.2))
    xs = np.linspace(*surface.xlim, 300)
    ys = np.linspace(*surface.ylim, 240)
    XY = np.stack(np.meshgrid(xs, ys), -1)                     # (240, 300, 2)
    Z = surface.f(XY)                                          # (240, 300)
    lv = np.unique(np.quantile(Z, np.linspace(0, 1, levels + 1) ** 1.5))
    ax.contourf(xs, ys, Z, levels=lv, cmap="Blues_r", alpha=0.45)
    ax.contour(xs, ys, Z, levels=lv, colors="white", linewidths=0.6, linestyles="solid", alpha=0.9)
    if show_minimum:
        ax.plot(*surface.minimum, marker="*", ms=14, color="black", ls="none", zorder=5)
    for i, (name, path) in enumerate((trajectories or {}).items()):
        path = np.asarray(path, dtype=np.float64)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"trajectory {name!r} must have shape (T, 2), got {path.shape}")
        color = (colors or {}).get(name, COLORS[i % len(COLORS)])
        ax.plot(path[:, 0], path[:, 1], color=color, lw=1.6, marker="." if len(path) <= 80 else None,
                ms=4, label=name, zorder=3)
        ax.plot(*path[0], marker="o", ms=8, mfc="white", mec=color, mew=1.6, ls="none", zorder=4)
        ax.plot(*path[-1], marker="o", ms=6, color=color, ls="none", zorder=4)
    ax.set_xlim(surface.xlim)
    ax.set_ylim(surface.ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.grid(False)
    ax.set_title(title if title is not None else surface.name.replace("_", " "))
    markers = [Line2D([], [], marker="o", mfc="white", mec=INK, ls="none", label="start"),
               Line2D([], [], marker="o", color=INK, ls="none", label="end")]
    if show_minimum:
        markers.append(Line2D([], [], marker="*", ms=11, color="black", ls="none", label="minimum"))
    handles = ax.get_legend_handles_labels()[0] + (markers if trajectories else markers[2:])
    if handles:
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return ax


# --------------------------------------------------------------------------- training
def _histories(run):
    """(loss, train_acc, val_acc) arrays from a Solver-like object or a dict of histories."""
    get = run.get if isinstance(run, dict) else (lambda k, d=None: getattr(run, k, d))
    loss = get("loss_history", None)
    if loss is None:
        raise TypeError("expected a Solver-like object or dict with 'loss_history' "
                        f"(and optionally 'train_acc_history', 'val_acc_history'), got {type(run).__name__}")
    return (np.asarray(loss, dtype=np.float64), np.asarray(get("train_acc_history", []), dtype=np.float64),
            np.asarray(get("val_acc_history", []), dtype=np.float64))


def _smooth(y, window):
    if window <= 1 or len(y) < 2 * window:
        return np.arange(len(y)), y
    kernel = np.ones(window) / window
    return np.arange(window - 1, len(y)), np.convolve(y, kernel, mode="valid")


def training_curves(runs, title=None, smooth=True, log_loss=False):
    """Loss per iteration and train/val accuracy per epoch, for one run or several.

    runs: a Solver (anything with loss_history, train_acc_history, val_acc_history), a dict with
          those keys, or {run name: Solver or dict} to compare runs (e.g. learning rates).
    smooth: overlay a moving average (window ~ 1/25 of the run) on the faint raw loss.
    Returns the figure: two axes (loss, accuracy), or one when no run has accuracy histories.
    """
    single = hasattr(runs, "loss_history") or (isinstance(runs, dict) and "loss_history" in runs)
    if not single and not isinstance(runs, dict):
        _histories(runs)                                       # raises a TypeError that says what is missing
    runs = {"": runs} if single else dict(runs)
    hist = {name: _histories(run) for name, run in runs.items()}
    has_acc = any(len(tr) or len(va) for _, tr, va in hist.values())
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10.0 if has_acc else 5.5, 3.8), squeeze=False)
    ax_loss = axes[0, 0]
    for i, (name, (loss, train_acc, val_acc)) in enumerate(hist.items()):
        color = COLORS[i % len(COLORS)]
        window = max(1, len(loss) // 25) if smooth else 1
        ax_loss.plot(loss, color=color, lw=0.8, alpha=0.3 if window > 1 else 1.0)
        ax_loss.plot(*_smooth(loss, window), color=color, label=name or "loss")
        if has_acc:
            ax_acc = axes[0, 1]
            if len(train_acc):
                ax_acc.plot(train_acc, color=color if name else COLORS[0], ls="--" if name else "-",
                            marker="o", ms=3, label=f"{name} train" if name else "train")
            if len(val_acc):
                ax_acc.plot(val_acc, color=color if name else COLORS[1], marker="o", ms=3,
                            label=f"{name} val" if name else "val")
    if log_loss:
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training loss")
    if not single:
        ax_loss.legend()
    if has_acc:
        ax_acc = axes[0, 1]
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        ax_acc.legend()
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


# --------------------------------------------------------------------------- numbers
def _fmt(value_fmt, v):
    return value_fmt(v) if callable(value_fmt) else value_fmt.format(v)


def bar_chart(labels, values, ax=None, value_fmt="{:,}", title=None, ylabel=None, highlight=None,
              horizontal=False, log=False, colors=None):
    """Bars with their values written on them (parameter counts, memory, error rates ...).

    value_fmt: format string ("{:,}", "{:.1f}%") or callable value -> str
    highlight: a label (or list of labels, or indices) drawn in colour; the other bars turn grey
    horizontal: bars left to right (better for many or long labels);  log: logarithmic value axis
    colors: optional list of colours, one per bar (e.g. to match the lines of a neighbouring panel);
            overrides highlight
    Returns the axes.
    """
    labels = [str(l) for l in labels]
    values = np.asarray(values)
    if len(labels) != len(values):
        raise ValueError(f"got {len(labels)} labels for {len(values)} values")
    given_colors = colors
    if highlight is None:
        colors = [COLORS[0]] * len(labels)
    else:
        marked = highlight if isinstance(highlight, (list, tuple, set, np.ndarray)) else [highlight]
        marked = {labels[m] if isinstance(m, numbers.Integral) else str(m) for m in marked}
        colors = [COLORS[1] if l in marked else MUTED for l in labels]
    if given_colors is not None:
        if len(given_colors) != len(labels):
            raise ValueError(f"got {len(given_colors)} colors for {len(labels)} bars")
        colors = list(given_colors)
    ax = _new_ax(ax, figsize=(6.0, max(2.5, 0.38 * len(labels) + 1)) if horizontal
                 else (max(4.5, 0.7 * len(labels) + 1.5), 4.0))
    pos = np.arange(len(labels))
    if horizontal:
        bars = ax.barh(pos, values, color=colors, height=0.7)
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()                              # first label on top, as in a table
        ax.grid(axis="y", visible=False)
        ax.set_xscale("log" if log else "linear")
        if ylabel:
            ax.set_xlabel(ylabel)
    else:
        bars = ax.bar(pos, values, color=colors, width=0.7)
        rotate = len(labels) > 6 or max((len(l) for l in labels), default=0) > 10
        ax.set_xticks(pos, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.grid(axis="x", visible=False)
        ax.set_yscale("log" if log else "linear")
        if ylabel:
            ax.set_ylabel(ylabel)
    value_axis = ax.xaxis if horizontal else ax.yaxis
    if not log and np.abs(values).max(initial=0) >= 1e4:
        value_axis.set_major_formatter(mticker.EngFormatter(sep=" "))   # "100 M", not "1e8" in a corner
    ax.bar_label(bars, labels=[_fmt(value_fmt, v) for v in values], padding=2, fontsize=9, color=INK)
    ax.margins(**({"x": 0.15} if horizontal else {"y": 0.12}))
    if title:
        ax.set_title(title)
    return ax


def confusion_matrix(y_true, y_pred, ax=None, labels=None, normalize=False, title=None):
    """Counts of (true class, predicted class) pairs as an annotated heat map.

    y_true, y_pred: (N,) integer classes 0..K-1;  labels: K class names (default 0..K-1)
    normalize: show each row as fractions of that true class (rows sum to 1)
    Returns the axes; the title reports the accuracy unless `title` is given.
    """
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must both be (N,), got {y_true.shape} and {y_pred.shape}")
    K = len(labels) if labels is not None else int(max(y_true.max(), y_pred.max())) + 1
    counts = np.zeros((K, K), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)                     # (K, K): row = true, column = predicted
    shown = counts / np.maximum(counts.sum(1, keepdims=True), 1) if normalize else counts
    ax = _new_ax(ax, figsize=(0.45 * K + 2.2, 0.45 * K + 1.8))
    ax.imshow(shown, cmap="Blues", vmin=0)
    ax.grid(False)
    names = [str(l) for l in labels] if labels is not None else [str(k) for k in range(K)]
    ax.set_xticks(range(K), names)
    ax.set_yticks(range(K), names)
    ax.set(xlabel="predicted class", ylabel="true class")
    ax.spines[:].set_visible(False)
    ax.tick_params(length=0)
    top = shown.max() if shown.max() > 0 else 1
    for i in range(K):
        for j in range(K):
            if counts[i, j]:
                text = f"{shown[i, j]:.2f}" if normalize else f"{counts[i, j]}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8 if K > 10 else 9,
                        color="white" if shown[i, j] > 0.55 * top else INK)
    acc = np.mean(y_true == y_pred)
    ax.set_title(title if title is not None else f"accuracy {100 * acc:.1f}%")
    return ax


def _stem_heights(events, span):
    """Stem height per event: alternate above/below, and go one level further out when a label
    would overlap its neighbour on the same level (the 2012-2015 cluster of a CNN history)."""
    char = 0.0085 * span                      # rough width of one 9-pt character in years on a 10-in figure
    levels = [1.0, -1.0, 1.8, -1.8, 2.6, -2.6]
    right_edge = {h: -np.inf for h in levels}  # where the last label on each level ends
    heights, start = [], 0
    for year, label in events:
        half = 0.5 * char * max(len(label), 4)
        order = levels[start:] + levels[:start]   # prefer the side opposite the previous label
        h = next((h for h in order if right_edge[h] < year - half), min(order, key=right_edge.get))
        right_edge[h] = year + half
        heights.append(h)
        start = 1 if h > 0 else 0
    return np.array(heights)


def timeline(events, ax=None, title=None, highlight=None):
    """Dated milestones on a horizontal time axis, labels on alternating stems.

    events: [(year, label), ...] in any order;  highlight: labels (or one label) drawn in colour.
    Returns the axes.
    """
    events = sorted(((float(y), str(l)) for y, l in events), key=lambda e: e[0])
    if not events:
        raise ValueError("timeline needs at least one (year, label) event")
    marked = set() if highlight is None else ({highlight} if isinstance(highlight, str) else set(highlight))
    years = np.array([y for y, _ in events])
    span = max(years.max() - years.min(), 1.0)
    heights = _stem_heights(events, span)                      # (E,) signed stem lengths
    top = np.abs(heights).max()
    ax = _new_ax(ax, figsize=(10.0, 1.6 + 1.1 * top))
    ax.axhline(0, color=INK, lw=1.2, zorder=1)
    for (year, label), h in zip(events, heights):
        color = COLORS[1] if label in marked else COLORS[0]
        ax.vlines(year, 0, h, color=MUTED, lw=1, zorder=1)
        ax.plot(year, 0, "o", color=color, ms=6, zorder=3)
        ax.annotate(f"{year:g}\n{label}" if h > 0 else f"{label}\n{year:g}", (year, h),
                    xytext=(0, 3 if h > 0 else -3), textcoords="offset points", ha="center",
                    va="bottom" if h > 0 else "top", fontsize=9,
                    color=color if label in marked else INK,
                    fontweight="bold" if label in marked else "normal",
                    bbox=dict(fc="white", ec="none", pad=0.5))      # hides stems that pass behind
    ax.set_xlim(years.min() - 0.08 * span, years.max() + 0.08 * span)
    ax.set_ylim(-top - 0.9, top + 0.9)
    ax.yaxis.set_visible(False)
    ax.spines[["left", "top", "right"]].set_visible(False)
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------- lecture 1: history and motivation
# (appended for notebooks/01_history_and_motivation.ipynb; tests in tests/test_history.py)
def secant_slopes(f, a, hs, df=None, ax=None, xlim=(-0.5, 3.2)):
    """Secants of f through (a, f(a)) and (a + h, f(a + h)) closing in on the tangent at a.

    f: callable on arrays;  a: the point;  hs: step sizes h (largest first looks best);
    df: derivative (callable) -- draws the tangent of slope df(a) when given.
    Each secant's legend entry states its slope dy/dx ~ (f(a + h) - f(a)) / h. Returns the axes.
    """
    ax = _new_ax(ax, figsize=(6.0, 4.2))
    x = np.linspace(*xlim, 300)
    ax.plot(x, f(x), color=INK, lw=2.2, label="y = f(x)", zorder=3)
    fa = float(f(a))
    for i, h in enumerate(hs):
        slope = (float(f(a + h)) - fa) / h
        color = COLORS[(i + 1) % len(COLORS)]
        ax.plot(x, fa + slope * (x - a), color=color, lw=1.3, alpha=0.9,
                label=f"h = {h:g}:  \u0394y/\u0394x = {slope:.3f}")
        ax.plot(a + h, float(f(a + h)), "o", color=color, ms=5, zorder=4)
    if df is not None:
        ax.plot(x, fa + float(df(a)) * (x - a), color="black", ls="--", lw=1.5,
                label=f"tangent:  dy/dx = {float(df(a)):.3f}")
    ax.plot(a, fa, "o", color="black", ms=7, zorder=5)
    y = f(x)
    ax.set_ylim(y.min() - 0.15 * np.ptp(y), y.max() + 0.1 * np.ptp(y))
    ax.set(xlabel="x", ylabel="y", title=f"secant slopes at x = {a:g} approach the tangent slope")
    ax.legend(loc="upper left", fontsize=9)
    return ax


def tuning_curves(x, curves, xlabel, ylabel="firing rate (a.u.)", title=None, ax=None):
    """Response of one or more cells as a stimulus property varies (a neuroscientist's tuning curve).

    x: (K,) stimulus values (angles, positions);  curves: {cell name: (K,) responses}. Returns the axes.
    """
    ax = _new_ax(ax, figsize=(5.5, 3.6))
    for i, (name, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != np.shape(x):
            raise ValueError(f"curve {name!r} has shape {y.shape}, x has {np.shape(x)}")
        ax.plot(x, y, marker="o", color=COLORS[i % len(COLORS)], label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best")
    return ax


def stimuli_and_spikes(stimuli, spike_times, titles=None, rf=None, duration=1.0, suptitle=None):
    """The recording experiment: each stimulus on the screen, and the spikes the electrode picked up.

    stimuli: (N, H, W) images in [0, 1];  spike_times: N arrays of spike times in [0, duration) s;
    rf: optional (H, W) receptive field drawn as a dashed contour of its excitatory part on every
    stimulus. Returns the figure (2 rows x N columns).
    """
    stimuli = _as_images(stimuli)
    N = len(stimuli)
    if len(spike_times) != N:
        raise ValueError(f"got {len(spike_times)} spike trains for {N} stimuli")
    fig, axes = plt.subplots(2, N, figsize=(1.45 * N, 2.9), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]})
    for i in range(N):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(stimuli[i], cmap="gray", vmin=0, vmax=1)
        if rf is not None:
            top.contour(rf, levels=[0.25 * float(np.max(rf))], colors=[COLORS[4]], linestyles="--",
                        linewidths=1.0)
        top.set_axis_off()
        if titles is not None:
            top.set_title(str(titles[i]), fontsize=9, fontweight="normal")
        t = np.asarray(spike_times[i], dtype=np.float64)
        bottom.vlines(t, 0, 1, color=INK, lw=0.8)
        bottom.set_xlim(0, duration)
        bottom.set_ylim(0, 1)
        bottom.set_yticks([])
        bottom.set_xticks([])
        bottom.grid(False)
        bottom.spines[["left"]].set_visible(False)
        bottom.set_xlabel(f"{len(t)} spikes", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    return fig


def retinotopic_map(mapping, magnification, eccentricities=(0, 1, 2, 5, 10, 20, 40),
                    angles_deg=(-90, -45, 0, 45, 90), cmap="viridis"):
    """Visual field (one hemifield) next to its map on the cortex, and the magnification factor.

    mapping(x, y) -> (u, v): visual field (deg) to cortex (mm), e.g. history.cortical_map;
    magnification(e) -> mm/deg;  eccentricities: ring radii (deg), bands between rings share a
    colour in both panels;  angles_deg: polar-angle rays drawn in both panels. Returns the figure.
    """
    from matplotlib.patches import Polygon

    ecc = np.asarray(eccentricities, dtype=np.float64)
    fig, (ax_f, ax_c, ax_m) = plt.subplots(1, 3, figsize=(13.0, 4.0),
                                           gridspec_kw={"width_ratios": [1, 1.6, 1.1]})
    colours = plt.get_cmap(cmap)(np.linspace(0, 0.9, len(ecc) - 1))
    th = np.deg2rad(np.linspace(-90, 90, 181))
    for lo, hi, c in zip(ecc[:-1], ecc[1:], colours):
        # band lo..hi deg: outer arc out, inner arc back
        r = np.concatenate([np.full_like(th, hi), np.full_like(th, lo)])
        t = np.concatenate([th, th[::-1]])
        x, y = r * np.cos(t), r * np.sin(t)
        ax_f.add_patch(Polygon(np.c_[x, y], closed=True, fc=c, ec="white", lw=0.6))
        ax_c.add_patch(Polygon(np.c_[mapping(x, y)], closed=True, fc=c, ec="white", lw=0.6,
                               label=f"{lo:g}-{hi:g}\u00b0"))
    rr = np.linspace(ecc[0], ecc[-1], 400)
    for a in np.deg2rad(angles_deg):
        x, y = rr * np.cos(a), rr * np.sin(a)
        ax_f.plot(x, y, color="white", lw=0.8)
        ax_c.plot(*mapping(x, y), color="white", lw=0.8)
    ax_f.set(xlim=(-0.05 * ecc[-1], ecc[-1] * 1.05), ylim=(-ecc[-1] * 1.05, ecc[-1] * 1.05), aspect="equal",
             xlabel="horizontal (deg)", ylabel="vertical (deg)", title="visual field (right half)")
    ax_c.autoscale_view()
    ax_c.set(aspect="equal", xlabel="cortex (mm, fovea -> periphery)", ylabel="cortex (mm)",
             title="its map on the cortex")
    ax_c.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="eccentricity")
    for ax in (ax_f, ax_c):
        ax.grid(False)
    e = np.linspace(0, ecc[-1], 200)
    ax_m.plot(e, magnification(e), color=COLORS[0])
    ax_m.set(xlabel="eccentricity (deg)", ylabel="mm of cortex per deg", title="cortical magnification")
    return fig


def sandwich(stages, kinds=None, max_planes=4, title=None):
    """A Neocognitron-style S-C-S-C "sandwich": each stage's feature maps in a column, a strip below.

    stages: [(name, maps (K, H, W)), ...] from input to output;  kinds: one of 'input', 'S', 'C' per
    stage (default from the name's first letter);  max_planes: planes shown per stage.
    Returns the figure.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    n = len(stages)
    kinds = kinds or [name[0] if name[0] in "SC" else "input" for name, _ in stages]
    colour = {"input": MUTED, "S": COLORS[0], "C": COLORS[1]}
    fig = plt.figure(figsize=(1.6 * n + 0.6, 1.25 * max_planes + 1.6))
    gs = fig.add_gridspec(max_planes + 1, n, height_ratios=[1] * max_planes + [0.9])
    for j, ((name, maps), kind) in enumerate(zip(stages, kinds)):
        maps = np.asarray(maps, dtype=np.float64)
        maps = maps[None] if maps.ndim == 2 else maps
        for i in range(max_planes):
            ax = fig.add_subplot(gs[i, j])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i < len(maps):
                ax.imshow(maps[i], cmap="gray")
                for s in ax.spines.values():
                    s.set_visible(True)
                    s.set_color(colour[kind])
                    s.set_linewidth(2)
            else:
                ax.set_axis_off()
            if i == 0:
                K, H, W = maps.shape
                ax.set_title(f"{name}\n{K}x{H}x{W}", fontsize=9, fontweight="normal", color=INK)
    strip = fig.add_subplot(gs[max_planes, :])
    strip.set_axis_off()
    strip.set_xlim(0, n)
    strip.set_ylim(0, 1)
    text = {"input": "input", "S": "S: match\ntemplates", "C": "C: pool\n(max)"}
    for j, kind in enumerate(kinds):
        strip.add_patch(FancyBboxPatch((j + 0.12, 0.2), 0.76, 0.6, boxstyle="round,pad=0.02",
                                       fc=colour[kind], ec="none", alpha=0.85))
        strip.text(j + 0.5, 0.5, text[kind], ha="center", va="center", fontsize=8.5,
                   color="white" if kind != "input" else INK)
        if j:
            strip.add_patch(FancyArrowPatch((j - 0.12, 0.5), (j + 0.12, 0.5), arrowstyle="-|>",
                                            mutation_scale=12, color=INK))
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def card_grid(cards, ncols=3, card_width=4.0, card_height=1.7, title=None, legend=None):
    """A gallery of cards (title, body text, footer, optional image and colour stripe), in a grid.

    cards: list of dicts with 'title', 'body', optional 'footer' (e.g. a citation), 'image'
    ((H, W) or (H, W, 3) in [0, 1], drawn on the card's left) and 'color' (a stripe on the left).
    legend: optional {label: colour} explaining the stripes, drawn under the grid.
    Returns the figure, one axes per card.
    """
    import textwrap

    from matplotlib.patches import Rectangle

    N = len(cards)
    nrows = math.ceil(N / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(card_width * ncols, card_height * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= N:
            continue
        card = cards[k]
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.add_patch(Rectangle((0, 0), 1, 1, fc="#F7F7F7", ec="#DDDDDD", lw=0.8))
        if card.get("color"):
            ax.add_patch(Rectangle((0, 0), 0.025, 1, fc=card["color"], ec="none"))
        ax.text(0.05, 0.92, card["title"], fontsize=10.5, fontweight="bold", va="top", color=INK)
        left, top = 0.05, 0.72
        if card.get("image") is not None:
            img = np.asarray(card["image"], dtype=np.float64)
            inset = ax.inset_axes([0.05, 0.06, 0.36, 0.68])
            inset.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            inset.set_axis_off()
            left, top = 0.45, 0.66
        width = max(12, int((1 - left) * card_width * 13))     # characters per line at 9 pt
        ax.text(left, top, textwrap.fill(card["body"], width), fontsize=9, va="top", color=INK)
        if card.get("footer"):
            ax.text(left, 0.07, card["footer"], fontsize=8.5, style="italic", va="bottom", color="#555555")
    if legend:
        handles = [mpl.patches.Patch(color=c, label=l) for l, c in legend.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def category_bars(labels, values, categories, colors=None, value_fmt="{:g}", ax=None, title=None,
                  xlabel=None):
    """Horizontal bars, one per labelled number, coloured by category with a legend (first label on top).

    labels, values, categories: N each;  colors: {category: colour} (default the course palette,
    in order of first appearance). Every bar carries its value. Returns the axes.
    """
    labels, values, categories = [str(l) for l in labels], np.asarray(values, dtype=np.float64), list(categories)
    if not len(labels) == len(values) == len(categories):
        raise ValueError(f"got {len(labels)} labels, {len(values)} values, {len(categories)} categories")
    order = list(dict.fromkeys(categories))
    colors = dict(colors or {})
    for i, c in enumerate(order):
        colors.setdefault(c, COLORS[i % len(COLORS)])
    ax = _new_ax(ax, figsize=(8.0, 0.36 * len(labels) + 1.2))
    pos = np.arange(len(labels))
    bars = ax.barh(pos, values, color=[colors[c] for c in categories], height=0.72)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.bar_label(bars, labels=[_fmt(value_fmt, v) for v in values], padding=2, fontsize=9, color=INK)
    ax.margins(x=0.12)
    handles = [mpl.patches.Patch(color=colors[c], label=c) for c in order]
    ax.figure.legend(handles=handles, loc="outside lower center", ncols=2)   # below: never hides a bar
    if xlabel:
        ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax


__all__ += ["secant_slopes", "tuning_curves", "stimuli_and_spikes", "retinotopic_map", "sandwich",
            "card_grid", "category_bars"]


# --------------------------------------------------------------------------- lecture 5: optimisation
# (appended for notebooks/05_optimisation.ipynb; tests in tests/test_optim_demos.py)
def curves(x, ys, ax=None, xlabel=None, ylabel=None, title=None, logx=False, logy=False, marker=None,
           styles=None, legend_loc="best"):
    """Several named curves on one axes with a legend (learning rate per epoch, step size per step ...).

    x:  (T,) shared by every curve, a dict {name: (T_i,)} with one x per curve, or None (0 .. T-1)
    ys: {name: (T,) values};  logx / logy: logarithmic axes (non-positive values are left out);
    marker: e.g. 'o' for a few points;  styles: {name: dict of Line2D keywords} for single curves
    (e.g. {'constant': {'ls': '--'}}). Returns the axes.
    """
    ax = _new_ax(ax, figsize=(6.0, 3.8))
    styles = styles or {}
    if not ys:
        raise ValueError("curves needs at least one curve in ys")
    for i, (name, y) in enumerate(ys.items()):
        y = np.asarray(y, dtype=np.float64)
        xi = x.get(name) if isinstance(x, dict) else x
        xi = np.arange(len(y)) if xi is None else np.asarray(xi, dtype=np.float64)
        if xi.shape != y.shape:
            raise ValueError(f"curve {name!r} has {y.shape} values but x has shape {xi.shape}")
        keep = np.isfinite(y) & ((y > 0) if logy else True) & ((xi > 0) if logx else True)
        kw = {"color": COLORS[i % len(COLORS)], "marker": marker, "label": str(name), **styles.get(name, {})}
        ax.plot(xi[keep], y[keep], **kw)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set(xlabel=xlabel or "", ylabel=ylabel or "")
    if title:
        ax.set_title(title)
    ax.legend(loc=legend_loc)
    return ax


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


__all__ += ["curves", "trajectory_grid"]


# --------------------------------------------------------------------------- lecture 3: pooling, BN, FC <-> CONV
def number_grids(mats, titles=None, fmt="{:g}", blocks=None, marks=None, cmap="Blues", center=False,
                 same_scale=False, cell=0.42, suptitle=None):
    """Small matrices side by side, each cell coloured by its value and (optionally) labelled with it.

    mats:   list of 2-D arrays (shapes may differ), e.g. a 4x4 input and its 2x2 max pool
    fmt:    format string or callable for the cell labels; None draws colours only (large matrices)
    blocks: per matrix, (bh, bw) to outline tiling bh x bw blocks (pooling windows) or None
    marks:  per matrix, a boolean mask of cells to outline in colour (the argmax "switches") or None
    center: colour scale symmetric around 0 (diverging map "RdBu_r"), for signed values; a bool for
            every matrix or one per matrix
    same_scale: one colour scale for all matrices (equal values, equal colours), else one each
    Returns the figure, one axes per matrix.
    """
    mats = [np.atleast_2d(np.asarray(m, dtype=np.float64)) for m in mats]
    n = len(mats)
    for name, per in (("titles", titles), ("blocks", blocks), ("marks", marks)):
        if per is not None and len(per) != n:
            raise ValueError(f"got {len(per)} {name} for {n} matrices")
    if any(m.ndim != 2 for m in mats):
        raise ValueError(f"every matrix must be 2-D, got shapes {[m.shape for m in mats]}")
    rows = max(m.shape[0] for m in mats)
    widths = [m.shape[1] for m in mats]
    fig, axes = plt.subplots(1, n, squeeze=False, gridspec_kw={"width_ratios": widths},
                             figsize=(max(2.5, cell * sum(widths) + 0.6 * n),
                                      cell * rows + 0.5 + 0.4 * (titles is not None) + 0.4 * bool(suptitle)))
    centers = list(center) if isinstance(center, (list, tuple)) else [bool(center)] * n
    if len(centers) != n:
        raise ValueError(f"got {len(centers)} center flags for {n} matrices")
    for k, (ax, m) in enumerate(zip(axes[0], mats)):
        scope = np.concatenate([a.ravel() for a in mats]) if same_scale else m.ravel()
        if centers[k]:
            lim = max(np.abs(scope).max(), 1e-12)
            vmin, vmax, cm = -lim, lim, "RdBu_r"
        else:
            vmin, vmax, cm = scope.min(), max(scope.max(), scope.min() + 1e-12), cmap
        ax.imshow(m, cmap=cm, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if fmt is not None:
            norm = (m - vmin) / (vmax - vmin)
            for (i, j), v in np.ndenumerate(m):
                dark = abs(norm[i, j] - 0.5) > 0.3 if centers[k] else norm[i, j] > 0.6
                ax.text(j, i, _fmt(fmt, v), ha="center", va="center", fontsize=9,
                        color="white" if dark else INK)
        if blocks is not None and blocks[k] is not None:
            bh, bw = blocks[k]
            for y in range(0, m.shape[0] + 1, bh):
                ax.axhline(y - 0.5, color=INK, lw=2)
            for x in range(0, m.shape[1] + 1, bw):
                ax.axvline(x - 0.5, color=INK, lw=2)
        if marks is not None and marks[k] is not None:
            for i, j in zip(*np.nonzero(np.asarray(marks[k]))):
                ax.add_patch(mpl.patches.Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False,
                                                   ec=COLORS[1], lw=2.5))
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=12)
    return fig


def volume_diagram(shapes, labels=None, arrows=None, title=None):
    """Activation volumes (H, W, C) drawn as boxes, left to right, with arrows between them.

    Height and width share one scale (so 112 looks half of 224), depth has its own (C values are
    on another scale); each box is labelled "H x W x C" plus an optional label below.
    arrows: one text per gap between boxes (e.g. "max pool 2x2, S=2") or None.
    Returns the axes.
    """
    shapes = [tuple(int(v) for v in s) for s in shapes]
    if any(len(s) != 3 for s in shapes):
        raise ValueError(f"shapes must be (H, W, C) triples, got {shapes}")
    if arrows is not None and len(arrows) != len(shapes) - 1:
        raise ValueError(f"need {len(shapes) - 1} arrow texts for {len(shapes)} volumes, got {len(arrows)}")
    if labels is not None and len(labels) != len(shapes):
        raise ValueError(f"got {len(labels)} labels for {len(shapes)} volumes")
    s = 2.0 / max(max(h, w) for h, w, _ in shapes)            # spatial units per pixel
    d = 1.0 / max(c for _, _, c in shapes)                   # depth units per channel
    dx, dy = np.cos(np.pi / 6), np.sin(np.pi / 6)            # oblique direction of the depth axis
    _, ax = plt.subplots(figsize=(2.8 * len(shapes) + 0.5, 3.2))
    x0 = 0.0
    for k, (H, W, C) in enumerate(shapes):
        w_, h_, c_ = W * s, H * s, C * d
        front = [(x0, 0), (x0 + w_, 0), (x0 + w_, h_), (x0, h_)]
        top = [(x0, h_), (x0 + w_, h_), (x0 + w_ + c_ * dx, h_ + c_ * dy), (x0 + c_ * dx, h_ + c_ * dy)]
        side = [(x0 + w_, 0), (x0 + w_ + c_ * dx, c_ * dy), (x0 + w_ + c_ * dx, h_ + c_ * dy), (x0 + w_, h_)]
        colour = COLORS[k % len(COLORS)]
        for poly, alpha in ((side, 0.55), (top, 0.35), (front, 0.8)):
            ax.add_patch(mpl.patches.Polygon(poly, closed=True, fc=colour, ec=INK, lw=1, alpha=alpha))
        ax.text(x0 + w_ / 2, -0.12, f"{H} x {W} x {C}", ha="center", va="top", fontsize=11, color=INK)
        if labels is not None:
            ax.text(x0 + w_ / 2, -0.42, str(labels[k]), ha="center", va="top", fontsize=10, color="#555555")
        ax.text(x0 - 0.06, h_ / 2, str(H), ha="right", va="center", fontsize=9, color=INK)
        ax.text(x0 + w_ + c_ * dx / 2 + 0.05, c_ * dy / 2 - 0.05, str(C), ha="left", va="top", fontsize=9,
                color=INK)
        right = x0 + w_ + c_ * dx
        if arrows is not None and k < len(shapes) - 1:
            ax.annotate("", xy=(right + 1.1, h_ / 2), xytext=(right + 0.15, h_ / 2),
                        arrowprops=dict(arrowstyle="-|>", color=INK, lw=1.5))
            ax.text(right + 0.62, h_ / 2 + 0.1, arrows[k], ha="center", va="bottom", fontsize=9.5, color=INK)
            x0 = right + 1.4
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.08)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def histograms_by_layer(rows, bins=40, value_range=None, title=None, xlabel="activation"):
    """One histogram per layer, one row per network: how the activations spread as depth grows.

    rows: {row label: [activations of layer 1, layer 2, ...]} (arrays of any shape; all rows the same
    number of layers); value_range: (lo, hi) shared by every panel (default: each row's own range).
    Each panel's title gives the layer and the standard deviation of its values. Returns the figure.
    """
    labels = list(rows)
    counts = {len(v) for v in rows.values()}
    if len(counts) != 1:
        raise ValueError(f"every row needs the same number of layers, got {[len(rows[k]) for k in labels]}")
    L = counts.pop()
    fig, axes = plt.subplots(len(labels), L, squeeze=False, sharey="row",
                             figsize=(max(6.0, 1.7 * L), 1.9 * len(labels) + 0.4 * bool(title)))
    for r, label in enumerate(labels):
        values = [np.asarray(v, dtype=np.float64).ravel() for v in rows[label]]
        lo, hi = value_range if value_range is not None else (min(v.min() for v in values),
                                                               max(v.max() for v in values))
        for j, v in enumerate(values):
            ax = axes[r, j]
            ax.hist(v, bins=bins, range=(lo, hi), color=COLORS[r % len(COLORS)])
            ax.set_title(f"layer {j + 1}\nstd {v.std():.2g}", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label, fontsize=10)
            if r == len(labels) - 1:
                ax.set_xlabel(xlabel, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


__all__ += ["number_grids", "volume_diagram", "histograms_by_layer"]


# --------------------------------------------------------------------------- architectures (lecture 7)
def _rf_cone(kernel_sizes, strides, top):
    """Units feeding unit `top` of the last layer, layer by layer (input first), for 'same'-padded
    stacks (padding (F - 1) // 2): a list of sorted index lists, which may run into the padding."""
    sets = [[top]]
    for F, S in zip(reversed(kernel_sizes), reversed(strides)):
        P = (F - 1) // 2
        sets.insert(0, sorted({i * S - P + k for i in sets[0] for k in range(F)}))
    return sets


def receptive_field_cone(kernel_sizes, strides=None, num_inputs=None, ax=None, title=None):
    """The receptive field of one unit in a stack of layers, drawn in 1-D.

    kernel_sizes: filter size F of each layer (odd, zero padding (F - 1) / 2), e.g. [3, 3, 3] or [7]
    strides:      one stride per layer (default 1)
    num_inputs:   input units drawn (default: the top unit's receptive field + 4)
    One row of units per layer, the input at the bottom; the unit in the middle of the top layer,
    every unit it depends on, and the connections between them are coloured, and each row is labelled
    with the receptive field of one of its units (in input units). Returns the axes.
    """
    F = [int(f) for f in kernel_sizes]
    S = [1] * len(F) if strides is None else [int(s) for s in strides]
    if len(S) != len(F) or any(f < 1 or f % 2 == 0 for f in F) or any(s < 1 for s in S):
        raise ValueError(f"need odd kernel sizes and positive strides, one each per layer; got {F}, {S}")
    fields, jump = [1], 1
    for f, s in zip(F, S):
        fields.append(fields[-1] + (f - 1) * jump)
        jump *= s
    n = [num_inputs or fields[-1] + 4]
    for f, s in zip(F, S):
        n.append((n[-1] + 2 * ((f - 1) // 2) - f) // s + 1)
    # x position of every unit: the centre of its receptive field, in input units ('same' padding)
    jumps = np.cumprod([1] + S)
    xs = [jumps[l] * np.arange(n[l], dtype=np.float64) for l in range(len(n))]
    cone = _rf_cone(F, S, n[-1] // 2)
    ax = _new_ax(ax, figsize=(1.0 + 0.45 * n[0], 0.9 + 0.8 * len(n)))
    for l in range(1, len(n)):                                   # connections inside the cone
        for i in cone[l]:
            for j in range(i * S[l - 1] - (F[l - 1] - 1) // 2, i * S[l - 1] - (F[l - 1] - 1) // 2 + F[l - 1]):
                if 0 <= j < n[l - 1]:
                    ax.plot([xs[l][i], xs[l - 1][j]], [l, l - 1], color=COLORS[0], lw=0.9, alpha=0.6, zorder=1)
    for l in range(len(n)):
        inside = np.isin(np.arange(n[l]), cone[l])
        ax.scatter(xs[l][~inside], np.full((~inside).sum(), l), s=70, color=MUTED, zorder=2)
        ax.scatter(xs[l][inside], np.full(inside.sum(), l), s=70, color=COLORS[1] if l == len(n) - 1 else COLORS[0],
                   zorder=3)
        name = "input" if l == 0 else f"{F[l - 1]}x{F[l - 1]} conv" + (f" /{S[l - 1]}" if S[l - 1] > 1 else "")
        ax.text(xs[0][0] - 1.0, l, name, ha="right", va="center", fontsize=9.5, color=INK)
        if l:
            ax.text(xs[0][-1] + 1.0, l, f"sees {fields[l]} inputs", ha="left", va="center", fontsize=9.5,
                    color=INK)
    ax.set_xlim(xs[0][0] - 4.5, xs[0][-1] + 5.5)
    ax.set_ylim(-0.6, len(n) - 0.4)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def _arch_box(ax, x, y, w, h, text, color, fontsize=8.5):
    from matplotlib.patches import FancyBboxPatch
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=color, ec="none",
                                alpha=0.9, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color="white", zorder=3)


def _arch_arrow(ax, start, end, color=INK, **kwargs):
    from matplotlib.patches import FancyArrowPatch
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color=color, lw=1.0,
                                 shrinkA=0, shrinkB=0, zorder=1, **kwargs))


def inception_module(analysis, in_shape, ax=None, title=None):
    """Block diagram of one Inception module from the calculator's rows (architectures.inception_cost).

    analysis: Analysis of [Input, Inception] with count_input=False (what inception_cost returns)
    in_shape: (H, W, C) of the module's input, written on the bottom box
    Each branch is a column of boxes (bottom to top) showing the layer, its output HxWxC and its
    multiply-adds; 1x1 convs are green, larger convs blue, pooling orange; the top box is the
    depth-wise concatenation. Returns the axes.
    """
    module = analysis.rows[0]
    if module.kind != "inception":
        raise ValueError(f"expected the analysis of one Inception module, got a {module.kind!r} row first")
    branches = {}
    for child in module.children:
        branches.setdefault(child.name.split("/")[-2], []).append(child)
    ax = _new_ax(ax, figsize=(8.0, 4.6))
    ncol, w, h = len(branches), 1.9, 0.62
    H, W, C = in_shape
    _arch_box(ax, (ncol - 1) / 2 * 2.2, 0, 2.2 * ncol - 0.3, h, f"input  {H}x{W}x{C}", "#555555", 9.5)
    H, W, C = module.out_shape
    top = 3.0
    _arch_box(ax, (ncol - 1) / 2 * 2.2, top, 2.2 * ncol - 0.3, h,
         f"concatenate along depth  {H}x{W}x{C}   ({module.macs / 1e6:,.0f}M multiply-adds in total)", INK, 9.5)
    for j, rows in enumerate(branches.values()):
        x = j * 2.2
        levels = [2.0 - (len(rows) - 1 - k) for k in range(len(rows))]   # the last layer at level 2
        prev = 0 + h / 2
        for row, y in zip(rows, levels):
            Hr, Wr, Cr = row.out_shape
            color = COLORS[4] if row.kind == "pool" else COLORS[2] if "1x1" in row.desc else COLORS[0]
            text = f"{row.desc}\n{Hr}x{Wr}x{Cr}" + (f"\n{row.macs / 1e6:,.0f}M MACs" if row.macs else "\n0 MACs")
            _arch_box(ax, x, y, w, h + 0.1, text, color)
            _arch_arrow(ax, (x, prev), (x, y - (h + 0.1) / 2))
            prev = y + (h + 0.1) / 2
        _arch_arrow(ax, (x, prev), (x, top - h / 2))
    ax.set_xlim(-1.2, 2.2 * ncol - 1.0)
    ax.set_ylim(-0.5, top + 0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def residual_block(ax=None, residual=True, title=None):
    """The building block of the ResNet paper: two weight layers with a ReLU between them, and
    (residual=True) an identity shortcut added before the last ReLU, so the block outputs F(x) + x.
    residual=False draws the same block without the shortcut (a plain net learns H(x) directly).
    Returns the axes.
    """
    from matplotlib.patches import Circle
    ax = _new_ax(ax, figsize=(3.6, 4.8))
    x0 = 0.0
    ax.text(x0, 0.0, "x", ha="center", va="center", fontsize=13, color=INK)
    _arch_arrow(ax, (x0, 0.25), (x0, 0.75))
    _arch_box(ax, x0, 1.0, 1.8, 0.45, "weight layer", COLORS[0], 10)
    ax.text(x0 + 0.15, 1.5, "ReLU", ha="left", va="center", fontsize=9.5, color=INK)
    _arch_arrow(ax, (x0, 1.225), (x0, 1.775))
    _arch_box(ax, x0, 2.0, 1.8, 0.45, "weight layer", COLORS[0], 10)
    if residual:
        _arch_arrow(ax, (x0, 2.225), (x0, 2.68))
        ax.add_patch(Circle((x0, 2.85), 0.17, fc="white", ec=INK, lw=1.2, zorder=2))
        ax.text(x0, 2.85, "+", ha="center", va="center", fontsize=13, color=INK, zorder=3)
        ax.text(x0 - 1.05, 2.45, "F(x)", ha="center", va="center", fontsize=11, color=COLORS[0])
        ax.plot([x0 + 0.2, x0 + 1.3, x0 + 1.3], [0.0, 0.0, 2.85], color=COLORS[1], lw=1.2, zorder=1)
        _arch_arrow(ax, (x0 + 1.3, 2.85), (x0 + 0.17, 2.85), color=COLORS[1])
        ax.text(x0 + 1.4, 1.5, "identity\nx", ha="left", va="center", fontsize=10, color=COLORS[1])
        _arch_arrow(ax, (x0, 3.02), (x0, 3.45))
        ax.text(x0 + 0.15, 3.25, "ReLU", ha="left", va="center", fontsize=9.5, color=INK)
        ax.text(x0, 3.65, "F(x) + x", ha="center", va="center", fontsize=12, color=INK)
    else:
        _arch_arrow(ax, (x0, 2.225), (x0, 3.45))
        ax.text(x0 + 0.15, 2.85, "ReLU", ha="left", va="center", fontsize=9.5, color=INK)
        ax.text(x0, 3.65, "H(x)", ha="center", va="center", fontsize=12, color=INK)
    ax.set_xlim(-1.7, 2.4)
    ax.set_ylim(-0.3, 3.9)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title if title is not None else ("residual block" if residual else "plain block"))
    return ax


def per_layer_lines(curves, ax=None, xlabel="layer", ylabel=None, log=False, title=None):
    """One line per network of a per-layer quantity (gradient norms, activation sizes ...).

    curves: {name: (L,) values, layer 1 first}; networks may have different depths. Returns the axes.
    """
    ax = _new_ax(ax, figsize=(6.0, 3.6))
    for i, (name, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"curve {name!r} must be 1-D (one value per layer), got shape {values.shape}")
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3.5, color=COLORS[i % len(COLORS)], label=name)
    ax.set_yscale("log" if log else "linear")
    ax.set(xlabel=xlabel, ylabel=ylabel or "")
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.legend(loc="best")
    if title:
        ax.set_title(title)
    return ax


__all__ += ["receptive_field_cone", "inception_module", "residual_block", "per_layer_lines"]


# --------------------------------------------------------------------------- lecture 6: regularisation
# (appended for notebooks/06_regularisation.ipynb; tests in tests/test_regularisation_demos.py)
def dropout_network(layer_sizes, keep=None, ax=None, title=None):
    """A fully connected network drawn as circles and lines, with dropped units crossed out.

    layer_sizes: units per layer, input first, e.g. (4, 6, 6, 2);  keep: None (every unit on) or one
    boolean array per layer (True = kept); a dropped unit loses all its connections, so the drawing
    shows the thinned network that one dropout mask trains. Returns the axes.
    """
    sizes = [int(s) for s in layer_sizes]
    keep = [np.ones(s, bool) for s in sizes] if keep is None else [np.asarray(k, bool) for k in keep]
    if [len(k) for k in keep] != sizes:
        raise ValueError(f"keep must have one boolean per unit: layer sizes {sizes}, got {[len(k) for k in keep]}")
    ax = _new_ax(ax, figsize=(1.3 * len(sizes) + 1, 3.2))
    top = max(sizes)
    pos = [np.column_stack([np.full(s, i), (s - 1) / 2 - np.arange(s)]) for i, s in enumerate(sizes)]  # centred
    for (p0, k0), (p1, k1) in zip(zip(pos, keep), zip(pos[1:], keep[1:])):
        for a in p0[k0]:
            for b in p1[k1]:
                ax.plot([a[0], b[0]], [a[1], b[1]], color=MUTED, lw=0.8, zorder=1)
    for i, (p, k) in enumerate(zip(pos, keep)):
        color = COLORS[0] if i in (0, len(sizes) - 1) else COLORS[2]
        ax.scatter(p[k, 0], p[k, 1], s=230, color=color, edgecolor=INK, zorder=2)
        ax.scatter(p[~k, 0], p[~k, 1], s=230, facecolor="white", edgecolor=MUTED, zorder=2)
        ax.scatter(p[~k, 0], p[~k, 1], s=120, marker="x", color=COLORS[1], linewidths=2, zorder=3)
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-(top - 1) / 2 - 0.6, (top - 1) / 2 + 0.6)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def weight_histograms(weights, bins=61, zero_tol=0.0, title=None):
    """One histogram per weight array (e.g. per penalty), on a shared value range and log counts.

    weights: {name: array};  zero_tol: |w| <= zero_tol counts as zero (0.0 = exactly zero).
    Each panel's title gives the share of zeros and the mean |w|. Returns the figure.
    """
    names = list(weights)
    values = [np.asarray(weights[k], dtype=np.float64).ravel() for k in names]
    lim = max(np.abs(v).max() for v in values) or 1.0
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 2.9 + 0.3 * bool(title)),
                             sharex=True, sharey=True, squeeze=False)
    for i, (ax, name, v) in enumerate(zip(axes[0], names, values)):
        ax.hist(v, bins=bins, range=(-lim, lim), color=COLORS[i % len(COLORS)], log=True)
        zeros = np.mean(np.abs(v) <= zero_tol)
        ax.set_title(f"{name}\n{zeros:.0%} zero, mean |w| {np.abs(v).mean():.3f}", fontsize=10)
        ax.set_xlabel("weight")
    axes[0, 0].set_ylabel("count (log scale)")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def generalisation_curves(runs, title=None, loss_ylim=None):
    """Train (dashed) and validation (solid) loss and accuracy per epoch, one colour per run.

    runs: {name: dict with train_loss_history, val_loss_history, train_acc_history, val_acc_history}
    (as returned by regularisation_demos.fit and train_softmax-like helpers; missing loss keys skip
    the loss panel). The space between a run's dashed and solid line is its generalisation gap.
    Returns the figure.
    """
    has_loss = all("val_loss_history" in h for h in runs.values())
    fig, axes = plt.subplots(1, 1 + has_loss, figsize=(5.0 * (1 + has_loss), 3.8), squeeze=False)
    panels = (("loss", "loss"), ("acc", "accuracy")) if has_loss else (("acc", "accuracy"),)
    for ax, (key, label) in zip(axes[0], panels):
        for i, (name, h) in enumerate(runs.items()):
            color = COLORS[i % len(COLORS)]
            ax.plot(h[f"train_{key}_history"], color=color, ls="--", lw=1.5)
            ax.plot(h[f"val_{key}_history"], color=color, label=name)
        ax.set(xlabel="epoch", ylabel=label, title=f"{label}: train (dashed) vs validation (solid)")
        ax.legend()
    if has_loss and loss_ylim is not None:
        axes[0, 0].set_ylim(*loss_ylim)
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def strip_plot(groups, marks=None, ax=None, ylabel=None, title=None, seed=0):
    """Every value of every group as a jittered dot, with an optional reference line per group.

    groups: {label: (M,) values} (e.g. one example's output in M different batches);
    marks: {label: value} drawn as a short black line (e.g. the test-time output). Returns the axes.
    """
    ax = _new_ax(ax, figsize=(max(4.0, 1.2 * len(groups) + 1.5), 3.6))
    rng = np.random.default_rng(seed)
    for i, (label, v) in enumerate(groups.items()):
        v = np.asarray(v, dtype=np.float64).ravel()
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(v)), v, s=9, alpha=0.6, color=COLORS[i % len(COLORS)])
        if marks is not None and label in marks:
            ax.plot([i - 0.3, i + 0.3], [marks[label]] * 2, color=INK, lw=2.5)
    ax.set_xticks(range(len(groups)), [str(k) for k in groups])
    ax.grid(axis="x", visible=False)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


__all__ += ["dropout_network", "weight_histograms", "generalisation_curves", "strip_plot"]


# --------------------------------------------------------------------------- lecture 8: training a ConvNet
# (appended for notebooks/08_training_a_convnet.ipynb; tests in tests/test_training_demos.py)
def _row_ranges(row, how):
    """(lo, hi) for every cell of a row: the row's range ('row'), each image's own ('each'), or [0, 1] (None)."""
    present = [np.asarray(img, dtype=np.float64) for img in row if img is not None]
    if how == "row" and present:
        lo, hi = min(p.min() for p in present), max(p.max() for p in present)
        return [(lo, hi)] * len(row)
    if how == "each":
        return [None if img is None else (float(np.min(img)), float(np.max(img))) for img in row]
    return [(0.0, 1.0)] * len(row)


def image_rows(rows, row_labels=None, col_titles=None, normalize="row", keys=None, key_title=None,
               cmap="gray", suptitle=None, cell=1.0):
    """Rows of small images with a label on the left of each row (e.g. feature maps per input).

    rows:       R sequences of 2-D images (H, W); rows may differ in length and in image size
                (8x8 conv maps in one row, 4x4 pooled maps in the next); None leaves a cell empty
    row_labels: R strings written left of the rows;  col_titles: titles over the first row's cells
    normalize:  'row' one min..max per row (values comparable along a row: which maps fire most),
                'each' every image stretched to its own range, None values taken as [0, 1];
                or a list with one of those per row
    keys:       optional R images (or None) shown in an extra first column, each on its own scale
                and never part of a row's range (e.g. the input image the row's maps come from);
                key_title is that column's title
    Returns the figure.
    """
    rows = [list(r) for r in rows]
    R, ncols = len(rows), max((len(r) for r in rows), default=0)
    if R == 0 or ncols == 0:
        raise ValueError("image_rows needs at least one row with one image")
    modes = list(normalize) if isinstance(normalize, (list, tuple)) else [normalize] * R
    if len(modes) != R or any(m not in ("row", "each", None) for m in modes):
        raise ValueError(f"normalize must be 'row', 'each', None or a list of those, one per row ({R}); "
                         f"got {normalize!r}")
    if row_labels is not None and len(row_labels) != R:
        raise ValueError(f"got {len(row_labels)} row labels for {R} rows")
    if col_titles is not None and len(col_titles) > ncols:
        raise ValueError(f"got {len(col_titles)} column titles for {ncols} columns")
    if keys is not None and len(keys) != R:
        raise ValueError(f"got {len(keys)} keys for {R} rows")
    for r, row in enumerate(rows):
        for img in row + ([keys[r]] if keys is not None else []):
            if img is not None and np.ndim(img) != 2:
                raise ValueError(f"row {r}: every image must be 2-D (H, W), got shape {np.shape(img)}")
    k = int(keys is not None)                          # columns taken by the keys
    label_width = 1.2 if row_labels is not None else 0.0
    fig, axes = plt.subplots(R, ncols + k, squeeze=False,
                             figsize=(label_width + (ncols + k) * cell,
                                      R * cell + 0.3 * (col_titles is not None or key_title is not None)
                                      + 0.4 * (suptitle is not None)))
    for r, (row, mode) in enumerate(zip(rows, modes)):
        cells = ([keys[r]] if k else []) + row
        ranges = ([_row_ranges([keys[r]], "each")[0]] if k else []) + _row_ranges(row, mode)
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
            ax.grid(False)
            if c < len(cells) and cells[c] is not None:
                lo, hi = ranges[c]
                ax.imshow(np.asarray(cells[c], dtype=np.float64), cmap=cmap, vmin=lo,
                          vmax=hi if hi > lo else lo + 1)
            elif c > 0:
                ax.set_axis_off()                     # keep the first column: it carries the row label
            if c == 0 and row_labels is not None:
                ax.set_ylabel(str(row_labels[r]), rotation=0, ha="right", va="center", fontsize=9)
            if r == 0 and k and c == 0 and key_title is not None:
                ax.set_title(str(key_title), fontsize=9)
            if r == 0 and col_titles is not None and 0 <= c - k < len(col_titles):
                ax.set_title(str(col_titles[c - k]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    return fig


__all__ += ["image_rows"]


# --------------------------------------------------------------------------- lecture 4: activation functions
# (appended for notebooks/04_activation_functions.ipynb; tests in tests/test_activation_demos.py)
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


__all__ += ["activation_grid", "step_directions", "unit_boundaries"]
