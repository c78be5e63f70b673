"""Networks built from the layer contract: sandwich helpers, ThreeLayerConvNet and PatternNet.

Every model here follows the Solver's contract: ``params`` (dict name -> ndarray) and
``loss(X, y=None)``, which returns class scores (N, num_classes) in **test mode** when ``y`` is left
out, and ``(loss, grads)`` in **training mode** when ``y`` is given. Batch norm and dropout read that
mode from their ``bn_param`` / ``dropout_param`` dicts, which the model sets on every call.

Conventions: weights W1, W2, ... (conv and affine layers in order), biases b1, b2, ...; batch-norm
scale and shift gamma1, beta1, ...; L2 regularisation 0.5 * reg * sum(W**2) on the weights only.
"""
from __future__ import annotations

import numbers
import re

import numpy as np

from . import fast_layers, layers
from .shapes import check_array, pool_output_size

__all__ = [
    "affine_relu_forward", "affine_relu_backward", "affine_bn_relu_forward", "affine_bn_relu_backward",
    "conv_relu_forward", "conv_relu_backward", "conv_bn_relu_forward", "conv_bn_relu_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
    "conv_bn_relu_pool_forward", "conv_bn_relu_pool_backward",
    "ThreeLayerConvNet", "PatternNet", "parse_pattern", "TOKENS",
]

POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}  # the 2x2 stride-2 max pool of the course


# ----------------------------------------------------------------------------------------------
# Sandwich layers: common sequences as one forward / backward pair (the cache is a tuple of the
# caches of the parts, unwound in reverse order by the backward pass).
# ----------------------------------------------------------------------------------------------

def affine_relu_forward(x, w, b):
    """Affine then ReLU. x (N, d1..dk), w (D, M), b (M,) -> out (N, M), cache (affine, relu caches)."""
    a, fc_cache = layers.affine_forward(x, w, b)
    out, relu_cache = layers.relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward of affine_relu_forward: dout (N, M) -> dx (N, d1..dk), dw (D, M), db (M,)."""
    fc_cache, relu_cache = cache
    return layers.affine_backward(layers.relu_backward(dout, relu_cache), fc_cache)


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """Affine, batch norm, ReLU. gamma, beta (M,) -> out (N, M), cache (affine, bn, relu caches)."""
    a, fc_cache = layers.affine_forward(x, w, b)
    a_bn, bn_cache = fast_layers.batchnorm_forward_fast(a, gamma, beta, bn_param)
    out, relu_cache = layers.relu_forward(a_bn)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache):
    """Backward of affine_bn_relu_forward -> dx, dw, db, dgamma (M,), dbeta (M,)."""
    fc_cache, bn_cache, relu_cache = cache
    da_bn = layers.relu_backward(dout, relu_cache)
    da, dgamma, dbeta = fast_layers.batchnorm_backward_fast(da_bn, bn_cache)
    dx, dw, db = layers.affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_forward(x, w, b, conv_param):
    """Conv then ReLU. x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H_out, W_out), cache."""
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = layers.relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Backward of conv_relu_forward: dout (N, F, H_out, W_out) -> dx, dw, db."""
    conv_cache, relu_cache = cache
    return fast_layers.conv_backward_fast(layers.relu_backward(dout, relu_cache), conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """Conv, spatial batch norm, ReLU. gamma, beta (F,) -> out (N, F, H_out, W_out), cache."""
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    a_bn, bn_cache = fast_layers.spatial_batchnorm_forward_fast(a, gamma, beta, bn_param)
    out, relu_cache = layers.relu_forward(a_bn)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """Backward of conv_bn_relu_forward -> dx, dw, db, dgamma (F,), dbeta (F,)."""
    conv_cache, bn_cache, relu_cache = cache
    da_bn = layers.relu_backward(dout, relu_cache)
    da, dgamma, dbeta = fast_layers.spatial_batchnorm_backward_fast(da_bn, bn_cache)
    dx, dw, db = fast_layers.conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Conv, ReLU, max pool. x (N, C, H, W) -> out (N, F, H_pool, W_pool), cache (conv, relu, pool)."""
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    r, relu_cache = layers.relu_forward(a)
    out, pool_cache = fast_layers.max_pool_forward_fast(r, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Backward of conv_relu_pool_forward: dout (N, F, H_pool, W_pool) -> dx, dw, db."""
    conv_cache, relu_cache, pool_cache = cache
    dr = fast_layers.max_pool_backward_fast(dout, pool_cache)
    return fast_layers.conv_backward_fast(layers.relu_backward(dr, relu_cache), conv_cache)


def conv_bn_relu_pool_forward(x, w, b, gamma, beta, conv_param, bn_param, pool_param):
    """Conv, spatial batch norm, ReLU, max pool -> out (N, F, H_pool, W_pool), cache."""
    r, inner_cache = conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param)
    out, pool_cache = fast_layers.max_pool_forward_fast(r, pool_param)
    return out, (inner_cache, pool_cache)


