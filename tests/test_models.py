"""Tests of cs231n_lib.models: gradients against centred differences, pattern parsing, dtypes, accuracy."""
import numpy as np
import pytest

from cs231n_lib import models
from cs231n_lib.models import PatternNet, ThreeLayerConvNet, parse_pattern


@pytest.fixture(autouse=True)
def one_blas_thread():
    """One BLAS thread: these matrices are small, and on a busy 2-core machine OpenBLAS threads that
    spin-wait make training several times slower (the Makefile sets OPENBLAS_NUM_THREADS=1 likewise)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it run as is
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------- independent oracle (written here)
def numeric_grad(f, x, h=1e-5):
    """Centred differences of the scalar f() with respect to every entry of x (perturbed in place)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def max_rel_error(a, b, floor=1e-3):
    """Largest |a - b| / (|a| + |b|); entries below `floor` are compared on the scale of `floor`, because
    a true gradient of 0 (a bias before batch norm) comes out of centred differences as ~1e-10 noise."""
    return float(np.max(np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))))


def check_model_grads(model, X, y, tol=1e-6):
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        assert grads[name].shape == param.shape, name
        num = numeric_grad(lambda: model.loss(X, y)[0], param)
        err = max_rel_error(num, grads[name])
        assert err < tol, f"{name}: relative error {err:.2e}"


def small_batch(rng, N=4, shape=(2, 6, 6), num_classes=5):
    return rng.standard_normal((N,) + shape), rng.integers(num_classes, size=N)


# ---------------------------------------------------------------- ThreeLayerConvNet
@pytest.mark.parametrize("use_batchnorm", [False, True])
@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_three_layer_gradients(use_batchnorm, reg):
    rng = np.random.default_rng(1)
    X, y = small_batch(rng)
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=7, num_classes=5,
                              reg=reg, use_batchnorm=use_batchnorm, seed=0)
    if use_batchnorm:  # non-trivial scale and shift, so their gradients are tested away from 1 and 0
        for name in ("gamma1", "gamma2", "beta1", "beta2"):
            model.params[name] += 0.3 * rng.standard_normal(model.params[name].shape)
    check_model_grads(model, X, y)


def test_three_layer_shapes_and_initial_loss():
    rng = np.random.default_rng(0)
    X, y = small_batch(rng, N=50, shape=(1, 8, 8), num_classes=10)
    model = ThreeLayerConvNet(num_filters=4, hidden_dim=10, weight_scale=1e-3, seed=0)
    assert model.params["W1"].shape == (4, 1, 3, 3)
    assert model.params["W2"].shape == (4 * 4 * 4, 10)
    assert model.params["W3"].shape == (10, 10)
    assert model.loss(X).shape == (50, 10)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(10)) < 0.01  # tiny weights: uniform scores


def test_three_layer_reg_term_in_loss():
    rng = np.random.default_rng(0)
    X, y = small_batch(rng, shape=(1, 8, 8), num_classes=10)
    plain = ThreeLayerConvNet(num_filters=4, hidden_dim=10, seed=3)
    reg = ThreeLayerConvNet(num_filters=4, hidden_dim=10, seed=3, reg=0.7)
    expected = 0.5 * 0.7 * sum(np.sum(plain.params[w] ** 2) for w in ("W1", "W2", "W3"))
    assert np.isclose(reg.loss(X, y)[0] - plain.loss(X, y)[0], expected)


def test_three_layer_seed_and_he_init():
    a, b = ThreeLayerConvNet(seed=5), ThreeLayerConvNet(seed=5)
    c = ThreeLayerConvNet(seed=6)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    # He: std sqrt(2 / fan_in) before a ReLU; the last layer (no ReLU after it) gets sqrt(1 / fan_in).
    for name, fan_in, gain, tol in (("W1", 1 * 3 * 3, 2, 0.15), ("W2", 32 * 4 * 4, 2, 0.05), ("W3", 128, 1, 0.1)):
        assert abs(a.params[name].std() / np.sqrt(gain / fan_in) - 1) < tol, name
    assert np.isclose(ThreeLayerConvNet(weight_scale=1e-2, seed=0).params["W2"].std(), 1e-2, rtol=0.05)


@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_three_layer_float32_stays_float32(use_batchnorm):
    rng = np.random.default_rng(0)
    X, y = small_batch(rng, shape=(1, 8, 8), num_classes=10)
    model = ThreeLayerConvNet(num_filters=4, hidden_dim=10, dtype=np.float32, use_batchnorm=use_batchnorm, seed=0)
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert model.loss(X).dtype == np.float32  # float64 input is cast to the model's dtype
    _, grads = model.loss(X.astype(np.float32), y)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_three_layer_test_mode_uses_running_stats():
    # In test mode batch norm must not use batch statistics: one image's scores do not depend on the batch.
    rng = np.random.default_rng(0)
    X, y = small_batch(rng, N=8, shape=(1, 8, 8), num_classes=10)
    model = ThreeLayerConvNet(num_filters=4, hidden_dim=10, use_batchnorm=True, seed=0)
    model.loss(X, y)  # one training-mode call updates the running averages
    assert np.allclose(model.loss(X)[:1], model.loss(X[:1]))
    assert all(bn["mode"] == "test" for bn in model.bn_params)


