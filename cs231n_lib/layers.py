"""Layers of the course: affine, activations, maxout, dropout, LRN and the two classification losses.

Every layer follows one contract:

    out, cache = <layer>_forward(x, ...)      # cache: whatever the backward pass needs
    dx, ...    = <layer>_backward(dout, cache)

where dout is the gradient of the loss with respect to out (same shape as out). Each backward
pass is checked against centred finite differences in tests/test_layers.py. float32 inputs give
float32 outputs; integer inputs are treated as float64.
"""
from __future__ import annotations

import numbers

import numpy as np

from .shapes import check_array

__all__ = [
    "affine_forward", "affine_backward",
    "softmax",
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "prelu_forward", "prelu_backward",
    "elu_forward", "elu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "maxout_forward", "maxout_backward",
    "dropout_forward", "dropout_backward",
    "spatial_dropout_forward", "spatial_dropout_backward",
    "lrn_forward",
    "softmax_loss", "svm_loss",
    "ACTIVATIONS",
]


# ----------------------------------------------------------------------------- helpers
def _check_dout(dout, shape, layer):
    """dout must have the shape of the forward output it is the gradient of."""
    dout = check_array(dout, "dout")
    if dout.shape != tuple(shape):
        raise ValueError(f"{layer}: dout has shape {dout.shape} but the forward output had shape {tuple(shape)}")
    return dout


def _check_real(value, name):
    """A plain Python float, so that `value * float32_array` stays float32."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_batch(x, name="x", shape_hint="(N, D)"):
    """An array with a batch axis and at least one feature axis."""
    x = check_array(x, name)
    if x.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions {shape_hint}, got shape {x.shape}")
    return x


# ----------------------------------------------------------------------------- affine
def affine_forward(x, w, b):
    """Fully connected layer: out = x_flat @ w + b, each example flattened to a row of length D.

    Inputs:
    - x: (N, d_1, ..., d_k) with D = d_1 * ... * d_k; images (N, C, H, W) have D = C*H*W
    - w: (D, M) weights
    - b: (M,) biases
    Returns out (N, M) and cache = (x, w, b).
    """
    x = _check_batch(x, "x", "(N, d_1, ..., d_k)")
    w = check_array(w, "w", ndim=2, shape_hint="(D, M)")
    b = check_array(b, "b", ndim=1, shape_hint="(M,)")
    N, D = x.shape[0], int(np.prod(x.shape[1:]))
    if w.shape[0] != D:
        raise ValueError(f"affine_forward: x has {D} features per example (x shape {x.shape}) "
                         f"but w expects D = {w.shape[0]} (w shape {w.shape})")
    if b.shape[0] != w.shape[1]:
        raise ValueError(f"affine_forward: b has {b.shape[0]} entries but w has M = {w.shape[1]} "
                         f"outputs (w shape {w.shape}, b shape {b.shape})")
    out = x.reshape(N, D) @ w + b  # (N, M)
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of affine_forward.

    Inputs: dout (N, M); cache = (x, w, b) from affine_forward.
    Returns dx (N, d_1, ..., d_k), dw (D, M), db (M,).
    """
    x, w, b = cache
    N = x.shape[0]
    dout = _check_dout(dout, (N, w.shape[1]), "affine_backward")
    dx = (dout @ w.T).reshape(x.shape)  # (N, D) folded back into the input shape
    dw = x.reshape(N, -1).T @ dout      # (D, M)
    db = dout.sum(axis=0)               # (M,)
    return dx, dw, db


# ----------------------------------------------------------------------------- activations
def relu_forward(x):
    """ReLU: out = max(0, x), elementwise. x any shape. Returns out (same shape), cache = x."""
    x = check_array(x, "x")
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """Backward of ReLU: the gradient passes where x > 0 and stops elsewhere (slope 0 at x = 0)."""
    x = cache
    dout = _check_dout(dout, x.shape, "relu_backward")
    return dout * (x > 0)


