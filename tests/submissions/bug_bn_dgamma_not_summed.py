"""Bug: dgamma is not summed over the batch.

assignment: batchnorm
loses: test_bn_backward test_spatial_bn_backward
feedback: dgamma has shape
visible: sum over the batch axis to get shape (D,)
"""
import numpy as np


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = dout * x_hat
    dx_hat = dout * gamma
    dx = inv_std / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta
