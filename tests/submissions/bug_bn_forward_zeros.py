"""Bug: out is left all zeros (the normalisation is computed for the cache but never returned).

assignment: batchnorm
loses: test_bn_forward_train test_bn_forward_eps test_bn_forward_test_mode test_spatial_bn_forward
feedback:
visible: out is all zeros
"""
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.zeros(D))
    out = np.zeros_like(x)
    cache = None
    if mode == "train":
        mu, var = x.mean(axis=0), x.var(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mu) * inv_std
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (x_hat, gamma, inv_std)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
