"""Vectorised convolution, pooling and batch normalisation layers.

Every layer follows the one contract of the course: ``<layer>_forward(...) -> (out, cache)`` and
``<layer>_backward(dout, cache) -> gradients``. Images are ``(N, C, H, W)``, conv filters
``(F, C, HH, WW)``. Output sizes come from ``cs231n_lib.shapes``:

    H_out = (H - HH_eff + 2P) / S + 1,    HH_eff = D * (HH - 1) + 1   (dilation D; D = 1 is ordinary)

and a configuration whose windows do not tile the input raises ValueError instead of cropping.

Read top to bottom: im2col / col2im, the convolution layer, pooling, batch normalisation.
Where the speed comes from (each idea is explained again where it is used):
- im2col: a Python loop only over the HH*WW kernel offsets. For a fixed offset (i, j) the pixels it
  reads, one per output position, form a strided *view* of the input, so each step is one slice copy
  (``im2col``) or slice-add (``col2im``); the convolution is then a matrix multiply (GEMM) per image.
  This general path handles every stride, padding and dilation.
- Fewer multiplies: 3x3 stride-1 layers use Winograd's F(2x2, 3x3) (16 multiplies per 2x2 output
  tile instead of 36); big kernels use the convolution theorem, with small DFTs done as matrix
  multiplies. Both live in ``cs231n_lib._fast_conv_algorithms``; ``conv_algorithm`` says which
  algorithm a layer gets; all give the same numbers up to rounding.
- Memory and threads (``cs231n_lib._threads``): a few images at a time, so temporaries stay in the
  CPU cache; scratch buffers reused from call to call (fresh large arrays page-fault); large
  element-wise passes split over threads (NumPy releases the GIL).
- Pooling is a running maximum over strided views (no reductions over tiny axes) and one scatter-add
  backwards; spatial batch norm works on (N, C, H*W) directly, block by block.

Arithmetic stays in the common dtype of the inputs: float32 in gives float32 out.
These are the reference implementations; the graded ``*_naive`` versions are written by students.
"""
from __future__ import annotations

import functools

import numpy as np

from cs231n_lib import _fast_conv_algorithms as _algorithms, _threads
from cs231n_lib.shapes import check_array, conv_output_size, pool_output_size

__all__ = [
    "im2col", "col2im",
    "conv_algorithm", "conv_forward_fast", "conv_backward_fast",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "avg_pool_forward_fast", "avg_pool_backward_fast",
    "batchnorm_forward_fast", "batchnorm_backward_fast",
    "spatial_batchnorm_forward_fast", "spatial_batchnorm_backward_fast",
]

_IMAGES = "(N, C, H, W)"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _read_params(params, name, required, optional=None):
    """Return the values of `required` keys then `optional` ones (with defaults) from a param dict."""
    optional = optional or {}
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict, got {type(params).__name__}")
    missing = [k for k in required if k not in params]
    unknown = sorted(set(params) - set(required) - set(optional))
    if unknown or missing:
        # a typo such as 'padding' would otherwise be ignored silently (or reported as a missing 'pad')
        problems = []
        if unknown:
            problems.append(f"has unknown keys {unknown}")
        if missing:
            problems.append(f"is missing {missing}")
        raise ValueError(f"{name} {' and '.join(problems)}; allowed: {list(required) + list(optional)}, "
                         f"of which {list(required)} are required")
    return [params[k] for k in required] + [params.get(k, v) for k, v in optional.items()]


def _check_dout(dout, shape):
    dout = check_array(dout, "dout")
    if dout.shape != tuple(shape):
        raise ValueError(f"dout has shape {dout.shape} but the forward output had shape {tuple(shape)}")
    return dout


def _windows(H_out, W_out, i, j, S, D=1):
    """Index for the strided view of the pixels that kernel offset (i, j) reads, one per output."""
    return (slice(None), slice(None),
            slice(i * D, i * D + S * (H_out - 1) + 1, S),
            slice(j * D, j * D + S * (W_out - 1) + 1, S))


# ----------------------------------------------------------------------------------------------
# im2col / col2im
# ----------------------------------------------------------------------------------------------
def _pad(x, P):
    """Zero-pad the two spatial axes of (N, C, H, W) by P on every side, into a scratch buffer.

    Only for temporaries (no copy at all when P = 0)."""
    if not P:
        return x
    N, C, H, W = x.shape
    x_pad = _threads.scratch("padded input", (N, C, H + 2 * P, W + 2 * P), x.dtype)
    x_pad[:, :, :P], x_pad[:, :, P + H:], x_pad[:, :, :, :P], x_pad[:, :, :, P + W:] = 0, 0, 0, 0
    x_pad[:, :, P:P + H, P:P + W] = x
    return x_pad