def conv_bn_relu_pool_backward(dout, cache):
    """Backward of conv_bn_relu_pool_forward -> dx, dw, db, dgamma (F,), dbeta (F,)."""
    inner_cache, pool_cache = cache
    return conv_bn_relu_backward(fast_layers.max_pool_backward_fast(dout, pool_cache), inner_cache)


# ----------------------------------------------------------------------------------------------
# Shared pieces of the two models
# ----------------------------------------------------------------------------------------------

def _init_weight(rng, shape, fan_in, weight_scale, gain, dtype):
    """Gaussian weights: std sqrt(gain / fan_in) (He: gain 2 before a ReLU) or a fixed weight_scale."""
    std = np.sqrt(gain / fan_in) if weight_scale is None else weight_scale
    return (std * rng.standard_normal(shape)).astype(dtype)


def _new_bn_param(size, dtype):
    # Running variance starts at 1 (not 0) so that an untrained net in test mode is roughly the identity.
    return {"mode": "train", "running_mean": np.zeros(size, dtype), "running_var": np.ones(size, dtype)}


def _check_input(X, input_dim, dtype):
    """X as an array of the model's dtype, (N, C, H, W) matching input_dim, or a ValueError."""
    X = check_array(X, "X", ndim=1 + len(input_dim), shape_hint="(N, " + ", ".join("CHW"[:len(input_dim)]) + ")")
    if X.shape[1:] != tuple(input_dim):
        raise ValueError(f"X has shape {X.shape} but the model expects (N, *{tuple(input_dim)})")
    return X.astype(dtype, copy=False)


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _l2(reg, params, names):
    """0.5 * reg * sum of squared weights (the 0.5 makes the gradient reg * W)."""
    return 0.5 * reg * sum(float(np.sum(params[n] * params[n])) for n in names)


# ----------------------------------------------------------------------------------------------
# ThreeLayerConvNet
# ----------------------------------------------------------------------------------------------

