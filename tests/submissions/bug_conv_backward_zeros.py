"""Bug: dx and dw are never filled in (all zeros); only db is computed.

assignment: conv
loses: test_conv_backward_stride1 test_conv_backward_stride_pad test_conv_backward_shapes
feedback:
visible: dx is all zeros
"""
import numpy as np


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db
