"""Bug: the batch statistics keep their axis (keepdims=True), so the running averages get shape (1, D).

assignment: batchnorm
loses: test_bn_running_averages test_spatial_bn_forward
feedback: statistics kept with keepdims=True
visible: running_mean has the right values but shape (1, 2), expected (2,)
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
        mu = np.mean(x, axis=0, keepdims=True)
        var = np.mean((x - mu) ** 2, axis=0, keepdims=True)
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
