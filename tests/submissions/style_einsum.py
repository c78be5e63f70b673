"""Correct, einsum over sliding-window views (NumPy's stride tricks), no Python loop over pixels.

assignment: any
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _windows(a, kh, kw, s):
    """(N, C, oh, ow, kh, kw) view of the strided windows of a."""
    return sliding_window_view(a, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = _windows(xp, w.shape[2], w.shape[3], s)
    out = np.einsum("ncijuv,fcuv->nfij", win, w) + b[None, :, None, None]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    kh, kw = w.shape[2:]
    oh, ow = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = _windows(xp, kh, kw, s)[:, :, :oh, :ow]
    dw = np.einsum("ncijuv,nfij->fcuv", win, dout)
    db = np.einsum("nfij->f", dout)
    dxp = np.zeros_like(xp)
    taps = np.einsum("nfij,fcuv->ncijuv", dout, w)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + s * oh:s, v:v + s * ow:s] += taps[..., u, v]
    h, wd = x.shape[2:]
    return dxp[:, :, p:p + h, p:p + wd], dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = _windows(x, ph, pw, s).max(axis=(4, 5))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    oh, ow = dout.shape[2:]
    win = _windows(x, ph, pw, s)[:, :, :oh, :ow]
    flat = win.reshape(win.shape[:4] + (-1,))
    first = np.eye(ph * pw, dtype=x.dtype)[flat.argmax(axis=-1)]  # one-hot of the first maximum
    taps = np.einsum("ncij,ncijk->ncijk", dout, first).reshape(win.shape)
    dx = np.zeros_like(x)
    for u in range(ph):
        for v in range(pw):
            dx[:, :, u:u + s * oh:s, v:v + s * ow:s] += taps[..., u, v]
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    n, d = x.shape
    rm = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    rv = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    if bn_param["mode"] == "train":
        mean = np.einsum("nd->d", x) / n
        centred = x - mean
        var = np.einsum("nd,nd->d", centred, centred) / n
        rstd = 1 / np.sqrt(var + eps)
        xhat = centred * rstd
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
        return xhat * gamma + beta, (xhat, rstd, gamma)
    bn_param["running_mean"], bn_param["running_var"] = rm, rv
    return (x - rm) / np.sqrt(rv + eps) * gamma + beta, None


def batchnorm_backward(dout, cache):
    xhat, rstd, gamma = cache
    n = dout.shape[0]
    dbeta = np.einsum("nd->d", dout)
    dgamma = np.einsum("nd,nd->d", dout, xhat)
    dx = gamma * rstd / n * (n * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    n, c, h, w = x.shape
    out, cache = batchnorm_forward(np.einsum("nchw->nhwc", x).reshape(-1, c), gamma, beta, bn_param)
    return np.einsum("nhwc->nchw", out.reshape(n, h, w, c)), cache


def spatial_batchnorm_backward(dout, cache):
    n, c, h, w = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(np.einsum("nchw->nhwc", dout).reshape(-1, c), cache)
    return np.einsum("nhwc->nchw", dx.reshape(n, h, w, c)), dgamma, dbeta