class ThreeLayerConvNet:
    """conv - [spatial bn] - relu - 2x2 max pool - affine - [bn] - relu - affine - softmax.

    Inputs:
    - input_dim (C, H, W): size of one image; H and W must be even (2x2 pool, stride 2).
    - num_filters F, filter_size HH = WW (odd; padding (HH - 1) / 2 and stride 1 keep H, W).
    - hidden_dim: units of the hidden affine layer; num_classes: scores per image.
    - weight_scale: None for He initialisation (std sqrt(2 / fan_in) before each ReLU, sqrt(1 / fan_in)
      for the last layer), or a float std for every weight.
    - reg: L2 strength; use_batchnorm: insert batch norm after the conv and the hidden affine.
    - dtype: float32 or float64 for params and computation; seed: for the initialisation.

    Params: W1 (F, C, HH, WW), b1 (F,), W2 (F * H/2 * W/2, hidden_dim), b2, W3 (hidden_dim, num_classes),
    b3, and with batch norm gamma1, beta1 (F,), gamma2, beta2 (hidden_dim,).
    """

    def __init__(self, input_dim=(1, 8, 8), num_filters=32, filter_size=3, hidden_dim=128, num_classes=10,
                 weight_scale=None, reg=0.0, use_batchnorm=False, dtype=np.float64, seed=None):
        C, H, W = input_dim
        for name, value in (("num_filters", num_filters), ("filter_size", filter_size), ("hidden_dim", hidden_dim),
                            ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if filter_size % 2 != 1:
            raise ValueError(f"filter_size must be odd so that padding (filter_size - 1) / 2 keeps H, W; got {filter_size}")
        self.input_dim, self.reg, self.use_batchnorm = tuple(input_dim), reg, use_batchnorm
        self.dtype = _check_dtype(dtype)
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = dict(POOL_PARAM)
        H_pool = pool_output_size(H, 2, 2, name="height")
        W_pool = pool_output_size(W, 2, 2, name="width")
        rng, F, fs, D = np.random.default_rng(seed), num_filters, filter_size, num_filters * H_pool * W_pool

        def init(shape, fan_in, gain):
            return _init_weight(rng, shape, fan_in, weight_scale, gain, self.dtype)

        self.params = {
            "W1": init((F, C, fs, fs), C * fs * fs, 2.0), "b1": np.zeros(F, self.dtype),
            "W2": init((D, hidden_dim), D, 2.0), "b2": np.zeros(hidden_dim, self.dtype),
            "W3": init((hidden_dim, num_classes), hidden_dim, 1.0), "b3": np.zeros(num_classes, self.dtype),
        }
        self.bn_params = []
        if use_batchnorm:
            for i, size in ((1, F), (2, hidden_dim)):
                self.params[f"gamma{i}"] = np.ones(size, self.dtype)
                self.params[f"beta{i}"] = np.zeros(size, self.dtype)
                self.bn_params.append(_new_bn_param(size, self.dtype))

    def loss(self, X, y=None):
        """Scores (N, num_classes) for X (N, C, H, W) if y is None (test mode), else (loss, grads)."""
        X = _check_input(X, self.input_dim, self.dtype)
        for bn_param in self.bn_params:
            bn_param["mode"] = "test" if y is None else "train"
        P = self.params
        if self.use_batchnorm:
            h1, cache1 = conv_bn_relu_pool_forward(X, P["W1"], P["b1"], P["gamma1"], P["beta1"],
                                                   self.conv_param, self.bn_params[0], self.pool_param)
            h2, cache2 = affine_bn_relu_forward(h1, P["W2"], P["b2"], P["gamma2"], P["beta2"], self.bn_params[1])
        else:
            h1, cache1 = conv_relu_pool_forward(X, P["W1"], P["b1"], self.conv_param, self.pool_param)  # (N, F, H/2, W/2)
            h2, cache2 = affine_relu_forward(h1, P["W2"], P["b2"])  # (N, hidden_dim)
        scores, cache3 = layers.affine_forward(h2, P["W3"], P["b3"])  # (N, num_classes)
        if y is None:
            return scores

        loss, dscores = layers.softmax_loss(scores, y)
        loss += _l2(self.reg, P, ("W1", "W2", "W3"))
        grads = {}
        dh2, grads["W3"], grads["b3"] = layers.affine_backward(dscores, cache3)
        if self.use_batchnorm:
            dh1, grads["W2"], grads["b2"], grads["gamma2"], grads["beta2"] = affine_bn_relu_backward(dh2, cache2)
            _, grads["W1"], grads["b1"], grads["gamma1"], grads["beta1"] = conv_bn_relu_pool_backward(dh1, cache1)
        else:
            dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
            _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dh1, cache1)
        for name in ("W1", "W2", "W3"):
            grads[name] = grads[name] + self.reg * P[name]
        return float(loss), grads


# ----------------------------------------------------------------------------------------------
# PatternNet: a network from a string such as "[conv-relu]*2-pool-[affine-relu]*1-affine"
# ----------------------------------------------------------------------------------------------

ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")
TOKENS = ("conv", "pool", "affine", "bn", "dropout") + ACTIVATIONS
_LEXEME = re.compile(r"\s*([A-Za-z_]+|\d+|\S)")


