"""Bug: dx is overwritten (=) instead of accumulated (+=).

assignment: conv
loses: test_conv_backward_stride1 test_conv_backward_stride_pad test_conv_backward_shapes
feedback: dx was overwritten (=) instead of accumulated
visible: dx is wrong
"""
import numpy as np


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    S, P = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    dxp[n, :, i * S:i * S + HH, j * S:j * S + WW] = w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, i * S:i * S + HH, j * S:j * S + WW] * dout[n, f, i, j]
    return dxp[:, :, P:P + H, P:P + W], dw, db
