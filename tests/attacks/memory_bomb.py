"""Fault: a memory bomb in batchnorm_backward (only its test may be lost).

assignment: batchnorm
loses: test_bn_backward test_spatial_bn_backward
feedback: out of memory
"""


import numpy as np


def batchnorm_backward(dout, cache):
    hog = []
    while True:
        hog.append(np.ones(1 << 28))  # 2 GB at a time
