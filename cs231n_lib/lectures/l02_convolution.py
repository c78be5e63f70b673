"""Demonstrations and figures of the convolution lecture (notebooks/02_convolution_layer.ipynb).

Small pieces of logic the lecture computes with (how often each pixel is read, which input pixels
one output can see, a locally connected layer, Gabor filters, the output-size sentence) and the
figures that show them (volumes, the 1-D arrangement, the step-through of the 5x5x3 demo, im2col's
matrix, dilation, the output-size chart, activation volumes). Figures use the course look of
`cs231n_lib.plot`; every figure helper draws and returns (a figure or the axes), never shows.

Layouts: images and volumes in arrays are (N, C, H, W) / (C, H, W) as in the library; filters
(K, C, F, F). Labels on the figures use the outline's H x W x C notation.
"""
from __future__ import annotations

import numbers

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Polygon, Rectangle

from cs231n_lib import fast_layers
from cs231n_lib.plot import COLORS, INK, MUTED
from cs231n_lib.shapes import check_array, conv_output_size, effective_size

__all__ = [
    "output_size_text", "pixel_usage", "influence_map", "locally_connected_forward", "gabor_kernel",
    "number_grid", "volume_diagram", "conv1d_figure", "dilation_figure", "conv_step_figure",
    "im2col_figure", "output_size_chart", "activation_volumes",
]

WARN = "#F4C7B8"    # background of a configuration that does not fit
GOOD = "#CFE8DA"    # background of one that does
PAD = "#E4E4E4"     # zero-padding cells


# ----------------------------------------------------------------------------------------------
# logic
# ----------------------------------------------------------------------------------------------
def output_size_text(W: int, F: int, S: int = 1, P: int = 0, D: int = 1) -> tuple:
    """The output-size formula written out for one configuration: (size or None, one-line text).

    W=10, F=3, S=2, P=0 -> (None, "(10 - 3 + 2*0)/2 + 1 = 4.5: does not fit ...");
    W=7, F=3, S=2, P=0 -> (3, "(7 - 3 + 2*0)/2 + 1 = 3"). Uses shapes.conv_output_size, so the
    verdict is exactly the library's.
    """
    if isinstance(S, bool) or not isinstance(S, numbers.Integral) or S < 1:
        raise ValueError(f"stride S must be a whole number >= 1, got {S!r}")
    F_eff = effective_size(F, D)
    lhs = f"({W} - {F_eff} + 2*{P})/{S} + 1"
    try:
        size = conv_output_size(W, F, S, P, D)
    except ValueError:
        span = W - F_eff + 2 * P
        if span < 0:
            return None, f"{lhs}: the window ({F_eff}) is larger than the padded input ({W + 2 * P})"
        return None, f"{lhs} = {span / S + 1:.4g}: not a whole number, does not fit"
    return size, f"{lhs} = {size}"


def pixel_usage(H: int, W: int, F: int, S: int = 1, P: int = 0, D: int = 1) -> np.ndarray:
    """How many windows of an F x F conv (stride S, padding P, dilation D) read each input pixel.

    Returns (H, W) integers. col2im of a matrix of ones: im2col copies each pixel once per window
    that contains it, and col2im sums those copies back. Unpadded 3x3: a corner is read once, an
    interior pixel 9 times.
    """
    H_out = conv_output_size(H, F, S, P, D, name="height")
    W_out = conv_output_size(W, F, S, P, D, name="width")
    ones = np.ones((F * F, H_out * W_out))                         # (C*F*F, N*H_out*W_out), C = N = 1
    counts = fast_layers.col2im(ones, (1, 1, H, W), F, F, S, P, D)  # (1, 1, H, W)
    return np.rint(counts[0, 0]).astype(int)


