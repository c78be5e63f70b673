"""Data augmentation in pure NumPy: flips, crops, colour jitter, translation, rotation, stretching.

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

import numpy as np

from .shapes import check_array

__all__ = [
    "horizontal_flip", "random_flip", "crop", "random_crop", "affine_transform", "translate", "rotate",
    "stretch", "random_affine", "random_resized_crop", "adjust_brightness", "adjust_contrast",
    "adjust_saturation", "color_jitter", "pca_lighting", "LUMA",
]

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
