"""Bug: dout is sent to every element of its window, not only to the maximum.

assignment: pooling
loses: test_pool_backward_basic test_pool_backward_overlap test_pool_backward_shapes
feedback: dout was sent to every element of the window
visible: dout went to every element
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
                    r, q = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, c, i * S:i * S + PH, j * S:j * S + PW] += dout[n, c, i, j]
    return dx
