"""Bug: the output size rounds (H - PH) / S to the nearest integer instead of taking the floor.

assignment: pooling
loses: test_pool_forward_shapes
feedback: not round() or ceil
visible: did you round instead of taking the floor (//)?
"""
import numpy as np


def max_pool_forward_naive(x, pool_param):
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out = 1 + int(round((H - PH) / S))
    W_out = 1 + int(round((W - PW) / S))
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * S:i * S + PH, j * S:j * S + PW].max(axis=(2, 3))
    return out, (x, pool_param)
