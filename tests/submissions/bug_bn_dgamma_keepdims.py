"""Bug: dgamma and dbeta are summed over the batch but keep the axis (keepdims=True): shape (1, D).

assignment: batchnorm
loses: test_bn_backward test_spatial_bn_backward
feedback: have the right values but shape (1,
visible: dgamma has the right values but shape (1, 2), expected (2,)
"""
import numpy as np


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0, keepdims=True)
    dgamma = np.sum(dout * x_hat, axis=0, keepdims=True)
    dx_hat = dout * gamma
    dx = inv_std / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta
