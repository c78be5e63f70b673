"""Helpers of lecture 8 (training a ConvNet end to end): timing, a look inside a trained
ThreeLayerConvNet, and where its mistakes are.

- ``best_time``: the fastest of a few timed calls (the loop-vs-fast comparison).
- ``activation_maps``: the volumes of a ThreeLayerConvNet's conv block for some images.
- ``softmax``, ``confused_pairs``, ``confident_mistakes``: reading a classifier's errors.
"""
from __future__ import annotations

import time

import numpy as np

from . import fast_layers, layers
from .shapes import check_array

__all__ = ["best_time", "activation_maps", "softmax", "confused_pairs", "confident_mistakes"]


def best_time(fn, *args, repeat=3, number=1, **kwargs):
    """Seconds one call fn(*args, **kwargs) takes: the best of `repeat` rounds of `number` calls.

    The minimum, not the mean: other programs only ever make a call slower, so the fastest round is
    the best estimate of what the code itself costs.
    """
    for name, value in (("repeat", repeat), ("number", number)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args, **kwargs)
        best = min(best, (time.perf_counter() - start) / number)
    return best


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


def softmax(scores):
    """Class probabilities (N, K) from scores (N, K); the row maximum is subtracted first so that
    exp never overflows."""
    scores = check_array(scores, "scores", ndim=2, shape_hint="(N, K)")
    z = np.exp(scores - scores.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


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
