"""FC <-> CONV: the two directions of the notes' conversion, computed.

- CONV -> FC: a conv layer is an FC layer whose weight matrix is mostly zeros, with the same filter
  repeated (tied) in every row block: ``conv_as_fc_matrix`` builds that matrix.
- FC -> CONV: an FC layer that reads an H x W x C volume is a conv with F = H filters of depth C
  (one filter per output neuron); FC layers after it are 1x1 convs. ``fc_to_filters`` reshapes
  the weights; ``SlidingNet`` is a small classifier that can run either way, so one pass of the
  converted net over a larger image can be checked against evaluating every crop.

Images are (N, C, H, W); an FC layer flattens each example in C order, (c, y, x), exactly as
``layers.affine_forward`` does.
"""
from __future__ import annotations

import numpy as np

from cs231n_lib.fast_layers import conv_forward_fast, max_pool_forward_fast
from cs231n_lib.layers import affine_forward, relu_forward
from cs231n_lib.shapes import check_array, conv_output_size, pool_output_size

__all__ = ["conv_as_fc_matrix", "fc_to_filters", "SlidingNet", "num_crops", "crop_grid", "dense_score_map"]

_POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def conv_as_fc_matrix(w, x_shape, stride=1, pad=0):
    """The weight matrix of the FC layer that computes the same map as a conv layer (bias left out).

    Inputs:
    - w: (F, C, HH, WW) filters
    - x_shape: (C, H, W) of one input image; stride S and zero padding P of the conv

    Returns M: (F*H_out*W_out, C*H*W) with conv(x).reshape(-1) == M @ x.reshape(-1) + bias per row.
    Row (f, y, x) holds filter f placed over the window that output reads (zeros everywhere
    else); filter taps that land in the zero padding multiply zeros and are dropped.
    """
    w = check_array(w, "w", ndim=4, shape_hint="(F, C, HH, WW)")
    if len(x_shape) != 3:
        raise ValueError(f"x_shape must be (C, H, W) of one image, got {tuple(x_shape)}")
    C, H, W = (int(s) for s in x_shape)
    F, C_w, HH, WW = w.shape
    if C != C_w:
        raise ValueError(f"x_shape has C={C} channels but w expects {C_w} (w shape {w.shape})")
    H_out = conv_output_size(H, HH, stride, pad, name="height")
    W_out = conv_output_size(W, WW, stride, pad, name="width")
    M = np.zeros((F, H_out, W_out, C, H + 2 * pad, W + 2 * pad), dtype=w.dtype)
    for y in range(H_out):
        for x in range(W_out):
            M[:, y, x, :, y * stride:y * stride + HH, x * stride:x * stride + WW] = w   # the same (tied) w
    M = M[..., pad:pad + H, pad:pad + W]                 # taps on padding see zeros: drop them
    return M.reshape(F * H_out * W_out, C * H * W)


def fc_to_filters(w, in_shape):
    """FC weights (C*H*W, M) reading an (C, H, W) volume -> M conv filters (M, C, H, W).

    Output neuron m's weight column, folded back into the shape of the volume it reads, is a
    filter as large as that volume: F = H, depth C, number of filters K = M.
    """
    w = check_array(w, "w", ndim=2, shape_hint="(C*H*W, M)")
    C, H, W = (int(s) for s in in_shape)
    if w.shape[0] != C * H * W:
        raise ValueError(f"w has {w.shape[0]} rows but a {C}x{H}x{W} volume has C*H*W = {C * H * W} values")
    return np.ascontiguousarray(w.T.reshape(w.shape[1], C, H, W))   # (M, C, H, W)


def num_crops(size, crop, stride):
    """Crops of side `crop` at `stride` along an axis of length `size`: (size - crop) / stride + 1."""
    return conv_output_size(size, crop, stride, name="image side")


def crop_grid(x, crop, stride):
    """Every crop x crop window of x (N, C, H, W) at `stride`, as (N, n_y, n_x, C, crop, crop)."""
    x = check_array(x, "x", ndim=4, shape_hint="(N, C, H, W)")
    n_y, n_x = num_crops(x.shape[2], crop, stride), num_crops(x.shape[3], crop, stride)
    crops = np.empty((x.shape[0], n_y, n_x, x.shape[1], crop, crop), dtype=x.dtype)
    for i in range(n_y):
        for j in range(n_x):
            crops[:, i, j] = x[:, :, i * stride:i * stride + crop, j * stride:j * stride + crop]
    return crops


