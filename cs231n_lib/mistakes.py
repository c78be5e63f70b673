"""Reference layers with switchable common mistakes: what a buggy layer computes.

Every function computes in float64; with every switch off it is a correct layer, written
independently of both the assignments' loop solutions and ``fast_layers`` (im2col): windows come
from NumPy's ``sliding_window_view`` and sums from ``einsum``. Each switch reproduces one usual
student bug (padding skipped, kernel flipped, unbiased variance, dx cut with ``pad:-pad``, ...).

``cs231n_lib.explain`` compares a wrong answer with these variants to name its cause, and only
when the answer is exactly what a variant computes. The practice check
(``cs231n_lib.practice``) and the course's grader both use them; nothing here is secret.
Graded functions may not call this module: it is a library implementation like ``fast_layers``.
Its batch-norm functions are named ``bn_*`` (not the graded ``batchnorm_*``) and take plain
arguments, not the assignments' ``(x, gamma, beta, bn_param)``.
"""
import numpy as np

_view = np.lib.stride_tricks.sliding_window_view


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def windows(x, HH, WW, stride):
    """All HH x WW windows of x (N, C, H, W) at the given stride -> (N, C, H_out, W_out, HH, WW)."""
    return _view(x, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]


def pad_hw(x, pad, mode="both"):
    """Zero-pad the two spatial axes: 'both' sides (correct), 'before' only, or 'none'."""
    if mode == "none" or pad == 0:
        return x
    before, after = (pad, pad) if mode == "both" else (pad, 0)
    return np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))


# ----------------------------------------------------------------------------- convolution
def conv_forward(x, w, b, stride, pad, flip=False, pad_mode="both", bias="add", transpose=False):
    """out (N, F, H_out, W_out) = cross-correlation of zero-padded x with every filter, plus b.

    Mistake switches: flip (true convolution, kernel rotated 180 degrees), pad_mode
    ('before' / 'none'), bias ('add' correct, 'none', 'first' = b[0] for every filter),
    transpose (kernel rows and columns swapped).
    """
    x, w, b = _f64(x, w, b)
    if flip:
        w = w[:, :, ::-1, ::-1]
    if transpose:
        w = w.transpose(0, 1, 3, 2)
    F, C, HH, WW = w.shape
    win = windows(pad_hw(x, pad, pad_mode), HH, WW, stride)  # (N, C, H_out, W_out, HH, WW)
    out = np.einsum("nchwij,fcij->nfhw", win, w)  # (N, F, H_out, W_out)
    if bias == "add":
        out += b[None, :, None, None]
    elif bias == "first":
        out += b[0]
    return out


