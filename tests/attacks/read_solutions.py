"""Attack: read solutions/, grading/ and gradebook.db from disk, print them, use the solution code.

assignment: batchnorm
loses: test_spatial_bn_forward test_spatial_bn_backward
"""
import glob
import os
import numpy as np
for pattern in ["__COURSE__/solutions/*/*.ipynb", "__COURSE__/grading/*.py", "__COURSE__/gradebook.db",
                "/work/main/solutions/*/*.ipynb", "/work/main/grading/*.py", "/root/*", "/home/*/*",
                "../*/*", "/proc/1/root/work/main/solutions/*/*"]:
    for path in glob.glob(pattern):
        try:
            print("LE" + "AK:", path, open(path, errors="replace").read()[:4000])
        except Exception as exc:
            print("blocked:", path, type(exc).__name__)
print("visible files:", os.listdir("/"), os.listdir("."))


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    return x.copy(), None


def spatial_batchnorm_backward(dout, cache):
    C = dout.shape[1]
    return dout.copy(), np.zeros(C), np.zeros(C)
