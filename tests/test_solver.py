"""Tests of cs231n_lib.solver.Solver: options, histories, learning rates, best params, training."""
import numpy as np
import pytest

from cs231n_lib.data import load_digits
from cs231n_lib.models import ThreeLayerConvNet
from cs231n_lib.solver import Solver

QUIET = {"verbose": False, "progress": False}


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


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def toy_data(n_train=60, n_val=20):
    rng = np.random.default_rng(0)
    return {"X_train": rng.standard_normal((n_train, 3)), "y_train": rng.integers(2, size=n_train),
            "X_val": rng.standard_normal((n_val, 3)), "y_val": rng.integers(2, size=n_val)}


class LinearModel:
    """A softmax classifier written here, independent of the library's layers."""

    def __init__(self, D=3, K=2):
        self.params = {"W": np.zeros((D, K)), "b": np.zeros(K)}
        self.test_calls = 0

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            self.test_calls += 1
            return scores
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(len(y)), y]))
        p[np.arange(len(y)), y] -= 1
        return loss, {"W": X.T @ p / len(y), "b": p.mean(axis=0)}


def recording_rule(seen):
    """An update rule that records the learning rate it is given and leaves w unchanged."""
    def rule(w, dw, config=None):
        seen.append(config["learning_rate"])
        return w, config
    return rule


# ---------------------------------------------------------------- options and data
def test_unknown_options_rejected():
    with pytest.raises(TypeError) as info:
        Solver(LinearModel(), toy_data(), lerning_rate=1e-3, num_epoch=3, batch_size=10)
    message = str(info.value)
    assert "lerning_rate" in message and "num_epoch" in message
    assert "num_epochs" in message and "optim_config" in message  # the valid ones are listed too
    assert "batch_size'" not in message.split("valid")[0]  # a valid option is not reported as unknown


def test_missing_data_keys():
    data = toy_data()
    del data["y_val"]
    with pytest.raises(ValueError, match="y_val"):
        Solver(LinearModel(), data, **QUIET)


def test_bad_options():
    with pytest.raises(ValueError, match="update_rule"):
        Solver(LinearModel(), toy_data(), update_rule="sdg", **QUIET)
    with pytest.raises(ValueError, match="lr_decay or lr_schedule"):
        Solver(LinearModel(), toy_data(), lr_decay=0.5, lr_schedule=lambda e: 0.1, **QUIET)
    with pytest.raises(ValueError, match="batch_size"):
        Solver(LinearModel(), toy_data(), batch_size=0, **QUIET)
    data = toy_data()
    data["y_train"] = data["y_train"][:-1]
    with pytest.raises(ValueError, match="y_train"):
        Solver(LinearModel(), data, **QUIET)


# ---------------------------------------------------------------- bookkeeping
def test_history_lengths():
    model = LinearModel()
    solver = Solver(model, toy_data(n_train=60), batch_size=20, num_epochs=3,
                    optim_config={"learning_rate": 0.1}, **QUIET)
    solver.train()
    assert len(solver.loss_history) == 3 * 3  # 60 / 20 steps per epoch
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 3 + 1
    assert solver.lr_history == [0.1] * 3
    assert solver.best_val_acc == max(solver.val_acc_history)
    assert model.test_calls > 0  # accuracy is measured with loss(X): test mode


def test_lr_decay_applied():
    seen = []
    solver = Solver(LinearModel(), toy_data(n_train=40), update_rule=recording_rule(seen), batch_size=20,
                    num_epochs=3, optim_config={"learning_rate": 1.0}, lr_decay=0.5, **QUIET)
    solver.train()
    # two params (W, b) x two steps per epoch, each epoch at half the previous learning rate
    assert seen == [1.0] * 4 + [0.5] * 4 + [0.25] * 4
    assert solver.lr_history == [1.0, 0.5, 0.25]


def test_lr_schedule_applied():
    seen = []
    solver = Solver(LinearModel(), toy_data(n_train=20), update_rule=recording_rule(seen), batch_size=20,
                    num_epochs=3, lr_schedule=lambda epoch: 10.0 ** -epoch, **QUIET)
    solver.train()
    assert np.allclose(seen, [1, 1, 0.1, 0.1, 0.01, 0.01])