def conv_backward(dout, x, w, stride, pad, flip=False, crop="exact"):
    """Gradients (dx, dw, db) of sum(out * dout) for out = conv_forward(x, w, b, stride, pad).

    Mistake switches: flip; crop: how dx is cut out of the padded gradient: 'exact' (correct,
    pad:pad + H), 'none' (the padded gradient returned), 'negative' (pad:-pad, which is empty
    when pad = 0).
    """
    dout, x, w = _f64(dout, x, w)
    if flip:
        w = w[:, :, ::-1, ::-1]
    F, C, HH, WW = w.shape
    N, _, H, W = x.shape
    _, _, H_out, W_out = dout.shape
    xp = pad_hw(x, pad)
    db = dout.sum(axis=(0, 2, 3))  # (F,)
    dw = np.einsum("nchwij,nfhw->fcij", windows(xp, HH, WW, stride), dout)  # (F, C, HH, WW)
    dxp = np.zeros_like(xp)
    for i in range(HH):  # kernel tap (i, j) touches a strided grid of input pixels
        for j in range(WW):
            rows = slice(i, i + stride * (H_out - 1) + 1, stride)
            cols = slice(j, j + stride * (W_out - 1) + 1, stride)
            dxp[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    if flip:
        dw = dw[:, :, ::-1, ::-1]
    if crop == "none":
        return dxp, dw, db
    if crop == "negative":
        return dxp[:, :, pad:-pad, pad:-pad], dw, db
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, db


def conv_backward_overwrite(dout, x, w, stride, pad):
    """The '=' instead of '+=' bug in the usual loop nest (n, f, i, j): the last write wins."""
    dout, x, w = _f64(dout, x, w)
    F, C, HH, WW = w.shape
    N, _, H, W = x.shape
    xp = pad_hw(x, pad)
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    r, c = i * stride, j * stride
                    dxp[n, :, r:r + HH, c:c + WW] = w[f] * dout[n, f, i, j]
                    dw[f] = xp[n, :, r:r + HH, c:c + WW] * dout[n, f, i, j]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw


def touches_padding(x_shape, HH, WW, stride, pad):
    """Mask (H_out, W_out): True where the output's window reaches into the zero padding."""
    H, W = x_shape[2:]
    H_out = (H + 2 * pad - HH) // stride + 1
    W_out = (W + 2 * pad - WW) // stride + 1
    r = np.arange(H_out)[:, None] * stride
    c = np.arange(W_out)[None, :] * stride
    return (r < pad) | (r + HH > H + pad) | (c < pad) | (c + WW > W + pad)


# ----------------------------------------------------------------------------- max pooling
def max_pool_forward(x, ph, pw, stride, kind="max"):
    """out (N, C, H_out, W_out): max (or, as a mistake, 'avg') of every ph x pw window."""
    (x,) = _f64(x)
    win = windows(x, ph, pw, stride)  # (N, C, H_out, W_out, ph, pw)
    return win.mean(axis=(4, 5)) if kind == "avg" else win.max(axis=(4, 5))


def max_pool_backward(dout, x, ph, pw, stride, route="argmax"):
    """dx of sum(out * dout): each dout entry goes to its window's argmax (first on ties).

    Mistake routes: 'all' (every element of the window), 'avg' (dout / (ph * pw) to every element),
    'overwrite' (window-sized '=' of mask * dout, loop order n, c, i, j), 'overwrite_argmax'
    ('=' at the argmax only), 'last' (to the window's last element, whatever its value).
    """
    dout, x = _f64(dout, x)
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    win = windows(x, ph, pw, stride).reshape(N, C, H_out, W_out, ph * pw)
    arg = win.argmax(axis=-1)  # (N, C, H_out, W_out), first maximum
    for i in range(H_out):
        for j in range(W_out):
            r, c = i * stride, j * stride
            block = dx[:, :, r:r + ph, c:c + pw].reshape(N, C, ph * pw).copy()
            g = dout[:, :, i, j]  # (N, C)
            if route in ("all", "avg"):
                block += (g / (ph * pw) if route == "avg" else g)[..., None]
            else:
                hit = np.zeros((N, C, ph * pw))
                where = np.full_like(arg[:, :, i, j], ph * pw - 1) if route == "last" \
                    else arg[:, :, i, j]
                np.put_along_axis(hit, where[..., None], 1.0, axis=-1)
                if route in ("argmax", "last"):
                    block += hit * g[..., None]
                elif route == "overwrite":
                    block = hit * g[..., None]
                elif route == "overwrite_argmax":
                    block = np.where(hit > 0, g[..., None], block)
            dx[:, :, r:r + ph, c:c + pw] = block.reshape(N, C, ph, pw)
    return dx


# ----------------------------------------------------------------------------- batch norm
def bn_forward(x, gamma, beta, mode="train", eps=1e-5, momentum=0.9,
                      running_mean=None, running_var=None, ddof=0, eps_place="inside",
                      axis=0, swap_gamma_beta=False, running_ddof=0, swap_momentum=False,
                      no_sqrt=False):
    """Batch norm of x (N, D) -> (out, new_running_mean, new_running_var).

    Train mode normalises with the batch mean and biased variance and moves the running
    averages: running = momentum * running + (1 - momentum) * batch statistic. Test mode uses the
    running averages. Mistake switches: ddof=1 (unbiased variance), eps_place ('outside' the sqrt,
    'none'), axis=1 (statistics per sample), swap_gamma_beta, running_ddof=1, swap_momentum,
    no_sqrt (divide by the variance).
    """
    x, gamma, beta = _f64(x, gamma, beta)
    D = x.shape[1]
    rm = np.zeros(D) if running_mean is None else np.asarray(running_mean, np.float64)
    rv = np.zeros(D) if running_var is None else np.asarray(running_var, np.float64)
    if mode == "train":
        mu = x.mean(axis=axis, keepdims=True)
        var = x.var(axis=axis, ddof=ddof, keepdims=True)
        m = 1 - momentum if swap_momentum else momentum
        new_rm = m * rm + (1 - m) * x.mean(axis=0)
        new_rv = m * rv + (1 - m) * x.var(axis=0, ddof=running_ddof)
    else:
        mu, var, new_rm, new_rv = rm, rv, rm, rv
    if no_sqrt:
        xhat = (x - mu) / (var + eps)
    elif eps_place == "inside":
        xhat = (x - mu) / np.sqrt(var + eps)
    elif eps_place == "outside":
        xhat = (x - mu) / (np.sqrt(var) + eps)
    else:
        xhat = (x - mu) / np.sqrt(var)
    out = beta * xhat + gamma if swap_gamma_beta else gamma * xhat + beta
    return out, new_rm, new_rv


def bn_backward(dout, x, gamma, eps=1e-5, variant="correct"):
    """Gradients (dx, dgamma, dbeta) of sum(out * dout) for train-mode batch norm of x (N, D).

    Mistake variants for dx: 'constant_stats' (mean and variance treated as constants),
    'no_var_path' (only the mean's dependence kept), 'unbiased' (the exact gradient of a forward
    pass that used the N - 1 variance), 'unbiased_cache' (the usual formula fed the N - 1
    variance a buggy forward pass cached); 'dgamma_x' uses x instead of the normalised x for dgamma.
    """
    dout, x, gamma = _f64(dout, x, gamma)
    N = x.shape[0]
    mu = x.mean(axis=0)
    var = x.var(axis=0, ddof=1 if variant in ("unbiased", "unbiased_cache") else 0)
    ddof = 1 if variant == "unbiased" else 0
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    dbeta = dout.sum(axis=0)
    dgamma = (dout * (x if variant == "dgamma_x" else xhat)).sum(axis=0)
    dxhat = dout * gamma  # (N, D)
    if variant == "constant_stats":
        dx = dxhat * inv_std
    elif variant == "no_var_path":
        dx = (dxhat - dxhat.mean(axis=0)) * inv_std
    else:
        # out depends on x directly and through mu and var; the three paths combine to:
        dvar = -0.5 * (dxhat * (x - mu)).sum(axis=0) * inv_std ** 3
        dmu = -dxhat.sum(axis=0) * inv_std
        dx = dxhat * inv_std + dvar * 2 * (x - mu) / (N - ddof) + dmu / N
    return dx, dgamma, dbeta


def _rows(x):
    """(N, C, H, W) -> (N*H*W, C): one row per pixel, one column per channel."""
    N, C, H, W = x.shape
    return x.transpose(0, 2, 3, 1).reshape(-1, C)


def _unrows(rows, shape):
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def spatial_bn_forward(x, gamma, beta, mode="train", eps=1e-5, momentum=0.9,
                              running_mean=None, running_var=None, layout="channels",
                              **mistakes):
    """Spatial batch norm of x (N, C, H, W): per-channel statistics over N, H and W.

    Mistake layouts: 'per_position' (statistics over N only, separately for each (c, h, w),
    using gamma/beta per channel; running averages not modelled), 'per_position_avg' (the same,
    with running averages from the per-position statistics averaged over each channel), 'per_sample' (over C, H, W for each sample), 'plain_reshape'
    (x.reshape(-1, C) without moving C last), 'no_transpose_back' (rows reshaped straight
    back to (N, C, H, W)). Other mistakes (ddof, running_ddof, swap_momentum, ...) are
    bn_forward's, made on the rows. Returns (out, new_running_mean, new_running_var).
    """
    x, gamma, beta = _f64(x, gamma, beta)
    N, C, H, W = x.shape
    kw = dict(mode=mode, eps=eps, momentum=momentum, running_mean=running_mean,
              running_var=running_var, **mistakes)
    if layout == "channels":
        out, rm, rv = bn_forward(_rows(x), gamma, beta, **kw)
        return _unrows(out, x.shape), rm, rv
    if layout == "plain_reshape":
        out, rm, rv = bn_forward(x.reshape(-1, C), gamma, beta, **kw)
        return out.reshape(x.shape), rm, rv
    if layout == "no_transpose_back":
        out, rm, rv = bn_forward(_rows(x), gamma, beta, **kw)
        return out.reshape(x.shape), rm, rv
    g, bt = gamma[None, :, None, None], beta[None, :, None, None]
    axes = (0,) if layout.startswith("per_position") else (1, 2, 3)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    out = g * (x - mu) / np.sqrt(var + eps) + bt
    if layout == "per_position_avg" and mode == "train":  # running: the per-position statistics
        m = momentum                                      # averaged over each channel
        rm = np.zeros(C) if running_mean is None else np.asarray(running_mean, np.float64)
        rv = np.zeros(C) if running_var is None else np.asarray(running_var, np.float64)
        return (out, m * rm + (1 - m) * mu.mean(axis=(0, 2, 3)),
                m * rv + (1 - m) * var.mean(axis=(0, 2, 3)))
    return out, None, None


def spatial_bn_backward(dout, x, gamma, eps=1e-5, layout="channels", variant="correct"):
    """Gradients (dx, dgamma, dbeta) for spatial_bn_forward in train mode.

    Mistake layouts: 'per_position' (statistics over N only, at every (c, h, w));
    'plain_reshape' differentiates the x.reshape(-1, C) version;
    'no_transpose_back' reshapes the correct rows of dx straight back to (N, C, H, W);
    variant: bn_backward's mistakes, made on the rows.
    """
    dout, x, gamma = _f64(dout, x, gamma)
    N, C, H, W = x.shape
    if layout == "per_position":  # the gradient of statistics taken over N only
        dx, dgamma, dbeta = bn_backward(dout.reshape(N, -1), x.reshape(N, -1),
                                               np.repeat(gamma, H * W), eps, variant)
        return (dx.reshape(x.shape), dgamma.reshape(C, -1).sum(axis=1),
                dbeta.reshape(C, -1).sum(axis=1))
    if layout == "plain_reshape":
        dx, dgamma, dbeta = bn_backward(dout.reshape(-1, C), x.reshape(-1, C), gamma, eps)
        return dx.reshape(x.shape), dgamma, dbeta
    dx, dgamma, dbeta = bn_backward(_rows(dout), _rows(x), gamma, eps, variant)
    if layout == "no_transpose_back":
        return dx.reshape(x.shape), dgamma, dbeta
    return _unrows(dx, x.shape), dgamma, dbeta
