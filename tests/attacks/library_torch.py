"""Attack: use torch / scipy's ready-made layers for batch norm.

assignment: batchnorm
loses: test_bn_backward test_spatial_bn_backward
feedback: library implementation
"""
import numpy as np


def batchnorm_backward(dout, cache):
    import torch
    x = torch.tensor(cache[0], requires_grad=True)
    torch.nn.functional.batch_norm(x, None, None, training=True).backward(torch.tensor(dout))
    return x.grad.numpy(), np.zeros(dout.shape[1]), dout.sum(axis=0)
