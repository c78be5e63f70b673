"""Bug: the batch variance is the unbiased one (N - 1), for normalising and for the running average.

assignment: batchnorm
loses: test_bn_forward_train test_bn_forward_eps test_bn_running_averages test_bn_backward test_spatial_bn_forward test_spatial_bn_backward
feedback: the unbiased variance (dividing by N - 1) was used
visible: you used the unbiased variance
"""
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.zeros(D))
    cache = None
    if mode == "train":
        mu, var = x.mean(axis=0), x.var(axis=0, ddof=1)
        x_hat = (x - mu) / np.sqrt(var + eps)
        out = gamma * x_hat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (x_hat, gamma, 1 / np.sqrt(var + eps))
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
