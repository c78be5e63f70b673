"""Threads, chunks and scratch memory for the fast layers (speed only: no arithmetic lives here).

BLAS runs the matrix multiplies on every core, but NumPy's element-wise loops (copies, additions,
maxima) run on one. NumPy releases the GIL inside those loops, though, so plain Python threads, each
given its own images, do run them on several cores at once: pooling and batch norm get about 1.7x on
2 cores. Working a few images at a time also keeps temporaries in the CPU cache, and temporaries live
in scratch buffers reused from call to call (fresh large arrays page-fault on first touch, which is
slow on virtual machines).

Read by `cs231n_lib.fast_layers` and `cs231n_lib._fast_conv_algorithms` as module attributes
(``_threads.CHUNK_BYTES``), so a test can shrink the chunks or change the thread count in one place.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

CHUNK_BYTES = 2 ** 21           # target size of the per-thread temporaries of one chunk (about 2 MB)
_POOL = None                    # (process id, thread pool), made on first use
_BLAS = None                    # threadpoolctl controller, made on first use
_SCRATCH = threading.local()    # one pool of scratch buffers per thread


def num_threads():
    """Threads for element-wise loops: the BLAS setting (OMP/OPENBLAS/MKL_NUM_THREADS) if set, else every core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def one_blas_thread():
    """Context manager: NumPy's BLAS on one thread. For small matrices (a few hundred rows), where
    threads cost more than they save, and on a busy machine far more (seconds become minutes)."""
    return threadpool_limits(limits=1, user_api="blas")


def split(n, parts):
    """Cut range(n) into at most `parts` contiguous slices of nearly equal size."""
    bounds = np.linspace(0, n, min(n, parts) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def parts(n, nbytes):
    """Slices of range(n) for the threads; a single one below 1 MB (threads cost ~50 us, while one
    strided pass over 1 MB already takes several hundred)."""
    return split(n, num_threads() if nbytes >= CHUNK_BYTES // 2 else 1)


def image_blocks(n, image_bytes):
    """Slices of a few images each (about CHUNK_BYTES): per-block temporaries then stay in cache."""
    step = int(max(1, CHUNK_BYTES // max(1, image_bytes)))
    return [slice(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def parallel(fn, items):
    """[fn(item) for item in items], the first in the calling thread, the others on a thread pool.

    fn must write only to its own part of any output, and may use scratch buffers (they are per
    thread) other than those its caller holds. Used for a few large element-wise passes (pooling,
    batch norm, copies) and, through `over_chunks`, the chunk loops: ~50 us per call.
    """
    global _POOL
    items = list(items)
    if len(items) <= 1 or num_threads() == 1:
        return [fn(item) for item in items]
    # a new pool after a fork (a child process has none of the parent's threads) or when too small
    if _POOL is None or _POOL[0] != os.getpid() or _POOL[1]._max_workers < len(items) - 1:
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=max(len(items), num_threads()) - 1))
    # the calling thread takes the first item itself: one thread hand-off fewer (~50 us each)
    futures = [_POOL[1].submit(fn, item) for item in items[1:]]
    try:
        first = fn(items[0])
    finally:
        results = [f.result() for f in futures]   # never return while a worker still writes
    return [first] + results


def over_chunks(fn, chunks):
    """[fn(run) for each thread's run of whole chunks]: every thread does all the stages of its chunks.

    For loops of chunks that each call BLAS on small matrices (Winograd's 16 GEMMs of one chunk): the
    threads take whole chunks, transforms and GEMMs alike, while BLAS itself runs on one thread, so
    the cores are never oversubscribed. On the 2-core benchmark machine this beats BLAS threading
    the small GEMMs with the transforms left serial by about 1.5x.
    """
    global _BLAS
    runs = [chunks[part] for part in split(len(chunks), num_threads())]
    if len(runs) <= 1:
        return [fn(chunks)]
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        return parallel(fn, runs)


def scratch(name, shape, dtype):
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


def transpose(a, axes, name):
    """a.transpose(axes) copied into the scratch buffer `name`, split over threads.

    Swapping two pairs of axes, (2, 3, 0, 1) of a contiguous array, is the transpose of a matrix
    (d0*d1, d2*d3); copied whole, each output row gathers one number from every input row, so
    rows thousands of bytes apart keep evicting each other from the cache (and the TLB). Copied in
    tiles of 32 input rows x 256 columns, each tile's input stays in the cache.
    """
    view = a.transpose(axes)
    out = scratch(name, view.shape, a.dtype)
    if tuple(axes) == (2, 3, 0, 1) and a.flags.c_contiguous:
        src = a.reshape(a.shape[0] * a.shape[1], -1)                 # (R, K)
        dst = out.reshape(src.shape[1], src.shape[0])                # (K, R), = src.T
        tiles = [(slice(i, i + 32), slice(j, j + 256))
                 for j in range(0, src.shape[1], 256) for i in range(0, src.shape[0], 32)]

        def copy(part):
            for rows, cols in tiles[part]:
                np.copyto(dst[cols, rows], src[rows, cols].T)

        parallel(copy, parts(len(tiles), out.nbytes))
        return out
    parallel(lambda part: np.copyto(out[part], view[part]), parts(len(out), out.nbytes))
    return out
