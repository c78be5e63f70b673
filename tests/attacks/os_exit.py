"""Fault: os._exit in conv_backward_naive (only its tests may be lost).

assignment: conv
loses: test_conv_backward_stride1 test_conv_backward_stride_pad test_conv_backward_shapes
feedback: exited
"""
import os


def conv_backward_naive(dout, cache):
    os._exit(0)