def influence_map(size: int, layers) -> np.ndarray:
    """Which input pixels the centre output of a stack of stride-1 convs can see, and along how many paths.

    Inputs:
    - size: odd side of the square input (and of every map: each layer pads D*(F-1)/2, which keeps the size)
    - layers: [(F, D), ...] filter size (odd) and dilation of each conv, input side first

    Returns (size, size) path counts: the gradient of the centre output with respect to the input when
    every filter is all ones, computed with conv_backward_fast. Its nonzero block is the receptive field.
    """
    if size % 2 != 1:
        raise ValueError(f"size must be odd so that the map has a centre pixel, got {size}")
    caches = []
    x = np.zeros((1, 1, size, size))
    for F, D in layers:
        if F % 2 != 1:
            raise ValueError(f"filter size F must be odd to keep the size with padding D*(F-1)/2, got {F}")
        param = {"stride": 1, "pad": D * (F - 1) // 2, "dilation": D}
        x, cache = fast_layers.conv_forward_fast(x, np.ones((1, 1, F, F)), np.zeros(1), param)
        caches.append(cache)
    grad = np.zeros((1, 1, size, size))
    grad[0, 0, size // 2, size // 2] = 1.0                             # d(centre output)
    for cache in reversed(caches):
        grad = fast_layers.conv_backward_fast(grad, cache)[0]
    return np.rint(grad[0, 0]).astype(int)


def locally_connected_forward(x, w, b, stride: int = 1, pad: int = 0) -> np.ndarray:
    """A conv layer WITHOUT parameter sharing: every output position has filters of its own.

    Inputs:
    - x: (N, C, H, W)
    - w: (H_out, W_out, K, C, F, F) one set of K filters per output position; b: (H_out, W_out, K)
    Returns out: (N, K, H_out, W_out). With the same filters at every position it is a conv layer.
    """
    x = check_array(x, "x", ndim=4, shape_hint="(N, C, H, W)")
    w = check_array(w, "w", ndim=6, shape_hint="(H_out, W_out, K, C, F, F)")
    N, C, H, W = x.shape
    H_out, W_out, K, C_w, F, F2 = w.shape
    expected = (conv_output_size(H, F, stride, pad, name="height"), conv_output_size(W, F2, stride, pad))
    if C_w != C or F != F2 or (H_out, W_out) != expected:
        raise ValueError(f"w has shape {w.shape}; x {x.shape} with stride {stride}, pad {pad} needs "
                         f"({expected[0]}, {expected[1]}, K, {C}, F, F) with square F x F filters")
    if np.shape(b) != (H_out, W_out, K):
        raise ValueError(f"b must have shape (H_out, W_out, K) = {(H_out, W_out, K)}, got {np.shape(b)}")
    cols = fast_layers.im2col(x, F, F, stride, pad).reshape(C * F * F, N, H_out, W_out)
    out = np.einsum("yxkr,rnyx->nkyx", w.reshape(H_out, W_out, K, C * F * F), cols)  # (N, K, H_out, W_out)
    return out + np.transpose(b, (2, 0, 1))[None]


def gabor_kernel(size: int, theta: float, wavelength: float, sigma: float | None = None,
                 phase: float = 0.0) -> np.ndarray:
    """A zero-mean Gabor filter (size, size): a cosine grating under a Gaussian window.

    theta: direction (radians) in which the grating varies, so it responds to edges and stripes
    running perpendicular to it; wavelength in pixels; sigma defaults to wavelength / 2; phase 0
    gives a symmetric (line) detector, pi/2 an antisymmetric (edge) detector. The mean is
    subtracted so that a flat patch gives exactly 0.
    """
    sigma = wavelength / 2 if sigma is None else sigma
    r = np.arange(size) - (size - 1) / 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    u = xx * np.cos(theta) + yy * np.sin(theta)
    g = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2)) * np.cos(2 * np.pi * u / wavelength + phase)
    g -= g.mean()
    return g / np.abs(g).sum()