def _stretch(x_pad, HH, WW, S, D, H_out, W_out, extra_row=False):
    """Receptive fields of a padded input as (N, C, HH, WW, H_out, W_out), one slice copy per offset.

    Entry [n, c, i, j, y, x] = x_pad[n, c, y*S + i*D, x*S + j*D]. Keeping the image index n first lets
    the convolution run one GEMM per image that writes straight into the (N, F, ...) output.
    With extra_row, returns (N, C*HH*WW + 1, H_out*W_out) instead, the last row all ones.
    """
    N, C = x_pad.shape[:2]
    K = C * HH * WW
    flat = np.empty((N, K + extra_row, H_out * W_out), dtype=x_pad.dtype)
    cols = flat[:, :K].reshape(N, C, HH, WW, H_out, W_out)

    def fill(part):
        for i in range(HH):
            for j in range(WW):
                cols[part, :, i, j] = x_pad[part][_windows(H_out, W_out, i, j, S, D)]
        flat[part, K:] = 1

    _threads.parallel(fill, _threads.parts(N, flat.nbytes))
    return flat if extra_row else cols


def _unstretch(cols, x_shape, S, P, D):
    """Adjoint of `_stretch` + padding: sum (N, C, HH, WW, H_out, W_out) fields back onto (N, C, H, W)."""
    N, C, HH, WW, H_out, W_out = cols.shape
    H, W = x_shape[2:]
    x_pad = np.empty((N, C, H + 2 * P, W + 2 * P), cols.dtype)

    def add(part):
        x_pad[part] = 0
        for i in range(HH):
            for j in range(WW):
                # one offset never hits a pixel twice, so a plain slice-add is safe (no np.add.at)
                x_pad[part][_windows(H_out, W_out, i, j, S, D)] += cols[part, :, i, j]

    _threads.parallel(add, _threads.parts(N, cols.nbytes))
    return x_pad[:, :, P:P + H, P:P + W]


def im2col(x, HH, WW, stride=1, pad=0, dilation=1):
    """Stretch every receptive field of `x` into a column.

    Inputs:
    - x: (N, C, H, W)
    - HH, WW: window height and width; stride S, zero padding P, dilation D (1 = ordinary)

    Returns cols: (C*HH*WW, N*H_out*W_out). Row (c, i, j) and column (n, y, x), both in C order:
    cols[(c*HH + i)*WW + j, (n*H_out + y)*W_out + x] = x_pad[n, c, y*S + i*D, x*S + j*D].
    AlexNet CONV1 on one 227x227x3 image (11x11, S=4): (363, 3025).
    """
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    N, C, H, W = x.shape
    H_out = conv_output_size(H, HH, stride, pad, dilation, name="height")
    W_out = conv_output_size(W, WW, stride, pad, dilation, name="width")
    cols = _stretch(_pad(x, pad), HH, WW, stride, dilation, H_out, W_out)   # (N, C, HH, WW, H_out, W_out)
    return cols.transpose(1, 2, 3, 0, 4, 5).reshape(C * HH * WW, N * H_out * W_out)


def col2im(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    """Scatter columns back onto an image, summing where receptive fields overlap.

    Inputs:
    - cols: (C*HH*WW, N*H_out*W_out), laid out as `im2col` makes them
    - x_shape: (N, C, H, W) of the image; HH, WW, stride, pad, dilation as for `im2col`

    Returns (N, C, H, W). col2im is the adjoint (transpose) of im2col, not its inverse:
    <im2col(x), cols> == <x, col2im(cols)>, which is exactly what the conv backward pass needs.
    """
    cols = check_array(cols, "cols", ndim=2)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be {_IMAGES}, got {tuple(x_shape)}")
    N, C, H, W = (int(s) for s in x_shape)
    H_out = conv_output_size(H, HH, stride, pad, dilation, name="height")
    W_out = conv_output_size(W, WW, stride, pad, dilation, name="width")
    expected = (C * HH * WW, N * H_out * W_out)
    if cols.shape != expected:
        raise ValueError(f"cols has shape {cols.shape} but x_shape {tuple(x_shape)} with a "
                         f"{HH}x{WW} window needs (C*HH*WW, N*H_out*W_out) = {expected}")
    cols = cols.reshape(C, HH, WW, N, H_out, W_out).transpose(3, 0, 1, 2, 4, 5)
    return _unstretch(cols, (N, C, H, W), stride, pad, dilation)


# ----------------------------------------------------------------------------------------------
# convolution: one public layer, three algorithms
# ----------------------------------------------------------------------------------------------
# Where the fast paths start to pay, measured on the 2-core benchmark machine: below these sizes
# their transforms cost more than the multiplies they save.
_WINOGRAD_MIN_CHANNELS = 16      # Winograd: enough input channels for its 16 GEMMs to dominate ...
_WINOGRAD_MIN_WIDTH = 16         # ... and >= 8 tiles per row (each row of tiles carries a spare one)
_FOURIER_MIN_CHANNELS = 8
_FOURIER_MIN_KERNEL = 5          # the Fourier path wins for kernels of 5x5 and larger ...
_FOURIER_MAX_SIZE = 64           # ... on small images (a matrix DFT costs O(L) per point, not O(log L))


def conv_algorithm(x_shape, w_shape, conv_param):
    """Which algorithm `conv_forward_fast` uses for these shapes: 'winograd', 'fourier' or 'im2col'.

    - 'winograd': 3x3 filters, stride 1, dilation 1, at least 16 input channels, output width >= 16
    - 'fourier': stride 1, dilation 1, kernels of 5x5 or larger, at least 8 input channels,
      padded image at most 64x64 (`conv_forward_fast` still sends an input holding NaN or infinity
      to 'im2col': in the frequency domain one bad pixel would reach every output)
    - 'im2col': everything else (strides, dilation, few channels, small or big images)

    Inputs: x_shape (N, C, H, W), w_shape (F, C, HH, WW), conv_param as for `conv_forward_fast`.
    All three algorithms give the same numbers up to rounding.
    """
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"need x_shape {_IMAGES} and w_shape (F, C, HH, WW), got {tuple(x_shape)} and "
                         f"{tuple(w_shape)}")
    S, P, D = _read_params(conv_param, "conv_param", ("stride", "pad"), {"dilation": 1})
    C, H, W = x_shape[1:]
    HH, WW = w_shape[2:]
    if S != 1 or D != 1:
        return "im2col"
    if HH == WW == 3 and C >= _WINOGRAD_MIN_CHANNELS and W + 2 * P - 2 >= _WINOGRAD_MIN_WIDTH:
        return "winograd"
    if (min(HH, WW) >= _FOURIER_MIN_KERNEL and C >= _FOURIER_MIN_CHANNELS
            and max(H, W) + 2 * P <= _FOURIER_MAX_SIZE):
        return "fourier"
    return "im2col"


