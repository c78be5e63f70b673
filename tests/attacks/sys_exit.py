"""Fault: sys.exit in max_pool_backward_naive (only its tests may be lost).

assignment: pooling
loses: test_pool_backward_basic test_pool_backward_overlap test_pool_backward_shapes
feedback: SystemExit
"""
import sys


def max_pool_backward_naive(dout, cache):
    sys.exit(3)
