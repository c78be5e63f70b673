"""Output-size arithmetic and input checks shared by every layer and the architecture calculator.

The one formula of the course: a window of size F slid with stride S over an input of size W that
was zero-padded by P on both sides fits

    W_out = (W - F_eff + 2P) / S + 1,        F_eff = D * (F - 1) + 1   (dilation D; D = 1 is plain)

times, and only when (W - F_eff + 2P) is a whole multiple of S. Anything else is a configuration
error, and we say so instead of silently cropping.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["effective_size", "conv_output_size", "pool_output_size", "check_array"]


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def effective_size(F: int, D: int = 1) -> int:
    """Span of a size-F window with dilation D (framework convention: D=1 is an ordinary window).

    D=2 on a 3-tap filter reads x[0], x[2], x[4]: it spans D*(F-1)+1 = 5 inputs.
    """
    F = _check_int(F, "filter size F", 1)
    D = _check_int(D, "dilation D", 1)
    return D * (F - 1) + 1


def conv_output_size(W: int, F: int, S: int = 1, P: int = 0, D: int = 1, *, name: str = "width") -> int:
    """Number of positions a size-F window (stride S, zero padding P, dilation D) takes on a size-W input.

    Returns (W - F_eff + 2P) // S + 1. Raises ValueError, naming every size, when the window is larger
    than the padded input or when (W - F_eff + 2P) is not a multiple of S (the window would not tile
    the input: W=10, F=3, S=2, P=0 gives 4.5 positions).
    """
    W = _check_int(W, f"input {name} W", 1)
    S = _check_int(S, "stride S", 1)
    P = _check_int(P, "padding P", 0)
    F_eff = effective_size(F, D)
    span = W + 2 * P - F_eff
    if span < 0:
        raise ValueError(
            f"window of size {F_eff} (F={F}, D={D}) does not fit the padded input {name} "
            f"W + 2P = {W} + 2*{P} = {W + 2 * P}"
        )
    if span % S != 0:
        raise ValueError(
            f"stride does not fit along the {name}: output size (W - F + 2P)/S + 1 = "
            f"({W} - {F_eff} + 2*{P})/{S} + 1 = {span / S + 1:.4g} is not a whole number "
            f"(W={W}, F={F_eff}, P={P}, S={S})"
        )
    return span // S + 1


def pool_output_size(W: int, F: int, S: int, *, name: str = "width") -> int:
    """Output size of an unpadded pooling window F with stride S: (W - F) / S + 1 (must be whole)."""
    return conv_output_size(W, F, S, 0, 1, name=name)


def check_array(x, name: str, ndim: int | None = None, shape_hint: str = "") -> np.ndarray:
    """Return `x` as a floating ndarray, or raise a clear TypeError / ValueError.

    Rejects non-arrays of non-numbers (strings, objects), and arrays of the wrong number of
    dimensions; `shape_hint` (for example "(N, C, H, W)") is quoted in the message. Integer arrays
    are converted to float64; float32 and float64 arrays are returned unchanged (no copy).
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from exc
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must have {ndim} dimensions{hint}, got shape {x.shape}")
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    return x
