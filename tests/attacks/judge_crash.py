"""Fault: a forward pass that returns a 3-D array (an honest bug), and result lines the trusted
judge cannot parse (deeply nested JSON, wrong types) written into the worker's results pipe. Only the forward
tests may be lost: the correct backward keeps its points, autograde finishes, nothing is left for
manual grading.

assignment: conv
loses: test_conv_forward_stride1 test_conv_forward_stride_pad test_conv_forward_shapes test_conv_forward_float32
"""
import gc
import os
import numpy as np

junk = [b"[" * 200000 + b"\n", b'{"t": "case", "cell": "3", "k": 0, "status": "ok"}\n',
        b'{"t": "case", "cell": 1e30, "k": [], "status": "ok"}\n',
        b'{"t": "cell", "cell": 2, "outputs": "not a list"}\n', b'{"t": ["done"]}\n',
        b'{"t": "case", "cell": 0, "k": 0, "status": "ok", "outputs": {"out": {"too_big": "x", '
        b'"shape": 7}}}\n']
outs = [o for o in gc.get_objects() if isinstance(o, type) and o.__name__ == "_Out"]
fd = outs[0].fd if outs else None  # the worker's own results pipe
for line in junk:
    try:
        os.write(fd, line)
    except (OSError, TypeError):
        print("no results pipe found")


def conv_forward_naive(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    win = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(win * w[f]) + b[f]
    return out.reshape(N, F, Ho * Wo), (x, w, b, conv_param)
