"""Bug: spatial batch norm's backward pass reshapes dx straight to (N, C, H, W) without moving the channel axis back.

assignment: batchnorm
loses: test_spatial_bn_backward
feedback: dx wrong by up to
visible: lay dout out exactly as the forward pass
"""
import numpy as np


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx_rows, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
    return dx_rows.reshape(N, C, H, W), dgamma, dbeta
