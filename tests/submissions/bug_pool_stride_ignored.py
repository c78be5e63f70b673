"""Bug: the pooling stride is ignored (windows move one pixel at a time).

assignment: pooling
loses: test_pool_forward_basic test_pool_forward_overlap test_pool_forward_shapes
feedback: the stride was ignored
visible: expected (1, 1, 2, 2)
"""
import numpy as np


def max_pool_forward_naive(x, pool_param):
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], 1
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - PH) // S, 1 + (W - PW) // S
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * S:i * S + PH, j * S:j * S + PW].max(axis=(2, 3))
    return out, (x, pool_param)
