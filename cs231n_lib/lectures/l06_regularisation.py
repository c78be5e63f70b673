"""Helpers for lecture 6 (regularisation): weight penalties, a softmax classifier trained with them,
plain vs inverted dropout, batch dependence of batch norm, ensembles, and a model wrapper that
draws the training-time randomness (dropout masks, augmented inputs) from one seeded generator.

Shapes: X (N, D) for the softmax classifier, weights W (D, C), scores (N, C), labels y (N,).

Data augmentation, in NumPy: flips, crops, colour jitter, translation, rotation, stretching.
Every function takes one image (H, W) or (H, W, C) -- the layout of a photograph -- or a batch
(N, C, H, W) -- the layout of the networks -- and returns the same layout and dtype (float in,
float out). Random functions take ``rng``: a ``np.random.Generator`` or an int seed, so a run is
reproducible; in a batch every image gets its own random draw.

Geometry is done by *inverse mapping*: for every output pixel we ask where it came from in the input
and read that (generally fractional) position with bilinear interpolation. Positions are measured
from the image centre, so rotations and stretches keep the centre in place; pixels that come from
outside the input get ``fill`` (0 by default; for standardised data pass the background value).
"""
from __future__ import annotations

import numbers

import matplotlib.pyplot as plt
import numpy as np

from cs231n_lib import layers
from cs231n_lib.layers import softmax
from cs231n_lib.plot import COLORS, INK, MUTED, _new_ax
from cs231n_lib.shapes import check_array
from cs231n_lib.solver import Solver

__all__ = [
    "PENALTIES", "penalty", "soft_threshold", "softmax", "train_softmax",
    "dropout_train", "dropout_test", "batch_dependence", "ensemble_probs", "TrainTimeNoise", "fit", "summarise",
    "CASE_STUDIES",
    # augmentation
    "horizontal_flip", "random_flip", "crop", "random_crop", "affine_transform", "translate", "rotate",
    "stretch", "random_affine", "random_resized_crop", "adjust_brightness", "adjust_contrast",
    "adjust_saturation", "color_jitter", "pca_lighting", "LUMA",
    "dropout_network", "weight_histograms", "generalisation_curves", "strip_plot",  # figures
]

PENALTIES = ("none", "l2", "l1", "elastic")


# ----------------------------------------------------------------------------- weight penalties
def _check_kind(kind):
    if kind not in PENALTIES:
        raise ValueError(f"unknown penalty {kind!r}; choose one of {PENALTIES}")


def penalty(w, kind, reg, l1_ratio=0.5):
    """Value and (sub)gradient of a weight penalty R(w), scaled by reg.

    kind 'l2':      R = 0.5 * sum(w**2)              dR/dw = w         (shrinks every weight in proportion)
    kind 'l1':      R = sum(|w|)                     dR/dw = sign(w)   (the same pull on small and large weights)
    kind 'elastic': R = l1_ratio * L1 + (1 - l1_ratio) * L2, the mix of both
    kind 'none':    0.
    Inputs: w any shape; reg >= 0; l1_ratio in [0, 1]. Returns (value float, dw with w's shape).
    """
    _check_kind(kind)
    w = np.asarray(w)
    if kind == "none" or reg == 0:
        return 0.0, np.zeros_like(w)
    a = {"l2": 0.0, "l1": 1.0, "elastic": float(l1_ratio)}[kind]   # weight of the L1 part
    value = reg * (a * np.abs(w).sum() + (1 - a) * 0.5 * (w * w).sum())
    return float(value), reg * (a * np.sign(w) + (1 - a) * w)


def soft_threshold(w, t):
    """Proximal step of t * sum|w|: move every weight t towards 0 and stop at 0 (exact zeros)."""
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


