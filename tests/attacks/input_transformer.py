"""Attack: an IPython input transformer that turns every later cell (the hidden tests) into `pass`.

assignment: batchnorm
loses: all
"""
import numpy as np
get_ipython().input_transformers_post.append(lambda lines: ["pass\n"])


def batchnorm_forward(x, gamma, beta, bn_param):
    return x, None
