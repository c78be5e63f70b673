"""Vectorised convolution, pooling and batch normalisation layers.

Every layer follows the one contract of the course: ``<layer>_forward(...) -> (out, cache)`` and
``<layer>_backward(dout, cache) -> gradients``. Images are ``(N, C, H, W)``, conv filters
``(F, C, HH, WW)``. Output sizes come from ``cs231n_lib.shapes``:

    H_out = (H - HH_eff + 2P) / S + 1,    HH_eff = D * (HH - 1) + 1   (dilation D; D = 1 is ordinary)

and a configuration whose windows do not tile the input raises ValueError instead of cropping.

Where the speed comes from (each idea is explained again where it is used):
- im2col: a Python loop only over the HH*WW kernel offsets. For a fixed offset (i, j) the pixels it
  reads, one per output position, form a strided *view* of the input, so each step is one slice copy
  (``im2col``) or slice-add (``col2im``); the convolution is then a matrix multiply (GEMM) per image.
  This general path handles every stride, padding and dilation.
- Fewer multiplies: 3x3 stride-1 layers use Winograd's F(2x2, 3x3) (16 multiplies per 2x2 output
  tile instead of 36); big kernels use the convolution theorem, with small DFTs done as matrix
  multiplies. ``_conv_method`` says which algorithm a layer gets; all give the same numbers up to rounding.
- Memory: a few images at a time, so temporaries stay in the CPU cache; scratch buffers reused from
  call to call, and large results written into recycled memory (fresh large arrays page-fault);
  large element-wise passes split over threads (NumPy releases the GIL); layouts that let each GEMM
  write its result where it belongs and each Winograd transform step be one flat array addition.
- Pooling is a running maximum over strided views (no reductions over tiny axes) and one scatter-add
  backwards; spatial batch norm works on (N, C, H*W) directly, block by block.

Arithmetic stays in the common dtype of the inputs: float32 in gives float32 out.
These are the reference implementations; the graded ``*_naive`` versions are written by students.
"""
from __future__ import annotations

import functools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cs231n_lib.shapes import check_array, conv_output_size, pool_output_size