def test_three_layer_bad_input():
    model = ThreeLayerConvNet(seed=0)
    with pytest.raises(ValueError, match="expects"):
        model.loss(np.zeros((2, 1, 9, 9)))
    with pytest.raises(ValueError, match="odd"):
        ThreeLayerConvNet(filter_size=4)
    with pytest.raises(ValueError):
        ThreeLayerConvNet(input_dim=(1, 7, 7))  # 2x2 pool does not tile 7


def test_three_layer_reaches_95_percent_test_accuracy():
    from cs231n_lib.data import load_digits
    from cs231n_lib.solver import Solver

    data = load_digits()
    # About 2 s on 2 cores; seeds 0-7 of this setting all reach 97-99 % test accuracy.
    model = ThreeLayerConvNet(num_filters=32, hidden_dim=64, use_batchnorm=True, reg=1e-2, seed=0)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 3e-3}, lr_decay=0.8,
                    num_epochs=10, batch_size=50, verbose=False, progress=False, seed=0)
    solver.train()
    pred = np.argmax(model.loss(data["X_test"]), axis=1)
    assert np.mean(pred == data["y_test"]) >= 0.95


# ---------------------------------------------------------------- sandwich helpers
def _sandwich_check(forward, backward, inputs, extra, rng):
    out, cache = forward(*inputs, *extra)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    assert len(grads) == len(inputs)
    for x, g in zip(inputs, grads):
        num = numeric_grad(lambda: np.sum(forward(*inputs, *extra)[0] * dout), x)
        assert max_rel_error(num, g) < 1e-6