def test_best_params_restored():
    # The "model" predicts class 0 for the first acc[t] fraction of examples after t steps; labels are all 0,
    # so validation accuracy after epoch t is acc[t], best at t = 2. It also keeps a batch-norm-like running
    # value that must be restored together with the params.
    acc = [0.1, 0.5, 0.9, 0.3, 0.2]

    class StepModel:
        def __init__(self):
            self.params = {"t": np.zeros(1)}
            self.bn_params = [{"mode": "train", "running": 0}]

        def loss(self, X, y=None):
            t = int(self.params["t"][0])
            if y is not None:
                self.bn_params[0]["running"] = t + 1  # the value that goes with the params after this step
                return 0.0, {"t": np.zeros(1)}
            assert self.bn_params[0]["running"] == t, "running value out of step with the params"
            scores = np.zeros((len(X), 2))
            scores[:, 1] = (X[:, 0] >= acc[t]).astype(float)
            return scores

    n = 10
    data = {"X_train": (np.arange(n) / n)[:, None], "y_train": np.zeros(n, int),
            "X_val": (np.arange(n) / n)[:, None], "y_val": np.zeros(n, int)}
    model = StepModel()
    solver = Solver(model, data, update_rule=lambda w, dw, config: (w + 1, config), batch_size=n,
                    num_epochs=4, **QUIET)
    solver.train()
    assert np.allclose(solver.val_acc_history, acc)
    assert solver.best_val_acc == 0.9
    assert model.params["t"][0] == 2  # the params after epoch 2 are back in the model
    assert model.bn_params[0]["running"] == 2  # and so is their running value
    model.loss(data["X_val"])


def test_best_params_restored_with_batchnorm(digits):
    model = ThreeLayerConvNet(num_filters=4, hidden_dim=16, use_batchnorm=True, seed=0)
    solver = Solver(model, digits, update_rule="adam", optim_config={"learning_rate": 1e-2}, num_epochs=4,
                    batch_size=100, seed=0, **QUIET)
    solver.train()
    pred = np.argmax(model.loss(digits["X_val"]), axis=1)  # running averages restored with the weights
    assert np.mean(pred == digits["y_val"]) == solver.best_val_acc == max(solver.val_acc_history)


def test_per_parameter_state_and_float32(digits):
    model = ThreeLayerConvNet(num_filters=4, hidden_dim=16, dtype=np.float32, use_batchnorm=True, seed=0)
    solver = Solver(model, digits, update_rule="adam", optim_config={"learning_rate": 1e-3}, num_epochs=1,
                    batch_size=200, **QUIET)
    solver.train()
    for name, param in model.params.items():
        assert param.dtype == np.float32, name
        assert solver.optim_configs[name]["m"].shape == param.shape  # one Adam state per parameter
    assert model.loss(digits["X_val"][:5]).dtype == np.float32


def test_seed_reproducible():
    histories = []
    for _ in range(2):
        solver = Solver(LinearModel(), toy_data(), batch_size=10, num_epochs=2, seed=3, **QUIET)
        solver.train()
        histories.append(solver.loss_history)
    assert histories[0] == histories[1]


def test_progress_bar_writes_to_stdout(capsys):
    solver = Solver(LinearModel(), toy_data(), batch_size=10, num_epochs=2, verbose=True, progress=True,
                    print_every=3)
    solver.train()
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "Epoch 2 / 2" in captured.out and "Step 3" in captured.out


# ---------------------------------------------------------------- it learns
def test_overfits_50_digits(digits):
    X, y = digits["X_train"][:50], digits["y_train"][:50]
    # Validate on the same 50 images: the params restored at the end are then those that fit them best.
    small = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = ThreeLayerConvNet(num_filters=8, hidden_dim=50, seed=0)
    solver = Solver(model, small, update_rule="adam", optim_config={"learning_rate": 3e-3}, num_epochs=15,
                    batch_size=10, seed=0, **QUIET)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    pred = np.argmax(model.loss(X), axis=1)  # checked here, not by the Solver
    assert np.mean(pred == y) == 1.0


