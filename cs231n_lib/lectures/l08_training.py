"""Helpers of lecture 8 (training a ConvNet end to end): timing, a look inside a trained
ThreeLayerConvNet, and where its mistakes are.

- ``best_time``: the fastest of a few timed calls (the loop-vs-fast comparison).
- ``activation_maps``: the volumes of a ThreeLayerConvNet's conv block for some images.
- ``softmax``, ``confused_pairs``, ``confident_mistakes``: reading a classifier's errors.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cs231n_lib import fast_layers, layers
from cs231n_lib.layers import softmax
from cs231n_lib.lectures import best_time
from cs231n_lib.shapes import check_array

__all__ = ["best_time", "activation_maps", "softmax", "confused_pairs", "confident_mistakes", "image_rows"]


def activation_maps(model, X):
    """What the first block of a ThreeLayerConvNet computes for images X, in test mode.

    Inputs: model, a ThreeLayerConvNet (params W1, b1 and, with batch norm, gamma1, beta1 and
    bn_params[0]); X (N, C, H, W) images of the model's input_dim.
    Returns a dict of arrays in the model's dtype:
    - 'conv' (N, F, H, W): the conv layer's output (after spatial batch norm if the model has it),
    - 'relu' (N, F, H, W): after the ReLU,
    - 'pool' (N, F, H/2, W/2): after the 2x2 max pool, the volume the hidden affine layer reads.
    The model is left unchanged (batch norm runs on a copy of its running averages).
    """
    X = check_array(X, "X", ndim=4, shape_hint="(N, C, H, W)")
    if X.shape[1:] != tuple(model.input_dim):
        raise ValueError(f"X has shape {X.shape} but the model expects (N, *{tuple(model.input_dim)})")
    P = model.params
    conv, _ = fast_layers.conv_forward_fast(X.astype(model.dtype, copy=False), P["W1"], P["b1"],
                                            model.conv_param)                    # (N, F, H, W)
    if model.use_batchnorm:
        bn_param = {**model.bn_params[0], "mode": "test"}
        bn_param["running_mean"] = bn_param["running_mean"].copy()
        bn_param["running_var"] = bn_param["running_var"].copy()
        conv, _ = fast_layers.spatial_batchnorm_forward_fast(conv, P["gamma1"], P["beta1"], bn_param)
    relu, _ = layers.relu_forward(conv)
    pool, _ = fast_layers.max_pool_forward_fast(relu, model.pool_param)        # (N, F, H/2, W/2)
    return {"conv": conv, "relu": relu, "pool": pool}


def _labels(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must both be (N,), got {y_true.shape} and {y_pred.shape}")
    return y_true.astype(int), y_pred.astype(int)


def confused_pairs(y_true, y_pred):
    """The mistakes grouped by (true class, predicted class), most frequent first.

    y_true, y_pred: (N,) integer classes. Returns a list of (true, predicted, count) with
    true != predicted and count > 0; ties are ordered by (true, predicted).
    """
    y_true, y_pred = _labels(y_true, y_pred)
    wrong = y_true != y_pred
    pairs, counts = np.unique(np.stack([y_true[wrong], y_pred[wrong]], axis=1), axis=0, return_counts=True)
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], pairs[i][0], pairs[i][1]))
    return [(int(pairs[i][0]), int(pairs[i][1]), int(counts[i])) for i in order]


def confident_mistakes(scores, y):
    """Indices of the misclassified examples, the most confidently wrong first.

    scores (N, K) class scores, y (N,) true classes. Returns (idx (M,), prob (M,)): the M wrong
    examples and the probability (softmax of the scores) the model gave its wrong answer.
    """
    probs = softmax(scores)
    if np.ndim(y) != 1 or len(y) != len(probs):
        raise ValueError(f"scores has {len(probs)} rows but y has shape {np.shape(y)}; need (N,) = ({len(probs)},)")
    y_true, y_pred = _labels(y, probs.argmax(axis=1))
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = probs[wrong, y_pred[wrong]]
    order = np.argsort(-confidence, kind="stable")
    return wrong[order], confidence[order]


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
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
