"""Fault: megabytes of printed output, at top level and inside a correct graded function (no loss).

assignment: batchnorm
loses:
"""
import sys
for _ in range(2000):
    print("x" * 5000)
sys.stderr.write("y" * 3_000_000)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    print("z" * 2_000_000)
    N, C, H, W = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out_rows, cache = batchnorm_forward(rows, gamma, beta, bn_param)
    return out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache
