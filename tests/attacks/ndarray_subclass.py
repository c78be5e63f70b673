"""Attack: return an ndarray subclass whose comparisons always succeed.

assignment: pooling
loses: test_pool_backward_basic test_pool_backward_overlap test_pool_backward_shapes
feedback: not a NumPy ndarray
"""
import numpy as np


class Agree(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def __sub__(self, other):
        return np.zeros(self.shape)

    def __abs__(self):
        return np.zeros(self.shape)


def max_pool_backward_naive(dout, cache):
    x, _ = cache
    return np.zeros_like(x).view(Agree)
