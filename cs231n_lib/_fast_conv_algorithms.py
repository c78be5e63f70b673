"""The two fast convolution algorithms behind `cs231n_lib.fast_layers.conv_forward_fast`.

Both compute exactly what the plain im2col path computes (a stride-1, dilation-1 cross-correlation),
with fewer multiplies, and both are picked by `fast_layers.conv_algorithm` from the shapes alone:

- Winograd F(2x2, 3x3) for 3x3 filters: 16 multiplies per 2x2 output tile instead of 36.
- The convolution theorem for big kernels on small images, with the small DFTs done as matrix
  multiplies (BLAS), so no FFT library is needed.

Read the im2col path in `fast_layers` first: these are optimisations of it, checked against loops
in tests/test_fast_paths.py. Threads, chunks and scratch buffers come from `cs231n_lib._threads`.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from cs231n_lib import _threads

__all__ = ["winograd_forward", "winograd_backward", "fourier_forward", "fourier_backward"]

WINOGRAD_COLUMNS = 512          # Winograd: columns per GEMM worth gathering images for


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
    reused for every chunk and every call. Each thread takes a run of whole chunks (`_threads.over_chunks`).
    """

    def __init__(self, x_shape, F, P, dtype):
        N, C, H, W = x_shape
        self.N, self.C, self.F, self.P, self.dtype = N, C, F, P, dtype
        self.H_out, self.W_out = H + 2 * P - 2, W + 2 * P - 2
        self.th, self.tw = -(-self.H_out // 2), -(-self.W_out // 2)    # 2x2 output tiles (ceil)
        self.K = self.tw + 1                                           # column pairs per tile row
        self.B = (self.th + 1) * self.K + 1                            # block: one plane of one image
        per_image = 16 * (C + F) * self.B * np.dtype(dtype).itemsize   # bytes of V and M
        self.m = int(max(1, min(N, -(-WINOGRAD_COLUMNS // self.B), 4 * _threads.CHUNK_BYTES // per_image)))
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
        out = _threads.scratch("winograd " + name, shape, self.dtype)
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


def winograd_forward(x, w, b, P):
    """3x3 stride-1 convolution by Winograd F(2x2, 3x3). Returns out (N, F, H_out, W_out) and U (16, F, C)."""
    N, C = x.shape[:2]
    F = w.shape[0]
    wino = _Winograd(x.shape, F, P, x.dtype)
    U = _winograd_filters(w)                                           # (16, F, C)
    out = np.empty((N, F, wino.H_out, wino.W_out), x.dtype)

    def run(chunks):
        for chunk in chunks:
            V = wino.tiles(x[chunk])                          # (16, C, m*B)
            M = np.matmul(U, V, out=wino._buffer("M", (16, F, V.shape[2])))
            wino.untile(M, b, out[chunk])                     # the 16 GEMMs did all the multiplies

    _threads.over_chunks(run, wino.chunks())
    return out, U


def winograd_backward(dout, x, U, P):
    """Backward of `winograd_forward`: the three stages in reverse, each transposed.

    dM = A dY A^T (output transform transposed); dU = dM V^T and dV = U^T dM (the 16 GEMMs
    transposed); dx = scatter-add of B dV B^T over the overlapping tiles (input transform
    transposed); dw = G^T dU G. Equivalently, dx is a full convolution of dout with the filters
    rotated by 180 degrees. V is recomputed chunk by chunk: as fast as keeping it (4x the input)
    from the forward pass, and it stays in the cache.
    """
    F, C = U.shape[1:]
    wino = _Winograd(x.shape, F, P, x.dtype)
    dx = np.empty(x.shape, x.dtype)

    def run(chunks):
        dU = np.zeros((16, F, C), dtype=x.dtype)                       # this thread's share
        for chunk in chunks:
            V = wino.tiles(x[chunk])                          # (16, C, m*B)
            dM = wino.untile_adjoint(dout[chunk])             # (16, F, m*B), zero on the spare tiles
            dU += np.matmul(dM, V.transpose(0, 2, 1))                  # (16, F, C)
            dV = np.matmul(U.transpose(0, 2, 1), dM, out=V)            # (16, C, m*B), in V's memory
            wino.tiles_adjoint(dV, dx[chunk])
        return dU

    dU = sum(_threads.over_chunks(run, wino.chunks()))
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
    rows = np.matmul(a.reshape(-1, m), real_to_half, out=_threads.scratch("dft rows", (A * B * n, 2 * Q), a.dtype))
    rows = _threads.transpose(rows.view(full.dtype).reshape(A, B, n, Q), (2, 3, 0, 1), "dft rows T")  # (n, Q, A, B)
    spectrum = np.empty((Lh, Q * A * B), full.dtype) if keep else _threads.scratch("dft out", (Lh, Q * A * B), full.dtype)
    np.matmul(full, rows.reshape(n, -1), out=spectrum)                          # along the height
    return spectrum.reshape(-1, A, B)


def _fourier_inverse(spectrum, Lh, Lw, n, m, shift):
    """Inverse of `_fourier_transform` keeping rows and columns shift .. shift+n-1 / +m-1 -> (A, B, n, m)."""
    _, A, B = spectrum.shape
    real = np.finfo(spectrum.dtype).dtype                               # complex64 -> float32
    inverse_full = _dft_matrices(n, Lh, shift, real)[2]
    half_to_real = _dft_matrices(m, Lw, shift, real)[3]
    Q = half_to_real.shape[0] // 2
    rows = np.matmul(inverse_full, spectrum.reshape(Lh, -1), out=_threads.scratch("idft rows", (n, Q * A * B), spectrum.dtype))
    rows = _threads.transpose(rows.reshape(n, Q, A, B), (2, 3, 0, 1), "idft rows T")   # (A, B, n, Q)
    return (rows.view(real).reshape(-1, 2 * Q) @ half_to_real).reshape(A, B, n, m)


def fourier_forward(x, w, b, P):
    """Stride-1 convolution through the convolution theorem. Returns out and (X, Wf) for the backward pass."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Lh, Lw = H + 2 * P, W + 2 * P
    X = _fourier_transform(x, Lh, Lw, P, keep=True)                     # (Q, N, C), Q = Lh*(Lw//2 + 1)
    Wf = _fourier_transform(w, Lh, Lw, 0, keep=True)                    # (Q, F, C)
    OUT = np.matmul(X, Wf.conj().transpose(0, 2, 1),                    # (Q, N, F): one GEMM per frequency
                    out=_threads.scratch("fourier product", (X.shape[0], N, F), X.dtype))
    out = _fourier_inverse(OUT, Lh, Lw, Lh - HH + 1, Lw - WW + 1, 0)    # (N, F, H_out, W_out)
    out += b[:, None, None]
    return out, (X, Wf)


def fourier_backward(dout, x_shape, w_shape, saved, P):
    """Backward of `fourier_forward`, all in the frequency domain.

    The adjoint of correlating with w is convolving with w, which multiplies by Wf (not its conjugate):
    dX[k] = D[k] @ Wf[k]; dw is the correlation of x with dout: dWf[k] = D[k]^H @ X[k].
    """
    X, Wf = saved
    N, C, H, W = x_shape
    F, _, HH, WW = w_shape
    Lh, Lw = H + 2 * P, W + 2 * P
    D = _fourier_transform(dout, Lh, Lw, 0)                             # (Q, N, F)
    dX = np.matmul(D, Wf, out=_threads.scratch("fourier product", X.shape, X.dtype))
    dx = _fourier_inverse(dX, Lh, Lw, H, W, P)                          # (N, C, H, W)
    D_H = np.conjugate(D, out=_threads.scratch("fourier product", D.shape, D.dtype)).transpose(0, 2, 1)
    dw = _fourier_inverse(np.matmul(D_H, X), Lh, Lw, HH, WW, 0)         # (F, C, HH, WW)
    return dx, dw