# ---------------------------------------------------------------- callback, last weights, divergence
def test_callback_runs_after_every_step_before_the_accuracy_check():
    seen = []
    model = LinearModel()

    def callback(solver):
        seen.append((len(solver.loss_history), solver.epoch, len(solver.val_acc_history)))

    Solver(model, toy_data(), batch_size=20, num_epochs=2, callback=callback, **QUIET).train()
    # 3 steps per epoch; during epoch e the accuracy list holds e + 1 entries (the untrained model first)
    assert seen == [(1, 0, 1), (2, 0, 1), (3, 0, 1), (4, 1, 2), (5, 1, 2), (6, 1, 2)]
    with pytest.raises(TypeError, match="callback"):
        Solver(model, toy_data(), callback="print", **QUIET)


def test_keep_best_false_keeps_the_last_parameters():
    model = LinearModel()
    last = {}
    solver = Solver(model, toy_data(), optim_config={"learning_rate": 0.5}, batch_size=20, num_epochs=5,
                    keep_best=False, callback=lambda s: last.update({k: v.copy() for k, v in s.model.params.items()}),
                    **QUIET)
    solver.train()
    assert all(np.array_equal(model.params[k], last[k]) for k in last)


def test_non_finite_loss_stops_training_with_a_clear_error():
    """Before, the Solver ran to the end on NaN losses and kept NaN weights."""
    class Diverging(LinearModel):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is not None and self.calls_left == 0:
                return np.nan, out[1]
            self.calls_left -= y is not None
            return out

    model = Diverging()
    model.calls_left = 4
    solver = Solver(model, toy_data(), optim_config={"learning_rate": 0.1}, batch_size=20, num_epochs=3, **QUIET)
    before = None

    def remember(s):
        nonlocal before
        before = {k: v.copy() for k, v in s.model.params.items()}

    solver.callback = remember
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 5 \(epoch 2\).*learning rate"):
        solver.train()
    assert len(solver.loss_history) == 4
    assert all(np.array_equal(model.params[k], before[k]) for k in before)    # the bad step was not applied


def test_record_accuracy_false_needs_no_validation_data_and_never_runs_test_mode():
    model = LinearModel()
    data = toy_data()
    solver = Solver(model, {"X_train": data["X_train"], "y_train": data["y_train"]}, batch_size=20, num_epochs=2,
                    record_accuracy=False, **QUIET)
    solver.train()
    assert len(solver.loss_history) == 6 and model.test_calls == 0
    assert solver.train_acc_history == solver.val_acc_history == []
    with pytest.raises(ValueError, match="X_val"):
        Solver(model, {"X_train": data["X_train"], "y_train": data["y_train"]}, **QUIET)


def test_non_finite_gradient_stops_training_too():
    class BadGradient(LinearModel):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is None:
                return out
            return out[0], {**out[1], "b": np.full(2, np.inf)}

    with pytest.raises(FloatingPointError, match="gradient of 'b'"):
        Solver(BadGradient(), toy_data(), batch_size=20, num_epochs=1, **QUIET).train()


