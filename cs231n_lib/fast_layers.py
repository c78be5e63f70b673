"""Vectorised convolution, pooling and batch normalisation layers.

Every layer follows the one contract of the course: ``<layer>_forward(...) -> (out, cache)`` and
``<layer>_backward(dout, cache) -> gradients``. Images are ``(N, C, H, W)``, conv filters
``(F, C, HH, WW)``. Output sizes come from ``cs231n_lib.shapes``:

    H_out = (H - HH_eff + 2P) / S + 1,    HH_eff = D * (HH - 1) + 1   (dilation D; D = 1 is ordinary)

and a configuration whose windows do not tile the input raises ValueError instead of cropping.

Speed comes from one idea: a Python loop only over the HH*WW kernel offsets. For a fixed offset
(i, j) the pixels that offset reads, one per output position, form a strided *view* of the input,
so each loop step is a single NumPy slice copy (``im2col``) or slice-add (``col2im``); the
convolution itself is then one matrix multiply.

Arithmetic stays in the common dtype of the inputs: float32 in gives float32 out.
These are the reference implementations; the graded ``*_naive`` versions are written by students.
"""
from __future__ import annotations

import numpy as np

from cs231n_lib.shapes import check_array, conv_output_size, pool_output_size

__all__ = [
    "im2col", "col2im",
    "conv_forward_fast", "conv_backward_fast",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "avg_pool_forward_fast", "avg_pool_backward_fast",
    "batchnorm_forward_fast", "batchnorm_backward_fast",
    "spatial_batchnorm_forward_fast", "spatial_batchnorm_backward_fast",
]

_IMAGES = "(N, C, H, W)"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _read_params(params, name, required, optional=None):
    """Return the values of `required` keys then `optional` ones (with defaults) from a param dict."""
    optional = optional or {}
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict, got {type(params).__name__}")
    missing = [k for k in required if k not in params]
    if missing:
        raise ValueError(f"{name} is missing {missing}; it needs {list(required)}")
    unknown = sorted(set(params) - set(required) - set(optional))
    if unknown:
        # a typo such as 'padding' would otherwise be ignored silently
        raise ValueError(f"{name} has unknown keys {unknown}; allowed: {list(required) + list(optional)}")
    return [params[k] for k in required] + [params.get(k, v) for k, v in optional.items()]


def _check_dout(dout, shape):
    dout = check_array(dout, "dout")
    if dout.shape != tuple(shape):
        raise ValueError(f"dout has shape {dout.shape} but the forward output had shape {tuple(shape)}")
    return dout


def _windows(H_out, W_out, i, j, S, D=1):
    """Index for the strided view of the pixels that kernel offset (i, j) reads, one per output."""
    return (slice(None), slice(None),
            slice(i * D, i * D + S * (H_out - 1) + 1, S),
            slice(j * D, j * D + S * (W_out - 1) + 1, S))


# ----------------------------------------------------------------------------------------------
# im2col / col2im
# ----------------------------------------------------------------------------------------------
def im2col(x, HH, WW, stride=1, pad=0, dilation=1):
    """Stretch every receptive field of `x` into a column.

    Inputs:
    - x: (N, C, H, W)
    - HH, WW: window height and width; stride S, zero padding P, dilation D (1 = ordinary)

    Returns cols: (C*HH*WW, N*H_out*W_out). Row (c, i, j) and column (n, y, x), both in C order:
    cols[(c*HH + i)*WW + j, (n*H_out + y)*W_out + x] = x_pad[n, c, y*S + i*D, x*S + j*D].
    AlexNet CONV1 on one 227x227x3 image (11x11, S=4): (363, 3025).
    """
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    N, C, H, W = x.shape
    H_out = conv_output_size(H, HH, stride, pad, dilation, name="height")
    W_out = conv_output_size(W, WW, stride, pad, dilation, name="width")
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C, HH, WW, N, H_out, W_out), dtype=x.dtype)
    for i in range(HH):
        for j in range(WW):
            # (N, C, H_out, W_out) view -> the (c, n, y, x) block of rows (c, i, j)
            cols[:, i, j] = x_pad[_windows(H_out, W_out, i, j, stride, dilation)].transpose(1, 0, 2, 3)
    return cols.reshape(C * HH * WW, N * H_out * W_out)