__all__ = [
    "im2col", "col2im",
    "conv_forward_fast", "conv_backward_fast",
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
    if missing:
        raise ValueError(f"{name} is missing {missing}; it needs {list(required)}")
    unknown = sorted(set(params) - set(required) - set(optional))
    if unknown:
        # a typo such as 'padding' would otherwise be ignored silently
        raise ValueError(f"{name} has unknown keys {unknown}; allowed: {list(required) + list(optional)}")
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
# helpers: chunks and threads
# ----------------------------------------------------------------------------------------------
# BLAS runs the matrix multiplies on every core, but NumPy's element-wise loops (copies, additions,
# maxima) run on one. NumPy releases the GIL inside those loops, though, so plain Python threads, each
# given its own images, do run them on several cores at once: pooling and batch norm get about 1.7x on
# 2 cores. Working a few images at a time also keeps temporaries in the CPU cache, and temporaries live
# in scratch buffers reused from call to call (fresh large arrays page-fault on first touch, which is
# slow on virtual machines).
_CHUNK_BYTES = 2 ** 21          # target size of the per-thread temporaries of one chunk (about 2 MB)
_WINOGRAD_COLUMNS = 512         # Winograd: columns per GEMM worth gathering images for
_POOL = None                    # (process id, thread pool), made on first use
_SCRATCH = threading.local()    # one pool of scratch buffers per thread


def _num_threads():
    """Threads for element-wise loops: the BLAS setting (OMP/OPENBLAS/MKL_NUM_THREADS) if set, else every core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _split(n, parts):
    """Cut range(n) into at most `parts` contiguous slices of nearly equal size."""
    bounds = np.linspace(0, n, min(n, parts) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _parts(n, nbytes):
    """Slices of range(n) for the threads; a single one below 1 MB (threads cost ~50 us, while one
    strided pass over 1 MB already takes several hundred)."""
    return _split(n, _num_threads() if nbytes >= _CHUNK_BYTES // 2 else 1)


def _parallel(fn, items):
    """[fn(item) for item in items], the first in the calling thread, the others on a thread pool.

    fn must write only to its own part of any output, and may use scratch buffers (they are per
    thread) other than those its caller holds. Used for a few large element-wise passes (pooling,
    batch norm, copies) and, through _over_chunks, the chunk loops: ~50 us per call.
    """
    global _POOL
    items = list(items)
    if len(items) <= 1 or _num_threads() == 1:
        return [fn(item) for item in items]
    # a new pool after a fork (a child process has none of the parent's threads) or when too small
    if _POOL is None or _POOL[0] != os.getpid() or _POOL[1]._max_workers < len(items) - 1:
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=max(len(items), _num_threads()) - 1))
    # the calling thread takes the first item itself: one thread hand-off fewer (~50 us each)
    futures = [_POOL[1].submit(fn, item) for item in items[1:]]
    try:
        first = fn(items[0])
    finally:
        results = [f.result() for f in futures]   # never return while a worker still writes
    return [first] + results


_BLAS = None                    # threadpoolctl controller, made on first use


def _over_chunks(fn, chunks):
    """[fn(run) for each thread's run of whole chunks]: every thread does all the stages of its chunks.

    For loops of chunks that each call BLAS on small matrices (Winograd's 16 GEMMs of one chunk): the
    threads take whole chunks, transforms and GEMMs alike, while BLAS itself runs on one thread, so
    the cores are never oversubscribed. On the 2-core benchmark machine this beats BLAS threading
    the small GEMMs with the transforms left serial by about 1.5x.
    """
    global _BLAS
    runs = [chunks[part] for part in _split(len(chunks), _num_threads())]
    if len(runs) <= 1:
        return [fn(chunks)]
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        return _parallel(fn, runs)


def _scratch(name, shape, dtype):
    """A reusable work array for a temporary that never leaves the function that asks for it.

    One buffer per name and thread, grown when needed: large fresh arrays page-fault on first touch
    (slow on virtual machines), reused ones do not. Contents are whatever was left there.
    """
    pool = _SCRATCH.__dict__.setdefault("pool", {})
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if name not in pool or pool[name].nbytes < nbytes:
        pool[name] = np.empty(max(nbytes, 1), np.uint8)
    return pool[name][:nbytes].view(dtype).reshape(shape)


# Large outputs (the conv, pooling and batch-norm results and gradients handed to the caller) cannot
# live in scratch buffers, and a fresh array of more than 32 MB comes from the operating system
# (glibc's malloc hands larger blocks back on free): every page faults on first touch, which here
# doubles the cost of a pass over 33 MB. So the library keeps the memory of its last few large
# outputs and reuses one once nothing outside refers to it any more (like PyTorch's GPU allocator).
_RECYCLE_MIN_BYTES = 2 ** 25    # smaller arrays: malloc already reuses freed memory
_RECYCLE_KEEP = 4               # how many large output buffers to keep
_RECYCLED = []                  # their uint8 memory; an array handed out is a view of one of them
_RECYCLE_LOCK = threading.Lock()


def _refs(buffers, i):
    """Reference count of buffers[i], measured the same way for the calibration below and the checks."""
    return sys.getrefcount(buffers[i])


# what _refs reports for a buffer held by nothing but our list (the exact count varies between Python
# versions); recycling is off where reference counts are not exact (PyPy, free-threaded CPython)
_FREE_REFS = _refs([np.empty(1, np.uint8)], 0)
_CAN_RECYCLE = sys.implementation.name == "cpython" and getattr(sys, "_is_gil_enabled", lambda: True)()


def _output(shape, dtype):
    """np.empty(shape, dtype) for a result returned to the caller, in recycled memory when large.

    A buffer is free when the only references left are ours: every array or view the caller got
    keeps its memory (`.base`) alive, so memory still in use is never handed out twice.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < _RECYCLE_MIN_BYTES or not _CAN_RECYCLE:
        return np.empty(shape, dtype)
    with _RECYCLE_LOCK:
        free = [i for i in range(len(_RECYCLED)) if _refs(_RECYCLED, i) == _FREE_REFS]
        same = [i for i in free if _RECYCLED[i].nbytes == nbytes]
        if same:
            buf = _RECYCLED.pop(same[0])
        else:
            buf = np.empty(nbytes, np.uint8)
            if len(_RECYCLED) >= _RECYCLE_KEEP and free:
                _RECYCLED.pop(free[0])                     # forget the oldest free one
        if len(_RECYCLED) < _RECYCLE_KEEP:
            _RECYCLED.append(buf)                          # most recently used last
        return buf.view(dtype).reshape(shape)


def _transpose(a, axes, name):
    """a.transpose(axes) copied into the scratch buffer `name`, split over threads.

    Swapping two pairs of axes, (2, 3, 0, 1) of a contiguous array, is the transpose of a matrix
    (d0*d1, d2*d3); copied whole, each output row gathers one number from every input row, so
    rows thousands of bytes apart keep evicting each other from the cache (and the TLB). Copied in
    tiles of 32 input rows x 256 columns, each tile's input stays in the cache.
    """
    view = a.transpose(axes)
    out = _scratch(name, view.shape, a.dtype)
    if tuple(axes) == (2, 3, 0, 1) and a.flags.c_contiguous:
        src = a.reshape(a.shape[0] * a.shape[1], -1)                 # (R, K)
        dst = out.reshape(src.shape[1], src.shape[0])                # (K, R), = src.T
        tiles = [(slice(i, i + 32), slice(j, j + 256))
                 for j in range(0, src.shape[1], 256) for i in range(0, src.shape[0], 32)]

        def copy(part):
            for rows, cols in tiles[part]:
                np.copyto(dst[cols, rows], src[rows, cols].T)

        _parallel(copy, _parts(len(tiles), out.nbytes))
        return out
    _parallel(lambda part: np.copyto(out[part], view[part]), _parts(len(out), out.nbytes))
    return out


# ----------------------------------------------------------------------------------------------
# im2col / col2im
# ----------------------------------------------------------------------------------------------
def _pad(x, P):
    """Zero-pad the two spatial axes of (N, C, H, W) by P on every side, into a scratch buffer.

    Only for temporaries (no copy at all when P = 0)."""
    if not P:
        return x
    N, C, H, W = x.shape
    x_pad = _scratch("padded input", (N, C, H + 2 * P, W + 2 * P), x.dtype)
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

    _parallel(fill, _parts(N, flat.nbytes))
    return flat if extra_row else cols


def _unstretch(cols, x_shape, S, P, D):
    """Adjoint of `_stretch` + padding: sum (N, C, HH, WW, H_out, W_out) fields back onto (N, C, H, W)."""
    N, C, HH, WW, H_out, W_out = cols.shape
    H, W = x_shape[2:]
    x_pad = _output((N, C, H + 2 * P, W + 2 * P), cols.dtype)

    def add(part):
        x_pad[part] = 0
        for i in range(HH):
            for j in range(WW):
                # one offset never hits a pixel twice, so a plain slice-add is safe (no np.add.at)
                x_pad[part][_windows(H_out, W_out, i, j, S, D)] += cols[part, :, i, j]

    _parallel(add, _parts(N, cols.nbytes))
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


def _conv_method(x_shape, w_shape, S, P, D):
    """Which algorithm conv_forward_fast uses: 'winograd', 'fourier' or 'im2col' (the general one).

    - 'winograd': 3x3 filters, stride 1, dilation 1, at least 16 input channels, output width >= 16
    - 'fourier': stride 1, dilation 1, kernels of 5x5 or larger, at least 8 input channels,
      padded image at most 64x64
    - 'im2col': everything else (strides, dilation, few channels, small or big images)
    """
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
    - cache: (x, w, b, conv_param, saved); `saved` is what the chosen algorithm keeps for the
      backward pass: the stretched fields (N, C*HH*WW, H_out*W_out) for im2col, the transformed
      filters for Winograd, the spectra of x and w for the Fourier path.

    The algorithm is picked from the shapes by `_conv_method` (im2col + one GEMM per image in
    general; Winograd F(2x2, 3x3) for 3x3 stride-1 layers; the convolution theorem for big kernels).
    All three give the same numbers up to rounding. Computed in the common dtype of x, w and b
    (all float32 -> float32 throughout).
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
    method = _conv_method(x.shape, w.shape, S, P, D)
    if method == "winograd":
        out, saved = _winograd_forward(x, w, b, P)
    elif method == "fourier":
        out, saved = _fourier_forward(x, w, b, P)
    else:
        out, saved = _im2col_forward(x, w, b, S, P, D, H_out, W_out)
    return out, (x, w, b, conv_param, saved)          # out: (N, F, H_out, W_out)


def conv_backward_fast(dout, cache):
    """Backward pass of `conv_forward_fast`.

    Inputs:
    - dout: (N, F, H_out, W_out) upstream gradient
    - cache: (x, w, b, conv_param, saved) from the forward pass

    Returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,). Every output position shares the same
    filter, so dw sums all their contributions. Each algorithm runs its own forward steps in
    reverse order, each one transposed.
    """
    x, w, b, conv_param, saved = cache
    S, P, D = _read_params(conv_param, "conv_param", ("stride", "pad"), {"dilation": 1})
    F, _, HH, WW = w.shape
    N, _, H, W = x.shape
    H_out = conv_output_size(H, HH, S, P, D, name="height")
    W_out = conv_output_size(W, WW, S, P, D, name="width")
    dout = _check_dout(dout, (N, F, H_out, W_out)).astype(x.dtype, copy=False)

    method = _conv_method(x.shape, w.shape, S, P, D)
    if method == "winograd":
        dx, dw = _winograd_backward(dout, x, saved, P)
    elif method == "fourier":
        dx, dw = _fourier_backward(dout, x.shape, w.shape, saved, P)
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
    out = _output((N, F, H_out * W_out), x.dtype)

    def run(blocks):                                                  # a thread's share of the GEMMs
        for blk in blocks:
            np.matmul(wb, cols[blk], out=out[blk])

    _over_chunks(run, _image_blocks(N, cols[0].nbytes))
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

    dwb = sum(_over_chunks(run, _image_blocks(N, cols[0].nbytes)))
    dx = _unstretch(dcols.reshape(N, *w.shape[1:], H_out, W_out), x_shape, S, P, D)
    return dx, dwb[:, :-1].reshape(w.shape), dwb[:, -1]


# ----------------------------------------------------------------------------------------------
# Winograd F(2x2, 3x3): 3x3 filters, stride 1
# ----------------------------------------------------------------------------------------------
# In 1-D, two outputs of a 3-tap filter g on the inputs d0..d3,
#     y0 = d0*g0 + d1*g1 + d2*g2,    y1 = d1*g0 + d2*g1 + d3*g2,
# cost 6 multiplies. Winograd's minimal filtering algorithm F(2, 3) needs 4:
#     m0 = (d0 - d2)*g0,   m1 = (d1 + d2)*(g0 + g1 + g2)/2,   m2 = (d2 - d1)*(g0 - g1 + g2)/2,   m3 = (d1 - d3)*g2
#     y0 = m0 + m1 + m2,   y1 = m1 - m2 - m3
# which is y = A^T [(G g) * (B^T d)] with the three small matrices below (* elementwise). Nesting it
# over rows and columns gives F(2x2, 3x3): for each 4x4 input tile d (tiles step by 2, so they
# overlap by 2) the 2x2 output tile is
#     Y = A^T [(G g G^T) * (B^T d B)] A
# with 4x4 = 16 multiplies instead of 2x2 outputs x 9 taps = 36. Summed over input channels, the 16
# elementwise products become 16 matrix multiplies, one per position k of the 4x4 tile:
#     M[k] (F, tiles) = U[k] (F, C) @ V[k] (C, tiles),   U = G w G^T,  V = B^T d B,
# so a layer does 2.25x fewer multiply-adds than im2col's single GEMM. B^T and A^T hold only 0 and +-1:
# the transforms are additions of whole arrays. The filter transform U is tiny (F*C 4x4 matrices).
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])   # (4, 4) input tile transform
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])      # (4, 3) filter transform
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])                                # (2, 4) output tile transform


