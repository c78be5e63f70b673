"""Correct, vectorised: loops over filter taps / window offsets only, never over examples.

assignment: any
"""
import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = 1 + (H + 2 * P - HH) // S, 1 + (W + 2 * P - WW) // S
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w)) + b[None, :, None, None]
    for p in range(HH):
        for q in range(WW):
            patch = xp[:, :, p:p + S * (H_out - 1) + 1:S, q:q + S * (W_out - 1) + 1:S]
            out += np.tensordot(patch, w[:, :, p, q], axes=([1], [1])).transpose(0, 3, 1, 2)
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    S, P = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for p in range(HH):
        for q in range(WW):
            rows, cols = slice(p, p + S * (H_out - 1) + 1, S), slice(q, q + S * (W_out - 1) + 1, S)
            dw[:, :, p, q] = np.tensordot(dout, xp[:, :, rows, cols], axes=([0, 2, 3], [0, 2, 3]))
            dxp[:, :, rows, cols] += np.tensordot(dout, w[:, :, p, q], axes=([1], [0])).transpose(0, 3, 1, 2)
    return dxp[:, :, P:P + H, P:P + W], dw, dout.sum(axis=(0, 2, 3))


def max_pool_forward_naive(x, pool_param):
    ph, pw, S = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - ph) // S, 1 + (W - pw) // S
    out = np.full((N, C, H_out, W_out), -np.inf, dtype=x.dtype)
    for p in range(ph):
        for q in range(pw):
            out = np.maximum(out, x[:, :, p:p + S * (H_out - 1) + 1:S, q:q + S * (W_out - 1) + 1:S])
    return out, (x, pool_param, out)


def max_pool_backward_naive(dout, cache):
    x, pool_param, out = cache
    ph, pw, S = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    _, _, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    taken = np.zeros(out.shape, dtype=bool)  # first maximum of each window wins
    for p in range(ph):
        for q in range(pw):
            rows, cols = slice(p, p + S * (H_out - 1) + 1, S), slice(q, q + S * (W_out - 1) + 1, S)
            hit = (x[:, :, rows, cols] == out) & ~taken
            dx[:, :, rows, cols] += hit * dout
            taken |= hit
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param['mode']
    eps, momentum = bn_param.get('eps', 1e-5), bn_param.get('momentum', 0.9)
    D = x.shape[1]
    rm = bn_param.get('running_mean', np.zeros(D))
    rv = bn_param.get('running_var', np.zeros(D))
    if mode == 'train':
        mu = x.mean(axis=0)
        xmu = x - mu
        var = (xmu ** 2).mean(axis=0)
        sqrtvar = np.sqrt(var + eps)
        xhat = xmu / sqrtvar
        out = gamma * xhat + beta
        bn_param['running_mean'] = momentum * rm + (1 - momentum) * mu
        bn_param['running_var'] = momentum * rv + (1 - momentum) * var
        return out, (xmu, sqrtvar, xhat, gamma)
    return gamma * (x - rm) / np.sqrt(rv + eps) + beta, None


def batchnorm_backward(dout, cache):
    # staged: walk the computation graph of the forward pass backwards, one node at a time
    xmu, sqrtvar, xhat, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dinv = (dxhat * xmu).sum(axis=0)
    dxmu = dxhat / sqrtvar
    dsqrtvar = -dinv / sqrtvar ** 2
    dvar = 0.5 * dsqrtvar / sqrtvar
    dxmu += 2 * xmu * dvar / N
    dx = dxmu - dxmu.sum(axis=0) / N
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param['mode']
    eps, momentum = bn_param.get('eps', 1e-5), bn_param.get('momentum', 0.9)
    C = x.shape[1]
    g, bt = gamma.reshape(1, C, 1, 1), beta.reshape(1, C, 1, 1)
    rm = bn_param.get('running_mean', np.zeros(C))
    rv = bn_param.get('running_var', np.zeros(C))
    if mode == 'test':
        return g * (x - rm.reshape(1, C, 1, 1)) / np.sqrt(rv.reshape(1, C, 1, 1) + eps) + bt, None
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    bn_param['running_mean'] = momentum * rm + (1 - momentum) * mu.ravel()
    bn_param['running_var'] = momentum * rv + (1 - momentum) * var.ravel()
    return g * xhat + bt, (xhat, g, var, eps)


def spatial_batchnorm_backward(dout, cache):
    xhat, g, var, eps = cache
    M = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dxhat = dout * g
    dx = (M * dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True)
          - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True)) / (M * np.sqrt(var + eps))
    return dx, dgamma, dbeta
