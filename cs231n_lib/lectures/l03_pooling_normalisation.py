"""FC <-> CONV: the two directions of the notes' conversion, computed.

- CONV -> FC: a conv layer is an FC layer whose weight matrix is mostly zeros, with the same filter
  repeated (tied) in every row block: ``conv_as_fc_matrix`` builds that matrix.
- FC -> CONV: an FC layer that reads an H x W x C volume is a conv with F = H filters of depth C
  (one filter per output neuron); FC layers after it are 1x1 convs. ``fc_to_filters`` reshapes
  the weights; ``SlidingNet`` is a small classifier that can run either way, so one pass of the
  converted net over a larger image can be checked against evaluating every crop.

Images are (N, C, H, W); an FC layer flattens each example in C order, (c, y, x), exactly as
``layers.affine_forward`` does.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from cs231n_lib.fast_layers import conv_forward_fast, max_pool_forward_fast
from cs231n_lib.layers import affine_forward, relu_forward
from cs231n_lib.plot import COLORS, INK, _fmt
from cs231n_lib.shapes import check_array, conv_output_size, pool_output_size

__all__ = ["conv_as_fc_matrix", "fc_to_filters", "SlidingNet", "num_crops", "crop_grid", "dense_score_map", "number_grids", "volumes_to_scale", "histograms_by_layer"]

_POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def conv_as_fc_matrix(w, x_shape, stride=1, pad=0):
    """The weight matrix of the FC layer that computes the same map as a conv layer (bias left out).

    Inputs:
    - w: (F, C, HH, WW) filters
    - x_shape: (C, H, W) of one input image; stride S and zero padding P of the conv

    Returns M: (F*H_out*W_out, C*H*W) with conv(x).reshape(-1) == M @ x.reshape(-1) + bias per row.
    Row (f, y, x) holds filter f placed over the window that output reads (zeros everywhere
    else); filter taps that land in the zero padding multiply zeros and are dropped.
    """
    w = check_array(w, "w", ndim=4, shape_hint="(F, C, HH, WW)")
    if len(x_shape) != 3:
        raise ValueError(f"x_shape must be (C, H, W) of one image, got {tuple(x_shape)}")
    C, H, W = (int(s) for s in x_shape)
    F, C_w, HH, WW = w.shape
    if C != C_w:
        raise ValueError(f"x_shape has C={C} channels but w expects {C_w} (w shape {w.shape})")
    H_out = conv_output_size(H, HH, stride, pad, name="height")
    W_out = conv_output_size(W, WW, stride, pad, name="width")
    M = np.zeros((F, H_out, W_out, C, H + 2 * pad, W + 2 * pad), dtype=w.dtype)
    for y in range(H_out):
        for x in range(W_out):
            M[:, y, x, :, y * stride:y * stride + HH, x * stride:x * stride + WW] = w   # the same (tied) w
    M = M[..., pad:pad + H, pad:pad + W]                 # taps on padding see zeros: drop them
    return M.reshape(F * H_out * W_out, C * H * W)


def fc_to_filters(w, in_shape):
    """FC weights (C*H*W, M) reading an (C, H, W) volume -> M conv filters (M, C, H, W).

    Output neuron m's weight column, folded back into the shape of the volume it reads, is a
    filter as large as that volume: F = H, depth C, number of filters K = M.
    """
    w = check_array(w, "w", ndim=2, shape_hint="(C*H*W, M)")
    C, H, W = (int(s) for s in in_shape)
    if w.shape[0] != C * H * W:
        raise ValueError(f"w has {w.shape[0]} rows but a {C}x{H}x{W} volume has C*H*W = {C * H * W} values")
    return np.ascontiguousarray(w.T.reshape(w.shape[1], C, H, W))   # (M, C, H, W)


def num_crops(size, crop, stride):
    """Crops of side `crop` at `stride` along an axis of length `size`: (size - crop) / stride + 1."""
    return conv_output_size(size, crop, stride, name="image side")


def crop_grid(x, crop, stride):
    """Every crop x crop window of x (N, C, H, W) at `stride`, as (N, n_y, n_x, C, crop, crop)."""
    x = check_array(x, "x", ndim=4, shape_hint="(N, C, H, W)")
    n_y, n_x = num_crops(x.shape[2], crop, stride), num_crops(x.shape[3], crop, stride)
    crops = np.empty((x.shape[0], n_y, n_x, x.shape[1], crop, crop), dtype=x.dtype)
    for i in range(n_y):
        for j in range(n_x):
            crops[:, i, j] = x[:, :, i * stride:i * stride + crop, j * stride:j * stride + crop]
    return crops


class SlidingNet:
    """conv3x3-relu-pool-conv3x3-relu-pool-fc-relu-fc with random weights, built for crop x crop images.

    pad=0: unpadded convs, every output depends only on pixels inside its crop, so the converted
    (fully convolutional) net gives exactly the scores of every crop. pad=1: "same" convs; a crop
    evaluated alone sees zeros at its borders where the big pass sees neighbouring pixels.
    The two 2x2 pools make the net's stride 4: moving the crop 4 px moves the score map one step.

    params: W1 (K1, C, 3, 3), b1; W2 (K2, K1, 3, 3), b2; W3 (K2*h*h, hidden), b3; W4 (hidden, classes), b4,
    where h x h is the size of the last pooled map (h = 3 for crop 18, pad 0).
    """

    stride = 4

    def __init__(self, crop=18, in_channels=3, num_filters=(8, 16), hidden_dim=32, num_classes=10,
                 pad=0, seed=0, dtype=np.float64):
        self.crop, self.pad, self.in_channels = int(crop), int(pad), int(in_channels)
        h = crop
        for _ in range(2):                                 # conv3x3 then 2x2 pool, twice
            h = pool_output_size(conv_output_size(h, 3, 1, self.pad), 2, 2)
        self.feature_shape = (num_filters[1], h, h)        # (K2, h, h): what the first FC reads
        rng = np.random.default_rng(seed)
        K1, K2 = num_filters
        shapes = {"W1": (K1, in_channels, 3, 3), "W2": (K2, K1, 3, 3),
                  "W3": (K2 * h * h, hidden_dim), "W4": (hidden_dim, num_classes)}
        self.params = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            fan_in = int(np.prod(shape[1:])) if name in ("W1", "W2") else shape[0]
            self.params[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
            self.params[f"b{i}"] = (0.1 * rng.standard_normal(shape[0] if name in ("W1", "W2") else shape[1])
                                    ).astype(dtype)

    def features(self, x):
        """The conv part on any image size: (N, C, H, W) -> (N, K2, H', W')."""
        p, conv = self.params, {"stride": 1, "pad": self.pad}
        for i in (1, 2):
            x = conv_forward_fast(x, p[f"W{i}"], p[f"b{i}"], conv)[0]
            x = max_pool_forward_fast(relu_forward(x)[0], _POOL)[0]
        return x

    def scores(self, x):
        """The classifier as designed: crop x crop images only. (N, C, crop, crop) -> (N, classes)."""
        x = check_array(x, "x", ndim=4, shape_hint="(N, C, H, W)")
        if x.shape[2:] != (self.crop, self.crop):
            raise ValueError(f"the FC net takes {self.crop}x{self.crop} images, got {x.shape[2]}x{x.shape[3]}; "
                             f"use score_map for larger ones")
        p = self.params
        hidden = relu_forward(affine_forward(self.features(x), p["W3"], p["b3"])[0])[0]   # (N, hidden)
        return affine_forward(hidden, p["W4"], p["b4"])[0]                                 # (N, classes)

    def conv_params(self):
        """FC weights as conv filters: W3 -> (hidden, K2, h, h) (F = h), W4 -> (classes, hidden, 1, 1)."""
        p = self.params
        return {"W3": fc_to_filters(p["W3"], self.feature_shape), "b3": p["b3"],
                "W4": fc_to_filters(p["W4"], (p["W4"].shape[0], 1, 1)), "b4": p["b4"]}

    def score_map(self, x):
        """The converted, fully convolutional net in one pass: (N, C, H, W) -> (N, classes, n_y, n_x)."""
        c = self.conv_params()
        unpadded = {"stride": 1, "pad": 0}
        hidden = relu_forward(conv_forward_fast(self.features(x), c["W3"], c["b3"], unpadded)[0])[0]
        return conv_forward_fast(hidden, c["W4"], c["b4"], unpadded)[0]

    def crop_scores(self, x, stride=None):
        """The FC net on every crop at `stride` (default the net's stride), as (N, classes, n_y, n_x)."""
        stride = self.stride if stride is None else stride
        crops = crop_grid(x, self.crop, stride)                          # (N, n_y, n_x, C, crop, crop)
        N, n_y, n_x = crops.shape[:3]
        scores = self.scores(crops.reshape(N * n_y * n_x, *crops.shape[3:]))   # one batch of all crops
        return scores.reshape(N, n_y, n_x, -1).transpose(0, 3, 1, 2)


def dense_score_map(score_map, x, crop, stride, shift):
    """Score map at a finer step `shift` from several passes of a stride-`stride` conv net.

    score_map: function (N, C, H, W) -> (N, K, n_y, n_x), one step per `stride` px;
    passes over x shifted by (dy, dx) in {0, shift, 2*shift, ...}^2 are interleaved into a map with one
    step per `shift` px, equal to the crops of side `crop` at stride `shift`. Returns (N, K, n_y, n_x).
    """
    if stride % shift:
        raise ValueError(f"shift {shift} must divide the net's stride {stride}")
    H, W = x.shape[2:]
    n_y, n_x = num_crops(H, crop, shift), num_crops(W, crop, shift)
    r = stride // shift                                       # passes per axis
    out = None
    for a in range(r):
        for b in range(r):
            dy, dx = a * shift, b * shift
            h, w = (H - dy - crop) // stride * stride + crop, (W - dx - crop) // stride * stride + crop
            part = score_map(x[:, :, dy:dy + h, dx:dx + w])  # crops at (dy + stride*i, dx + stride*j)
            if out is None:
                out = np.empty(part.shape[:2] + (n_y, n_x), dtype=part.dtype)
            out[:, :, a::r, b::r] = part
    return out


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
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


def volumes_to_scale(shapes, labels=None, arrows=None, title=None):
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