def parse_pattern(pattern):
    """Expand a layer pattern into a list of tokens.

    Grammar: ``sequence := item ('-' item)*``, ``item := (TOKEN | '[' sequence ']') ['*' count]``.
    "[conv-relu]*2-pool-affine" -> ['conv', 'relu', 'conv', 'relu', 'pool', 'affine']. Groups may nest;
    spaces are ignored; tokens are case-insensitive. Raises ValueError naming the unknown token or the
    position (character index) where the pattern stops making sense.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string, got {type(pattern).__name__}")
    lexemes = [(m.group(1), m.start(1)) for m in _LEXEME.finditer(pattern)]
    lexemes.append((None, len(pattern)))  # end marker
    pos = 0

    def fail(message):
        raise ValueError(f"malformed pattern {pattern!r} at character {lexemes[pos][1]}: {message}")

    def take():
        nonlocal pos
        pos += 1
        return lexemes[pos - 1][0]

    def item():
        lexeme = lexemes[pos][0]
        if lexeme == "[":
            take()
            body = sequence()
            if lexemes[pos][0] != "]":
                fail("expected ']' to close the group")
            take()
        elif lexeme is not None and re.fullmatch(r"[A-Za-z_]+", lexeme):
            if lexeme.lower() not in TOKENS:
                raise ValueError(f"unknown layer {lexeme!r} in pattern {pattern!r}; valid layers: {', '.join(TOKENS)}")
            body = [take().lower()]
        else:
            fail(f"expected a layer name or '[', got {lexeme or 'the end'!r}")
        if lexemes[pos][0] == "*":
            take()
            count = lexemes[pos][0]
            if count is None or not count.isdigit() or int(count) < 1:
                fail(f"'*' must be followed by a repeat count >= 1, got {count or 'the end'!r}")
            body = body * int(take())
        return body

    def sequence():
        tokens = item()
        while lexemes[pos][0] == "-":
            take()
            tokens = tokens + item()
        return tokens

    tokens = sequence()
    if lexemes[pos][0] is not None:
        fail(f"unexpected {lexemes[pos][0]!r} (layers are joined by '-')")
    return tokens


def _per_layer(value, count, name):
    """An int for every layer, or a list with exactly one entry per layer."""
    values = [value] * count if np.isscalar(value) else list(value)
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries but the pattern has {count} such layers")
    return [int(v) for v in values]


class PatternNet:
    """A classifier described by a layer pattern, e.g. "[conv-relu]*2-pool-[affine-relu]*1-affine".

    Tokens: conv (3x3, stride 1, pad 1: keeps H, W), pool (2x2 max, stride 2: halves H, W), affine
    (flattens its input; the last affine outputs num_classes scores, the others hidden_dim units),
    bn (spatial batch norm after a conv-shaped input, batch norm after an affine), dropout (inverted,
    keep probability dropout_keep), and the activations relu, leaky_relu, elu, tanh, sigmoid. Softmax loss.

    Inputs:
    - pattern: the string (see parse_pattern); it must end with 'affine'.
    - input_dim (C, H, W); num_classes.
    - num_filters: int, or a list with one entry per conv; hidden_dim: int, or a list with one entry per
      affine except the last.
    - reg (L2 on conv and affine weights), weight_scale (None: He std sqrt(2 / fan_in) when the next
      activation is relu / leaky_relu / elu, sqrt(1 / fan_in) otherwise; or a float std), dropout_keep,
      dtype (float32 / float64), seed (initialisation).

    Attributes: layer_names (the expanded tokens), layers (one dict per layer: kind, out_shape, the names
    of its params), params, bn_params, dropout_params.
    """

    def __init__(self, pattern, input_dim=(1, 8, 8), num_classes=10, num_filters=32, hidden_dim=128,
                 reg=0.0, weight_scale=None, dropout_keep=0.5, dtype=np.float64, seed=None):
        self.pattern, self.layer_names = pattern, parse_pattern(pattern)
        if self.layer_names[-1] != "affine":
            raise ValueError(f"pattern {pattern!r} must end with 'affine' (the layer that outputs the "
                             f"{num_classes} class scores), got {self.layer_names[-1]!r}")
        if not 0 < dropout_keep <= 1:
            raise ValueError(f"dropout_keep is a keep probability in (0, 1], got {dropout_keep}")
        self.input_dim, self.num_classes, self.reg = tuple(input_dim), num_classes, reg
        self.dtype, self.weight_scale, self.dropout_keep = _check_dtype(dtype), weight_scale, dropout_keep
        self.conv_param, self.pool_param = {"stride": 1, "pad": 1}, dict(POOL_PARAM)
        self._filters = _per_layer(num_filters, self.layer_names.count("conv"), "num_filters")
        self._hidden = _per_layer(hidden_dim, self.layer_names.count("affine") - 1, "hidden_dim")
        self._rng = np.random.default_rng(seed)
        self.params, self.bn_params, self.dropout_params, self.layers = {}, [], [], []
        shape = self.input_dim
        for i, kind in enumerate(self.layer_names):
            layer = self._build_layer(i, kind, shape)
            shape = layer["out_shape"]
            self.layers.append(layer)

    def _gain(self, i):
        """2 (He) if the next activation after layer i is ReLU-like, else 1."""
        for kind in self.layer_names[i + 1:]:
            if kind in ACTIVATIONS:
                return 2.0 if kind in ("relu", "leaky_relu", "elu") else 1.0
            if kind in ("conv", "affine"):
                break
        return 1.0

    def _build_layer(self, i, kind, shape):
        """Create the params of layer i (token kind) for inputs of shape `shape` (without N)."""
        layer, where = {"kind": kind, "params": ()}, f"layer {i + 1} ({kind})"
        if kind in ("conv", "pool") and len(shape) != 3:
            raise ValueError(f"{where} needs image-shaped input (C, H, W) but gets {shape}: "
                             "conv and pool must come before the first affine")
        if kind in ("conv", "affine"):
            k = sum(layer_["kind"] in ("conv", "affine") for layer_ in self.layers) + 1
            if kind == "conv":
                F = self._filters.pop(0)
                w_shape, fan_in, out_shape = (F, shape[0], 3, 3), shape[0] * 9, (F,) + shape[1:]
            else:
                D = int(np.prod(shape))
                M = self._hidden.pop(0) if i < len(self.layer_names) - 1 else self.num_classes
                w_shape, fan_in, out_shape = (D, M), D, (M,)
            self.params[f"W{k}"] = _init_weight(self._rng, w_shape, fan_in, self.weight_scale, self._gain(i), self.dtype)
            self.params[f"b{k}"] = np.zeros(w_shape[0] if kind == "conv" else w_shape[1], self.dtype)
            layer.update(params=(f"W{k}", f"b{k}"), out_shape=out_shape)
        elif kind == "pool":
            try:
                H_out = pool_output_size(shape[1], 2, 2, name="height")
                W_out = pool_output_size(shape[2], 2, 2, name="width")
            except ValueError as exc:
                raise ValueError(f"{where}: 2x2 stride-2 pooling of a {shape} input: {exc}") from exc
            layer["out_shape"] = (shape[0], H_out, W_out)
        elif kind == "bn":
            k, C = len(self.bn_params) + 1, shape[0]  # channels for spatial bn, features otherwise
            self.params[f"gamma{k}"], self.params[f"beta{k}"] = np.ones(C, self.dtype), np.zeros(C, self.dtype)
            layer.update(params=(f"gamma{k}", f"beta{k}"), out_shape=shape, bn_param=_new_bn_param(C, self.dtype))
            self.bn_params.append(layer["bn_param"])
        elif kind == "dropout":
            layer.update(out_shape=shape, dropout_param={"p": self.dropout_keep, "mode": "train"})
            self.dropout_params.append(layer["dropout_param"])
        else:
            layer["out_shape"] = shape  # activations keep the shape
        return layer

    def _forward(self, layer, x):
        """One layer forward -> (out, cache)."""
        kind, P, names = layer["kind"], self.params, layer["params"]
        if kind == "conv":
            return fast_layers.conv_forward_fast(x, P[names[0]], P[names[1]], self.conv_param)
        if kind == "affine":
            return layers.affine_forward(x, P[names[0]], P[names[1]])
        if kind == "pool":
            return fast_layers.max_pool_forward_fast(x, self.pool_param)
        if kind == "bn":
            bn = fast_layers.spatial_batchnorm_forward_fast if x.ndim == 4 else fast_layers.batchnorm_forward_fast
            return bn(x, P[names[0]], P[names[1]], layer["bn_param"])
        if kind == "dropout":
            return layers.dropout_forward(x, layer["dropout_param"])
        return getattr(layers, f"{kind}_forward")(x)

    def _backward(self, layer, dout, cache, grads):
        """One layer backward: returns dx and writes the layer's param gradients into grads."""
        kind, names = layer["kind"], layer["params"]
        if kind == "conv":
            dx, *dparams = fast_layers.conv_backward_fast(dout, cache)
        elif kind == "affine":
            dx, *dparams = layers.affine_backward(dout, cache)
        elif kind == "pool":
            dx, dparams = fast_layers.max_pool_backward_fast(dout, cache), []
        elif kind == "bn":
            spatial = dout.ndim == 4
            bn = fast_layers.spatial_batchnorm_backward_fast if spatial else fast_layers.batchnorm_backward_fast
            dx, *dparams = bn(dout, cache)
        else:  # activations and dropout return dx only
            dx, dparams = getattr(layers, f"{kind}_backward")(dout, cache), []
        grads.update(zip(names, dparams))
        return dx

    def loss(self, X, y=None):
        """Scores (N, num_classes) for X (N, C, H, W) if y is None (test mode), else (loss, grads)."""
        X = _check_input(X, self.input_dim, self.dtype)
        for param in self.bn_params + self.dropout_params:
            param["mode"] = "test" if y is None else "train"
        out, caches = X, []
        for layer in self.layers:
            out, cache = self._forward(layer, out)
            caches.append(cache)
        if y is None:
            return out
        weights = [n for layer in self.layers if layer["kind"] in ("conv", "affine") for n in layer["params"][:1]]
        loss, dout = layers.softmax_loss(out, y)
        loss += _l2(self.reg, self.params, weights)
        grads = {}
        for layer, cache in zip(reversed(self.layers), reversed(caches)):
            dout = self._backward(layer, dout, cache, grads)
        for name in weights:
            grads[name] = grads[name] + self.reg * self.params[name]
        return float(loss), grads

    @property
    def num_params(self):
        return sum(p.size for p in self.params.values())

    def describe(self):
        """A table of the layers with output shapes (per image) and parameter counts, as a string."""
        rows = [("input", str(self.input_dim), 0)]
        for layer in self.layers:
            kind, count = layer["kind"], sum(self.params[n].size for n in layer["params"])
            if kind == "conv":
                kind = f"conv 3x3, {layer['out_shape'][0]} filters"
            elif kind == "pool":
                kind = "max pool 2x2 /2"
            elif kind == "bn":
                kind = "spatial bn" if len(layer["out_shape"]) == 3 else "bn"
            elif kind == "dropout":
                kind = f"dropout (keep {self.dropout_keep})"
            rows.append((kind, str(layer["out_shape"]), count))
        lines = [f"PatternNet {self.pattern!r}", f"{'#':>3}  {'layer':<26}{'output shape':<16}{'params':>10}"]
        lines += [f"{i:>3}  {kind:<26}{shape:<16}{count:>10,}" for i, (kind, shape, count) in enumerate(rows)]
        lines.append(f"{'':>3}  {'total':<26}{'':<16}{self.num_params:>10,}")
        return "\n".join(lines)

    def __repr__(self):
        return f"PatternNet({self.pattern!r}, input_dim={self.input_dim}, num_classes={self.num_classes})"