# ----------------------------------------------------------------------------------------------
# small drawing helpers
# ----------------------------------------------------------------------------------------------
def _fmt(v):
    v = float(v) + 0.0                                   # + 0.0 turns -0.0 into 0.0
    return f"{v:.0f}" if v == round(v) else f"{v:.2g}"


def number_grid(ax, values, shade=None, box=None, box_color=None, fontsize=9, title=None, fmt=_fmt,
                colors=None):
    """Draw a 2-D array as a grid of cells with their numbers (row 0 on top).

    shade: (H, W) bools, cells drawn grey (zero padding);  box: (row, col, height, width) outlined;
    colors: (H, W) array of background colours (strings) overriding the white default.
    Returns the axes.
    """
    values = np.asarray(values)
    H, W = values.shape
    for r in range(H):
        for c in range(W):
            face = "white" if colors is None else colors[r][c]
            if shade is not None and shade[r, c]:
                face = PAD
            # cells lie inside the axes: leaving them out of the layout keeps drawing fast
            ax.add_patch(Rectangle((c, H - 1 - r), 1, 1, fc=face, ec="#9A9A9A", lw=0.6, in_layout=False))
            text = "" if values.dtype.kind == "f" and np.isnan(values[r, c]) else fmt(values[r, c])
            ax.text(c + 0.5, H - 0.5 - r, text, ha="center", va="center", fontsize=fontsize, color=INK,
                    in_layout=False)
    if box is not None:
        r0, c0, h, w = box
        ax.add_patch(Rectangle((c0, H - r0 - h), w, h, fc="none", ec=box_color or COLORS[1], lw=2.4))
    ax.set_xlim(-0.05, W + 0.05)
    ax.set_ylim(-0.05, H + 0.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _cuboid(ax, x0, y0, w, h, d, color, alpha=0.9, lw=0.8):
    """An oblique box: front face w x h at (x0, y0), depth d drawn up and to the right."""
    dx, dy = 0.6 * d, 0.45 * d
    front = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    top = [(x0, y0 + h), (x0 + w, y0 + h), (x0 + w + dx, y0 + h + dy), (x0 + dx, y0 + h + dy)]
    side = [(x0 + w, y0), (x0 + w + dx, y0 + dy), (x0 + w + dx, y0 + h + dy), (x0 + w, y0 + h)]
    shades = (1.0, 0.8, 0.65)
    rgb = np.array(plt.matplotlib.colors.to_rgb(color))
    for face, s in zip((front, top, side), shades):
        ax.add_patch(Polygon(face, closed=True, fc=np.clip(rgb * s + (1 - s) * 0.15, 0, 1), ec=INK,
                             lw=lw, alpha=alpha))
    return dx, dy


def _side(n, unit):
    """Drawn length of a volume side of n cells: compressed (square root) so 3 and 227 both fit."""
    return unit * np.sqrt(n)


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
def volume_diagram(volumes, filters=None, ax=None, title=None, unit=0.32):
    """Activation volumes as boxes, left to right, with the filter that maps each one to the next.

    volumes: [(label, H, W, D), ...];  filters: one entry per gap, (label, F) (a filter spans the full
    depth of the volume on its left) or None. Box sides grow with the square root of their size.
    Returns the axes.
    """
    filters = list(filters or [None] * (len(volumes) - 1))
    if len(filters) != len(volumes) - 1:
        raise ValueError(f"need {len(volumes) - 1} filter entries for {len(volumes)} volumes, got {len(filters)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.3 * len(volumes), 3.4))
    x = 0.0
    tops = []
    for i, (label, H, W, D) in enumerate(volumes):
        w, h, d = _side(W, unit), _side(H, unit), _side(D, unit)
        dx, dy = _cuboid(ax, x, 0, w, h, d, COLORS[5] if i == 0 else COLORS[0], alpha=0.55)
        ax.text(x + (w + dx) / 2, -0.35, f"{label}\n{H}x{W}x{D}", ha="center", va="top", fontsize=10, color=INK)
        if i > 0 and filters[i - 1] is not None:
            # the depth column of neurons at one position, one per filter; dashed: where it looks
            cw, n_x, n_y = max(0.12, unit * 0.5), x + 0.55 * w, 0.3 * h
            _cuboid(ax, n_x, n_y, cw, cw, d, COLORS[1], alpha=1.0, lw=0.6)
            for (fx, fy), (nx_, ny_) in zip(window, [(n_x, n_y + cw), (n_x, n_y)]):
                ax.plot([fx, nx_], [fy, ny_], color=COLORS[1], lw=0.9, ls="--")
        if i + 1 < len(volumes) and filters[i] is not None:
            flabel, F = filters[i]
            fw = max(_side(F, unit), 0.2)
            fdx, fdy = _cuboid(ax, x + 0.08 * w, 0.95 * h - fw, fw, fw, d, COLORS[1], alpha=1.0, lw=0.8)
            window = [(x + 0.08 * w + fw + fdx, 0.95 * h + fdy), (x + 0.08 * w + fw + fdx, 0.95 * h - fw + fdy)]
            gap = 2.2
            nx = x + w + dx + gap
            ax.annotate("", xy=(nx - 0.2, 0.5 * h), xytext=(x + w + dx + 0.2, 0.5 * h),
                        arrowprops=dict(arrowstyle="-|>", color=INK, lw=1.2))
            ax.text(x + w + dx + gap / 2, 0.5 * h - 0.15, flabel, ha="center", va="top", fontsize=9.5,
                    color=COLORS[1])
            x = nx
        else:
            x += w + dx + 1.6
        tops.append(h + dy)
    ax.set_xlim(-0.3, x)
    ax.set_ylim(-1.4, max(tops) + 0.4)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def conv1d_figure(x, w, b=0.0, stride=1, pad=0, ax=None, title=None):
    """The 1-D arrangement of a conv layer: padded input cells, neurons above, their weights and outputs.

    x: (W,) input;  w: (F,) weights;  b: bias. Every window that fits is drawn with its output value;
    when the stride does not tile the padded input, the next window is drawn in red hanging over the
    end. Outputs are computed here with plain dot products. Returns the axes.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    F, L = len(w), len(x) + 2 * pad
    xp = np.pad(x, pad)
    starts = list(range(0, L - F + 1, stride))
    fits = (L - F) % stride == 0
    if ax is None:
        _, ax = plt.subplots(figsize=(0.75 * (L + 3), 2.6))
    for p in range(L):
        is_pad = p < pad or p >= pad + len(x)
        ax.add_patch(Rectangle((p - 0.4, -0.4), 0.8, 0.8, fc=PAD if is_pad else "white", ec=INK, lw=0.8))
        ax.text(p, 0, _fmt(xp[p]), ha="center", va="center", fontsize=10, color=INK)
    for k, s in enumerate(starts):
        centre = s + (F - 1) / 2
        y_k = float(w @ xp[s:s + F] + b)
        color = COLORS[k % 2 * 2]
        for t in range(F):
            ax.plot([s + t, centre], [0.4, 1.6], color=color, lw=1.2, alpha=0.8)
            if k == 0:
                ax.text((s + t + centre) / 2 - 0.12, 1.0, _fmt(w[t]), fontsize=9, color=color, ha="right")
        ax.add_patch(plt.Circle((centre, 2.0), 0.38, fc="white", ec=color, lw=1.6))
        ax.text(centre, 2.0, _fmt(y_k), ha="center", va="center", fontsize=10, color=INK)
    if not fits:
        s = starts[-1] + stride
        for t in range(F):
            p = s + t
            if p >= L:
                ax.add_patch(Rectangle((p - 0.4, -0.4), 0.8, 0.8, fc="none", ec=COLORS[1], lw=1.2, ls="--"))
                ax.text(p, 0, "?", ha="center", va="center", fontsize=10, color=COLORS[1])
            ax.plot([p, s + (F - 1) / 2], [0.4, 1.6], color=COLORS[1], lw=1.2, ls="--")
        ax.add_patch(plt.Circle((s + (F - 1) / 2, 2.0), 0.38, fc=WARN, ec=COLORS[1], lw=1.6, ls="--"))
    right = max(L, (starts[-1] + stride + F) if not fits else L)
    ax.set_xlim(-0.7, right - 0.3)
    ax.set_ylim(-0.7, 2.7)
    ax.set_aspect("equal")
    ax.set_axis_off()
    _, text = output_size_text(len(x), F, stride, pad)
    ax.set_title(title or f"S={stride}, P={pad}: {text}", fontsize=10,
                 color=INK if fits else COLORS[1])
    return ax


def dilation_figure(F=3, dilations=(1, 2), n_inputs=9, ax=None):
    """One output neuron of an F-tap filter at each dilation D (framework convention, D=1 ordinary).

    Each row shows which inputs x0, x1, ... the taps w0 ... w[F-1] read and the span D*(F-1)+1.
    Returns the axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(0.7 * n_inputs + 1.5, 1.9 * len(dilations)))
    for row, D in enumerate(dilations):
        y0 = -3.0 * row
        taps = [D * t for t in range(F)]
        if taps[-1] >= n_inputs:
            raise ValueError(f"n_inputs={n_inputs} is too short for F={F} at dilation {D}")
        for p in range(n_inputs):
            hit = p in taps
            ax.add_patch(Rectangle((p - 0.4, y0 - 0.4), 0.8, 0.8, fc=GOOD if hit else "white", ec=INK, lw=0.8))
            ax.text(p, y0, f"x{p}", ha="center", va="center", fontsize=9, color=INK)
        centre = taps[-1] / 2
        for t, p in enumerate(taps):
            ax.plot([p, centre], [y0 + 0.4, y0 + 1.45], color=COLORS[0], lw=1.3)
            ax.text((p + centre) / 2 + (0.15 if p >= centre else -0.15), y0 + 0.8, f"w{t}", fontsize=9,
                    color=COLORS[0], ha="left" if p >= centre else "right")
        ax.add_patch(plt.Circle((centre, y0 + 1.8), 0.35, fc="white", ec=COLORS[0], lw=1.5))
        terms = " + ".join(f"w{t}x{p}" for t, p in enumerate(taps))
        ax.text(n_inputs - 0.2, y0 + 1.8, f"D={D}: {terms}   (spans {effective_size(F, D)})",
                ha="right", va="center", fontsize=10, color=INK)
    ax.set_xlim(-0.6, n_inputs - 0.2)
    ax.set_ylim(-3.0 * (len(dilations) - 1) - 0.7, 2.4)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax


def conv_step_figure(x, w, b, stride, pad, step):
    """One step of the conv demo: which window, which filter, the products, and the output so far.

    Inputs: x (C, H, W), w (K, C, F, F), b (K,); output positions are visited filter by filter, row by
    row: step = (k * H_out + i) * W_out + j. One row of panels per input channel (padded input with
    the window outlined, the filter's slice, the products), and the K output maps filled up to this
    step (the current value outlined). Values are computed here with plain sums.
    Returns the figure.
    """
    x, w, b = np.asarray(x, float), np.asarray(w, float), np.asarray(b, float)
    C, H, W = x.shape
    K, C_w, F, _ = w.shape
    if C_w != C:
        raise ValueError(f"x has {C} channels but w expects {C_w}")
    H_out, W_out = conv_output_size(H, F, stride, pad, name="height"), conv_output_size(W, F, stride, pad)
    if not 0 <= step < K * H_out * W_out:
        raise ValueError(f"step must be in [0, {K * H_out * W_out}), got {step}")
    k, rest = divmod(step, H_out * W_out)
    i, j = divmod(rest, W_out)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    pad_mask = np.ones(xp.shape[1:], bool)
    pad_mask[pad:pad + H, pad:pad + W] = False
    out = np.full((K, H_out, W_out), np.nan)
    for s in range(step + 1):
        kk, r = divmod(s, H_out * W_out)
        ii, jj = divmod(r, W_out)
        out[kk, ii, jj] = np.sum(xp[:, ii * stride:ii * stride + F, jj * stride:jj * stride + F] * w[kk]) + b[kk]
    rows = max(C, K)
    cell = 0.4                                           # inches per grid cell, the same in every panel
    ncells = xp.shape[2] + 2 * F + W_out
    fig, axes = plt.subplots(rows, 4, figsize=(cell * ncells + 1.6, (cell * xp.shape[1] + 0.45) * rows + 0.5),
                             gridspec_kw={"width_ratios": [xp.shape[2], F, F, W_out]}, squeeze=False)
    sums = []
    for c in range(rows):
        if c >= C:
            for a in axes[c, :3]:
                a.set_axis_off()
            continue
        window = xp[c, i * stride:i * stride + F, j * stride:j * stride + F]
        sums.append(np.sum(window * w[k, c]))
        number_grid(axes[c, 0], xp[c], shade=pad_mask, box=(i * stride, j * stride, F, F),
                    title=f"x[:, :, {c}] padded (P={pad})")
        number_grid(axes[c, 1], w[k, c], colors=[[GOOD] * F] * F, title=f"w{k}[:, :, {c}]")
        number_grid(axes[c, 2], window * w[k, c], title=f"products: sum {_fmt(sums[-1])}", fontsize=8.5)
    for kk in range(rows):
        if kk >= K:
            axes[kk, 3].set_axis_off()
            continue
        number_grid(axes[kk, 3], out[kk], box=(i, j, 1, 1) if kk == k else None,
                    colors=[[GOOD if kk == k else "white"] * W_out] * H_out,
                    title=f"o[:, :, {kk}]  (b{kk} = {_fmt(b[kk])})")
    terms = " + ".join(f"({_fmt(s)})" for s in sums)
    fig.suptitle(f"step {step + 1} of {K * H_out * W_out}:  o[{i}, {j}, {k}] = {terms} + {_fmt(b[k])} (bias b{k}) "
                 f"= {_fmt(out[k, i, j])}", fontsize=12)
    return fig


def im2col_figure(H=4, W=4, F=3, stride=1, pad=0, column=0):
    """im2col on a tiny one-channel image whose pixels are numbered 1..H*W (0 = zero padding).

    Left: the (padded) input with the window of output `column` outlined; right: the matrix
    im2col returns, (F*F, H_out*W_out), each column one stretched window (that column outlined).
    Returns the figure.
    """
    idx = np.arange(1, H * W + 1, dtype=np.float64).reshape(1, 1, H, W)
    cols = fast_layers.im2col(idx, F, F, stride, pad)                 # (F*F, H_out*W_out)
    W_out = conv_output_size(W, F, stride, pad)
    xp = np.pad(idx[0, 0], pad)
    mask = xp == 0
    i, j = divmod(column, W_out)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(3 + 0.45 * cols.shape[1], 0.5 * max(cols.shape[0], xp.shape[0]) + 0.9),
                                 gridspec_kw={"width_ratios": [xp.shape[1], cols.shape[1]]})
    number_grid(a0, xp, shade=mask, box=(i * stride, j * stride, F, F),
                title=f"input {H}x{W}, P={pad} (pixel numbers)")
    colors = [["white"] * cols.shape[1] for _ in range(cols.shape[0])]
    number_grid(a1, cols, shade=cols == 0, box=(0, column, cols.shape[0], 1),
                title=f"im2col -> {cols.shape[0]} x {cols.shape[1]} (a column per output)",
                colors=colors)
    return fig


