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
"""
