"""Attack: patch np.allclose, np.testing.assert_allclose and rel_error to always pass; forward is wrong.

assignment: conv
loses: test_conv_forward_stride1 test_conv_forward_stride_pad test_conv_forward_shapes test_conv_forward_float32
feedback: conv_forward_naive failed
"""
import numpy as np
import numpy.testing
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
rel_error = lambda *a, **k: 0.0
globals()["rel_error"] = rel_error


def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    out = np.zeros((N, F, 1 + (H + 2 * P - HH) // S, 1 + (W + 2 * P - WW) // S))
    return out, (x, w, b, conv_param)