def col2im(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    """Scatter columns back onto an image, summing where receptive fields overlap.

    Inputs:
    - cols: (C*HH*WW, N*H_out*W_out), laid out as `im2col` makes them
    - x_shape: (N, C, H, W) of the image; HH, WW, stride, pad, dilation as for `im2col`

    Returns (N, C, H, W). col2im is the adjoint (transpose) of im2col, not its inverse:
    <im2col(x), cols> == <x, col2im(cols)>, which is exactly what the conv backward pass needs.
    """
    cols = check_array(cols, "cols", ndim=2)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be {_IMAGES}, got {tuple(x_shape)}")
    N, C, H, W = (int(s) for s in x_shape)
    H_out = conv_output_size(H, HH, stride, pad, dilation, name="height")
    W_out = conv_output_size(W, WW, stride, pad, dilation, name="width")
    expected = (C * HH * WW, N * H_out * W_out)
    if cols.shape != expected:
        raise ValueError(f"cols has shape {cols.shape} but x_shape {tuple(x_shape)} with a "
                         f"{HH}x{WW} window needs (C*HH*WW, N*H_out*W_out) = {expected}")
    cols = cols.reshape(C, HH, WW, N, H_out, W_out)
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for i in range(HH):
        for j in range(WW):
            # one offset never hits a pixel twice, so a plain slice-add is safe (no np.add.at)
            x_pad[_windows(H_out, W_out, i, j, stride, dilation)] += cols[:, i, j].transpose(1, 0, 2, 3)
    return x_pad[:, :, pad:pad + H, pad:pad + W]


# ----------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------
def conv_forward_fast(x, w, b, conv_param):
    """Convolutional layer (cross-correlation, as every framework computes it) via im2col + matmul.

    Inputs:
    - x: (N, C, H, W) images
    - w: (F, C, HH, WW) filters; b: (F,) biases
    - conv_param: {'stride': S, 'pad': P (zeros on every side), 'dilation': D (optional, 1 = ordinary)}

    Returns:
    - out: (N, F, H_out, W_out), H_out = (H - D*(HH-1) - 1 + 2P) / S + 1 (W_out likewise)
    - cache: (x, w, b, conv_param, cols) with cols = im2col(x) of shape (C*HH*WW, N*H_out*W_out)

    Computed in the common dtype of x, w and b (all float32 -> float32 throughout).
    """
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    w = check_array(w, "w", ndim=4, shape_hint="(F, C, HH, WW)")
    b = check_array(b, "b", ndim=1, shape_hint="(F,)")
    S, P, D = _read_params(conv_param, "conv_param", ("stride", "pad"), {"dilation": 1})
    N, C, H, W = x.shape
    F, C_w, HH, WW = w.shape
    if C != C_w:
        raise ValueError(f"x has {C} channels but w expects {C_w} (x {x.shape}, w {w.shape})")
    if b.shape != (F,):
        raise ValueError(f"b must have shape (F,) = ({F},) for {F} filters, got {b.shape}")
    dtype = np.result_type(x, w, b)
    x, w, b = x.astype(dtype, copy=False), w.astype(dtype, copy=False), b.astype(dtype, copy=False)

    H_out = conv_output_size(H, HH, S, P, D, name="height")
    W_out = conv_output_size(W, WW, S, P, D, name="width")
    cols = im2col(x, HH, WW, S, P, D)                       # (C*HH*WW, N*H_out*W_out)
    out = w.reshape(F, -1) @ cols + b[:, None]              # (F, N*H_out*W_out)
    out = out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(out), (x, w, b, conv_param, cols)   # (N, F, H_out, W_out)


def conv_backward_fast(dout, cache):
    """Backward pass of `conv_forward_fast`.

    Inputs:
    - dout: (N, F, H_out, W_out) upstream gradient
    - cache: (x, w, b, conv_param, cols) from the forward pass

    Returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,). Every output position shares the same
    filter, so dw sums all their contributions: one matmul of dout with the stretched fields.
    """
    x, w, b, conv_param, cols = cache
    S, P, D = _read_params(conv_param, "conv_param", ("stride", "pad"), {"dilation": 1})
    F, _, HH, WW = w.shape
    N, _, H, W = x.shape
    H_out = conv_output_size(H, HH, S, P, D, name="height")
    W_out = conv_output_size(W, WW, S, P, D, name="width")
    dout = _check_dout(dout, (N, F, H_out, W_out))

    db = dout.sum(axis=(0, 2, 3))                           # (F,)
    dout_rows = dout.transpose(1, 0, 2, 3).reshape(F, -1)   # (F, N*H_out*W_out), columns as in cols
    dw = (dout_rows @ cols.T).reshape(w.shape)              # (F, C, HH, WW)
    dcols = w.reshape(F, -1).T @ dout_rows                  # (C*HH*WW, N*H_out*W_out)
    dx = col2im(dcols, x.shape, HH, WW, S, P, D)            # (N, C, H, W)
    return dx, dw, db


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
def _pool_setup(x, pool_param):
    """Check a pooling input; return x, (PH, PW, S) and (H_out, W_out)."""
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    PH, PW, S = _read_params(pool_param, "pool_param", ("pool_height", "pool_width", "stride"))
    H_out = pool_output_size(x.shape[2], PH, S, name="height")
    W_out = pool_output_size(x.shape[3], PW, S, name="width")
    return x, (PH, PW, S), (H_out, W_out)


def _blocks(x, PH, PW):
    """Non-overlapping windows (stride == window) as (N, C, H_out, W_out, PH*PW): a pure reshape."""
    N, C, H, W = x.shape
    blocks = x.reshape(N, C, H // PH, PH, W // PW, PW).transpose(0, 1, 2, 4, 3, 5)
    return blocks.reshape(N, C, H // PH, W // PW, PH * PW)


def max_pool_forward_fast(x, pool_param):
    """Max pooling, each depth slice on its own, no padding; windows may overlap (stride < window).

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height': PH, 'pool_width': PW, 'stride': S}

    Returns:
    - out: (N, C, H_out, W_out), H_out = (H - PH) / S + 1, W_out = (W - PW) / S + 1
    - cache: (x.shape, switches, pool_param); switches (N, C, H_out, W_out) holds, for every output,
      the offset k = i*PW + j of the winning pixel inside its window (the first one on ties)
    """
    x, (PH, PW, S), (H_out, W_out) = _pool_setup(x, pool_param)
    if PH == PW == S:
        # tiling windows: gather each window on the last axis; argmax keeps the first max on ties
        blocks = _blocks(x, PH, PW)                                        # (N, C, H_out, W_out, PH*PW)
        switches = blocks.argmax(axis=-1)
        out = np.take_along_axis(blocks, switches[..., None], axis=-1)[..., 0]
    else:
        out = x[_windows(H_out, W_out, 0, 0, S)].copy()                    # (N, C, H_out, W_out)
        switches = np.zeros(out.shape, dtype=np.intp)
        for k in range(1, PH * PW):
            window = x[_windows(H_out, W_out, *divmod(k, PW), S)]
            better = window > out          # strict: a later equal value does not steal the switch
            switches[better] = k
            np.maximum(out, window, out=out)
    return out, (x.shape, switches, pool_param)


def max_pool_backward_fast(dout, cache):
    """Backward pass of `max_pool_forward_fast`: each output's gradient goes to its window's argmax.

    Inputs: dout (N, C, H_out, W_out); cache (x_shape, switches, pool_param).
    Returns dx: (N, C, H, W); a pixel that wins several overlapping windows collects all their gradients.
    """
    x_shape, switches, pool_param = cache
    PH, PW, S = _read_params(pool_param, "pool_param", ("pool_height", "pool_width", "stride"))
    dout = _check_dout(dout, switches.shape)
    H_out, W_out = switches.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for k in range(PH * PW):
        dx[_windows(H_out, W_out, *divmod(k, PW), S)] += dout * (switches == k)
    return dx


def avg_pool_forward_fast(x, pool_param):
    """Average pooling, each depth slice on its own, no padding; windows may overlap.

    Inputs: x (N, C, H, W); pool_param {'pool_height': PH, 'pool_width': PW, 'stride': S}.
    Returns out (N, C, H_out, W_out) with H_out = (H - PH) / S + 1, and cache (x.shape, pool_param).
    """
    x, (PH, PW, S), (H_out, W_out) = _pool_setup(x, pool_param)
    if PH == PW == S:
        out = _blocks(x, PH, PW).mean(axis=-1)
    else:
        out = np.zeros((x.shape[0], x.shape[1], H_out, W_out), dtype=x.dtype)
        for k in range(PH * PW):
            out += x[_windows(H_out, W_out, *divmod(k, PW), S)]
        out /= PH * PW
    return out, (x.shape, pool_param)


def avg_pool_backward_fast(dout, cache):
    """Backward pass of `avg_pool_forward_fast`: every pixel of a window gets dout / (PH*PW).

    Inputs: dout (N, C, H_out, W_out); cache (x_shape, pool_param). Returns dx (N, C, H, W).
    """
    x_shape, pool_param = cache
    PH, PW, S = _read_params(pool_param, "pool_param", ("pool_height", "pool_width", "stride"))
    H_out = pool_output_size(x_shape[2], PH, S, name="height")
    W_out = pool_output_size(x_shape[3], PW, S, name="width")
    dout = _check_dout(dout, tuple(x_shape[:2]) + (H_out, W_out))
    share = dout / (PH * PW)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for k in range(PH * PW):
        dx[_windows(H_out, W_out, *divmod(k, PW), S)] += share
    return dx


# ----------------------------------------------------------------------------------------------
# batch normalisation
# ----------------------------------------------------------------------------------------------
def batchnorm_forward_fast(x, gamma, beta, bn_param):
    """Batch normalisation: standardise each feature with batch statistics, then scale and shift.

    Inputs:
    - x: (N, D); gamma, beta: (D,)
    - bn_param: 'mode' 'train' or 'test' (required); 'eps' (1e-5); 'momentum' (0.9);
      'running_mean', 'running_var' (D,) (zeros by default)

    Train: x_hat = (x - mean) / sqrt(var + eps) with the batch mean and the biased batch variance
    (divide by N), and running = momentum * running + (1 - momentum) * batch statistic, written back
    into bn_param. Test: the running statistics replace the batch ones; bn_param is left alone.

    Returns:
    - out: (N, D) = gamma * x_hat + beta
    - cache: (mode, x_hat (N, D), gamma (D,), inv_std (D,)) with inv_std = 1 / sqrt(var + eps)
    """
    x = check_array(x, "x", ndim=2, shape_hint="(N, D)")
    gamma = check_array(gamma, "gamma", ndim=1, shape_hint="(D,)")
    beta = check_array(beta, "beta", ndim=1, shape_hint="(D,)")
    N, D = x.shape
    for name, param in (("gamma", gamma), ("beta", beta)):
        if param.shape != (D,):
            raise ValueError(f"{name} has shape {param.shape} but x has D={D} features; expected ({D},)")
    if not isinstance(bn_param, dict):
        raise TypeError(f"bn_param must be a dict, got {type(bn_param).__name__}")
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    # Python floats: a NumPy float64 scalar here would silently upcast float32 data
    eps, momentum = float(bn_param.get("eps", 1e-5)), float(bn_param.get("momentum", 0.9))
    if eps <= 0 or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"need eps > 0 and 0 <= momentum <= 1, got eps={eps}, momentum={momentum}")

    dtype = np.result_type(x, gamma, beta)
    x, gamma, beta = x.astype(dtype, copy=False), gamma.astype(dtype, copy=False), beta.astype(dtype, copy=False)
    running = {}
    for key in ("running_mean", "running_var"):
        value = check_array(bn_param.get(key, np.zeros(D, dtype=dtype)), f"bn_param['{key}']")
        if value.shape != (D,):
            raise ValueError(f"bn_param['{key}'] has shape {value.shape} but x has D={D} features")
        running[key] = value.astype(dtype, copy=False)

    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)                   # (D,), biased: divides by N
        bn_param["running_mean"] = momentum * running["running_mean"] + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running["running_var"] + (1 - momentum) * var
    else:
        mean, var = running["running_mean"], running["running_var"]
    inv_std = 1 / np.sqrt(var + eps)                                # (D,)
    x_hat = (x - mean) * inv_std                                    # (N, D)
    return gamma * x_hat + beta, (mode, x_hat, gamma, inv_std)


def batchnorm_backward_fast(dout, cache):
    """Backward pass of `batchnorm_forward_fast`, in the compact closed form.

    Inputs: dout (N, D); cache (mode, x_hat, gamma, inv_std).
    Returns dx (N, D), dgamma (D,), dbeta (D,).

    In training the batch mean and variance depend on every x, which gives
        dx = gamma * inv_std / N * (N * dout - sum_n dout - x_hat * sum_n (dout * x_hat)).
    In test mode the statistics are constants and dx = gamma * inv_std * dout.
    """
    mode, x_hat, gamma, inv_std = cache
    dout = _check_dout(dout, x_hat.shape)
    N = x_hat.shape[0]
    dbeta = dout.sum(axis=0)                                        # (D,)
    dgamma = (dout * x_hat).sum(axis=0)                             # (D,)
    if mode == "train":
        dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)
    else:
        dx = gamma * inv_std * dout
    return dx, dgamma, dbeta


