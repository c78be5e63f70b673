"""Gradient checking: centred finite differences and a side-by-side comparison.

A backward pass is only trusted once it agrees with the slow, obviously-correct estimate

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2h)

whose error shrinks like h**2. Run checks in float64: in float32 the rounding error of f
(about 1e-7 * |f|) divided by 2h swamps the estimate.

Each estimated entry costs two calls of f. For a slow f (a layer written with loops) check a
few entries spread over the array instead of all of them: `spread_entries` picks them and
`numerical_gradient_entries` estimates only those, to compare with `dx[entries]`.
"""
from __future__ import annotations

import inspect
import numbers

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_array", "numerical_gradient_entries",
           "spread_entries", "rel_error", "compare"]


def _as_call(f, x):
    """Return a zero-argument callable: f itself if it takes no arguments, else `lambda: f(x)`.

    Both styles are common: `lambda: loss(x)` (closing over x) and `lambda x: loss(x)`.
    """
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature take x
        return lambda: f(x)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    if any(p.kind in positional and p.default is p.empty for p in params):
        return lambda: f(x)
    return f


def _check_perturbable(x):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        kind = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"x must be a floating ndarray (it is perturbed in place), got {kind}")


def _check_step(h):
    if isinstance(h, bool) or not isinstance(h, numbers.Real) or not 0 < h < float("inf"):
        raise ValueError(f"the step h must be a finite number > 0, got {h!r}")


def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of a scalar function with respect to the array `x`.

    Inputs:
    - f: called as f(x) (or f() if it takes no arguments); returns a scalar that depends on x
    - x: floating array of any shape; perturbed IN PLACE one entry at a time, then restored
    - h: step size
    Returns grad, the same shape as x: grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h).
    """
    _check_perturbable(x)
    _check_step(h)
    call = _as_call(f, x)
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        try:
            x[idx] = old + h
            f_plus = float(call())
            x[idx] = old - h
            f_minus = float(call())
        finally:
            x[idx] = old  # restore even if f raises
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad.astype(x.dtype, copy=False)


def numerical_gradient_array(f, x, dout, h=1e-5):
    """Centred-difference gradient of sum(f(x) * dout) with respect to `x`, for array-valued f.

    This is what a backward pass computes: dout (same shape as f(x)) is the upstream gradient,
    and the result (same shape as x) is the matching dx. x is perturbed in place and restored.
    """
    _check_perturbable(x)
    _check_step(h)
    call = _as_call(f, x)
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        grad[idx] = _centred_difference(call, x, idx, dout, h)
    return grad.astype(x.dtype, copy=False)


def _centred_difference(call, x, idx, dout, h):
    """sum((f(x + h e_idx) - f(x - h e_idx)) * dout) / (2h), with x[idx] restored afterwards."""
    old = x[idx]
    try:
        x[idx] = old + h
        out_plus = np.array(call(), dtype=np.float64)  # a copy: f may return a view of x
        x[idx] = old - h
        out_minus = np.array(call(), dtype=np.float64)
    finally:
        x[idx] = old
    if out_plus.shape != dout.shape:
        raise ValueError(f"dout has shape {dout.shape} but f(x) has shape {out_plus.shape}")
    return np.sum((out_plus - out_minus) * dout) / (2 * h)


def spread_entries(shape, num):
    """`num` entries of an array of `shape`, spread evenly over it in flat (C) order, the first and
    the last included (num >= 2); every entry when num >= its size.

    Returns a tuple of index arrays, one per axis (as np.unravel_index gives), so that a[entries]
    picks those entries of any array `a` of that shape. The choice is fixed: no randomness.
    """
    shape = tuple(int(n) for n in np.atleast_1d(shape))
    if isinstance(num, bool) or not isinstance(num, numbers.Integral) or num < 1:
        raise ValueError(f"num (how many entries) must be a whole number >= 1, got {num!r}")
    size = int(np.prod(shape))
    if size == 0:
        raise ValueError(f"an array of shape {shape} has no entries to pick")
    if num >= size:
        flat = np.arange(size)
    else:  # steps of more than 1 stay distinct when rounded (np.unique would import numpy.ma: 20 ms)
        flat = np.linspace(0, size - 1, int(num)).round().astype(np.intp)
    return np.unravel_index(flat, shape)


def numerical_gradient_entries(f, x, dout, entries, h=1e-5):
    """numerical_gradient_array at a few entries of `x` only: 2 calls of f per entry, not per element.

    Inputs:
    - f, x, dout, h: as for numerical_gradient_array (x is perturbed in place and restored)
    - entries: a tuple of index arrays, one per axis of x (spread_entries, np.unravel_index or
      np.nonzero give one)
    Returns a 1-D float array, one centred difference per entry, in the order of `entries`:
    compare it with dx[entries].
    """
    _check_perturbable(x)
    _check_step(h)
    if not isinstance(entries, tuple) or len(entries) != x.ndim:
        raise ValueError(f"entries must be a tuple of {x.ndim} index arrays (one per axis of x, "
                         f"as spread_entries gives), got {type(entries).__name__}"
                         + (f" of length {len(entries)}" if isinstance(entries, tuple) else ""))
    index = [np.asarray(e) for e in entries]
    if any(i.dtype.kind not in "iu" for i in index):
        raise ValueError("entries must hold integer indices")
    try:
        index = np.broadcast_arrays(*index)
        flat = np.ravel_multi_index(index, x.shape).ravel()
    except ValueError as err:
        raise ValueError(f"entries do not fit an array of shape {x.shape}: {err}") from None
    call = _as_call(f, x)
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.array([_centred_difference(call, x, np.unravel_index(k, x.shape), dout, h)
                     for k in flat], dtype=np.float64)
    return grad.astype(x.dtype, copy=False)


def rel_error(a, b):
    """Largest elementwise relative error max |a - b| / max(1e-8, |a| + |b|).

    Scale-free, so one threshold works for tiny and huge gradients; the 1e-8 floor keeps entries
    where both are (almost) zero from dividing by zero. In float64, a correct backward pass
    usually scores below 1e-7; a wrong one scores near 1.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def compare(name, ours, reference):
    """Print and return how closely `ours` matches `reference` (e.g. a backward pass vs a gradcheck).

    Prints one line "name | exact: bool | approx: bool | max diff: ...", where exact means
    bitwise-equal values and approx means np.allclose (default tolerances).
    Returns {'name', 'exact', 'approx', 'max_diff'}.
    """
    ours = np.asarray(ours)
    reference = np.asarray(reference)
    if ours.shape != reference.shape:
        raise ValueError(f"{name}: shapes differ, ours {ours.shape} vs reference {reference.shape}")
    exact = bool(np.array_equal(ours, reference))
    approx = bool(np.allclose(ours, reference))
    max_diff = float(np.max(np.abs(ours - reference))) if ours.size else 0.0
    print(f"{name:15s} | exact: {str(exact):5s} | approx: {str(approx):5s} | max diff: {max_diff:.3e}")
    return {"name": name, "exact": exact, "approx": approx, "max_diff": max_diff}
