"""Attack: call the course library's fast layers instead of writing the functions.

assignment: conv
loses: all
feedback: library implementation
"""
from cs231n_lib.fast_layers import conv_backward_fast, conv_forward_fast


def conv_forward_naive(x, w, b, conv_param):
    return conv_forward_fast(x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    return conv_backward_fast(dout, cache)
