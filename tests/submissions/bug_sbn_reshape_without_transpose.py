"""Bug: spatial batch norm reshapes (N, C, H, W) straight to (-1, C), mixing channels (forward and backward alike).

assignment: batchnorm
loses: test_spatial_bn_forward test_spatial_bn_backward
feedback: x was reshaped to (-1, C) without first moving the channel axis last
visible: one mean and variance per channel
"""
import numpy as np


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, C, H, W), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(dout.reshape(-1, C), cache)
    return dx.reshape(N, C, H, W), dgamma, dbeta
