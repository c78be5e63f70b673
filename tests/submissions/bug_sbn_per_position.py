"""Bug: spatial batch norm takes statistics over the batch only, separately at every pixel (wrong axes).

assignment: batchnorm
loses: test_spatial_bn_forward test_spatial_bn_backward
feedback: statistics were taken over N only
visible: statistics over N only
"""
import numpy as np


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    C = x.shape[1]
    g, b = gamma.reshape(1, C, 1, 1), beta.reshape(1, C, 1, 1)
    rm = bn_param.get("running_mean", np.zeros(C))
    rv = bn_param.get("running_var", np.zeros(C))
    if bn_param["mode"] == "test":
        return g * (x - rm.reshape(1, C, 1, 1)) / np.sqrt(rv.reshape(1, C, 1, 1) + eps) + b, None
    mu, var = x.mean(axis=0), x.var(axis=0)  # (C, H, W): one statistic per pixel
    x_hat = (x - mu) / np.sqrt(var + eps)
    bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu.mean(axis=(1, 2))
    bn_param["running_var"] = momentum * rv + (1 - momentum) * var.mean(axis=(1, 2))
    return g * x_hat + b, (x_hat, g, 1 / np.sqrt(var + eps))


def spatial_batchnorm_backward(dout, cache):
    x_hat, g, inv_std = cache
    N = dout.shape[0]
    dxh = dout * g
    dx = inv_std / N * (N * dxh - dxh.sum(axis=0) - x_hat * (dxh * x_hat).sum(axis=0))
    return dx, (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))
