"""Attack: object arrays, NaN and huge arrays as answers.

assignment: conv
loses: all
feedback: floating-point numbers
"""
import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    shape = (N, F, 1 + (H + 2 * P - HH) // S, 1 + (W + 2 * P - WW) // S)
    return np.full(shape, None, dtype=object), (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    return np.full(x.shape, np.nan), np.zeros((3000, 3000)), np.zeros(b.shape, dtype=np.int64)
