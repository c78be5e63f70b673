"""Fault: a segmentation fault in conv_backward_naive (only its tests may be lost).

assignment: conv
loses: test_conv_backward_stride1 test_conv_backward_stride_pad test_conv_backward_shapes
feedback: segmentation fault
"""
import ctypes


def conv_backward_naive(dout, cache):
    ctypes.string_at(0)