def output_size_chart(W_values, S_values, F, P=0, ax=None):
    """Output size (W - F + 2P)/S + 1 for every input size W (columns) and stride S (rows).

    Green cells fit and show the size; red cells show the fractional value the formula gives, i.e.
    a configuration the library rejects. Returns the axes.
    """
    W_values, S_values = list(W_values), list(S_values)
    values = np.zeros((len(S_values), len(W_values)))
    colors = []
    for r, S in enumerate(S_values):
        row = []
        for c, W in enumerate(W_values):
            size, _ = output_size_text(W, F, S, P)
            span = W - F + 2 * P
            values[r, c] = size if size is not None else (span / S + 1 if span >= 0 else np.nan)
            row.append(GOOD if size is not None else WARN)
        colors.append(row)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * len(W_values) + 1.4, 0.55 * len(S_values) + 1.2))
    number_grid(ax, values, colors=colors, fontsize=8.5, fmt=lambda v: _fmt(v) if v == round(v) else f"{v:.2f}")
    for c, W in enumerate(W_values):
        ax.text(c + 0.5, len(S_values) + 0.15, str(W), ha="center", va="bottom", fontsize=9, color=INK)
    for r, S in enumerate(S_values):
        ax.text(-0.15, len(S_values) - 0.5 - r, f"S={S}", ha="right", va="center", fontsize=9, color=INK)
    ax.text(len(W_values) / 2, len(S_values) + 0.75, "input size W", ha="center", va="bottom", fontsize=10)
    ax.set_xlim(-1.2, len(W_values) + 0.05)
    ax.set_ylim(-0.05, len(S_values) + 1.3)
    ax.set_title(f"output size for F={F}, P={P} (red: does not fit)", fontsize=11)
    return ax


