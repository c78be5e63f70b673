"""Attack: read the caller's local variables (sys._getframe(k).f_locals) to find the expected arrays.

assignment: pooling
loses: test_pool_backward_basic test_pool_backward_overlap test_pool_backward_shapes
"""
import gc
import sys
import numpy as np


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    best = None
    for k in range(1, 30):
        try:
            frame = sys._getframe(k)
        except ValueError:
            break
        for name, val in list(frame.f_locals.items()) + list(frame.f_globals.items()):
            if isinstance(val, dict):
                for key in ("dx", "want", "expected"):
                    cand = val.get(key) if hasattr(val, "get") else None
                    if isinstance(cand, np.ndarray) and cand.shape == x.shape:
                        best = cand
    for obj in gc.get_objects():  # anything lying around with the right shape but not x itself
        if isinstance(obj, np.ndarray) and obj.shape == x.shape and obj is not x and best is None:
            best = obj
    return best.copy() if best is not None else np.zeros_like(x)