def conv_forward_fast(x, w, b, conv_param):
    """Convolutional layer (cross-correlation, as every framework computes it).

    Inputs:
    - x: (N, C, H, W) images
    - w: (F, C, HH, WW) filters; b: (F,) biases
    - conv_param: {'stride': S, 'pad': P (zeros on every side), 'dilation': D (optional, 1 = ordinary)}

    Returns:
    - out: (N, F, H_out, W_out), H_out = (H - D*(HH-1) - 1 + 2P) / S + 1 (W_out likewise)
    - cache: (x, w, b, conv_param, (algorithm, saved)); `saved` is what the algorithm keeps for the
      backward pass: the stretched fields (N, C*HH*WW + 1, H_out*W_out) for im2col, the transformed
      filters for Winograd, the spectra of x and w for the Fourier path.

    The algorithm is picked from the shapes by `conv_algorithm` (im2col + one GEMM per image in
    general; Winograd F(2x2, 3x3) for 3x3 stride-1 layers; the convolution theorem for big kernels,
    in `cs231n_lib._fast_conv_algorithms`). All three give the same numbers up to rounding.
    Computed in the common dtype of x, w and b (all float32 -> float32 throughout).
    """
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    w = check_array(w, "w", ndim=4, shape_hint="(F, C, HH, WW)")
    b = check_array(b, "b", ndim=1, shape_hint="(F,)")
    S, P, D = _read_params(conv_param, "conv_param", ("stride", "pad"), {"dilation": 1})
    N, C, H, W = x.shape
    F, C_w, HH, WW = w.shape
    if C != C_w:
        raise ValueError(f"x has {C} channels but w expects {C_w} (x {x.shape}, w {w.shape})")
    if b.shape != (F,):
        raise ValueError(f"b must have shape (F,) = ({F},) for {F} filters, got {b.shape}")
    dtype = np.result_type(x, w, b)
    x, w, b = x.astype(dtype, copy=False), w.astype(dtype, copy=False), b.astype(dtype, copy=False)

    H_out = conv_output_size(H, HH, S, P, D, name="height")
    W_out = conv_output_size(W, WW, S, P, D, name="width")
    algorithm = conv_algorithm(x.shape, w.shape, conv_param)
    if algorithm == "fourier" and not np.isfinite(x).all():
        algorithm = "im2col"                     # keeps a NaN or inf local to the windows it is in
    if N == 0:
        out, saved = np.zeros((0, F, H_out, W_out), dtype), None
    elif algorithm == "winograd":
        out, saved = _algorithms.winograd_forward(x, w, b, P)
    elif algorithm == "fourier":
        out, saved = _algorithms.fourier_forward(x, w, b, P)
    else:
        out, saved = _im2col_forward(x, w, b, S, P, D, H_out, W_out)
    return out, (x, w, b, conv_param, (algorithm, saved))          # out: (N, F, H_out, W_out)


