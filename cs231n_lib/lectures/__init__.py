"""One module per lecture: its experiments and its figures, tested like the core library.

Import the one a notebook needs, e.g. ``from cs231n_lib.lectures import l02_convolution as demos``.

- ``l01_history``                 dated facts (timeline, ImageNet results), Hubel & Wiesel's cells, the Neocognitron
- ``l02_convolution``             output sizes, receptive fields, locally connected layers, convolution figures
- ``l03_pooling_normalisation``   FC <-> CONV conversions and sliding networks; pooling and batch-norm figures
- ``l04_activations``             small MLPs for dead units, activation races and zig-zag steps
- ``l05_optimisation``            convergence tables, learning-rate searches, gradient noise, trajectory grids
- ``l06_regularisation``          weight penalties, dropout schemes, train-time noise; data augmentation
- ``l07_architectures``           the deep plain vs residual MLP, ILSVRC 2015 tracks, architecture figures
- ``l08_training``                activation maps, confusions and confident mistakes, image rows

The core library (``cs231n_lib.layers``, ``fast_layers``, ``optim``, ``solver`` ...) never imports these.
The one helper they share, ``best_time``, is defined here.
"""
import time

import numpy as np

__all__ = ["best_time"]


def best_time(fn, *args, repeat=3, number=1, **kwargs):
    """Seconds one call fn(*args, **kwargs) takes: the best of `repeat` rounds of `number` calls.

    The minimum, not the mean: other programs only ever make a call slower, so the fastest round is
    the best estimate of what the code itself costs.
    """
    for name, value in (("repeat", repeat), ("number", number)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args, **kwargs)
        best = min(best, (time.perf_counter() - start) / number)
    return best
