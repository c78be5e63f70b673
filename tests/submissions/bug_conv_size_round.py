"""Bug: the output size rounds (H + 2P - HH) / S to the nearest integer instead of taking the floor.

assignment: conv
loses: test_conv_forward_stride_pad test_conv_forward_shapes test_conv_backward_stride_pad test_conv_backward_shapes
feedback:
visible: could not be broadcast
"""
import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + int(round((H + 2 * P - HH) / S))
    W_out = 1 + int(round((W + 2 * P - WW) / S))
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, f, i, j] = np.sum(xp[n, :, i * S:i * S + HH, j * S:j * S + WW] * w[f]) + b[f]
    return out, (x, w, b, conv_param)