def leaky_relu_forward(x, alpha=0.01):
    """Leaky ReLU: out = x for x > 0, alpha * x otherwise. The small slope keeps units from dying.

    x any shape; alpha a fixed number. Returns out (same shape), cache = (x, alpha).
    """
    x = check_array(x, "x")
    alpha = _check_real(alpha, "alpha")
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    """Backward of leaky ReLU: dx = dout where x > 0, alpha * dout elsewhere."""
    x, alpha = cache
    dout = _check_dout(dout, x.shape, "leaky_relu_backward")
    return np.where(x > 0, dout, alpha * dout)


def _prelu_slope(alpha, x):
    """Reshape alpha to broadcast along the channel axis 1 of x: (C,) -> (1, C, 1, 1) for 4-D x."""
    if alpha.ndim == 0:
        return alpha
    C = x.shape[1]
    if alpha.shape != (C,):
        raise ValueError(f"prelu: alpha must have shape () or ({C},) to match axis 1 of x "
                         f"(x shape {x.shape}), got alpha shape {alpha.shape}")
    return alpha.reshape((1, C) + (1,) * (x.ndim - 2))


def prelu_forward(x, alpha):
    """Parametric ReLU: leaky ReLU whose negative slope alpha is learned.

    Inputs:
    - x: (N, D) or (N, C, H, W)
    - alpha: one slope per feature (D,) or per channel (C,), or a single shared slope of shape ()
    Returns out (same shape as x), cache = (x, alpha).
    """
    x = _check_batch(x, "x", "(N, D) or (N, C, H, W)")
    if not isinstance(alpha, np.ndarray):
        alpha = np.asarray(alpha, dtype=x.dtype)  # a plain number must not upcast float32 x
    alpha = check_array(alpha, "alpha")
    a = _prelu_slope(alpha, x)  # (1, C, 1, 1), (1, D) or ()
    return np.where(x > 0, x, a * x), (x, alpha)


def prelu_backward(dout, cache):
    """Backward of PReLU. Returns dx (shape of x) and dalpha (shape of alpha).

    dalpha sums dout * x over every position where x <= 0 that shares the slope.
    """
    x, alpha = cache
    dout = _check_dout(dout, x.shape, "prelu_backward")
    a = _prelu_slope(alpha, x)
    dx = np.where(x > 0, dout, a * dout)
    negative_part = np.where(x > 0, 0, dout * x)
    if alpha.ndim == 0:
        dalpha = negative_part.sum()
    else:
        dalpha = negative_part.sum(axis=(0,) + tuple(range(2, x.ndim)))  # (C,)
    return dx, np.asarray(dalpha)


def elu_forward(x, alpha=1.0):
    """ELU: out = x for x > 0, alpha * (exp(x) - 1) otherwise (tends to -alpha for very negative x).

    x any shape. Returns out (same shape), cache = (x, alpha).
    """
    x = check_array(x, "x")
    alpha = _check_real(alpha, "alpha")
    # exp only of the non-positive part, so large positive x cannot overflow
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, alpha)


def elu_backward(dout, cache):
    """Backward of ELU: slope 1 for x > 0, alpha * exp(x) for x <= 0.

    (alpha * exp(x) also equals out + alpha, but that sum cancels to 0 for very negative x.)
    """
    x, alpha = cache
    dout = _check_dout(dout, x.shape, "elu_backward")
    return np.where(x > 0, dout, dout * alpha * np.exp(np.minimum(x, 0)))


def sigmoid_forward(x):
    """Logistic sigmoid 1 / (1 + exp(-x)), computed without overflow for large |x|.

    x any shape. Returns out (same shape), cache = out.
    """
    x = check_array(x, "x")
    z = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    # x >= 0: 1 / (1 + e^-x);  x < 0: e^x / (1 + e^x), the same value rewritten
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return out, out


def sigmoid_backward(dout, cache):
    """Backward of the sigmoid: d sigma / dx = sigma (1 - sigma)."""
    out = cache
    dout = _check_dout(dout, out.shape, "sigmoid_backward")
    return dout * out * (1 - out)


