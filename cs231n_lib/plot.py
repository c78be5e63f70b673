"""The shared look of the course's figures, and the figures every lecture uses.

Each lecture's own figures live beside its experiments, in ``cs231n_lib.lectures.lNN_*``.

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
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.lines import Line2D

__all__ = [
    "COLORS", "STYLE", "use_style", "image_grid", "function_and_gradient", "loss_surface",
    "training_curves", "bar_chart", "confusion_matrix", "timeline", "curves",
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
               'signed-each' / 'signed-all': zero sits in the middle of the colour map, scaled by
               each image's (or all images') largest |value|; use with a diverging map, where
               signs matter (weights, gradients): white is then exactly 0;
               None values are taken as [0, 1] (colour is clipped there)
    Returns the figure, with exactly N axes.
    """
    x = _as_images(images)
    N = len(x)
    if normalize not in ("each", "all", "signed-each", "signed-all", None):
        raise ValueError("normalize must be 'each', 'all', 'signed-each', 'signed-all' or None, "
                         f"got {normalize!r}")
    if titles is not None and len(titles) != N:
        raise ValueError(f"got {len(titles)} titles for {N} images")
    ncols = min(N, 8) if ncols is None else int(ncols)
    nrows = math.ceil(N / ncols)
    cell = 1.5 if max(x.shape[1:3]) > 16 else 1.1
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(max(2.0, ncols * cell), nrows * cell + 0.3 * (titles is not None)
                                      + 0.4 * (suptitle is not None)))
    lo_all, hi_all = x.min(), x.max()
    m_all = np.abs(x).max()
    for i, ax in enumerate(axes.flat):
        if i >= N:
            ax.remove()                               # no empty frames at the end of the grid
            continue
        img = x[i]
        if normalize == "each":
            img = _scale(img, img.min(), img.max())
        elif normalize == "all":
            img = _scale(img, lo_all, hi_all)
        elif normalize in ("signed-each", "signed-all"):
            m = np.abs(img).max() if normalize == "signed-each" else m_all
            img = _scale(img, -m, m) if m > 0 else np.full_like(img, 0.5)
        else:
            img = np.clip(img, 0, 1)
        ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9, fontweight="normal")
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    return fig


def signed_image(values, ax=None, title=None, cmap="RdBu_r", colorbar=True, vmax=None):
    """Draw a 2-D array whose sign matters (a gradient, a kernel) with zero exactly at the centre
    of a diverging colour map: white is 0, red positive, blue negative (for 'RdBu_r').

    The colour limits are -vmax..vmax with vmax = max |values| unless given, so equal magnitudes
    of either sign get equally strong colours. Returns the AxesImage.
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"signed_image needs a 2-D array, got shape {a.shape}")
    m = float(np.abs(a).max()) if vmax is None else float(vmax)
    if not m > 0:
        m = 1.0                                       # an all-zero array is drawn all white
    ax = _new_ax(ax)
    im = ax.imshow(a, cmap=cmap, vmin=-m, vmax=m)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


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
    if not runs:
        raise ValueError("training_curves needs at least one run (a Solver or a dict with 'loss_history')")
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


# --------------------------------------------------------------------------- curves
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
