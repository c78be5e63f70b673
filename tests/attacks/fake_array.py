"""Attack: return an object that pretends to be the right array (__eq__ always true, fake __array__).

assignment: pooling
loses: test_pool_forward_basic test_pool_forward_overlap test_pool_forward_shapes
feedback: not a NumPy ndarray
"""
import numpy as np


class Anything:
    def __init__(self, shape):
        self.shape = shape
        self.dtype = np.dtype("float64")

    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(self.shape)

    def __sub__(self, other):
        return np.zeros(self.shape)

    __rsub__ = __sub__


def max_pool_forward_naive(x, pool_param):
    PH, PW, S = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    N, C, H, W = x.shape
    return Anything((N, C, 1 + (H - PH) // S, 1 + (W - PW) // S)), (x, pool_param)