def conv_backward_fast(dout, cache):
    """Backward pass of `conv_forward_fast`.

    Inputs:
    - dout: (N, F, H_out, W_out) upstream gradient
    - cache: (x, w, b, conv_param, (algorithm, saved)) from the forward pass

    Returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,). Every output position shares the same
    filter, so dw sums all their contributions. Each algorithm runs its own forward steps in
    reverse order, each one transposed.
    """
    x, w, b, conv_param, (algorithm, saved) = cache
    S, P, D = _read_params(conv_param, "conv_param", ("stride", "pad"), {"dilation": 1})
    F, _, HH, WW = w.shape
    N, _, H, W = x.shape
    H_out = conv_output_size(H, HH, S, P, D, name="height")
    W_out = conv_output_size(W, WW, S, P, D, name="width")
    dout = _check_dout(dout, (N, F, H_out, W_out)).astype(x.dtype, copy=False)

    if N == 0:
        return np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    if algorithm == "fourier" and not np.isfinite(dout).all():
        # in the frequency domain one bad gradient would reach every pixel of dx: take the im2col way
        algorithm, saved = "im2col", _im2col_forward(x, w, b, S, P, D, H_out, W_out)[1]
    if algorithm == "winograd":
        dx, dw = _algorithms.winograd_backward(dout, x, saved, P)
    elif algorithm == "fourier":
        dx, dw = _algorithms.fourier_backward(dout, x.shape, w.shape, saved, P)
    else:
        return _im2col_backward(dout, x.shape, w, saved, S, P, D)
    return dx, dw, dout.sum(axis=(0, 2, 3))                           # db: (F,)


def _im2col_forward(x, w, b, S, P, D, H_out, W_out):
    """General convolution: stretch the receptive fields, then one (F, C*HH*WW + 1) GEMM per image.

    The "bias trick": each column of receptive field gets an extra entry 1 and the filter matrix the
    extra column b, so the GEMM adds the bias itself (and the backward GEMM returns db with dw).
    """
    N = x.shape[0]
    F = w.shape[0]
    K = w[0].size
    cols = _stretch(_pad(x, P), *w.shape[2:], S, D, H_out, W_out, extra_row=True)
    cols = cols.reshape(N, K + 1, H_out * W_out)                      # (N, C*HH*WW + 1, H_out*W_out)
    wb = np.hstack([w.reshape(F, K), b[:, None]])                     # (F, C*HH*WW + 1)
    out = np.empty((N, F, H_out * W_out), x.dtype)

    def run(blocks):                                                  # a thread's share of the GEMMs
        for blk in blocks:
            np.matmul(wb, cols[blk], out=out[blk])

    _threads.over_chunks(run, _threads.image_blocks(N, cols[0].nbytes))
    return out.reshape(N, F, H_out, W_out), cols


def _im2col_backward(dout, x_shape, w, cols, S, P, D):
    """Backward of `_im2col_forward`: [dw | db] = dout @ cols^T summed over images, dx = col2im(w^T @ dout)."""
    N, F, H_out, W_out = dout.shape
    rows = dout.reshape(N, F, H_out * W_out)
    wT = w.reshape(F, -1).T                                           # (C*HH*WW, F)
    dcols = np.empty((N, wT.shape[0], H_out * W_out), dtype=dout.dtype)

    def run(blocks):                                                  # a thread's share of the GEMMs
        dwb = np.zeros((F, cols.shape[1]), dtype=dout.dtype)
        for blk in blocks:
            dwb += np.matmul(rows[blk], cols[blk].transpose(0, 2, 1)).sum(axis=0)   # (F, C*HH*WW + 1)
            np.matmul(wT, rows[blk], out=dcols[blk])                  # (m, C*HH*WW, H_out*W_out)
        return dwb

    dwb = sum(_threads.over_chunks(run, _threads.image_blocks(N, cols[0].nbytes)))
    dx = _unstretch(dcols.reshape(N, *w.shape[1:], H_out, W_out), x_shape, S, P, D)
    return dx, dwb[:, :-1].reshape(w.shape), dwb[:, -1]


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
def _pool_setup(x, pool_param):
    """Check a pooling input; return x, (PH, PW, S) and (H_out, W_out)."""
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    PH, PW, S = _read_params(pool_param, "pool_param", ("pool_height", "pool_width", "stride"))
    H_out = pool_output_size(x.shape[2], PH, S, name="height")
    W_out = pool_output_size(x.shape[3], PW, S, name="width")
    return x, (PH, PW, S), (H_out, W_out)


