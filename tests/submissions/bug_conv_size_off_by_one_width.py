"""Bug: W_out lacks its + 1 (H_out is right).

assignment: conv
loses: test_conv_forward_stride1 test_conv_forward_stride_pad test_conv_forward_shapes test_conv_forward_float32
feedback: W_out is one too small
visible: expected (1, 2, 2, 2) (axis 3 differs)
"""
import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * P - HH) // S
    W_out = (W + 2 * P - WW) // S
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, f, i, j] = np.sum(xp[n, :, i * S:i * S + HH, j * S:j * S + WW] * w[f]) + b[f]
    return out, (x, w, b, conv_param)
