"""A deep plain net and the same net with identity shortcuts, small enough to train in seconds.

The ResNet paper's experiment in miniature (He et al. 2015, Fig. 1 and 6): stack many layers and the
training loss gets *worse*, not better, unless every couple of layers adds its input back in.
``DeepMLP`` builds both versions from the same layers and the same initial weights, so the only
difference is the ``+ x`` of the shortcut.

    input -> affine - bn - relu -> num_blocks x BLOCK -> affine -> softmax
    BLOCK (plain):     x -> affine - bn - relu - affine - bn -> relu
    BLOCK (residual):  x -> affine - bn - relu - affine - bn -> (+ x) -> relu   (the paper's Fig. 2)

``RESNET_2015_TRACKS`` holds the competitions ResNet won in 2015, with the margins its authors
reported.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import fast_layers, layers
from .shapes import check_array

__all__ = ["DeepMLP", "gradient_norms", "Track", "RESNET_2015_TRACKS"]


def _bn_param(size, dtype):
    return {"mode": "train", "running_mean": np.zeros(size, dtype), "running_var": np.ones(size, dtype)}


class DeepMLP:
    """Fully connected net of 2 * num_blocks + 2 weight layers, with or without identity shortcuts.

    Inputs:
    - input_dim: D, features per example (an (N, 1, 8, 8) digit is flattened to D = 64).
    - hidden_dim: H, width of every hidden layer (the shortcut needs the same width in and out).
    - num_blocks: residual blocks of two affine layers each.
    - num_classes: scores per example.
    - residual: add each block's input to its output (identity shortcut) before the last ReLU.
    - use_batchnorm: batch norm after every hidden affine (the paper's conv - BN - ReLU order).
    - reg: L2 strength on the weights; dtype: float32 or float64; seed: initialisation.

    Weights are He-initialised (std sqrt(2 / fan_in)); the same seed gives the plain and the residual
    net identical initial parameters. Params: W1 (D, H), W2 ... W{L-1} (H, H), W{L} (H, num_classes),
    biases b1 ... b{L}, and with batch norm gamma1, beta1 ... (H,) for the L - 1 hidden layers.
    Follows the Solver contract: loss(X) -> scores (N, num_classes) in test mode, loss(X, y) -> (loss,
    grads) in training mode.
    """

    def __init__(self, input_dim=64, hidden_dim=64, num_blocks=12, num_classes=10, residual=False,
                 use_batchnorm=True, reg=0.0, dtype=np.float64, seed=None):
        if num_blocks < 0 or hidden_dim < 1 or input_dim < 1:
            raise ValueError(f"need input_dim, hidden_dim >= 1 and num_blocks >= 0, got "
                             f"{input_dim}, {hidden_dim}, {num_blocks}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.input_dim, self.num_blocks, self.residual = input_dim, num_blocks, residual
        self.use_batchnorm, self.reg = use_batchnorm, reg
        self.depth = 2 * num_blocks + 2          # weight layers, counted as papers count depth
        rng = np.random.default_rng(seed)
        dims = [input_dim] + [hidden_dim] * (self.depth - 1) + [num_classes]
        self.params, self.bn_params = {}, []
        for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
            gain = 2.0 if i < self.depth else 1.0  # ReLU follows every hidden layer, not the scores
            std = np.sqrt(gain / fan_in)
            self.params[f"W{i}"] = (std * rng.standard_normal((fan_in, fan_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, self.dtype)
            if use_batchnorm and i < self.depth:
                self.params[f"gamma{i}"] = np.ones(fan_out, self.dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, self.dtype)
                self.bn_params.append(_bn_param(fan_out, self.dtype))

    def _hidden(self, i, h):
        """Layer i (1-based) without its ReLU: affine, then batch norm if used. Returns (out, cache)."""
        P = self.params
        a, fc_cache = layers.affine_forward(h, P[f"W{i}"], P[f"b{i}"])
        if not self.use_batchnorm:
            return a, (fc_cache, None)
        a, bn_cache = fast_layers.batchnorm_forward_fast(a, P[f"gamma{i}"], P[f"beta{i}"], self.bn_params[i - 1])
        return a, (fc_cache, bn_cache)

    def _hidden_backward(self, i, dout, cache, grads):
        fc_cache, bn_cache = cache
        if bn_cache is not None:
            dout, grads[f"gamma{i}"], grads[f"beta{i}"] = fast_layers.batchnorm_backward_fast(dout, bn_cache)
        dx, grads[f"W{i}"], grads[f"b{i}"] = layers.affine_backward(dout, fc_cache)
        return dx

    def loss(self, X, y=None):
        """Scores (N, num_classes) for X (N, ...) with D features each if y is None, else (loss, grads)."""
        X = check_array(X, "X").astype(self.dtype, copy=False)
        X = X.reshape(len(X), -1)                                    # (N, D)
        if X.shape[1] != self.input_dim:
            raise ValueError(f"X has {X.shape[1]} features per example but the model expects {self.input_dim}")
        for bn_param in self.bn_params:
            bn_param["mode"] = "test" if y is None else "train"
        a, stem = self._hidden(1, X)
        h, stem_relu = layers.relu_forward(a)                        # (N, H)
        blocks = []
        for k in range(self.num_blocks):
            i = 2 + 2 * k                                            # the block's two layers: i, i + 1
            a1, c1 = self._hidden(i, h)
            r1, relu1 = layers.relu_forward(a1)
            a2, c2 = self._hidden(i + 1, r1)
            h, relu2 = layers.relu_forward(a2 + h if self.residual else a2)  # the shortcut: + x
            blocks.append((c1, relu1, c2, relu2))
        L = self.depth
        scores, head = layers.affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        if y is None:
            return scores

        loss, dscores = layers.softmax_loss(scores, y)
        weights = [f"W{i}" for i in range(1, L + 1)]
        loss += 0.5 * self.reg * sum(float(np.sum(self.params[w] ** 2)) for w in weights)
        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = layers.affine_backward(dscores, head)
        for k in reversed(range(self.num_blocks)):
            i = 2 + 2 * k
            c1, relu1, c2, relu2 = blocks[k]
            ds = layers.relu_backward(dh, relu2)                     # gradient of the block's sum
            dr1 = self._hidden_backward(i + 1, ds, c2, grads)
            dh_main = self._hidden_backward(i, layers.relu_backward(dr1, relu1), c1, grads)
            dh = dh_main + ds if self.residual else dh_main          # the shortcut passes ds unchanged
        self._hidden_backward(1, layers.relu_backward(dh, stem_relu), stem, grads)
        for w in weights:
            grads[w] = grads[w] + self.reg * self.params[w]
        return float(loss), grads


def gradient_norms(model, X, y):
    """L2 norm of the gradient of every weight matrix W1 ... WL on one batch: a (L,) array, input side first.

    Shows how much learning signal reaches each depth: in a deep plain net the early layers get little.
    """
    _, grads = model.loss(X, y)
    return np.array([np.linalg.norm(grads[f"W{i}"]) for i in range(1, model.depth + 1)])


# ----------------------------------------------------------------------------------------------
# What ResNet won in 2015
# ----------------------------------------------------------------------------------------------
class Track(NamedTuple):
    """One competition track: margin is the relative improvement over the 2nd-placed entry, in %
    (None where no margin was given)."""
    competition: str
    task: str
    margin: int | None


RESNET_2015_TRACKS = (
    Track("ILSVRC 2015", "classification", None),   # 3.57% top-5 error: see history.IMAGENET_TOP5
    Track("ILSVRC 2015", "detection", 16),
    Track("ILSVRC 2015", "localisation", 27),
    Track("COCO 2015", "detection", 11),
    Track("COCO 2015", "segmentation", 12),
)
"""The five main tracks ResNet won in 2015 and how far ahead of the runner-up it finished ("x% better
than 2nd", relative), as reported by He et al. (ILSVRC & COCO 2015 competitions, MSRA slides)."""