def tanh_forward(x):
    """Hyperbolic tangent, elementwise. x any shape. Returns out (same shape), cache = out."""
    x = check_array(x, "x")
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Backward of tanh: d tanh / dx = 1 - tanh^2."""
    out = cache
    dout = _check_dout(dout, out.shape, "tanh_backward")
    return dout * (1 - out * out)


# ----------------------------------------------------------------------------- maxout
def maxout_forward(x, w, b):
    """Maxout: the largest of k affine pieces, out = max_j (x @ w[j] + b[j]).

    With k = 2 and one piece fixed at zero it is ReLU of an affine layer; it doubles the parameters.
    Inputs: x (N, D), w (k, D, M), b (k, M).
    Returns out (N, M) and cache = (x, w, b, winner) where winner (N, M) is the index of the
    piece that won (first one on ties).
    """
    x = check_array(x, "x", ndim=2, shape_hint="(N, D)")
    w = check_array(w, "w", ndim=3, shape_hint="(k, D, M)")
    b = check_array(b, "b", ndim=2, shape_hint="(k, M)")
    k, D, M = w.shape
    if x.shape[1] != D:
        raise ValueError(f"maxout_forward: x has {x.shape[1]} features per example (x shape {x.shape}) "
                         f"but w expects D = {D} (w shape {w.shape})")
    if b.shape != (k, M):
        raise ValueError(f"maxout_forward: b must have shape (k, M) = ({k}, {M}) to match w {w.shape}, "
                         f"got {b.shape}")
    z = x @ w + b[:, None, :]  # (k, N, M): every piece for every example
    winner = z.argmax(axis=0)  # (N, M)
    out = np.take_along_axis(z, winner[None], axis=0)[0]  # (N, M)
    return out, (x, w, b, winner)


def maxout_backward(dout, cache):
    """Backward of maxout: only the winning piece of each output receives the gradient.

    Inputs: dout (N, M); cache from maxout_forward. Returns dx (N, D), dw (k, D, M), db (k, M).
    """
    x, w, b, winner = cache
    k = w.shape[0]
    dout = _check_dout(dout, winner.shape, "maxout_backward")
    won = np.arange(k)[:, None, None] == winner  # (k, N, M)
    dz = np.where(won, dout, 0)                   # (k, N, M)
    dx = np.einsum("knm,kdm->nd", dz, w)          # (N, D)
    dw = np.einsum("nd,knm->kdm", x, dz)          # (k, D, M)
    db = dz.sum(axis=1)                           # (k, M)
    return dx, dw, db


# ----------------------------------------------------------------------------- dropout
def _dropout_setup(dropout_param):
    """Validate dropout_param; return (p, mode, seed)."""
    if not isinstance(dropout_param, dict):
        raise TypeError("dropout_param must be a dict with keys 'p' and 'mode', "
                        f"got {type(dropout_param).__name__}")
    for key in ("p", "mode"):
        if key not in dropout_param:
            raise ValueError(f"dropout_param is missing the key {key!r} (it has {sorted(dropout_param)})")
    unknown = sorted(set(dropout_param) - {"p", "mode", "seed"})
    if unknown:   # a typo such as 'sed' would otherwise be ignored silently
        raise ValueError(f"dropout_param has unknown keys {unknown}; allowed: ['p', 'mode', 'seed']")
    p, mode = dropout_param["p"], dropout_param["mode"]
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p <= 1:
        raise ValueError(f"dropout keep probability p must be in (0, 1], got {p!r} "
                         "(p is the probability of KEEPING a unit; PyTorch's p is the drop probability)")
    if mode not in ("train", "test"):
        raise ValueError(f"unknown dropout mode {mode!r}: expected 'train' or 'test'")
    return float(p), mode, dropout_param.get("seed")


def _dropout_mask(mask_shape, p, seed, dtype):
    """Keep each entry with probability p and scale the kept ones by 1/p (inverted dropout)."""
    rng = np.random.default_rng(seed)  # same seed -> same mask; seed None -> fresh randomness
    mask = (rng.random(mask_shape) < p).astype(dtype)
    mask /= p  # in place: keeps float32 masks float32
    return mask


def dropout_forward(x, dropout_param):
    """Inverted dropout: in training zero each unit with probability 1 - p and divide the rest by p.

    Dividing by p at training time keeps E[out] = x, so the test-time network is just the identity
    (plain dropout would instead multiply by p at test time).
    Inputs:
    - x: any shape, e.g. (N, D)
    - dropout_param: {'p': KEEP probability in (0, 1], 'mode': 'train' | 'test', 'seed': optional}
    Returns out (same shape as x) and cache = (dropout_param, mask); mask (shape of x) holds 0 or
    1/p in training and is None in test mode.
    """
    x = check_array(x, "x")
    p, mode, seed = _dropout_setup(dropout_param)
    if mode == "test":
        return x.copy(), (dropout_param, None)
    mask = _dropout_mask(x.shape, p, seed, x.dtype)
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Backward of dropout: the gradient flows through the kept units, scaled by 1/p. dx has dout's shape."""
    _, mask = cache
    dout = check_array(dout, "dout")
    if mask is None:  # test mode: identity
        return dout.copy()
    if dout.shape != mask.shape:
        raise ValueError(f"dropout_backward: dout has shape {dout.shape} "
                         f"but the forward output had shape {mask.shape}")
    return dout * mask