def _channels_last(x):
    """(N, C, H, W) -> (N*H*W, C): each channel becomes one feature seen N*H*W times."""
    N, C, H, W = x.shape
    return x.transpose(0, 2, 3, 1).reshape(-1, C)


def _channels_first(rows, shape):
    """Inverse of `_channels_last`: (N*H*W, C) -> (N, C, H, W)."""
    N, C, H, W = shape
    return np.ascontiguousarray(rows.reshape(N, H, W, C).transpose(0, 3, 1, 2))


def spatial_batchnorm_forward_fast(x, gamma, beta, bn_param):
    """Spatial batch normalisation for conv layers: statistics per channel over N, H and W.

    Inputs: x (N, C, H, W); gamma, beta (C,); bn_param as for `batchnorm_forward_fast`
    (running statistics of shape (C,)).
    Returns out (N, C, H, W) and cache (x.shape, batch norm cache on the (N*H*W, C) reshape).
    """
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    for name, param in (("gamma", gamma), ("beta", beta)):
        if np.shape(param) != (x.shape[1],):
            raise ValueError(f"{name} has shape {np.shape(param)} but x has C={x.shape[1]} channels; "
                             f"expected ({x.shape[1]},)")
    out, bn_cache = batchnorm_forward_fast(_channels_last(x), gamma, beta, bn_param)
    return _channels_first(out, x.shape), (x.shape, bn_cache)


def spatial_batchnorm_backward_fast(dout, cache):
    """Backward pass of `spatial_batchnorm_forward_fast`.

    Inputs: dout (N, C, H, W); cache (x_shape, batch norm cache).
    Returns dx (N, C, H, W), dgamma (C,), dbeta (C,).
    """
    x_shape, bn_cache = cache
    dout = _check_dout(dout, x_shape)
    dx, dgamma, dbeta = batchnorm_backward_fast(_channels_last(dout), bn_cache)
    return _channels_first(dx, x_shape), dgamma, dbeta
