"""A deep plain net and the same net with identity shortcuts, small enough to train in seconds.

The ResNet paper's experiment in miniature (He et al. 2015, Fig. 1 and 6): stack many layers and the
training loss gets *worse*, not better, unless every couple of layers adds its input back in.
``DeepMLP`` builds both versions from the same layers and the same initial weights, so the only
difference is the ``+ x`` of the shortcut.

    input -> affine - bn - relu -> num_blocks x BLOCK -> affine -> softmax
    BLOCK (plain):     x -> affine - bn - relu - affine - bn -> relu
    BLOCK (residual):  x -> affine - bn - relu - affine - bn -> (+ x) -> relu   (the paper's Fig. 2)

``RESNET_2015_TRACKS`` holds the competitions ResNet won in 2015, with the margins its authors
reported.
"""
from __future__ import annotations

from typing import NamedTuple

import matplotlib.ticker as mticker
import numpy as np

from cs231n_lib import fast_layers, layers
from cs231n_lib.plot import COLORS, INK, MUTED, _new_ax
from cs231n_lib.shapes import check_array

__all__ = ["DeepMLP", "gradient_norms", "Track", "RESNET_2015_TRACKS", "receptive_field_cone", "inception_module", "residual_block", "per_layer_lines"]


def _bn_param(size, dtype):
    return {"mode": "train", "running_mean": np.zeros(size, dtype), "running_var": np.ones(size, dtype)}