# ---------------------------------------------------------------- batch sampling, steps, early stop, full batch
class BatchRecorder(LinearModel):
    """Records which training examples each step sees: X_train[n] = [n, n, n]."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def loss(self, X, y=None):
        if y is not None:
            self.batches.append(X[:, 0].astype(int))
        return super().loss(X, y)


def index_data(n_train=12):
    data = toy_data(n_train=n_train)
    data["X_train"] = np.repeat(np.arange(n_train, dtype=float)[:, None], 3, axis=1)
    return data


def test_epoch_sampling_cuts_one_permutation_per_epoch():
    model = BatchRecorder()
    Solver(model, index_data(12), batch_size=5, num_epochs=2, seed=7, **QUIET).train()
    rng = np.random.default_rng(7)
    expected = []
    for _ in range(2):                       # 12 // 5 = 2 steps per epoch; 2 examples wait for the next shuffle
        order = rng.permutation(12)
        expected += [order[:5], order[5:10]]
    assert len(model.batches) == 4
    assert all(np.array_equal(seen, want) for seen, want in zip(model.batches, expected))


def test_random_sampling_draws_distinct_examples_anew_each_step():
    model = BatchRecorder()
    solver = Solver(model, index_data(12), batch_size=5, num_steps=6, batch_sampling="random", seed=7,
                    record_accuracy=False, **QUIET)
    solver.train()
    rng = np.random.default_rng(7)
    expected = [rng.choice(12, 5, replace=False) for _ in range(6)]
    assert len(model.batches) == 6
    assert all(np.array_equal(seen, want) for seen, want in zip(model.batches, expected))
    assert all(len(set(b)) == 5 for b in model.batches)
    # not an epoch's permutation: the first two steps share examples (with this seed)
    assert set(model.batches[0]) & set(model.batches[1])
    with pytest.raises(ValueError, match="batch_sampling.*'shuffle'|'shuffle'.*batch_sampling"):
        Solver(LinearModel(), toy_data(), batch_sampling="shuffle", **QUIET)
    with pytest.raises(ValueError, match="distinct.*13 > 12"):
        Solver(LinearModel(), index_data(12), batch_size=13, batch_sampling="random", **QUIET)


def test_num_steps_runs_that_many_steps_and_keeps_epoch_bookkeeping():
    seen = []
    solver = Solver(LinearModel(), toy_data(n_train=60), update_rule=recording_rule(seen), batch_size=20,
                    num_steps=7, optim_config={"learning_rate": 1.0}, lr_decay=0.5, **QUIET)
    solver.train()                           # 3 steps per epoch: epochs 1, 2 complete, 1 step of epoch 3
    assert len(solver.loss_history) == 7 and solver.epoch == 2
    assert seen[::2] == [1.0] * 3 + [0.5] * 3 + [0.25]         # two params per step: every other entry
    assert solver.lr_history == [1.0, 0.5]
    assert len(solver.val_acc_history) == 1 + 2 + 1            # start, two epochs, the unfinished epoch's end
    solver.num_steps = 2
    solver.train()                           # continues epoch 3 (2 more steps complete it)
    assert len(solver.loss_history) == 9 and solver.epoch == 3 and solver.lr_history == [1.0, 0.5, 0.25]
    with pytest.raises(ValueError, match="num_epochs or num_steps"):
        Solver(LinearModel(), toy_data(), num_epochs=2, num_steps=5, **QUIET)
    with pytest.raises(ValueError, match="num_steps"):
        Solver(LinearModel(), toy_data(), num_steps=-1, **QUIET)


def test_num_steps_continues_the_epochs_permutation():
    model = BatchRecorder()
    solver = Solver(model, index_data(12), batch_size=4, num_steps=2, seed=1, record_accuracy=False, **QUIET)
    solver.train()
    solver.train()                            # steps 3 and 4: the rest of epoch 1, then epoch 2 begins
    first_epoch = np.concatenate(model.batches[:3])
    assert sorted(first_epoch) == list(range(12))            # every example once in epoch 1
    rng = np.random.default_rng(1)
    order1, order2 = rng.permutation(12), rng.permutation(12)
    assert np.array_equal(first_epoch, order1) and np.array_equal(model.batches[3], order2[:4])


def test_callback_returning_true_stops_training():
    solver = Solver(LinearModel(), toy_data(n_train=60), batch_size=20, num_epochs=5,
                    callback=lambda s: len(s.loss_history) == 4, **QUIET)
    solver.train()
    assert len(solver.loss_history) == 4
    # start, the end of epoch 1 (step 3), and the stop inside epoch 2
    assert len(solver.val_acc_history) == 3 and solver.epoch == 1
    with pytest.raises(TypeError, match="callback must return None, True.*'stop'"):
        Solver(LinearModel(), toy_data(), num_epochs=1, callback=lambda s: "stop", **QUIET).train()


def test_full_batch_uses_every_example_in_order_and_draws_nothing():
    model = BatchRecorder()
    solver = Solver(model, index_data(12), batch_size=None, num_epochs=3, seed=2, record_accuracy=False,
                    **QUIET)
    assert solver.steps_per_epoch == 1
    solver.train()
    assert len(model.batches) == 3 and all(np.array_equal(b, np.arange(12)) for b in model.batches)
    untouched = np.random.default_rng(2)
    assert solver.rng.random() == untouched.random()          # the rng drew no batches
    with pytest.raises(ValueError, match="batch_size"):
        Solver(LinearModel(), toy_data(), batch_size=2.5, **QUIET)