def activation_volumes(stages, max_maps=4, labels=None):
    """The volumes of a forward pass: a column per stage with its first maps, or bars for a score vector.

    stages: [(name, array)], array (C, H, W) for a volume or (K,) for scores;  labels: names for the
    bars of a score vector. A first stage with 3 channels is drawn once, as a colour picture; a map
    with negative values is drawn on a diverging map centred on zero (white = 0), others in grey.
    Each column is titled with the name and the H x W x C shape.
    Returns the figure.
    """
    n = len(stages)
    fig = plt.figure(figsize=(1.75 * n + 0.8, 1.3 * max_maps + 0.9))
    gs = fig.add_gridspec(max_maps, n)
    for col, (name, arr) in enumerate(stages):
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 1:
            ax = fig.add_subplot(gs[:, col])
            pos = np.arange(len(arr))
            ax.barh(pos, arr, color=[COLORS[1] if v == arr.max() else MUTED for v in arr])
            ax.set_yticks(pos, labels if labels is not None else [str(p) for p in pos], fontsize=8)
            ax.invert_yaxis()
            ax.tick_params(axis="x", labelsize=8)
            ax.set_title(f"{name}\n1x1x{len(arr)}", fontsize=9)
            continue
        if arr.ndim == 2:
            arr = arr[None]
        C, H, W = arr.shape
        rgb = col == 0 and C == 3                         # an RGB input: one colour picture
        for r in range(1 if rgb else min(C, max_maps)):
            ax = fig.add_subplot(gs[r, col])
            ax.set_axis_off()
            if rgb:
                lo, hi = arr.min(), arr.max()
                ax.imshow(((arr - lo) / (hi - lo + 1e-12)).transpose(1, 2, 0))
            elif arr[r].min() < 0:                        # signed (before a ReLU): white is 0
                lim = np.abs(arr[r]).max()
                ax.imshow(arr[r], cmap="RdBu_r", vmin=-lim, vmax=lim)
            else:
                ax.imshow(arr[r], cmap="gray")
            if r == 0:
                ax.set_title(f"{name}\n{H}x{W}x{C}", fontsize=9)
    return fig