class DeepMLP:
    """Fully connected net of 2 * num_blocks + 2 weight layers, with or without identity shortcuts.

    Inputs:
    - input_dim: D, features per example (an (N, 1, 8, 8) digit is flattened to D = 64).
    - hidden_dim: H, width of every hidden layer (the shortcut needs the same width in and out).
    - num_blocks: residual blocks of two affine layers each.
    - num_classes: scores per example.
    - residual: add each block's input to its output (identity shortcut) before the last ReLU.
    - use_batchnorm: batch norm after every hidden affine (the paper's conv - BN - ReLU order).
    - reg: L2 strength on the weights; dtype: float32 or float64; seed: initialisation.

    Weights are He-initialised (std sqrt(2 / fan_in)); the same seed gives the plain and the residual
    net identical initial parameters. Params: W1 (D, H), W2 ... W{L-1} (H, H), W{L} (H, num_classes),
    biases b1 ... b{L}, and with batch norm gamma1, beta1 ... (H,) for the L - 1 hidden layers.
    Follows the Solver contract: loss(X) -> scores (N, num_classes) in test mode, loss(X, y) -> (loss,
    grads) in training mode.
    """

    def __init__(self, input_dim=64, hidden_dim=64, num_blocks=12, num_classes=10, residual=False,
                 use_batchnorm=True, reg=0.0, dtype=np.float64, seed=None):
        if num_blocks < 0 or hidden_dim < 1 or input_dim < 1:
            raise ValueError(f"need input_dim, hidden_dim >= 1 and num_blocks >= 0, got "
                             f"{input_dim}, {hidden_dim}, {num_blocks}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.input_dim, self.num_blocks, self.residual = input_dim, num_blocks, residual
        self.use_batchnorm, self.reg = use_batchnorm, reg
        self.depth = 2 * num_blocks + 2          # weight layers, counted as papers count depth
        rng = np.random.default_rng(seed)
        dims = [input_dim] + [hidden_dim] * (self.depth - 1) + [num_classes]
        self.params, self.bn_params = {}, []
        for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
            gain = 2.0 if i < self.depth else 1.0  # ReLU follows every hidden layer, not the scores
            std = np.sqrt(gain / fan_in)
            self.params[f"W{i}"] = (std * rng.standard_normal((fan_in, fan_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, self.dtype)
            if use_batchnorm and i < self.depth:
                self.params[f"gamma{i}"] = np.ones(fan_out, self.dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, self.dtype)
                self.bn_params.append(_bn_param(fan_out, self.dtype))

    def _hidden(self, i, h):
        """Layer i (1-based) without its ReLU: affine, then batch norm if used. Returns (out, cache)."""
        P = self.params
        a, fc_cache = layers.affine_forward(h, P[f"W{i}"], P[f"b{i}"])
        if not self.use_batchnorm:
            return a, (fc_cache, None)
        a, bn_cache = fast_layers.batchnorm_forward_fast(a, P[f"gamma{i}"], P[f"beta{i}"], self.bn_params[i - 1])
        return a, (fc_cache, bn_cache)

    def _hidden_backward(self, i, dout, cache, grads):
        fc_cache, bn_cache = cache
        if bn_cache is not None:
            dout, grads[f"gamma{i}"], grads[f"beta{i}"] = fast_layers.batchnorm_backward_fast(dout, bn_cache)
        dx, grads[f"W{i}"], grads[f"b{i}"] = layers.affine_backward(dout, fc_cache)
        return dx

    def loss(self, X, y=None):
        """Scores (N, num_classes) for X (N, ...) with D features each if y is None, else (loss, grads)."""
        X = check_array(X, "X").astype(self.dtype, copy=False)
        X = X.reshape(len(X), -1)                                    # (N, D)
        if X.shape[1] != self.input_dim:
            raise ValueError(f"X has {X.shape[1]} features per example but the model expects {self.input_dim}")
        for bn_param in self.bn_params:
            bn_param["mode"] = "test" if y is None else "train"
        a, stem = self._hidden(1, X)
        h, stem_relu = layers.relu_forward(a)                        # (N, H)
        blocks = []
        for k in range(self.num_blocks):
            i = 2 + 2 * k                                            # the block's two layers: i, i + 1
            a1, c1 = self._hidden(i, h)
            r1, relu1 = layers.relu_forward(a1)
            a2, c2 = self._hidden(i + 1, r1)
            h, relu2 = layers.relu_forward(a2 + h if self.residual else a2)  # the shortcut: + x
            blocks.append((c1, relu1, c2, relu2))
        L = self.depth
        scores, head = layers.affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        if y is None:
            return scores

        loss, dscores = layers.softmax_loss(scores, y)
        weights = [f"W{i}" for i in range(1, L + 1)]
        loss += 0.5 * self.reg * sum(float(np.sum(self.params[w] ** 2)) for w in weights)
        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = layers.affine_backward(dscores, head)
        for k in reversed(range(self.num_blocks)):
            i = 2 + 2 * k
            c1, relu1, c2, relu2 = blocks[k]
            ds = layers.relu_backward(dh, relu2)                     # gradient of the block's sum
            dr1 = self._hidden_backward(i + 1, ds, c2, grads)
            dh_main = self._hidden_backward(i, layers.relu_backward(dr1, relu1), c1, grads)
            dh = dh_main + ds if self.residual else dh_main          # the shortcut passes ds unchanged
        self._hidden_backward(1, layers.relu_backward(dh, stem_relu), stem, grads)
        for w in weights:
            grads[w] = grads[w] + self.reg * self.params[w]
        return float(loss), grads


def gradient_norms(model, X, y):
    """L2 norm of the gradient of every weight matrix W1 ... WL on one batch: a (L,) array, input side first.

    Shows how much learning signal reaches each depth: in a deep plain net the early layers get little.
    """
    _, grads = model.loss(X, y)
    return np.array([np.linalg.norm(grads[f"W{i}"]) for i in range(1, model.depth + 1)])


# ----------------------------------------------------------------------------------------------
# What ResNet won in 2015
# ----------------------------------------------------------------------------------------------
class Track(NamedTuple):
    """One competition track: margin is the relative improvement over the 2nd-placed entry, in %
    (None where no margin was given)."""
    competition: str
    task: str
    margin: int | None


RESNET_2015_TRACKS = (
    Track("ILSVRC 2015", "classification", None),   # 3.57% top-5 error: see history.IMAGENET_TOP5
    Track("ILSVRC 2015", "detection", 16),
    Track("ILSVRC 2015", "localisation", 27),
    Track("COCO 2015", "detection", 11),
    Track("COCO 2015", "segmentation", 12),
)
"""The five main tracks ResNet won in 2015 and how far ahead of the runner-up it finished ("x% better
than 2nd", relative), as reported by He et al. (ILSVRC & COCO 2015 competitions, MSRA slides)."""


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
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