class SlidingNet:
    """conv3x3-relu-pool-conv3x3-relu-pool-fc-relu-fc with random weights, built for crop x crop images.

    pad=0: unpadded convs, every output depends only on pixels inside its crop, so the converted
    (fully convolutional) net gives exactly the scores of every crop. pad=1: "same" convs; a crop
    evaluated alone sees zeros at its borders where the big pass sees neighbouring pixels.
    The two 2x2 pools make the net's stride 4: moving the crop 4 px moves the score map one step.

    params: W1 (K1, C, 3, 3), b1; W2 (K2, K1, 3, 3), b2; W3 (K2*h*h, hidden), b3; W4 (hidden, classes), b4,
    where h x h is the size of the last pooled map (h = 3 for crop 18, pad 0).
    """

    stride = 4

    def __init__(self, crop=18, in_channels=3, num_filters=(8, 16), hidden_dim=32, num_classes=10,
                 pad=0, seed=0, dtype=np.float64):
        self.crop, self.pad, self.in_channels = int(crop), int(pad), int(in_channels)
        h = crop
        for _ in range(2):                                 # conv3x3 then 2x2 pool, twice
            h = pool_output_size(conv_output_size(h, 3, 1, self.pad), 2, 2)
        self.feature_shape = (num_filters[1], h, h)        # (K2, h, h): what the first FC reads
        rng = np.random.default_rng(seed)
        K1, K2 = num_filters
        shapes = {"W1": (K1, in_channels, 3, 3), "W2": (K2, K1, 3, 3),
                  "W3": (K2 * h * h, hidden_dim), "W4": (hidden_dim, num_classes)}
        self.params = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            fan_in = int(np.prod(shape[1:])) if name in ("W1", "W2") else shape[0]
            self.params[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
            self.params[f"b{i}"] = (0.1 * rng.standard_normal(shape[0] if name in ("W1", "W2") else shape[1])
                                    ).astype(dtype)

    def features(self, x):
        """The conv part on any image size: (N, C, H, W) -> (N, K2, H', W')."""
        p, conv = self.params, {"stride": 1, "pad": self.pad}
        for i in (1, 2):
            x = conv_forward_fast(x, p[f"W{i}"], p[f"b{i}"], conv)[0]
            x = max_pool_forward_fast(relu_forward(x)[0], _POOL)[0]
        return x

    def scores(self, x):
        """The classifier as designed: crop x crop images only. (N, C, crop, crop) -> (N, classes)."""
        x = check_array(x, "x", ndim=4, shape_hint="(N, C, H, W)")
        if x.shape[2:] != (self.crop, self.crop):
            raise ValueError(f"the FC net takes {self.crop}x{self.crop} images, got {x.shape[2]}x{x.shape[3]}; "
                             f"use score_map for larger ones")
        p = self.params
        hidden = relu_forward(affine_forward(self.features(x), p["W3"], p["b3"])[0])[0]   # (N, hidden)
        return affine_forward(hidden, p["W4"], p["b4"])[0]                                 # (N, classes)

    def conv_params(self):
        """FC weights as conv filters: W3 -> (hidden, K2, h, h) (F = h), W4 -> (classes, hidden, 1, 1)."""
        p = self.params
        return {"W3": fc_to_filters(p["W3"], self.feature_shape), "b3": p["b3"],
                "W4": fc_to_filters(p["W4"], (p["W4"].shape[0], 1, 1)), "b4": p["b4"]}

    def score_map(self, x):
        """The converted, fully convolutional net in one pass: (N, C, H, W) -> (N, classes, n_y, n_x)."""
        c = self.conv_params()
        unpadded = {"stride": 1, "pad": 0}
        hidden = relu_forward(conv_forward_fast(self.features(x), c["W3"], c["b3"], unpadded)[0])[0]
        return conv_forward_fast(hidden, c["W4"], c["b4"], unpadded)[0]

    def crop_scores(self, x, stride=None):
        """The FC net on every crop at `stride` (default the net's stride), as (N, classes, n_y, n_x)."""
        stride = self.stride if stride is None else stride
        crops = crop_grid(x, self.crop, stride)                          # (N, n_y, n_x, C, crop, crop)
        N, n_y, n_x = crops.shape[:3]
        scores = self.scores(crops.reshape(N * n_y * n_x, *crops.shape[3:]))   # one batch of all crops
        return scores.reshape(N, n_y, n_x, -1).transpose(0, 3, 1, 2)


def dense_score_map(score_map, x, crop, stride, shift):
    """Score map at a finer step `shift` from several passes of a stride-`stride` conv net.

    score_map: function (N, C, H, W) -> (N, K, n_y, n_x), one step per `stride` px;
    passes over x shifted by (dy, dx) in {0, shift, 2*shift, ...}^2 are interleaved into a map with one
    step per `shift` px, equal to the crops of side `crop` at stride `shift`. Returns (N, K, n_y, n_x).
    """
    if stride % shift:
        raise ValueError(f"shift {shift} must divide the net's stride {stride}")
    H, W = x.shape[2:]
    n_y, n_x = num_crops(H, crop, shift), num_crops(W, crop, shift)
    r = stride // shift                                       # passes per axis
    out = None
    for a in range(r):
        for b in range(r):
            dy, dx = a * shift, b * shift
            h, w = (H - dy - crop) // stride * stride + crop, (W - dx - crop) // stride * stride + crop
            part = score_map(x[:, :, dy:dy + h, dx:dx + w])  # crops at (dy + stride*i, dx + stride*j)
            if out is None:
                out = np.empty(part.shape[:2] + (n_y, n_x), dtype=part.dtype)
            out[:, :, a::r, b::r] = part
    return out