def spatial_dropout_forward(x, dropout_param):
    """Spatial dropout: drop whole feature maps (every position of a channel at once).

    Neighbouring activations in a map are strongly correlated, so dropping single pixels barely
    regularises a conv layer; dropping the entire channel does.
    Inputs: x (N, C, H, W); dropout_param as in dropout_forward.
    Returns out (N, C, H, W) and cache = (dropout_param, mask) with mask (N, C, 1, 1) (None in test mode).
    """
    x = check_array(x, "x", ndim=4, shape_hint="(N, C, H, W)")
    p, mode, seed = _dropout_setup(dropout_param)
    if mode == "test":
        return x.copy(), (dropout_param, None)
    N, C = x.shape[:2]
    mask = _dropout_mask((N, C, 1, 1), p, seed, x.dtype)  # one draw per map
    return x * mask, (dropout_param, mask)


def spatial_dropout_backward(dout, cache):
    """Backward of spatial dropout: dout (N, C, H, W) -> dx (N, C, H, W), whole maps masked."""
    _, mask = cache
    dout = check_array(dout, "dout", ndim=4, shape_hint="(N, C, H, W)")
    if mask is None:  # test mode: identity
        return dout.copy()
    if dout.shape[:2] + (1, 1) != mask.shape:
        raise ValueError(f"spatial_dropout_backward: dout has shape {dout.shape} but the forward pass "
                         f"masked (N, C) = {mask.shape[:2]}")
    return dout * mask  # (N, C, 1, 1) mask broadcasts over H, W


# ----------------------------------------------------------------------------- LRN
_LRN_DEFAULTS = {"k": 2.0, "n": 5, "alpha": 1e-4, "beta": 0.75}


