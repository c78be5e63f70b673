"""Bug: the gradient goes to the bottom-right element of each window, not to its maximum.

assignment: pooling
loses: test_pool_backward_basic test_pool_backward_overlap test_pool_backward_shapes
visible: not the maximum of their window
"""
import numpy as np


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    win = x[n, c, i * S:i * S + PH, j * S:j * S + PW]
                    r, q = PH - 1, PW - 1
                    dx[n, c, i * S + r, j * S + q] += dout[n, c, i, j]
    return dx
