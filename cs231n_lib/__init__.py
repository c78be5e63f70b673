"""cs231n_lib: the shared NumPy library of *ConvNets from scratch*.

Modules (import what you need, e.g. ``from cs231n_lib import fast_layers``):

- ``shapes``        output-size arithmetic and input checks
- ``layers``        affine, activations, dropout, LRN, losses (``*_forward`` / ``*_backward``)
- ``fast_layers``   im2col / col2im, convolution, max and average pooling, batch normalisation
- ``gradcheck``     centred-difference gradients (every entry or a few), ``rel_error``, ``compare``
- ``optim``         update rules ``next_w, config = rule(w, dw, config)`` and learning-rate schedules
- ``models``        ``ThreeLayerConvNet`` and ``PatternNet`` (networks from a layer-pattern string)
- ``solver``        ``Solver``: trains any model with ``params`` and ``loss(X, y=None)``
- ``architectures`` the architecture calculator and the classic networks (LeNet-5 ... ResNet)
- ``data``          the bundled handwritten digits, sample photographs, toy problems, loss surfaces
- ``plot``          the shared look of the course's figures, and the figures every lecture uses

Each lecture's own experiments and figures live in ``cs231n_lib.lectures``, one module per lecture
(``l01_history`` ... ``l08_training``), so a notebook cell stays short and every measurement is tested.

Glossary (the same names everywhere):

=============  ==================================================================
``x``          input of a layer; images are ``(N, C, H, W)``
``w``, ``b``   weights and biases; conv filters are ``(F, C, HH, WW)``, biases ``(F,)``
``out``        output of a forward pass
``dout``       upstream gradient, the same shape as ``out``
``cache``      what a forward pass keeps for its backward pass
``dx`` ...     gradient of the loss with respect to ``x`` (likewise ``dw``, ``db``)
``N``          batch size;  ``C`` channels (depth);  ``H``, ``W`` height and width
``F``          number of filters (in arrays) -- the outline's K; ``HH``, ``WW`` filter height/width
``S``, ``P``   stride and zero padding; ``D`` dilation (1 = ordinary filter)
``lr``         learning rate;  ``num_epochs``, ``batch_size``
``X_train``    training inputs, with labels ``y_train`` (likewise ``_val``, ``_test``)
=============  ==================================================================
"""
__version__ = "0.1.0"