def _plane_shape(x_shape, S):
    N, C, H, W = x_shape
    return (S, S, N, C, -(-H // S), -(-W // S))


def _phase_planes(x, S, name="phase planes"):
    """Split x (N, C, H, W) into its S*S phase planes: planes[a, b] = x[:, :, a::S, b::S].

    Offset (i, j) of every stride-S window is then the slice of plane (i % S, j % S) shifted by
    (i // S, j // S), whose rows are contiguous: the strided reads happen once, in this copy.
    Planes are padded to a common size ceil(H/S) x ceil(W/S); the padding is never read.
    """
    planes = _threads.scratch(name, _plane_shape(x.shape, S), x.dtype)          # a temporary
    for a in range(S):
        for b in range(S):
            part = x[:, :, a::S, b::S]
            planes[a, b, :, :, :part.shape[2], :part.shape[3]] = part
    return planes


def _plane_window(planes, i, j, S, H_out, W_out):
    """Offset (i, j) of every window, (N, C, H_out, W_out), as a view of the phase planes."""
    return planes[i % S, j % S, :, :, i // S:i // S + H_out, j // S:j // S + W_out]


def _max_pool_part(x, out, switches, PH, PW, S):
    """Running maximum over the PH*PW window offsets of x (a few images) into out and switches."""
    H_out, W_out = out.shape[2:]
    planes = _phase_planes(x, S) if S > 1 else x[None, None]
    np.copyto(out, _plane_window(planes, 0, 0, S, H_out, W_out))
    switches.fill(0)
    better = _threads.scratch("pool better", out.shape, bool)
    for k in range(1, PH * PW):
        window = _plane_window(planes, *divmod(k, PW), S, H_out, W_out)
        np.greater(window, out, out=better)       # strict: a later equal value does not steal the switch
        np.maximum(out, window, out=out)
        # switches only ever hold offsets < k, so "k where better" is a maximum (no slow masked copy)
        np.maximum(switches, better * switches.dtype.type(k), out=switches)


def max_pool_forward_fast(x, pool_param):
    """Max pooling, each depth slice on its own, no padding; windows may overlap (stride < window).

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height': PH, 'pool_width': PW, 'stride': S}

    Returns:
    - out: (N, C, H_out, W_out), H_out = (H - PH) / S + 1, W_out = (W - PW) / S + 1
    - cache: (x.shape, switches, pool_param); switches (N, C, H_out, W_out) holds, for every output,
      the offset k = i*PW + j of the winning pixel inside its window (the first one on ties)

    A running maximum over the PH*PW window offsets: offset (i, j) of every window at once is one
    view of x (of its stride phase planes when S > 1), so each step is one np.maximum over whole
    arrays; a reduction over a tiny trailing axis of size PH*PW would be many times slower.
    Images are split over threads.
    """
    x, (PH, PW, S), (H_out, W_out) = _pool_setup(x, pool_param)
    out = np.empty(x.shape[:2] + (H_out, W_out), x.dtype)
    switches = np.empty(out.shape, dtype=np.uint8 if PH * PW <= 255 else np.int32)   # 1 byte each
    _threads.parallel(lambda part: _max_pool_part(x[part], out[part], switches[part], PH, PW, S),
                      _threads.parts(x.shape[0], x.nbytes))
    return out, (x.shape, switches, pool_param)


@functools.lru_cache(maxsize=4)
def _window_corners(planes, H_out, W_out, H, W, S):
    """Flat index of the top-left pixel of every pooling window of `planes` (H, W) planes, read-only."""
    corners = ((np.arange(planes) * (H * W))[:, None, None] + (np.arange(H_out) * (S * W))[:, None]
               + np.arange(W_out) * S)
    corners.flags.writeable = False           # shared by every call (and thread) through the cache
    return corners


def _max_pool_backward_part(dout, switches, dx, PH, PW, S):
    """Scatter-add dout of a few images to the winning pixels, into dx (zeroed here)."""
    n, C, H_out, W_out = dout.shape
    H, W = dx.shape[2:]
    if PH == PW == S:
        # windows tile the input: every pixel is offset k of exactly one window, so dx at offset
        # (i, j) of all windows, one strided view, is dout where that offset won and 0 elsewhere
        tiles = dx.reshape(n, C, H_out, S, W_out, S)
        won = _threads.scratch("pool won", switches.shape, bool)
        for k in range(S * S):
            np.multiply(dout, np.equal(switches, k, out=won), out=tiles[:, :, :, k // S, :, k % S])
        return
    # flat index in dx of each winner: the offset of the winner in its window, plus the
    # window's top-left corner (image and channel, row, column)
    offset = np.array([i * W + j for i in range(PH) for j in range(PW)])
    index = offset[switches.reshape(n * C, H_out, W_out)]             # (n*C, H_out, W_out)
    index += _window_corners(n * C, H_out, W_out, H, W, S)
    dx.fill(0)
    np.add.at(dx.reshape(-1), index.reshape(-1), dout.reshape(-1))


def max_pool_backward_fast(dout, cache):
    """Backward pass of `max_pool_forward_fast`: each output's gradient goes to its window's argmax.

    Inputs: dout (N, C, H_out, W_out); cache (x_shape, switches, pool_param).
    Returns dx: (N, C, H, W); a pixel that wins several overlapping windows collects all their gradients.

    One scatter-add of the N*C*H_out*W_out gradients to their winners' flat indices (np.add.at sums
    the collisions of overlapping windows); when the windows tile the input (2x2 stride 2), one
    masked product per window offset instead. Split over threads by images.
    """
    x_shape, switches, pool_param = cache
    PH, PW, S = _read_params(pool_param, "pool_param", ("pool_height", "pool_width", "stride"))
    dout = _check_dout(dout, switches.shape)
    dx = np.empty(x_shape, dout.dtype)
    _threads.parallel(lambda part: _max_pool_backward_part(dout[part], switches[part], dx[part], PH, PW, S),
                      _threads.parts(dout.shape[0], dx.nbytes))
    return dx


def avg_pool_forward_fast(x, pool_param):
    """Average pooling, each depth slice on its own, no padding; windows may overlap.

    Inputs: x (N, C, H, W); pool_param {'pool_height': PH, 'pool_width': PW, 'stride': S}.
    Returns out (N, C, H_out, W_out) with H_out = (H - PH) / S + 1, and cache (x.shape, pool_param).
    """
    x, (PH, PW, S), (H_out, W_out) = _pool_setup(x, pool_param)
    out = x[_windows(H_out, W_out, 0, 0, S)].copy()                    # (N, C, H_out, W_out)
    for k in range(1, PH * PW):
        out += x[_windows(H_out, W_out, *divmod(k, PW), S)]
    out /= PH * PW
    return out, (x.shape, pool_param)


def avg_pool_backward_fast(dout, cache):
    """Backward pass of `avg_pool_forward_fast`: every pixel of a window gets dout / (PH*PW).

    Inputs: dout (N, C, H_out, W_out); cache (x_shape, pool_param). Returns dx (N, C, H, W).
    """
    x_shape, pool_param = cache
    PH, PW, S = _read_params(pool_param, "pool_param", ("pool_height", "pool_width", "stride"))
    H_out = pool_output_size(x_shape[2], PH, S, name="height")
    W_out = pool_output_size(x_shape[3], PW, S, name="width")
    dout = _check_dout(dout, tuple(x_shape[:2]) + (H_out, W_out))
    share = dout / (PH * PW)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for k in range(PH * PW):
        dx[_windows(H_out, W_out, *divmod(k, PW), S)] += share
    return dx


# ----------------------------------------------------------------------------------------------
# batch normalisation
# ----------------------------------------------------------------------------------------------
_BN_KEYS = ("mode", "eps", "momentum", "running_mean", "running_var")


def _bn_params(x, gamma, beta, bn_param, what):
    """Check gamma, beta and bn_param against the D features of x; cast to the common dtype.

    Returns x, gamma, beta, mode, eps, momentum, running_mean, running_var (the last two (D,)).
    """
    D = x.shape[1]
    gamma = check_array(gamma, "gamma", ndim=1, shape_hint="(D,)")
    beta = check_array(beta, "beta", ndim=1, shape_hint="(D,)")
    for name, param in (("gamma", gamma), ("beta", beta)):
        if param.shape != (D,):
            raise ValueError(f"{name} has shape {param.shape} but x has {what}; expected ({D},)")
    if not isinstance(bn_param, dict):
        raise TypeError(f"bn_param must be a dict, got {type(bn_param).__name__}")
    unknown = sorted(set(bn_param) - set(_BN_KEYS))
    if unknown:   # 'running_average' would otherwise mean zero statistics, 'epsilon' the default eps
        raise ValueError(f"bn_param has unknown keys {unknown}; allowed: {list(_BN_KEYS)}")
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    # Python floats: a NumPy float64 scalar here would silently upcast float32 data
    eps, momentum = float(bn_param.get("eps", 1e-5)), float(bn_param.get("momentum", 0.9))
    if eps <= 0 or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"need eps > 0 and 0 <= momentum <= 1, got eps={eps}, momentum={momentum}")
    if mode == "train" and x.shape[0] == 0:
        # the batch statistics of no examples are NaN, and would be written into the running averages
        raise ValueError(f"batch norm in 'train' mode needs at least one example, got x of shape {x.shape}")

    dtype = np.result_type(x, gamma, beta)
    x, gamma, beta = x.astype(dtype, copy=False), gamma.astype(dtype, copy=False), beta.astype(dtype, copy=False)
    running = []
    for key in ("running_mean", "running_var"):
        value = check_array(bn_param.get(key, np.zeros(D, dtype=dtype)), f"bn_param['{key}']")
        if value.shape != (D,):
            raise ValueError(f"bn_param['{key}'] has shape {value.shape} but x has {what}")
        running.append(value.astype(dtype, copy=False))
    return (x, gamma, beta, mode, eps, momentum, *running)


def batchnorm_forward_fast(x, gamma, beta, bn_param):
    """Batch normalisation: standardise each feature with batch statistics, then scale and shift.

    Inputs:
    - x: (N, D); gamma, beta: (D,)
    - bn_param: 'mode' 'train' or 'test' (required); 'eps' (1e-5); 'momentum' (0.9);
      'running_mean', 'running_var' (D,) (zeros by default)

    Train: x_hat = (x - mean) / sqrt(var + eps) with the batch mean and the biased batch variance
    (divide by N), and running = momentum * running + (1 - momentum) * batch statistic, written back
    into bn_param. Test: the running statistics replace the batch ones; bn_param is left alone.

    Returns:
    - out: (N, D) = gamma * x_hat + beta
    - cache: (mode, x_hat (N, D), gamma (D,), inv_std (D,)) with inv_std = 1 / sqrt(var + eps)
    """
    x = check_array(x, "x", ndim=2, shape_hint="(N, D)")
    x, gamma, beta, mode, eps, momentum, running_mean, running_var = _bn_params(
        x, gamma, beta, bn_param, f"D={x.shape[1]} features")
    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)                   # (D,), biased: divides by N
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var + eps)                                # (D,)
    x_hat = (x - mean) * inv_std                                    # (N, D)
    return gamma * x_hat + beta, (mode, x_hat, gamma, inv_std)


def batchnorm_backward_fast(dout, cache):
    """Backward pass of `batchnorm_forward_fast`, in the compact closed form.

    Inputs: dout (N, D); cache (mode, x_hat, gamma, inv_std).
    Returns dx (N, D), dgamma (D,), dbeta (D,).

    In training the batch mean and variance depend on every x, which gives
        dx = gamma * inv_std / N * (N * dout - sum_n dout - x_hat * sum_n (dout * x_hat)).
    In test mode the statistics are constants and dx = gamma * inv_std * dout.
    """
    mode, x_hat, gamma, inv_std = cache
    dout = _check_dout(dout, x_hat.shape)
    N = x_hat.shape[0]
    dbeta = dout.sum(axis=0)                                        # (D,)
    dgamma = (dout * x_hat).sum(axis=0)                             # (D,)
    if mode == "train":
        dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)
    else:
        dx = gamma * inv_std * dout
    return dx, dgamma, dbeta


def _channel_stats(x3):
    """Per channel (count, mean, sum of squared deviations) of x3 (n, C, L), in one pass over memory.

    Block by block (a block stays in the cache): the block's mean, then the squares of x minus that
    mean (exact even when |mean| >> std), merged into the running totals with the update of Chan,
    Golub and LeVeque: for counts a, b and means ma, mb, M2 = M2a + M2b + (mb - ma)^2 * a*b/(a + b).
    """
    count, mean, m2 = 0, np.zeros(x3.shape[1], x3.dtype), np.zeros(x3.shape[1], x3.dtype)
    blocks = _threads.image_blocks(len(x3), x3[:1].nbytes)
    centred = _threads.scratch("bn centred", x3[blocks[0]].shape if blocks else x3.shape, x3.dtype)
    for blk in blocks:
        xb = x3[blk]
        n = xb.shape[0] * xb.shape[2]
        mb = xb.sum(axis=(0, 2)) / n
        t = centred[:len(xb)]
        np.subtract(xb.reshape(len(xb), -1), _channel_rows(mb, xb.shape[2]), out=t.reshape(len(xb), -1))
        count, mean, m2 = _merge_stats((count, mean, m2), (n, mb, np.vecdot(t, t).sum(axis=0)))
    return count, mean, m2


def _merge_stats(a, b):
    """(count, mean, M2) of two groups -> the same of their union (Chan et al.)."""
    (na, ma, m2a), (nb, mb, m2b) = a, b
    n = na + nb
    if n == 0:
        return a
    delta = mb - ma
    return n, ma + delta * (nb / n), m2a + m2b + delta * delta * (na * nb / n)


def _dout_sums(x3, mean, d3):
    """Per channel, sum(dout) and sum(dout * (x - mean)); x3, d3 (n, C, L). One pass, block by block."""
    total, dot = np.zeros(x3.shape[1], x3.dtype), np.zeros(x3.shape[1], x3.dtype)
    blocks = _threads.image_blocks(len(x3), x3[:1].nbytes)
    centred = _threads.scratch("bn centred", x3[blocks[0]].shape if blocks else x3.shape, x3.dtype)
    mean_row = _channel_rows(mean, x3.shape[2])
    for blk in blocks:
        t = centred[:blk.stop - blk.start]
        np.subtract(x3[blk].reshape(len(t), -1), mean_row, out=t.reshape(len(t), -1))
        db = d3[blk]
        total += db.sum(axis=(0, 2))
        dot += np.vecdot(db, t).sum(axis=0)
    return total, dot


def _channel_rows(values, L):
    """Per-channel values (C,) repeated L times -> one (C*L,) row, to match an image viewed as (C*L,).

    NumPy adds or multiplies two contiguous rows about 1.5x faster than it broadcasts a (C, 1)
    column over (C, L): the long rows keep its vectorised loops busy.
    """
    return np.repeat(values, L)


def _affine_centred(x3, mean, scale, shift, out, d3=None, d_scale=None):
    """out = (x - mean) * scale + shift per channel (+ d3 * d_scale if given), block by block in cache."""
    n, C, L = x3.shape
    mean, scale, shift = (_channel_rows(v, L) for v in (mean, scale, shift))
    x2, out2 = x3.reshape(n, C * L), out.reshape(n, C * L)
    for blk in _threads.image_blocks(n, x3[:1].nbytes):
        o = out2[blk]
        np.subtract(x2[blk], mean, out=o)
        o *= scale
        o += shift
        if d3 is not None:
            o += np.multiply(d3.reshape(n, C * L)[blk], _channel_rows(d_scale, L),
                             out=_threads.scratch("bn scaled dout", o.shape, o.dtype))


def spatial_batchnorm_forward_fast(x, gamma, beta, bn_param):
    """Spatial batch normalisation for conv layers: statistics per channel over N, H and W.

    Inputs: x (N, C, H, W); gamma, beta (C,); bn_param as for `batchnorm_forward_fast`
    (running statistics of shape (C,)).
    Returns out (N, C, H, W) and cache (x.shape, (mode, x, mean, inv_std, gamma)), with x viewed as
    (N, C, H*W) and mean, inv_std (C,) the statistics used (batch ones in training, running ones in test).

    Works on (N, C, H*W) directly, no transposes, in two passes over memory, each split over threads
    by images and done a cache-sized block at a time: mean and variance together (per block, then
    merged; exact even when |mean| >> std), then out = (x - mean) * gamma*inv_std + beta.
    """
    x = check_array(x, "x", ndim=4, shape_hint=_IMAGES)
    for name, param in (("gamma", gamma), ("beta", beta)):
        if np.shape(param) != (x.shape[1],):
            raise ValueError(f"{name} has shape {np.shape(param)} but x has C={x.shape[1]} channels; "
                             f"expected ({x.shape[1]},)")
    x, gamma, beta, mode, eps, momentum, running_mean, running_var = _bn_params(
        x, gamma, beta, bn_param, f"C={x.shape[1]} channels")
    N, C, H, W = x.shape
    x3, M = x.reshape(N, C, H * W), N * H * W
    parts = _threads.parts(N, x3.nbytes)
    if mode == "train":
        stats = functools.reduce(_merge_stats, _threads.parallel(lambda p: _channel_stats(x3[p]), parts))
        mean, var = stats[1], stats[2] / M                                        # biased: / (N*H*W)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var + eps)                                              # (C,)
    out = np.empty(x3.shape, x3.dtype)
    _threads.parallel(lambda p: _affine_centred(x3[p], mean, gamma * inv_std, beta, out[p]), parts)
    return out.reshape(x.shape), (x.shape, (mode, x3, mean, inv_std, gamma))


def spatial_batchnorm_backward_fast(dout, cache):
    """Backward pass of `spatial_batchnorm_forward_fast`.

    Inputs: dout (N, C, H, W); cache (x_shape, (mode, x, mean, inv_std, gamma)).
    Returns dx (N, C, H, W), dgamma (C,), dbeta (C,).

    The formula of `batchnorm_backward_fast` with the M = N*H*W values of a channel as its batch,
        dx = gamma * inv_std / M * (M * dout - dbeta - x_hat * dgamma),   x_hat = (x - mean) * inv_std,
    which is (x - mean) * slope + dout * gamma*inv_std + offset per channel; x_hat is never stored.
    """
    x_shape, (mode, x3, mean, inv_std, gamma) = cache
    dout = _check_dout(dout, x_shape).astype(x3.dtype, copy=False)
    N, C, L = x3.shape
    M = N * L
    d3 = dout.reshape(N, C, L)
    parts = _threads.parts(N, x3.nbytes)
    sums = _threads.parallel(lambda p: _dout_sums(x3[p], mean, d3[p]), parts)
    dbeta = sum(s[0] for s in sums)                                               # (C,)
    dgamma = sum(s[1] for s in sums) * inv_std                                    # sum(dout * x_hat)
    k = gamma * inv_std
    dx = np.empty(d3.shape, d3.dtype)
    if mode == "train":
        slope, offset = -k * inv_std * dgamma / M, -k * dbeta / M
        _threads.parallel(lambda p: _affine_centred(x3[p], mean, slope, offset, dx[p], d3[p], k), parts)
    else:
        _threads.parallel(lambda p: np.multiply(d3[p], k[:, None], out=dx[p]), parts)
    return dx.reshape(x_shape), dgamma, dbeta