def _combine(coefs, terms, out):
    """out = sum_r coefs[r] * terms[r] for coefficients in {-1, 0, 1}: one array add per nonzero term."""
    plus = [t for c, t in zip(coefs, terms) if c == 1]
    minus = [t for c, t in zip(coefs, terms) if c == -1]
    if len(plus) >= 2:
        np.add(plus[0], plus[1], out=out)
        plus = plus[2:]
    elif plus and minus:
        np.subtract(plus.pop(), minus.pop(0), out=out)
    elif plus:
        np.copyto(out, plus.pop())
    else:
        np.negative(minus.pop(0), out=out)
    for t in plus:
        out += t
    for t in minus:
        out -= t
    return out


class _Winograd:
    """Geometry and the four transform stages of one Winograd call.

    Layout. A 4x4 tile starts at every even row and column of the padded input, so we split the
    padded input into its four parity planes (even/odd rows x even/odd columns). In plane
    (r % 2, s % 2), element (r, s) of tile (ty, tx) sits at (ty + r//2, tx + s//2). A plane of one
    image and channel is stored flat, K = tw + 1 column pairs per row, in a block of B numbers; the
    blocks of all channels and images of a chunk follow one another (channel-major, so that the
    GEMMs see one matrix). Then "element (r, s) of every tile of the chunk" is ONE contiguous
    1-D slice, shifted by (r//2)*K + s//2, and each transform step is one addition of two long
    flat arrays (several times faster in NumPy than the same addition over a 2-D view).
    Tile (ty, tx) has flat index t = ty*K + tx. Column tx = tw of each tile row, and the last
    B - th*K positions of a block, are spares: computed like the rest, then ignored. A shifted read
    that runs off the end of a block lands in the next block, but only for spare tiles.

    Work. Images go through `m` at a time, enough for each of the 16 GEMMs to have a few hundred
    columns (small GEMMs run at 2/3 of BLAS's speed); the scratch buffers (one set per thread) are
    reused for every chunk and every call. Each thread takes a run of whole chunks (`_over_chunks`).
    """

    def __init__(self, x_shape, F, P, dtype):
        N, C, H, W = x_shape
        self.N, self.C, self.F, self.P, self.dtype = N, C, F, P, dtype
        self.H_out, self.W_out = H + 2 * P - 2, W + 2 * P - 2
        self.th, self.tw = -(-self.H_out // 2), -(-self.W_out // 2)    # 2x2 output tiles (ceil)
        self.K = self.tw + 1                                           # column pairs per tile row
        self.B = (self.th + 1) * self.K + 1                            # block: one plane of one image
        per_image = 16 * (C + F) * self.B * np.dtype(dtype).itemsize   # bytes of V and M
        self.m = int(max(1, min(N, -(-_WINOGRAD_COLUMNS // self.B), 4 * _CHUNK_BYTES // per_image)))
        # (input slice, plane slice) of the rows and of the columns of each parity
        self.rows = [self._parity(H, parity) for parity in (0, 1)]
        self.cols = [self._parity(W, parity) for parity in (0, 1)]
        self._zeroed = threading.local()              # per thread: chunk size its Z and E were zeroed for

    def _parity(self, size, parity):
        first = (parity - self.P) % 2               # first input pixel whose padded index has this parity
        start = (first + self.P) // 2
        return slice(first, None, 2), slice(start, start + len(range(first, size, 2)))

    def chunks(self):
        return [slice(n, min(self.N, n + self.m)) for n in range(0, self.N, self.m)]

    def _buffer(self, name, shape, zero_for=None):
        """A scratch array reused across chunks and calls. With zero_for=m it is zeroed the first
        time this thread asks for it with chunks of m images (its zeros are then never written)."""
        out = _scratch("winograd " + name, shape, self.dtype)
        if zero_for is not None and getattr(self._zeroed, name, None) != zero_for:
            out.fill(0)
            setattr(self._zeroed, name, zero_for)
        return out

    def _blocks(self, flat, m, lead):
        """View of a flat (lead..., blocks*B) buffer as (lead..., blocks, th, K) tiles, spares cut off."""
        th, K = self.th, self.K
        return flat.reshape(*lead, -1, m, self.B)[..., :th * K].reshape(*lead, -1, m, th, K)

    # --- forward --------------------------------------------------------------------------------
    def tiles(self, x):
        """Input transform: x (m, C, H, W) -> V (16, C, m*B), V[4a + b] = (B^T d B)[a, b] of every tile."""
        m, C, K, B = x.shape[0], self.C, self.K, self.B
        n = C * m * B
        Z = self._buffer("Z", (2, 2, n), zero_for=m)            # parity planes; never-written = padding
        planes = Z.reshape(2, 2, C, m, B)[..., :(self.th + 1) * K].reshape(2, 2, C, m, self.th + 1, K)
        for py, (rows_in, rows_plane) in enumerate(self.rows):
            for px, (cols_in, cols_plane) in enumerate(self.cols):
                planes[py, px, :, :, rows_plane, cols_plane] = x[:, :, rows_in, cols_in].transpose(1, 0, 2, 3)
        # rows: tile row r of every tile = row-parity plane r % 2 shifted by r // 2 row pairs
        Zr = Z.reshape(2, 2 * n)
        rows = [Zr[r % 2, (r // 2) * K:(r // 2) * K + 2 * n - K] for r in range(4)]
        T = self._buffer("T", (4, 2, n))
        Tr = T.reshape(4, 2 * n)
        for a in range(4):
            _combine(_BT[a], rows, Tr[a, :2 * n - K])
        Tr[:, 2 * n - K:] = 0                                          # tail: spares only
        # columns: tile column s = column-parity plane s % 2 shifted by s // 2 column pairs
        cols = [T[:, s % 2, s // 2:s // 2 + n - 1] for s in range(4)]  # (4[a], n - 1)
        V = self._buffer("V", (4, 4, n))
        for b in range(4):
            _combine(_BT[b], cols, V[:, b, :n - 1])
        V[:, :, n - 1] = 0
        return V.reshape(16, C, m * B)

    def untile(self, M, bias, out):
        """Output transform plus bias: M (16, F, m*B) -> out (m, F, H_out, W_out), Y = A^T M A per tile."""
        m, F = out.shape[0], self.F
        M = M.reshape(4, 4, F, m * self.B)                             # [a, b]
        # A^T has ones in column 1 only, so adding the bias to M[1, 1] adds it to all 4 outputs
        M[1, 1] += bias[:, None]
        R = self._buffer("R", (2, 4, F, m * self.B))
        for p in range(2):
            _combine(_AT[p], list(M), R[p])                            # rows: R[p, b] = sum_a AT[p, a] M[a, b]
        Y = self._buffer("Y", (2, 2, F, m * self.B))
        for q in range(2):
            _combine(_AT[q], [R[:, s] for s in range(4)], Y[:, q])     # columns
        Y = self._blocks(Y, m, (2, 2))                                 # (2, 2, F, m, th, K)
        for p in range(2):
            for q in range(2):
                rows, cols = len(range(p, self.H_out, 2)), len(range(q, self.W_out, 2))
                out[:, :, p::2, q::2] = Y[p, q, :, :, :rows, :cols].transpose(1, 0, 2, 3)

    # --- backward: each stage transposed -------------------------------------------------------
    def untile_adjoint(self, dout):
        """Transpose of `untile` (bias aside): dout (m, F, H_out, W_out) -> dM (16, F, m*B), dM = A dY A^T."""
        m, F = dout.shape[0], self.F
        E = self._buffer("E", (2, 2, F, m * self.B), zero_for=m)       # spare tiles stay zero
        tiles = self._blocks(E, m, (2, 2))
        for p in range(2):
            for q in range(2):
                rows, cols = len(range(p, self.H_out, 2)), len(range(q, self.W_out, 2))
                tiles[p, q, :, :, :rows, :cols] = dout[:, :, p::2, q::2].transpose(1, 0, 2, 3)
        dR = self._buffer("R", (2, 4, F, m * self.B))
        for s in range(4):
            _combine(_AT[:, s], [E[:, 0], E[:, 1]], dR[:, s])
        dM = self._buffer("M", (4, 4, F, m * self.B))
        for a in range(4):
            _combine(_AT[:, a], [dR[0], dR[1]], dM[a])
        return dM.reshape(16, F, m * self.B)

    def tiles_adjoint(self, dV, dx):
        """Transpose of `tiles`: scatter-add B dV B^T of every tile onto dx (m, C, H, W).

        dV is zero on the spare tiles (their dM is), so nothing flows from them across blocks.
        """
        m, C, K, B = dx.shape[0], self.C, self.K, self.B
        n = C * m * B
        dV = dV.reshape(4, 4, n)
        dV_b = [dV[:, b] for b in range(4)]                            # [b]: (4[a], n)
        # columns: tile column s was read from plane s % 2 at shift s // 2, so it goes back there:
        # the unshifted column (s = parity) is written, the shifted one (s = parity + 2) added
        dT = self._buffer("T", (4, 2, n))
        G = self._buffer("G", (4, n - 1))
        for parity in range(2):
            plane = dT[:, parity]
            _combine(_BT[:, parity], dV_b, plane)
            plane[:, 1:] += _combine(_BT[:, parity + 2], [d[:, :n - 1] for d in dV_b], G)
        # rows: tile row r was read from plane r % 2 at shift (r // 2) * K; the same again
        dT = dT.reshape(4, 2 * n)
        dZ = self._buffer("dZ", (2, 2 * n))
        G = self._buffer("G2", (2 * n - K,))
        for parity in range(2):
            plane = dZ[parity]
            _combine(_BT[:, parity], [d[:2 * n - K] for d in dT], plane[:2 * n - K])
            plane[2 * n - K:] = 0
            plane[K:] += _combine(_BT[:, parity + 2], [d[:2 * n - K] for d in dT], G)
        planes = dZ.reshape(2, 2, C, m, B)[..., :(self.th + 1) * K].reshape(2, 2, C, m, self.th + 1, K)
        for py, (rows_in, rows_plane) in enumerate(self.rows):
            for px, (cols_in, cols_plane) in enumerate(self.cols):
                dx[:, :, rows_in, cols_in] = planes[py, px, :, :, rows_plane, cols_plane].transpose(1, 0, 2, 3)


def _winograd_filters(w):
    """U = G w G^T for every filter and channel: (F, C, 3, 3) -> (16, F, C)."""
    F, C = w.shape[:2]
    return np.einsum("ai,fcij,bj->abfc", _G, w, _G).reshape(16, F, C).astype(w.dtype)


def _winograd_forward(x, w, b, P):
    """3x3 stride-1 convolution by Winograd F(2x2, 3x3). Returns out (N, F, H_out, W_out) and U (16, F, C)."""
    N, C = x.shape[:2]
    F = w.shape[0]
    wino = _Winograd(x.shape, F, P, x.dtype)
    U = _winograd_filters(w)                                           # (16, F, C)
    out = _output((N, F, wino.H_out, wino.W_out), x.dtype)

    def run(chunks):
        for chunk in chunks:
            V = wino.tiles(x[chunk])                          # (16, C, m*B)
            M = np.matmul(U, V, out=wino._buffer("M", (16, F, V.shape[2])))
            wino.untile(M, b, out[chunk])                     # the 16 GEMMs did all the multiplies

    _over_chunks(run, wino.chunks())
    return out, U


def _winograd_backward(dout, x, U, P):
    """Backward of `_winograd_forward`: the three stages in reverse, each transposed.

    dM = A dY A^T (output transform transposed); dU = dM V^T and dV = U^T dM (the 16 GEMMs
    transposed); dx = scatter-add of B dV B^T over the overlapping tiles (input transform
    transposed); dw = G^T dU G. Equivalently, dx is a full convolution of dout with the filters
    rotated by 180 degrees. V is recomputed chunk by chunk: as fast as keeping it (4x the input)
    from the forward pass, and it stays in the cache.
    """
    F, C = U.shape[1:]
    wino = _Winograd(x.shape, F, P, x.dtype)
    dx = _output(x.shape, x.dtype)

    def run(chunks):
        dU = np.zeros((16, F, C), dtype=x.dtype)                       # this thread's share
        for chunk in chunks:
            V = wino.tiles(x[chunk])                          # (16, C, m*B)
            dM = wino.untile_adjoint(dout[chunk])             # (16, F, m*B), zero on the spare tiles
            dU += np.matmul(dM, V.transpose(0, 2, 1))                  # (16, F, C)
            dV = np.matmul(U.transpose(0, 2, 1), dM, out=V)            # (16, C, m*B), in V's memory
            wino.tiles_adjoint(dV, dx[chunk])
        return dU

    dU = sum(_over_chunks(run, wino.chunks()))
    dw = np.einsum("ai,abfc,bj->fcij", _G, dU.reshape(4, 4, F, C), _G).astype(x.dtype)
    return dx, dw

# ----------------------------------------------------------------------------------------------
# Fourier path: big kernels, stride 1
# ----------------------------------------------------------------------------------------------
# Convolution theorem: zero-padded to Lh x Lw = (H + 2P) x (W + 2P), the correlation of each image
# with each filter becomes a product of their 2-D discrete Fourier transforms, frequency by frequency:
#     OUT[k] (N, F) = X[k] (N, C) @ conj(Wf[k]) (C, F)      for each of the Lh * (Lw//2 + 1) frequencies k
# (Lw//2 + 1 columns suffice for real images). A 16x16 image with a 5x5 kernel and P = 2 has 20*11 = 220
# frequencies, so the GEMMs do 220*4 real multiplies per (n, c, f) instead of 16*16*25 = 6400 direct
# ones. The transforms are small (20 points), and a 20-point DFT is a 20x20 matrix: done as matrix
# multiplies they run on BLAS and beat an FFT library one transform at a time. The transform of the
# zero padding is folded into the DFT matrices (a phase shift), so no padded copy is ever made.
# The valid outputs never see the circular wrap-around: y + i <= H_out - 1 + HH - 1 = Lh - 1.
@functools.lru_cache(maxsize=64)
def _dft_matrices(n, L, shift, dtype):
    """DFT matrices for signals of length n placed at offset `shift` in a period of L (Q = L//2 + 1).

    Returns (real_to_half (n, 2Q) real, full (L, n) complex, inverse_full (n, L) complex,
    half_to_real (2Q, n) real); the half spectrum is stored as interleaved (re, im) columns so a real
    GEMM yields it directly as a complex array.
    """
    Q = L // 2 + 1
    pos = np.arange(n) + shift
    angle = 2 * np.pi * np.outer(pos, np.arange(L)) / L                  # (n, L)
    real_to_half = np.empty((n, 2 * Q))
    real_to_half[:, 0::2], real_to_half[:, 1::2] = np.cos(angle[:, :Q]), -np.sin(angle[:, :Q])
    full = np.exp(-1j * angle.T)                                        # forward, (L, n)
    inverse_full = np.exp(1j * angle) / L                               # inverse, (n, L)
    # a real signal's spectrum pairs k with L - k: count every column of the half twice except 0 and L/2
    twice = np.where((np.arange(Q) == 0) | (2 * np.arange(Q) == L), 1.0, 2.0)
    half_to_real = np.empty((2 * Q, n))
    half_to_real[0::2] = twice[:, None] * np.cos(angle[:, :Q]).T / L
    half_to_real[1::2] = -twice[:, None] * np.sin(angle[:, :Q]).T / L
    cplx = np.result_type(dtype, np.complex64)
    matrices = (real_to_half.astype(dtype), full.astype(cplx), inverse_full.astype(cplx),
                half_to_real.astype(dtype))
    for matrix in matrices:
        matrix.flags.writeable = False          # shared by every call through the cache
    return matrices


def _fourier_transform(a, Lh, Lw, shift, keep=False):
    """2-D DFT of a (A, B, n, m) real array placed at (shift, shift) in an Lh x Lw period -> (Lh*Q, A, B).

    The result lives in a reused scratch buffer unless keep=True (when it is cached for the backward pass).
    """
    A, B, n, m = a.shape
    real_to_half = _dft_matrices(m, Lw, shift, a.dtype)[0]
    full = _dft_matrices(n, Lh, shift, a.dtype)[1]
    Q = real_to_half.shape[1] // 2
    rows = np.matmul(a.reshape(-1, m), real_to_half, out=_scratch("dft rows", (A * B * n, 2 * Q), a.dtype))
    rows = _transpose(rows.view(full.dtype).reshape(A, B, n, Q), (2, 3, 0, 1), "dft rows T")  # (n, Q, A, B)
    spectrum = np.empty((Lh, Q * A * B), full.dtype) if keep else _scratch("dft out", (Lh, Q * A * B), full.dtype)
    np.matmul(full, rows.reshape(n, -1), out=spectrum)                          # along the height
    return spectrum.reshape(-1, A, B)


def _fourier_inverse(spectrum, Lh, Lw, n, m, shift):
    """Inverse of `_fourier_transform` keeping rows and columns shift .. shift+n-1 / +m-1 -> (A, B, n, m)."""
    _, A, B = spectrum.shape
    real = np.finfo(spectrum.dtype).dtype                               # complex64 -> float32
    inverse_full = _dft_matrices(n, Lh, shift, real)[2]
    half_to_real = _dft_matrices(m, Lw, shift, real)[3]
    Q = half_to_real.shape[0] // 2
    rows = np.matmul(inverse_full, spectrum.reshape(Lh, -1), out=_scratch("idft rows", (n, Q * A * B), spectrum.dtype))
    rows = _transpose(rows.reshape(n, Q, A, B), (2, 3, 0, 1), "idft rows T")   # (A, B, n, Q)
    return (rows.view(real).reshape(-1, 2 * Q) @ half_to_real).reshape(A, B, n, m)


def _fourier_forward(x, w, b, P):
    """Stride-1 convolution through the convolution theorem. Returns out and (X, Wf) for the backward pass."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Lh, Lw = H + 2 * P, W + 2 * P
    X = _fourier_transform(x, Lh, Lw, P, keep=True)                     # (Q, N, C), Q = Lh*(Lw//2 + 1)
    Wf = _fourier_transform(w, Lh, Lw, 0, keep=True)                    # (Q, F, C)
    OUT = np.matmul(X, Wf.conj().transpose(0, 2, 1),                    # (Q, N, F): one GEMM per frequency
                    out=_scratch("fourier product", (X.shape[0], N, F), X.dtype))
    out = _fourier_inverse(OUT, Lh, Lw, Lh - HH + 1, Lw - WW + 1, 0)    # (N, F, H_out, W_out)
    out += b[:, None, None]
    return out, (X, Wf)


def _fourier_backward(dout, x_shape, w_shape, saved, P):
    """Backward of `_fourier_forward`, all in the frequency domain.

    The adjoint of correlating with w is convolving with w, which multiplies by Wf (not its conjugate):
    dX[k] = D[k] @ Wf[k]; dw is the correlation of x with dout: dWf[k] = D[k]^H @ X[k].
    """
    X, Wf = saved
    N, C, H, W = x_shape
    F, _, HH, WW = w_shape
    Lh, Lw = H + 2 * P, W + 2 * P
    D = _fourier_transform(dout, Lh, Lw, 0)                             # (Q, N, F)
    dX = np.matmul(D, Wf, out=_scratch("fourier product", X.shape, X.dtype))
    dx = _fourier_inverse(dX, Lh, Lw, H, W, P)                          # (N, C, H, W)
    D_H = np.conjugate(D, out=_scratch("fourier product", D.shape, D.dtype)).transpose(0, 2, 1)
    dw = _fourier_inverse(np.matmul(D_H, X), Lh, Lw, HH, WW, 0)         # (F, C, HH, WW)
    return dx, dw

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
    planes = _scratch(name, _plane_shape(x.shape, S), x.dtype)          # a temporary
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
    better = _scratch("pool better", out.shape, bool)
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
    out = _output(x.shape[:2] + (H_out, W_out), x.dtype)
    switches = np.empty(out.shape, dtype=np.uint8 if PH * PW <= 255 else np.int32)   # 1 byte each
    _parallel(lambda part: _max_pool_part(x[part], out[part], switches[part], PH, PW, S),
              _parts(x.shape[0], x.nbytes))
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
        won = _scratch("pool won", switches.shape, bool)
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
    dx = _output(x_shape, dout.dtype)
    _parallel(lambda part: _max_pool_backward_part(dout[part], switches[part], dx[part], PH, PW, S),
              _parts(dout.shape[0], dx.nbytes))
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
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    # Python floats: a NumPy float64 scalar here would silently upcast float32 data
    eps, momentum = float(bn_param.get("eps", 1e-5)), float(bn_param.get("momentum", 0.9))
    if eps <= 0 or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"need eps > 0 and 0 <= momentum <= 1, got eps={eps}, momentum={momentum}")

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


def _image_blocks(n, image_bytes):
    """Slices of a few images each (about _CHUNK_BYTES): per-block temporaries then stay in cache."""
    step = int(max(1, _CHUNK_BYTES // max(1, image_bytes)))
    return [slice(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def _channel_stats(x3):
    """Per channel (count, mean, sum of squared deviations) of x3 (n, C, L), in one pass over memory.

    Block by block (a block stays in the cache): the block's mean, then the squares of x minus that
    mean (exact even when |mean| >> std), merged into the running totals with the update of Chan,
    Golub and LeVeque: for counts a, b and means ma, mb, M2 = M2a + M2b + (mb - ma)^2 * a*b/(a + b).
    """
    count, mean, m2 = 0, np.zeros(x3.shape[1], x3.dtype), np.zeros(x3.shape[1], x3.dtype)
    blocks = _image_blocks(len(x3), x3[:1].nbytes)
    centred = _scratch("bn centred", x3[blocks[0]].shape if blocks else x3.shape, x3.dtype)
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
    blocks = _image_blocks(len(x3), x3[:1].nbytes)
    centred = _scratch("bn centred", x3[blocks[0]].shape if blocks else x3.shape, x3.dtype)
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
    for blk in _image_blocks(n, x3[:1].nbytes):
        o = out2[blk]
        np.subtract(x2[blk], mean, out=o)
        o *= scale
        o += shift
        if d3 is not None:
            o += np.multiply(d3.reshape(n, C * L)[blk], _channel_rows(d_scale, L),
                             out=_scratch("bn scaled dout", o.shape, o.dtype))


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
    parts = _parts(N, x3.nbytes)
    if mode == "train":
        stats = functools.reduce(_merge_stats, _parallel(lambda p: _channel_stats(x3[p]), parts))
        mean, var = stats[1], stats[2] / M                                        # biased: / (N*H*W)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var + eps)                                              # (C,)
    out = _output(x3.shape, x3.dtype)
    _parallel(lambda p: _affine_centred(x3[p], mean, gamma * inv_std, beta, out[p]), parts)
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
    parts = _parts(N, x3.nbytes)
    sums = _parallel(lambda p: _dout_sums(x3[p], mean, d3[p]), parts)
    dbeta = sum(s[0] for s in sums)                                               # (C,)
    dgamma = sum(s[1] for s in sums) * inv_std                                    # sum(dout * x_hat)
    k = gamma * inv_std
    dx = _output(d3.shape, d3.dtype)
    if mode == "train":
        slope, offset = -k * inv_std * dgamma / M, -k * dbeta / M
        _parallel(lambda p: _affine_centred(x3[p], mean, slope, offset, dx[p], d3[p], k), parts)
    else:
        _parallel(lambda p: np.multiply(d3[p], k[:, None], out=dx[p]), parts)
    return dx.reshape(x_shape), dgamma, dbeta
