"""Bug: the padding is cut off dx with pad:-pad, an empty slice when pad = 0.

assignment: conv
loses: test_conv_backward_stride1 test_conv_backward_stride_pad
feedback: pad:-pad, which is empty when pad = 0
visible: did you cut the padding off with pad:-pad?
"""
import numpy as np


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.sum(dout, axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    hs, ws = i * stride, j * stride
                    dx_pad[n, :, hs:hs + HH, ws:ws + WW] += w[f] * dout[n, f, i, j]
                    dw[f] += x_pad[n, :, hs:hs + HH, ws:ws + WW] * dout[n, f, i, j]
    dx = dx_pad[:, :, pad:-pad, pad:-pad]
    return dx, dw, db