def train_softmax(X, y, X_val, y_val, kind="none", reg=0.0, l1_ratio=0.5, lr=0.5, num_steps=300,
                  num_classes=None):
    """A linear softmax classifier trained by full-batch gradient descent with a weight penalty.

    The smooth part (data loss + L2 part) takes a gradient step; the L1 part takes a proximal step
    (soft_threshold by lr * reg * l1_ratio), which lands weights exactly on 0 instead of making them
    jitter around it as the subgradient sign(w) would. The bias is not penalised.
    Inputs: X (N, D), y (N,), X_val (M, D), y_val (M,). Every step uses all N examples (one epoch).
    Returns a dict: W (D, C), b (C,), loss_history (num_steps,) data loss + penalty,
    train_acc_history and val_acc_history (num_steps + 1,), entry 0 before training.
    """
    _check_kind(kind)
    C = int(num_classes or max(y.max(), y_val.max()) + 1)
    W, b = np.zeros((X.shape[1], C)), np.zeros(C)
    a = {"none": 0.0, "l2": 0.0, "l1": 1.0, "elastic": float(l1_ratio)}[kind]
    reg = 0.0 if kind == "none" else float(reg)
    hist = {"loss_history": [], "train_acc_history": [], "val_acc_history": []}

    def record():
        hist["train_acc_history"].append(float(np.mean(np.argmax(X @ W + b, 1) == y)))
        hist["val_acc_history"].append(float(np.mean(np.argmax(X_val @ W + b, 1) == y_val)))

    record()
    for _ in range(num_steps):
        loss, dscores = layers.softmax_loss(X @ W + b, y)     # (N, C)
        dW = X.T @ dscores + reg * (1 - a) * W                 # smooth part: data + L2
        hist["loss_history"].append(loss + penalty(W, kind, reg, l1_ratio)[0])
        W = soft_threshold(W - lr * dW, lr * reg * a)
        b = b - lr * dscores.sum(axis=0)
        record()
    return {"W": W, "b": b, **{k: np.array(v) for k, v in hist.items()}}


# ----------------------------------------------------------------------------- dropout
def dropout_train(x, p, scheme, rng, num_masks=1):
    """Training-time dropout of x with KEEP probability p, for num_masks independent masks.

    scheme 'plain':    keep with probability p, drop the rest (the 2012 paper's scheme)
    scheme 'inverted': the same mask divided by p (cs231n_lib.layers.dropout_forward)
    Returns (num_masks, *x.shape).
    """
    x = np.asarray(x)
    xs = np.broadcast_to(x, (num_masks,) + x.shape)
    seed = int(np.random.default_rng(rng).integers(2**32))
    if scheme == "inverted":
        return layers.dropout_forward(xs, {"p": p, "mode": "train", "seed": seed})[0]
    if scheme == "plain":
        return xs * (np.random.default_rng(seed).random(xs.shape) < p)
    raise ValueError(f"unknown dropout scheme {scheme!r}; choose 'plain' or 'inverted'")


def dropout_test(x, p, scheme):
    """Test-time dropout layer: plain dropout multiplies by the keep probability p, inverted does nothing."""
    if scheme == "inverted":
        return layers.dropout_forward(x, {"p": p, "mode": "test"})[0]
    if scheme == "plain":
        return p * np.asarray(x)
    raise ValueError(f"unknown dropout scheme {scheme!r}; choose 'plain' or 'inverted'")


# ----------------------------------------------------------------------------- batch norm, ensembles
def batch_dependence(forward_train, X, index, batch_size, num_batches, rng):
    """Outputs for the example X[index] when it shares a batch with batch_size - 1 random others.

    forward_train: a function batch (B, ...) -> outputs (B, ...) in training mode (batch statistics).
    Returns (num_batches, ...) : the example's output in each of num_batches random batches. For a
    network without batch statistics every row is the same.
    """
    gen = np.random.default_rng(rng)
    others = np.delete(np.arange(len(X)), index)
    rows = []
    for _ in range(num_batches):
        batch = np.concatenate([[index], gen.choice(others, batch_size - 1, replace=False)])
        rows.append(forward_train(X[batch])[0])
    return np.stack(rows)


def ensemble_probs(scores_list):
    """Average the softmax probabilities of several models: [(N, C), ...] -> (N, C)."""
    if len(scores_list) == 0:
        raise ValueError("an ensemble needs at least one member")
    return np.mean([softmax(np.asarray(s, dtype=np.float64)) for s in scores_list], axis=0)


