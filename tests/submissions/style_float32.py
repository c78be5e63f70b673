"""Correct, computing in float32 throughout (loops, like the reference, but every array float32).

Full marks; its visible finite-difference checks cannot pass (float32 rounding swamps a centred
difference, see cs231n_lib.gradcheck), which is why gradients are checked in float64.

assignment: any
"""
import numpy as np

F32 = np.float32


def conv_forward_naive(x, w, b, conv_param):
    x, w, b = x.astype(F32), w.astype(F32), b.astype(F32)
    S, P = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = 1 + (H + 2 * P - HH) // S, 1 + (W + 2 * P - WW) // S
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.empty((N, F, H_out, W_out), dtype=F32)
    for n in range(N):
        for i in range(H_out):
            for j in range(W_out):
                win = xp[n, :, i * S:i * S + HH, j * S:j * S + WW]
                out[n, :, i, j] = (w * win).sum(axis=(1, 2, 3)) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    dout = dout.astype(F32)
    S, P = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                g = dout[n, :, i, j]  # (F,)
                dxp[n, :, i * S:i * S + HH, j * S:j * S + WW] += np.tensordot(g, w, axes=1)
                dw += g[:, None, None, None] * xp[n, :, i * S:i * S + HH, j * S:j * S + WW]
    return dxp[:, :, P:P + H, P:P + W], dw, dout.sum(axis=(0, 2, 3), dtype=F32)


def max_pool_forward_naive(x, pool_param):
    x = x.astype(F32)
    ph, pw, S = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    N, C, H, W = x.shape
    out = np.empty((N, C, 1 + (H - ph) // S, 1 + (W - pw) // S), dtype=F32)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * S:i * S + ph, j * S:j * S + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, S = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    dx = np.zeros(x.shape, dtype=F32)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    win = x[n, c, i * S:i * S + ph, j * S:j * S + pw]
                    k = int(np.argmax(win))
                    dx[n, c, i * S + k // pw, j * S + k % pw] += F32(dout[n, c, i, j])
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    x, gamma, beta = x.astype(F32), gamma.astype(F32), beta.astype(F32)
    eps, momentum = F32(bn_param.get('eps', 1e-5)), F32(bn_param.get('momentum', 0.9))
    D = x.shape[1]
    rm = np.asarray(bn_param.get('running_mean', np.zeros(D)), dtype=F32)
    rv = np.asarray(bn_param.get('running_var', np.zeros(D)), dtype=F32)
    if bn_param['mode'] == 'train':
        mu, var = x.mean(axis=0), x.var(axis=0)
        inv_std = F32(1) / np.sqrt(var + eps)
        xhat = (x - mu) * inv_std
        bn_param['running_mean'] = momentum * rm + (F32(1) - momentum) * mu
        bn_param['running_var'] = momentum * rv + (F32(1) - momentum) * var
        return gamma * xhat + beta, (xhat, gamma, inv_std)
    return gamma * (x - rm) / np.sqrt(rv + eps) + beta, None


def batchnorm_backward(dout, cache):
    xhat, gamma, inv_std = cache
    dout = dout.astype(F32)
    N = F32(dout.shape[0])
    dxhat = dout * gamma
    dx = inv_std / N * (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(np.moveaxis(x, 1, -1).reshape(-1, C), gamma, beta, bn_param)
    return np.moveaxis(out.reshape(N, H, W, C), -1, 1), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(np.moveaxis(dout, 1, -1).reshape(-1, C), cache)
    return np.moveaxis(dx.reshape(N, H, W, C), -1, 1), dgamma, dbeta
