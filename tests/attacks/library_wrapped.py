"""Attack: reach the library's pooling through a wrapper module, swallowing exceptions.

assignment: pooling
loses: all
feedback: library implementation
"""
import importlib
import numpy as np


def _lib(name):
    return getattr(importlib.import_module("cs231n_lib.fast_layers"), name)


def max_pool_forward_naive(x, pool_param):
    try:
        return _lib("max_pool_forward_fast")(x, pool_param)
    except Exception:
        return np.zeros(1), None


def max_pool_backward_naive(dout, cache):
    return _lib("max_pool_backward_fast")(dout, cache)