class TrainTimeNoise:
    """Wrap a model so that the random z of y = f_W(x, z) comes from one seeded generator.

    On every training call loss(X, y) the wrapper gives each dropout layer of the model a fresh mask
    seed and, if `augment` is given, replaces X by augment(X, rng). Test-time calls loss(X) go to the
    model unchanged (no dropout, no augmentation). The wrapper shares the model's params dict (and
    bn_params), so the Solver trains the wrapped model itself.
    augment: None or a function (X (N, C, H, W), rng) -> X of the same shape.
    """

    def __init__(self, model, augment=None, seed=None):
        self.model, self.augment, self.rng = model, augment, np.random.default_rng(seed)
        self.params = model.params
        if hasattr(model, "bn_params"):
            self.bn_params = model.bn_params

    def loss(self, X, y=None):
        if y is None:
            return self.model.loss(X)
        for dropout_param in getattr(self.model, "dropout_params", []):
            dropout_param["seed"] = int(self.rng.integers(2**32))
        if self.augment is not None:
            X = self.augment(X, self.rng)
        return self.model.loss(X, y)


def _data_loss(model, X, y, batch_size=500):
    """Data loss (no penalty) of the model in test mode on X (N, ...), y (N,)."""
    scores = np.concatenate([model.loss(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    return float(layers.softmax_loss(scores, y)[0])


def fit(model, data, num_epochs=30, batch_size=25, update_rule="adam", optim_config=None, augment=None,
        seed=0):
    """Train with the Solver, keep the LAST weights, and record both splits' loss and accuracy.

    The Solver's default keeps the weights with the best validation accuracy (early stopping); here we
    want to watch overfitting happen, so it runs with keep_best=False, and a callback evaluates the
    current weights in test mode at the end of every epoch. Training noise (dropout masks,
    augment(X, rng)) comes from TrainTimeNoise with the same seed.
    Inputs: data with X_train (N, ...), y_train, X_val, y_val; update_rule a name in optim.RULES.
    Returns a dict: loss_history (one training-mode loss per step, penalty included) and, per epoch
    e = 0 .. num_epochs (0 = before training), train_loss_history, val_loss_history (data loss only),
    train_acc_history, val_acc_history.
    """
    net = TrainTimeNoise(model, augment, seed)
    losses = {"train": [], "val": []}

    def record_losses():
        for split in losses:
            losses[split].append(_data_loss(net, data[f"X_{split}"], data[f"y_{split}"]))

    def at_epoch_end(solver):
        if len(solver.loss_history) % solver.steps_per_epoch == 0:
            record_losses()

    record_losses()
    solver = Solver(net, data, update_rule=update_rule, optim_config=optim_config, num_epochs=num_epochs,
                    batch_size=batch_size, seed=seed, num_train_samples=None, callback=at_epoch_end,
                    keep_best=False, verbose=False, progress=False)
    solver.train()
    return {"loss_history": np.array(solver.loss_history),
            "train_loss_history": np.array(losses["train"]), "val_loss_history": np.array(losses["val"]),
            "train_acc_history": np.array(solver.train_acc_history),
            "val_acc_history": np.array(solver.val_acc_history)}


def summarise(histories):
    """Mean over runs of the last epoch's train / val accuracy and loss, and the two gaps.

    histories: a list of dicts from fit(). Returns a dict with train_acc, val_acc, train_loss, val_loss,
    acc_gap = train_acc - val_acc and loss_gap = val_loss - train_loss (both > 0 when overfitting).
    """
    if len(histories) == 0:
        raise ValueError("summarise needs at least one run")
    out = {k: float(np.mean([h[f"{k}_history"][-1] for h in histories]))
           for k in ("train_acc", "val_acc", "train_loss", "val_loss")}
    out["acc_gap"] = out["train_acc"] - out["val_acc"]
    out["loss_gap"] = out["val_loss"] - out["train_loss"]
    return out


# ----------------------------------------------------------------------------- what the case studies used
# From the papers: Krizhevsky et al. 2012 (AlexNet) sec. 4; Simonyan & Zisserman 2014 (VGG) sec. 3.1;
# Szegedy et al. 2014 (GoogLeNet) sec. 5-6; He et al. 2015 (ResNet) sec. 3.4; Zagoruyko & Komodakis
# 2016 (Wide Residual Networks) sec. 2.4 and 3. Dropout rates are written
# as the KEEP probability p of this course, with the papers' drop ratio in brackets.
CASE_STUDIES = {
    "AlexNet (2012)": {
        "dropout": "FC6, FC7: p = 0.5 (drop 0.5)", "batch norm": False, "weight decay": 5e-4,
        "augmentation": "224x224 crops of 256x256 images, horizontal flips, PCA colour (lighting) noise",
    },
    "VGG (2014)": {
        "dropout": "FC6, FC7: p = 0.5 (drop 0.5)", "batch norm": False, "weight decay": 5e-4,
        "augmentation": "224x224 crops, flips, AlexNet's colour shift, scale jittering (shorter side 256-512)",
    },
    "GoogLeNet (2014)": {
        "dropout": "before the classifier: p = 0.6 (drop 0.4)", "batch norm": False, "weight decay": None,
        "augmentation": "crops of 8%-100% of the area, aspect ratio 3/4-4/3, photometric distortions",
    },
    "ResNet (2015)": {
        "dropout": None, "batch norm": True, "weight decay": 1e-4,
        "augmentation": "scale augmentation (shorter side 256-480), 224x224 crops, flips, AlexNet's colour noise",
    },
    "Wide ResNet (2016)": {
        "dropout": "between the convs of a block: p = 0.7 (drop 0.3)", "batch norm": True,
        "weight decay": 5e-4, "augmentation": "flips, random crops of 4-pixel zero-padded 32x32 images (CIFAR)",
    },
}


# ----------------------------------------------------------------------------- data augmentation
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights of R, G, B in perceived brightness


# ----------------------------------------------------------------------------- layouts
def _rng(rng):
    """A Generator from a Generator (returned unchanged) or an int seed."""
    if rng is None:
        raise TypeError("pass rng: a np.random.Generator or an int seed (augmentation must be reproducible)")
    return np.random.default_rng(rng)


def _to_batch(x):
    """(H, W), (H, W, C) or (N, C, H, W) -> (batch (N, C, H, W) float, layout name)."""
    x = check_array(x, "x", shape_hint="(H, W), (H, W, C) or (N, C, H, W)")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.ndim == 2:
        return x[None, None], "hw"
    if x.ndim == 3:
        return x.transpose(2, 0, 1)[None], "hwc"
    if x.ndim == 4:
        return x, "nchw"
    raise ValueError(f"x must be (H, W), (H, W, C) or (N, C, H, W), got shape {x.shape}")


def _from_batch(xb, layout):
    if layout == "hw":
        return xb[0, 0]
    if layout == "hwc":
        return xb[0].transpose(1, 2, 0)
    return xb


# ----------------------------------------------------------------------------- flips and crops
def horizontal_flip(x):
    """Mirror left-right (the last spatial axis). Same shape as x. Flipping twice gives x back."""
    xb, layout = _to_batch(x)
    return _from_batch(xb[..., ::-1].copy(), layout)


def random_flip(x, rng, p=0.5):
    """Mirror each image left-right with probability p (one coin per image of a batch)."""
    xb, layout = _to_batch(x)
    flip = _rng(rng).random(len(xb)) < p                    # (N,)
    out = xb.copy()
    out[flip] = xb[flip][..., ::-1]
    return _from_batch(out, layout)


def crop(x, top, left, height, width):
    """The height x width window whose top-left pixel is (top, left). Raises ValueError if it sticks out."""
    xb, layout = _to_batch(x)
    H, W = xb.shape[2:]
    if not (0 <= top and 0 <= left and 0 < height and 0 < width and top + height <= H and left + width <= W):
        raise ValueError(f"crop window rows {top}..{top + height}, columns {left}..{left + width} "
                         f"does not fit in an image of size {H}x{W}")
    return _from_batch(xb[:, :, top:top + height, left:left + width].copy(), layout)


def random_crop(x, size, rng, pad=0, fill=0.0):
    """A random size = (h, w) window of each image, after padding every side with `pad` pixels of fill.

    pad = 0: crops of a photograph (AlexNet: 224x224 windows of 256x256 images);
    pad > 0, size = (H, W): the image shifted by up to pad pixels (the CIFAR recipe).
    Returns (h, w[, C]) for one image, (N, C, h, w) for a batch.
    """
    xb, layout = _to_batch(x)
    h, w = (size, size) if isinstance(size, numbers.Integral) else (int(s) for s in size)
    if pad:
        xb = np.pad(xb, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    N, C, H, W = xb.shape
    if h > H or w > W:
        raise ValueError(f"crop size {h}x{w} is larger than the (padded) image {H}x{W}")
    gen = _rng(rng)
    tops, lefts = gen.integers(0, H - h + 1, N), gen.integers(0, W - w + 1, N)
    out = np.stack([xb[n, :, t:t + h, l:l + w] for n, (t, l) in enumerate(zip(tops, lefts))])
    return _from_batch(out, layout)


# ----------------------------------------------------------------------------- geometry
def _bilinear(xb, ys, xs, fill):
    """Read xb (N, C, H, W) at fractional rows ys and columns xs (N, H_out, W_out) -> (N, C, H_out, W_out)."""
    N, C, H, W = xb.shape
    # Snap away floating-point dust (cos 90 deg = 6e-17) so whole-pixel moves copy pixels exactly.
    ys, xs = np.round(ys, 9), np.round(xs, 9)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    wy, wx = ys - y0, xs - x0
    n = np.arange(N)[:, None, None]                           # (N, 1, 1) broadcasts with the maps
    out = np.zeros((N, ys.shape[1], ys.shape[2], C))          # (N, H_out, W_out, C)
    for dy, dx, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                           (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
        vals = xb[n, :, np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]  # (N, H_out, W_out, C)
        vals = np.where(inside[..., None], vals, fill)
        out += weight[..., None] * vals
    return out.transpose(0, 3, 1, 2).astype(xb.dtype, copy=False)


def affine_transform(x, A, t=(0.0, 0.0), fill=0.0, out_size=None):
    """Move every image by the affine map o - c_out = A (s - c_in) + t, read with bilinear sampling.

    Coordinates are (row, column) measured from the image centre c = ((H - 1) / 2, (W - 1) / 2), so A
    rotates / stretches about the centre and t = (dy, dx) shifts down and right by dy, dx pixels.
    Inputs: x (H, W), (H, W, C) or (N, C, H, W); A (2, 2) or one per image (N, 2, 2); t (2,) or (N, 2);
    fill: value of pixels that come from outside; out_size: (H_out, W_out), default the input's size.
    Returns the moved image(s) in x's layout.
    """
    xb, layout = _to_batch(x)
    N, C, H, W = xb.shape
    H_out, W_out = (H, W) if out_size is None else (int(s) for s in out_size)
    A = np.broadcast_to(np.asarray(A, dtype=np.float64), (N, 2, 2))
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), (N, 2))
    A_inv = np.linalg.inv(A)                                     # (N, 2, 2): output -> input
    rows, cols = np.meshgrid(np.arange(H_out) - (H_out - 1) / 2, np.arange(W_out) - (W_out - 1) / 2,
                             indexing="ij")
    o = np.stack([rows, cols])[None] - t[:, :, None, None]       # (N, 2, H_out, W_out)
    s = np.einsum("nij,njhw->nihw", A_inv, o)                    # source offsets from the centre
    return _from_batch(_bilinear(xb, s[:, 0] + (H - 1) / 2, s[:, 1] + (W - 1) / 2, fill), layout)


def _rotation(degrees):
    """(..., 2, 2) matrices turning (row, col) offsets counter-clockwise on screen (rows point down)."""
    a = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def translate(x, dy, dx, fill=0.0):
    """Shift down by dy and right by dx pixels (fractions allowed); uncovered pixels get fill.

    Whole-pixel shifts equal np.roll with the wrapped-around part replaced by fill.
    """
    return affine_transform(x, np.eye(2), (dy, dx), fill)


def rotate(x, degrees, fill=0.0):
    """Rotate counter-clockwise by `degrees` about the image centre (90 degrees on a square = np.rot90)."""
    return affine_transform(x, _rotation(degrees), (0.0, 0.0), fill)


def stretch(x, sy, sx=None, fill=0.0):
    """Scale rows by sy and columns by sx (default sx = sy) about the centre: > 1 zooms in, < 1 out."""
    sx = sy if sx is None else sx
    if sy <= 0 or sx <= 0:
        raise ValueError(f"stretch factors must be positive, got sy={sy}, sx={sx}")
    return affine_transform(x, np.diag([sy, sx]), (0.0, 0.0), fill)


def random_affine(x, rng, degrees=10.0, shift=1.0, scale=(0.9, 1.1), max_stretch=0.0, fill=0.0):
    """A random small rotation, shift, zoom and stretch per image (the digits recipe).

    degrees: rotation uniform in [-degrees, degrees]; shift: dy, dx uniform in [-shift, shift] pixels;
    scale: zoom factor uniform in scale; max_stretch: extra factor on columns, uniform in
    [1 - max_stretch, 1 + max_stretch] (changes the aspect ratio). Returns x's layout.
    """
    xb, layout = _to_batch(x)
    N, gen = len(xb), _rng(rng)
    angle = gen.uniform(-degrees, degrees, N)
    zoom = gen.uniform(scale[0], scale[1], N)
    aspect = gen.uniform(1 - max_stretch, 1 + max_stretch, N)
    t = gen.uniform(-shift, shift, (N, 2))
    A = _rotation(angle) @ (zoom[:, None, None] * np.stack([np.eye(2)] * N))
    A[:, :, 1] *= aspect[:, None]                                # stretch the column direction
    return _from_batch(affine_transform(xb, A, t, fill), layout)


def random_resized_crop(x, rng, size=None, area=(0.25, 1.0), ratio=(3 / 4, 4 / 3)):
    """A random window covering a fraction `area` of the image with aspect ratio in `ratio`, resized
    to `size` (default the input size) with bilinear sampling: crops, zooms and stretches in one
    (GoogLeNet's recipe). Returns x's layout with spatial size `size`."""
    xb, layout = _to_batch(x)
    N, _, H, W = xb.shape
    H_out, W_out = (H, W) if size is None else ((size, size) if isinstance(size, numbers.Integral) else size)
    gen = _rng(rng)
    frac = gen.uniform(*area, N)
    aspect = np.exp(gen.uniform(np.log(ratio[0]), np.log(ratio[1]), N))   # width / height of the window
    h = np.minimum(np.sqrt(frac * H * W / aspect), H)
    w = np.minimum(h * aspect, W)
    cy = gen.uniform(-(H - h) / 2, (H - h) / 2)                 # window centre, offset from the image centre
    cx = gen.uniform(-(W - w) / 2, (W - w) / 2)
    A = np.zeros((N, 2, 2))
    A[:, 0, 0], A[:, 1, 1] = H_out / h, W_out / w                # the window fills the output
    t = -np.stack([A[:, 0, 0] * cy, A[:, 1, 1] * cx], 1)        # and its centre lands on the output centre
    out = affine_transform(xb, A, t, fill=0.0, out_size=(H_out, W_out))
    return _from_batch(out, layout)


# ----------------------------------------------------------------------------- colour
def _channels(x):
    """(batch (N, C, H, W), layout) for the colour functions; C must be 1 or 3."""
    xb, layout = _to_batch(x)
    if xb.shape[1] not in (1, 3):
        raise ValueError(f"colour functions need 1 or 3 channels, got {xb.shape[1]} (shape {np.shape(x)})")
    return xb, layout


def _gray(xb):
    """Luminance (N, 1, H, W) of (N, 3, H, W) images; grey images are their own luminance."""
    if xb.shape[1] == 1:
        return xb
    return np.einsum("c,nchw->nhw", LUMA.astype(xb.dtype), xb)[:, None]


def _factors(value, N):
    f = np.broadcast_to(np.asarray(value, dtype=np.float64), (N,))
    if np.any(f < 0):
        raise ValueError(f"colour factors must be >= 0, got {value}")
    return f[:, None, None, None]


def _blend(xb, base, factor, layout):
    """base + factor * (x - base), clipped to [0, 1]: factor 0 gives base, 1 gives x back."""
    out = np.clip(base + _factors(factor, len(xb)) * (xb - base), 0.0, 1.0).astype(xb.dtype, copy=False)
    return _from_batch(out, layout)


def adjust_brightness(x, factor):
    """Multiply every pixel by factor (scalar or one per image), clipped to [0, 1]."""
    xb, layout = _channels(x)
    return _blend(xb, np.zeros_like(xb), factor, layout)


def adjust_contrast(x, factor):
    """Move every pixel towards (factor < 1) or away from (> 1) the image's mean luminance."""
    xb, layout = _channels(x)
    return _blend(xb, _gray(xb).mean(axis=(1, 2, 3), keepdims=True), factor, layout)


def adjust_saturation(x, factor):
    """Move every pixel towards (factor < 1: 0 is black and white) or away from its own luminance."""
    xb, layout = _channels(x)
    return _blend(xb, _gray(xb), factor, layout)


def color_jitter(x, rng, brightness=0.4, contrast=0.4, saturation=0.4):
    """Random brightness, contrast and saturation factors, each uniform in [1 - s, 1 + s], per image.

    Values stay in [0, 1]. (Inputs are expected in [0, 1], like cs231n_lib.data.sample_image.)
    """
    xb, layout = _channels(x)
    gen, N = _rng(rng), len(xb)
    for adjust, s in ((adjust_brightness, brightness), (adjust_contrast, contrast),
                      (adjust_saturation, saturation)):
        xb = adjust(xb, gen.uniform(max(0.0, 1 - s), 1 + s, N))
    return _from_batch(xb, layout)


def pca_lighting(x, rng, std=0.1, eigvals=None, eigvecs=None):
    """AlexNet's lighting noise: add sum_i alpha_i * lambda_i * v_i to every pixel, alpha_i ~ N(0, std^2).

    (lambda_i, v_i) are the eigenvalues / eigenvectors of the 3x3 covariance of RGB pixel values
    (AlexNet used the whole training set's; by default we use each image's own). The shift follows the
    directions in which natural colours vary (mostly brighter / darker, then warmer / cooler), so it
    mimics a change of illumination. Values are clipped to [0, 1]. Needs 3 channels.
    """
    xb, layout = _channels(x)
    if xb.shape[1] != 3:
        raise ValueError("pca_lighting needs RGB images (3 channels)")
    gen, N = _rng(rng), len(xb)
    out = np.empty_like(xb)
    for n in range(N):
        if eigvals is None:
            pixels = xb[n].reshape(3, -1)                        # (3, H*W)
            lam, vec = np.linalg.eigh(np.cov(pixels))
        else:
            lam, vec = np.asarray(eigvals, dtype=np.float64), np.asarray(eigvecs, dtype=np.float64)
        shift = vec @ (gen.normal(0.0, std, 3) * lam)            # (3,) one colour shift per image
        out[n] = np.clip(xb[n] + shift[:, None, None], 0.0, 1.0)
    return _from_batch(out, layout)


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
def dropout_network(layer_sizes, keep=None, ax=None, title=None):
    """A fully connected network drawn as circles and lines, with dropped units crossed out.

    layer_sizes: units per layer, input first, e.g. (4, 6, 6, 2);  keep: None (every unit on) or one
    boolean array per layer (True = kept); a dropped unit loses all its connections, so the drawing
    shows the thinned network that one dropout mask trains. Returns the axes.
    """
    sizes = [int(s) for s in layer_sizes]
    keep = [np.ones(s, bool) for s in sizes] if keep is None else [np.asarray(k, bool) for k in keep]
    if [len(k) for k in keep] != sizes:
        raise ValueError(f"keep must have one boolean per unit: layer sizes {sizes}, got {[len(k) for k in keep]}")
    ax = _new_ax(ax, figsize=(1.3 * len(sizes) + 1, 3.2))
    top = max(sizes)
    pos = [np.column_stack([np.full(s, i), (s - 1) / 2 - np.arange(s)]) for i, s in enumerate(sizes)]  # centred
    for (p0, k0), (p1, k1) in zip(zip(pos, keep), zip(pos[1:], keep[1:])):
        for a in p0[k0]:
            for b in p1[k1]:
                ax.plot([a[0], b[0]], [a[1], b[1]], color=MUTED, lw=0.8, zorder=1)
    for i, (p, k) in enumerate(zip(pos, keep)):
        color = COLORS[0] if i in (0, len(sizes) - 1) else COLORS[2]
        ax.scatter(p[k, 0], p[k, 1], s=230, color=color, edgecolor=INK, zorder=2)
        ax.scatter(p[~k, 0], p[~k, 1], s=230, facecolor="white", edgecolor=MUTED, zorder=2)
        ax.scatter(p[~k, 0], p[~k, 1], s=120, marker="x", color=COLORS[1], linewidths=2, zorder=3)
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-(top - 1) / 2 - 0.6, (top - 1) / 2 + 0.6)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def weight_histograms(weights, bins=61, zero_tol=0.0, title=None):
    """One histogram per weight array (e.g. per penalty), on a shared value range and log counts.

    weights: {name: array};  zero_tol: |w| <= zero_tol counts as zero (0.0 = exactly zero).
    Each panel's title gives the share of zeros and the mean |w|. Returns the figure.
    """
    names = list(weights)
    values = [np.asarray(weights[k], dtype=np.float64).ravel() for k in names]
    lim = max(np.abs(v).max() for v in values) or 1.0
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 2.9 + 0.3 * bool(title)),
                             sharex=True, sharey=True, squeeze=False)
    for i, (ax, name, v) in enumerate(zip(axes[0], names, values)):
        ax.hist(v, bins=bins, range=(-lim, lim), color=COLORS[i % len(COLORS)], log=True)
        zeros = np.mean(np.abs(v) <= zero_tol)
        ax.set_title(f"{name}\n{zeros:.0%} zero, mean |w| {np.abs(v).mean():.3f}", fontsize=10)
        ax.set_xlabel("weight")
    axes[0, 0].set_ylabel("count (log scale)")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def generalisation_curves(runs, title=None, loss_ylim=None):
    """Train (dashed) and validation (solid) loss and accuracy per epoch, one colour per run.

    runs: {name: dict with train_loss_history, val_loss_history, train_acc_history, val_acc_history}
    (as returned by fit and train_softmax-like helpers; missing loss keys skip
    the loss panel). The space between a run's dashed and solid line is its generalisation gap.
    Returns the figure.
    """
    has_loss = all("val_loss_history" in h for h in runs.values())
    fig, axes = plt.subplots(1, 1 + has_loss, figsize=(5.0 * (1 + has_loss), 3.8), squeeze=False)
    panels = (("loss", "loss"), ("acc", "accuracy")) if has_loss else (("acc", "accuracy"),)
    for ax, (key, label) in zip(axes[0], panels):
        for i, (name, h) in enumerate(runs.items()):
            color = COLORS[i % len(COLORS)]
            ax.plot(h[f"train_{key}_history"], color=color, ls="--", lw=1.5)
            ax.plot(h[f"val_{key}_history"], color=color, label=name)
        ax.set(xlabel="epoch", ylabel=label, title=f"{label}: train (dashed) vs validation (solid)")
        ax.legend()
    if has_loss and loss_ylim is not None:
        axes[0, 0].set_ylim(*loss_ylim)
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def strip_plot(groups, marks=None, ax=None, ylabel=None, title=None, seed=0):
    """Every value of every group as a jittered dot, with an optional reference line per group.

    groups: {label: (M,) values} (e.g. one example's output in M different batches);
    marks: {label: value} drawn as a short black line (e.g. the test-time output). Returns the axes.
    """
    ax = _new_ax(ax, figsize=(max(4.0, 1.2 * len(groups) + 1.5), 3.6))
    rng = np.random.default_rng(seed)
    for i, (label, v) in enumerate(groups.items()):
        v = np.asarray(v, dtype=np.float64).ravel()
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(v)), v, s=9, alpha=0.6, color=COLORS[i % len(COLORS)])
        if marks is not None and label in marks:
            ax.plot([i - 0.3, i + 0.3], [marks[label]] * 2, color=INK, lw=2.5)
    ax.set_xticks(range(len(groups)), [str(k) for k in groups])
    ax.grid(axis="x", visible=False)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax
