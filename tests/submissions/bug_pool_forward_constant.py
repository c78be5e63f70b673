"""Bug: every output takes the maximum of the whole image, not of its window (the slice is missing).

assignment: pooling
loses: test_pool_forward_basic test_pool_forward_overlap test_pool_forward_shapes
feedback:
visible: out is 19 everywhere
"""
import numpy as np


def max_pool_forward_naive(x, pool_param):
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - PH) // S, 1 + (W - PW) // S
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x.max(axis=(2, 3))
    return out, (x, pool_param)
