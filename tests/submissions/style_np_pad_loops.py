"""Correct, loops everywhere: np.pad with explicit constant zeros, one output pixel at a time.

assignment: any
"""
import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    s = conv_param["stride"]
    p = conv_param["pad"]
    n_img, n_ch, h, wd = x.shape
    n_f, _, kh, kw = w.shape
    oh = (h + 2 * p - kh) // s + 1
    ow = (wd + 2 * p - kw) // s + 1
    padded = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode="constant", constant_values=0)
    out = np.empty((n_img, n_f, oh, ow))
    for a in range(n_img):
        for f in range(n_f):
            for r in range(oh):
                for c in range(ow):
                    acc = b[f]
                    for ch in range(n_ch):
                        acc += np.sum(padded[a, ch, r * s:r * s + kh, c * s:c * s + kw] * w[f, ch])
                    out[a, f, r, c] = acc
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    n_img, n_ch, h, wd = x.shape
    n_f, _, kh, kw = w.shape
    padded = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode="constant", constant_values=0)
    dpadded = np.zeros(padded.shape)
    dw = np.zeros(w.shape)
    db = np.zeros(n_f)
    for a in range(n_img):
        for f in range(n_f):
            for r in range(dout.shape[2]):
                for c in range(dout.shape[3]):
                    g = dout[a, f, r, c]
                    db[f] += g
                    dw[f] += g * padded[a, :, r * s:r * s + kh, c * s:c * s + kw]
                    dpadded[a, :, r * s:r * s + kh, c * s:c * s + kw] += g * w[f]
    dx = dpadded[:, :, p:p + h, p:p + wd]
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_img, n_ch, h, wd = x.shape
    oh, ow = (h - ph) // s + 1, (wd - pw) // s + 1
    out = np.empty((n_img, n_ch, oh, ow), dtype=x.dtype)
    for a in range(n_img):
        for ch in range(n_ch):
            for r in range(oh):
                for c in range(ow):
                    out[a, ch, r, c] = np.max(x[a, ch, r * s:r * s + ph, c * s:c * s + pw])
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros(x.shape, dtype=x.dtype)
    for a in range(dout.shape[0]):
        for ch in range(dout.shape[1]):
            for r in range(dout.shape[2]):
                for c in range(dout.shape[3]):
                    win = x[a, ch, r * s:r * s + ph, c * s:c * s + pw]
                    best = None
                    for u in range(ph):  # the first maximum, scanning row by row
                        for v in range(pw):
                            if best is None or win[u, v] > win[best]:
                                best = (u, v)
                    dx[a, ch, r * s + best[0], c * s + best[1]] += dout[a, ch, r, c]
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    n, d = x.shape
    rm = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    rv = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    if mode == "train":
        mean = np.zeros(d)
        var = np.zeros(d)
        for j in range(d):  # one feature at a time
            mean[j] = np.sum(x[:, j]) / n
            var[j] = np.sum((x[:, j] - mean[j]) ** 2) / n
        std = np.sqrt(var + eps)
        xn = (x - mean) / std
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
        return gamma * xn + beta, (x, mean, std, gamma)
    if mode == "test":
        bn_param["running_mean"], bn_param["running_var"] = rm, rv
        return (x - rm) / np.sqrt(rv + eps) * gamma + beta, None
    raise ValueError(mode)


def batchnorm_backward(dout, cache):
    x, mean, std, gamma = cache
    n = x.shape[0]
    xn = (x - mean) / std
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xn, axis=0)
    g = dout * gamma
    dx = (g - np.mean(g, axis=0) - xn * np.mean(g * xn, axis=0)) / std
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    n, c, h, w = x.shape
    flat = np.swapaxes(x, 0, 1).reshape(c, -1).T  # (N*H*W, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return np.swapaxes(out.T.reshape(c, n, h, w), 0, 1), cache


def spatial_batchnorm_backward(dout, cache):
    n, c, h, w = dout.shape
    flat = np.swapaxes(dout, 0, 1).reshape(c, -1).T
    dx, dgamma, dbeta = batchnorm_backward(flat, cache)
    return np.swapaxes(dx.T.reshape(c, n, h, w), 0, 1), dgamma, dbeta
