"""Bug: dx treats the batch mean and variance as constants.

assignment: batchnorm
loses: test_bn_backward test_spatial_bn_backward
feedback: dx treats the batch mean and variance as constants
visible: include the paths through the batch mean AND the batch variance
"""
import numpy as np


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dx = dx_hat * inv_std
    return dx, dgamma, dbeta
