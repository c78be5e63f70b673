"""Correct, im2col: windows copied into the columns of a matrix, the layer as one matrix product.

assignment: any
"""
import numpy as np


def _columns(xp, kh, kw, s, oh, ow):
    """(C*kh*kw, N*oh*ow): column k holds one window, rows ordered (channel, row, column)."""
    n, c = xp.shape[:2]
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=xp.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, u, v] = xp[:, :, u:u + s * oh:s, v:v + s * ow:s].transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def _uncolumns(cols, xp_shape, kh, kw, s, oh, ow):
    n, c = xp_shape[:2]
    dxp = np.zeros(xp_shape, dtype=cols.dtype)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + s * oh:s, v:v + s * ow:s] += cols[:, u, v].transpose(1, 0, 2, 3)
    return dxp


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = 1 + (h + 2 * p - kh) // s, 1 + (wd + 2 * p - kw) // s
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = _columns(xp, kh, kw, s, oh, ow)
    out = w.reshape(f, -1) @ cols + b.reshape(-1, 1)  # (F, N*oh*ow)
    return out.reshape(f, n, oh, ow).transpose(1, 0, 2, 3), (x, w, b, conv_param, cols)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param, cols = cache
    s, p = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = dout.shape[2:]
    d = dout.transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*oh*ow)
    db = d.sum(axis=1)
    dw = (d @ cols.T).reshape(w.shape)
    dcols = w.reshape(f, -1).T @ d
    dxp = _uncolumns(dcols, (n, c, h + 2 * p, wd + 2 * p), kh, kw, s, oh, ow)
    return dxp[:, :, p:p + h, p:p + wd], dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, wd = x.shape
    oh, ow = 1 + (h - ph) // s, 1 + (wd - pw) // s
    # one channel at a time through the same column builder: (ph*pw, N*C*oh*ow)
    cols = _columns(x.reshape(n * c, 1, h, wd), ph, pw, s, oh, ow)
    arg = cols.argmax(axis=0)  # first maximum of each window
    out = cols[arg, np.arange(cols.shape[1])]
    return out.reshape(n, c, oh, ow), (x, pool_param, arg)


def max_pool_backward_naive(dout, cache):
    x, pool_param, arg = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, wd = x.shape
    oh, ow = dout.shape[2:]
    dcols = np.zeros((ph * pw, arg.size), dtype=x.dtype)
    dcols[arg, np.arange(arg.size)] = dout.reshape(-1)
    dx = _uncolumns(dcols, (n * c, 1, h, wd), ph, pw, s, oh, ow)
    return dx.reshape(x.shape)