def lrn_forward(x, lrn_param=None):
    """AlexNet's local response normalisation across channels (forward pass only).

    out[:, c] = x[:, c] / (k + alpha * sum_{c'} x[:, c']**2) ** beta,  c' in [c - n//2, c + n//2]
    (the window is cut at the first and last channel). As in the AlexNet paper, alpha is NOT
    divided by n (PyTorch's LocalResponseNorm divides it).
    Inputs:
    - x: (N, C, H, W)
    - lrn_param: dict with any of k=2, n=5 (odd window size), alpha=1e-4, beta=0.75
    Returns out (N, C, H, W) and cache = (x, scale, lrn_param) with scale = k + alpha * window sum,
    (N, C, H, W), enough for a backward pass.
    """
    x = check_array(x, "x", ndim=4, shape_hint="(N, C, H, W)")
    lrn_param = dict(_LRN_DEFAULTS, **(lrn_param or {}))
    unknown = set(lrn_param) - set(_LRN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown lrn_param keys {sorted(unknown)}: expected {sorted(_LRN_DEFAULTS)}")
    n = lrn_param["n"]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 or n % 2 == 0:
        raise ValueError(f"lrn_param n (window of channels) must be a positive odd integer, got {n!r}")
    k, alpha, beta = (_check_real(lrn_param[key], f"lrn_param {key}") for key in ("k", "alpha", "beta"))
    half, C = n // 2, x.shape[1]
    squares = np.pad(x * x, ((0, 0), (half, half), (0, 0), (0, 0)))  # (N, C + 2*half, H, W)
    window_sum = sum(squares[:, j:j + C] for j in range(n))           # (N, C, H, W)
    scale = k + alpha * window_sum
    out = x / scale ** beta
    return out, (x, scale, lrn_param)


# ----------------------------------------------------------------------------- losses
def _check_scores_labels(scores, y, loss):
    scores = check_array(scores, "scores", ndim=2, shape_hint="(N, C)")
    N, C = scores.shape
    if N == 0 or C == 0:
        raise ValueError(f"{loss}: scores must hold at least one example and one class, got shape {scores.shape}")
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{loss}: labels y must be integers, got dtype {y.dtype}")
    if y.shape != (N,):
        raise ValueError(f"{loss}: labels y must have shape (N,) = ({N},) to match scores {scores.shape}, "
                         f"got {y.shape}")
    if y.min() < 0 or y.max() >= C:
        raise ValueError(f"{loss}: labels y must be in [0, C) = [0, {C}), got values from {y.min()} to {y.max()}")
    return scores, y


def softmax(scores):
    """Class probabilities (N, C) from scores (N, C), each row summing to 1.

    The row maximum is subtracted first: mathematically a no-op, but exp then never overflows.
    """
    scores = check_array(scores, "scores", ndim=2, shape_hint="(N, C)")
    z = np.exp(scores - scores.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def softmax_loss(scores, y):
    """Softmax (cross-entropy) loss, averaged over the batch, and its gradient.

    Inputs: scores (N, C) unnormalised class scores; y (N,) integer labels in [0, C).
    Returns loss (scalar) and dscores (N, C) = (softmax(scores) - onehot(y)) / N.
    """
    scores, y = _check_scores_labels(scores, y, "softmax_loss")
    N = scores.shape[0]
    # subtracting the row maximum changes nothing mathematically but keeps exp from overflowing
    shifted = scores - scores.max(axis=1, keepdims=True)                  # (N, C), max 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    rows = np.arange(N)
    loss = -log_probs[rows, y].mean()
    dscores = np.exp(log_probs)  # probabilities, (N, C)
    dscores[rows, y] -= 1
    dscores /= N
    return loss, dscores


def svm_loss(scores, y, delta=1.0):
    """Multiclass SVM (hinge) loss, averaged over the batch, and its gradient.

    loss_i = sum_{j != y_i} max(0, s_j - s_{y_i} + delta): every wrong class that scores within
    delta of the correct one costs its excess.
    Inputs: scores (N, C); y (N,) integer labels in [0, C); delta the margin.
    Returns loss (scalar) and dscores (N, C).
    """
    scores, y = _check_scores_labels(scores, y, "svm_loss")
    delta = _check_real(delta, "delta")
    N = scores.shape[0]
    rows = np.arange(N)
    correct = scores[rows, y][:, None]                     # (N, 1)
    margins = np.maximum(0, scores - correct + delta)      # (N, C)
    margins[rows, y] = 0                                   # the correct class does not compete
    loss = margins.sum() / N
    dscores = (margins > 0).astype(scores.dtype)           # +1 for every violating class
    dscores[rows, y] = -dscores.sum(axis=1)                # -1 per violation for the correct class
    dscores /= N
    return loss, dscores


# ----------------------------------------------------------------------------- plotting helpers
def _value_and_slope(forward, backward, name):
    """(f, f') on plain arrays from a forward/backward pair: f' is the backward pass of dout = 1."""
    def value(x):
        return forward(x)[0]

    def slope(x):
        out, cache = forward(x)
        return backward(np.ones_like(out), cache)

    value.__name__, slope.__name__ = name, f"d_{name}"
    return value, slope


#: name -> (f, f'): elementwise value and derivative on plain arrays, for plotting activations
ACTIVATIONS = {
    "sigmoid": _value_and_slope(sigmoid_forward, sigmoid_backward, "sigmoid"),
    "tanh": _value_and_slope(tanh_forward, tanh_backward, "tanh"),
    "relu": _value_and_slope(relu_forward, relu_backward, "relu"),
    "leaky_relu": _value_and_slope(leaky_relu_forward, leaky_relu_backward, "leaky_relu"),
    "elu": _value_and_slope(elu_forward, elu_backward, "elu"),
}