def test_sandwich_helpers_backward():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    gamma, beta = 1 + 0.2 * rng.standard_normal(3), 0.2 * rng.standard_normal(3)
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    _sandwich_check(models.conv_relu_forward, models.conv_relu_backward, (x, w, b), (conv,), rng)
    _sandwich_check(models.conv_relu_pool_forward, models.conv_relu_pool_backward, (x, w, b), (conv, pool), rng)
    _sandwich_check(models.conv_bn_relu_forward, models.conv_bn_relu_backward,
                    (x, w, b, gamma, beta), (conv, {"mode": "train"}), rng)
    _sandwich_check(models.conv_bn_relu_pool_forward, models.conv_bn_relu_pool_backward,
                    (x, w, b, gamma, beta), (conv, {"mode": "train"}, pool), rng)
    xa, wa, ba = rng.standard_normal((5, 2, 3)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    ga, be = 1 + 0.2 * rng.standard_normal(4), 0.2 * rng.standard_normal(4)
    _sandwich_check(models.affine_relu_forward, models.affine_relu_backward, (xa, wa, ba), (), rng)
    _sandwich_check(models.affine_bn_relu_forward, models.affine_bn_relu_backward,
                    (xa, wa, ba, ga, be), ({"mode": "train"},), rng)


# ---------------------------------------------------------------- PatternNet: parsing
def test_parse_pattern_expansion():
    assert parse_pattern("[conv-relu]*2-pool-[affine-relu]*1-affine") == [
        "conv", "relu", "conv", "relu", "pool", "affine", "relu", "affine"]
    assert parse_pattern("affine") == ["affine"]
    assert parse_pattern(" conv - BN - relu ") == ["conv", "bn", "relu"]
    assert parse_pattern("conv*3") == ["conv"] * 3
    assert parse_pattern("[[conv-relu]*2-pool]*2") == ["conv", "relu"] * 2 + ["pool"] + ["conv", "relu"] * 2 + ["pool"]
    assert parse_pattern("[conv-leaky_relu-dropout]-affine") == ["conv", "leaky_relu", "dropout", "affine"]


def test_parse_pattern_unknown_token():
    with pytest.raises(ValueError, match="'softmax'"):
        parse_pattern("conv-relu-softmax")
    with pytest.raises(ValueError, match="'convv'"):
        PatternNet("[convv-relu]*2-affine")


@pytest.mark.parametrize("pattern", [
    "", "-", "conv--relu", "conv-", "[conv-relu*2", "conv]-affine", "[conv-relu]*0-affine", "[conv-relu]*-affine",
    "[]*2-affine", "conv relu", "[conv-relu]*2.5-affine", "conv-relu+affine", "[conv-relu]2-affine",
])
def test_parse_pattern_malformed(pattern):
    with pytest.raises(ValueError):
        parse_pattern(pattern)


@pytest.mark.parametrize("pattern, message", [
    ("conv-relu", "must end with 'affine'"),
    ("affine-conv-affine", "image-shaped"),
    ("pool-pool-pool-pool-affine", "pool"),            # 8 -> 4 -> 2 -> 1 -> cannot pool 1
])
def test_patternnet_structure_errors(pattern, message):
    with pytest.raises(ValueError, match=message):
        PatternNet(pattern)


def test_patternnet_per_layer_sizes():
    net = PatternNet("conv-relu-conv-relu-pool-affine-relu-affine-relu-affine", num_filters=[3, 5],
                     hidden_dim=[7, 6], seed=0)
    assert net.params["W1"].shape == (3, 1, 3, 3)
    assert net.params["W2"].shape == (5, 3, 3, 3)
    assert net.params["W3"].shape == (5 * 4 * 4, 7)
    assert net.params["W4"].shape == (7, 6)
    assert net.params["W5"].shape == (6, 10)
    with pytest.raises(ValueError, match="num_filters"):
        PatternNet("conv-relu-conv-affine", num_filters=[3])


def test_patternnet_describe():
    net = PatternNet("[conv-relu]*2-pool-[affine-relu]*1-affine", num_filters=16, hidden_dim=64, seed=0)
    text = net.describe()
    # Parameter counts computed here from the layer sizes (F*C*3*3 + F; D*M + M).
    counts = [16 * 1 * 9 + 16, 16 * 16 * 9 + 16, 16 * 4 * 4 * 64 + 64, 64 * 10 + 10]
    assert net.num_params == sum(counts) == 19_578
    for count in counts + [sum(counts)]:
        assert f"{count:,}" in text
    for shape in ["(16, 8, 8)", "(16, 4, 4)", "(64,)", "(10,)"]:
        assert shape in text
    assert [layer["kind"] for layer in net.layers] == parse_pattern(net.pattern)
    assert len(text.splitlines()) == len(net.layers) + 4  # title, header, input, layers, total


def test_patternnet_init_gain_follows_next_activation():
    relu_net = PatternNet("conv-bn-relu-pool-affine-dropout-relu-affine", hidden_dim=128, seed=0)
    tanh_net = PatternNet("conv-tanh-pool-affine-tanh-affine", hidden_dim=128, seed=0)
    fan_in = 32 * 4 * 4
    assert abs(relu_net.params["W2"].std() / np.sqrt(2 / fan_in) - 1) < 0.05  # He before a ReLU
    assert abs(tanh_net.params["W2"].std() / np.sqrt(1 / fan_in) - 1) < 0.05  # 1 / fan_in otherwise
    assert abs(relu_net.params["W3"].std() / np.sqrt(1 / 128) - 1) < 0.1     # the classifier layer


# ---------------------------------------------------------------- PatternNet: gradients, modes, dtypes
@pytest.mark.parametrize("pattern, reg", [
    ("[conv-relu]*2-pool-[affine-relu]*1-affine", 0.0),
    ("conv-bn-relu-pool-affine-bn-relu-affine", 0.2),
    ("conv-bn-leaky_relu-pool-affine-elu-dropout-affine", 0.1),
    ("conv-tanh-pool-affine-sigmoid-affine", 0.05),
])
def test_patternnet_gradients(pattern, reg):
    rng = np.random.default_rng(3)
    X, y = small_batch(rng, N=3, shape=(2, 4, 4), num_classes=4)
    net = PatternNet(pattern, input_dim=(2, 4, 4), num_classes=4, num_filters=3, hidden_dim=5, reg=reg, seed=1)
    for param in net.dropout_params:
        param["seed"] = 0  # the same mask in every call, so the loss is a fixed function of the params
    for name in net.params:
        if name.startswith(("gamma", "beta")):
            net.params[name] += 0.3 * rng.standard_normal(net.params[name].shape)
    check_model_grads(net, X, y)


def test_patternnet_modes():
    rng = np.random.default_rng(0)
    X, y = small_batch(rng, N=6, shape=(1, 8, 8), num_classes=10)
    net = PatternNet("conv-bn-relu-pool-affine-dropout-relu-affine", num_filters=4, hidden_dim=8, seed=0)
    net.loss(X, y)
    assert net.bn_params[0]["mode"] == "train" and net.dropout_params[0]["mode"] == "train"
    scores = net.loss(X)
    assert scores.shape == (6, 10)
    assert net.bn_params[0]["mode"] == "test" and net.dropout_params[0]["mode"] == "test"
    assert np.array_equal(scores, net.loss(X))  # test mode is deterministic (no dropout)
    assert np.allclose(scores[:2], net.loss(X[:2]))  # and independent of the batch (running stats)


def test_patternnet_float32():
    rng = np.random.default_rng(0)
    X, y = small_batch(rng, shape=(1, 8, 8), num_classes=10)
    net = PatternNet("conv-bn-elu-pool-affine-bn-tanh-dropout-affine", num_filters=4, hidden_dim=8,
                     dtype=np.float32, seed=0)
    assert net.loss(X).dtype == np.float32
    _, grads = net.loss(X, y)
    assert all(g.dtype == np.float32 for g in grads.values())
