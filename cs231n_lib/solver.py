"""Solver: trains any classification model that exposes ``params`` and ``loss(X, y=None)``.

The model contract (the only thing the Solver knows about a model):

- ``model.params``: dict name -> ndarray of learnable parameters. The Solver replaces each entry with
  its updated array after every step, so models must look their parameters up in this dict by name.
- ``model.loss(X)`` with ``y`` left out: **test mode** (batch norm uses running averages, dropout is the
  identity); returns ``scores`` of shape (N, num_classes).
- ``model.loss(X, y)``: **training mode**; returns ``(loss, grads)`` with ``loss`` a scalar and
  ``grads`` a dict with the same keys and shapes as ``model.params``.

Typical use::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    num_epochs=10, batch_size=50)
    solver.train()
    solver.check_accuracy(data["X_test"], data["y_test"])
"""
from __future__ import annotations

import copy
import math
import sys

import numpy as np

from . import optim

__all__ = ["Solver"]

# Every option of Solver(...) with its default: the single source of truth for the docstring and
# the error message on unknown options.
DEFAULTS = {
    "update_rule": "sgd",
    "optim_config": None,
    "lr_decay": 1.0,
    "lr_schedule": None,
    "batch_size": 100,
    "batch_sampling": "epoch",
    "num_epochs": 10,
    "num_steps": None,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "print_every": 100,
    "verbose": True,
    "progress": True,
    "seed": None,
    "callback": None,
    "keep_best": True,
    "record_accuracy": True,
}
REQUIRED_DATA = ("X_train", "y_train", "X_val", "y_val")
BATCH_SAMPLINGS = ("epoch", "random")


def _lookup_rule(update_rule):
    """Return the update function for a rule name in ``optim.RULES`` (or a callable, unchanged)."""
    if callable(update_rule):
        return update_rule
    rules = getattr(optim, "RULES", None)
    if rules is None:  # fall back to the functions of optim by name
        names = ("sgd", "sgd_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adam")
        rules = {n: getattr(optim, n) for n in names if hasattr(optim, n)}
    if not isinstance(update_rule, str) or update_rule not in rules:
        raise ValueError(
            f"unknown update_rule {update_rule!r}; use one of {sorted(rules)} or a callable "
            "next_w, config = rule(w, dw, config)"
        )
    return rules[update_rule]


def _in_jupyter_kernel():
    """True inside a Jupyter (ipykernel) kernel, where a terminal-style bar would leave one output per redraw."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython
    return getattr(get_ipython(), "kernel", None) is not None


class _DisplayLine:
    """A file for tqdm inside a notebook: the bar is ONE display output, redrawn in place.

    tqdm redraws a terminal bar by writing a carriage return and the new text. Sent to a kernel's
    stdout, each redraw becomes a new stream output (a saved notebook kept 168 of them for one training
    run). Here every write replaces the text of one display output (IPython's display_id), so the
    notebook keeps a single line: the bar's final state (steps, time, rate, last loss).
    """

    encoding = "utf-8"       # tqdm draws its block characters only for a file that says it takes them

    def __init__(self):
        from IPython.display import display
        self._text = ""
        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, s):
        self._text = s.rsplit("\r", 1)[-1] if "\r" in s else self._text + s
        self._handle.update({"text/plain": self._text.rstrip()}, raw=True)

    def flush(self):
        pass


class Solver:
    """Mini-batch training loop with per-parameter optimiser state, histories and a progress bar.

    Inputs:
    - model: object with ``params`` (dict name -> ndarray) and ``loss(X, y=None)``; see the module
      docstring. ``loss(X)`` must run in test mode, ``loss(X, y)`` in training mode.
    - data: dict with ``X_train`` (N_train, ...), ``y_train`` (N_train,) integer labels,
      ``X_val`` (N_val, ...), ``y_val`` (N_val,). Other keys (``X_test``...) are ignored.

    Options (keyword only; anything else raises TypeError):
    - update_rule = 'sgd': a name in ``optim.RULES`` ('sgd', 'sgd_momentum', 'nesterov_momentum',
      'adagrad', 'rmsprop', 'adam') or a callable ``next_w, config = rule(w, dw, config)``.
    - optim_config = None: dict passed to the rule (e.g. ``{'learning_rate': 1e-3}``). Every parameter
      gets its own copy, because rules keep per-parameter state (velocity, moments) in it.
    - lr_decay = 1.0: after each epoch the learning rate is multiplied by lr_decay.
    - lr_schedule = None: callable ``epoch -> lr`` (epoch counted from 0), setting the learning rate at
      the start of each epoch, e.g. ``lambda e: optim.cosine_schedule(1e-3, e, 10)``. Use either
      lr_decay or lr_schedule, not both.
    - batch_size = 100: examples per step; None means all of them (full-batch gradient descent: every
      step uses the whole training set in its stored order, one step per epoch, no random draw). One
      epoch is max(N_train // batch_size, 1) steps.
    - batch_sampling = 'epoch': how a step's examples are chosen.
      'epoch': a fresh random permutation of the training set per epoch, cut into batches, so every
      example is used once per epoch (the remainder waits for the next epoch's shuffle).
      'random': every step draws batch_size distinct examples anew, independently of the other steps
      (``rng.choice(N_train, batch_size, replace=False)`` with the Solver's rng, as CS231n's original
      Solver did); batch_size must then be <= N_train.
    - num_epochs = 10: epochs that ``train()`` runs.
    - num_steps = None: run exactly this many steps instead (give num_epochs or num_steps, not both).
      Epoch bookkeeping (lr_decay, lr_schedule, accuracy) still happens whenever an epoch is complete;
      a train() that ends inside an epoch measures the accuracy there too, and a second train()
      continues that epoch.
    - num_train_samples = 1000: training examples used to measure training accuracy after each epoch
      (None: all of them).
    - num_val_samples = None: validation examples used for validation accuracy (None: all).
    - print_every = 100: with verbose, print the loss every print_every steps (None: never).
    - verbose = True: print one line per epoch (accuracies, learning rate).
    - progress = True: show a tqdm bar over the steps with epoch and loss. It writes to sys.stdout, so a
      notebook shows no stderr.
    - seed = None: seeds ``solver.rng``, which draws the mini-batches (either sampling) and the
      accuracy subsamples (not the model's init): ``np.random.default_rng(seed)``.
    - callback = None: callable ``callback(solver)`` run after every step (the step's loss is
      ``solver.loss_history[-1]``, the step count ``len(solver.loss_history)``); lecture experiments
      use it to record what they measure. It runs before the end-of-epoch accuracy check. To stop
      training early it returns True: ``train()`` then ends after this step (the end-of-epoch work of
      this step, if any, still happens). It must return None, True or False (anything else is a
      TypeError, so a stray return value cannot stop training by accident).
    - keep_best = True: put the parameters with the best validation accuracy back when training ends
      (early stopping); False keeps the last ones (to watch overfitting happen).
    - record_accuracy = True: measure train / val accuracy before training and after every epoch.
      False skips it (models that do not classify, or experiments that only watch the loss); then
      X_val, y_val are not needed and the accuracy histories stay empty.

    A step whose loss or gradient holds NaN or infinity stops training with FloatingPointError (the
    parameters are left as they were before that step, ``len(solver.loss_history)`` steps were
    applied): the learning rate is usually too high. Catch it to treat divergence as a result.

    After ``train()``:
    - loss_history: training loss of every step, length num_epochs * steps_per_epoch (or num_steps,
      or fewer after an early stop).
    - train_acc_history, val_acc_history: accuracy after e epochs for e = 0 .. num_epochs (entry 0 is
      the untrained model), length num_epochs + 1; plus one entry at the end of a train() that stops
      inside an epoch (num_steps not a multiple of steps_per_epoch, or a callback's stop).
    - lr_history: learning rate used during each completed epoch.
    - best_val_acc, best_params: the best validation accuracy seen and a copy of the params that
      reached it; with keep_best, best_params (and, for models with ``bn_params``, their batch-norm
      running averages) are put back into the model when training ends.
    """

    def __init__(self, model, data, **kwargs):
        unknown = sorted(set(kwargs) - set(DEFAULTS))
        if unknown:
            raise TypeError(f"Solver got unknown option(s) {unknown}; valid options are {sorted(DEFAULTS)}")
        if not hasattr(model, "params") or not callable(getattr(model, "loss", None)):
            raise TypeError("model must have a `params` dict and a `loss(X, y=None)` method")
        if "num_epochs" in kwargs and kwargs.get("num_steps") is not None:
            raise ValueError("give either num_epochs or num_steps, not both")
        opts = {**DEFAULTS, **kwargs}
        required = REQUIRED_DATA if opts["record_accuracy"] else REQUIRED_DATA[:2]
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict with keys {list(required)}, got {type(data).__name__}")
        # lists are converted (np.asarray), so X[idx] with an index array works
        data = {k: np.asarray(data[k]) if k in REQUIRED_DATA else v for k, v in data.items()}
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"data is missing key(s) {missing}; it needs {list(required)}, got {sorted(data)}")
        for split in ("train", "val")[:len(required) // 2]:
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            if len(X) != len(y) or len(X) == 0:
                raise ValueError(f"X_{split} has {len(X)} examples but y_{split} has {len(y)}; need equal, > 0")
        self.model = model
        self.X_train, self.y_train = data["X_train"], np.asarray(data["y_train"])
        self.X_val, self.y_val = data.get("X_val"), data.get("y_val")
        self._set_options(opts)
        self._reset()

    def _set_options(self, opts):
        """Validate the options and store them as attributes of the same names."""
        for name, lowest, none_ok in (("batch_size", 1, True), ("num_epochs", 0, False), ("num_steps", 0, True)):
            value = opts[name]
            if value is None and none_ok:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
                raise ValueError(f"{name} must be a {'positive' if lowest else 'non-negative'} integer"
                                 f"{' or None' if none_ok else ''}, got {value!r}")
        if opts["batch_sampling"] not in BATCH_SAMPLINGS:
            raise ValueError(f"unknown batch_sampling {opts['batch_sampling']!r}; use one of {list(BATCH_SAMPLINGS)}")
        if opts["batch_sampling"] == "random" and opts["batch_size"] is not None \
                and opts["batch_size"] > len(self.X_train):
            raise ValueError(f"batch_sampling='random' draws batch_size distinct examples, but batch_size "
                             f"{opts['batch_size']} > {len(self.X_train)} training examples")
        if not opts["lr_decay"] > 0:
            raise ValueError(f"lr_decay must be > 0, got {opts['lr_decay']!r}")
        if opts["lr_schedule"] is not None:
            if not callable(opts["lr_schedule"]):
                raise TypeError("lr_schedule must be a callable epoch -> learning rate")
            if opts["lr_decay"] != 1.0:
                raise ValueError("use either lr_decay or lr_schedule, not both")
        if opts["optim_config"] is not None and not isinstance(opts["optim_config"], dict):
            raise TypeError(f"optim_config must be a dict, got {type(opts['optim_config']).__name__}")
        if opts["callback"] is not None and not callable(opts["callback"]):
            raise TypeError(f"callback must be a callable callback(solver), got {opts['callback']!r}")
        for name, value in opts.items():
            setattr(self, name, value)
        self.optim_config = dict(opts["optim_config"] or {})
        self.update_fn = _lookup_rule(opts["update_rule"])
        if isinstance(opts["update_rule"], str):
            # one dry step of the library's rule on a 1-element array: a typo or an out-of-range value
            # in optim_config fails now, with the rule's own message, not after the first batch
            self.update_fn(np.zeros(1), np.zeros(1), copy.deepcopy(self.optim_config))

    def _reset(self):
        """Fresh bookkeeping and one optimiser config (state) per parameter."""
        self.rng = np.random.default_rng(self.seed)
        self.epoch = 0
        self._steps_in_epoch = 0  # steps of the current epoch already taken (train() may stop inside one)
        self._order = None        # this epoch's permutation (batch_sampling='epoch')
        self.best_val_acc = -1.0
        self.best_params = {}
        self.best_bn_params = None
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.lr_history = []
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}

    @property
    def steps_per_epoch(self):
        if self.batch_size is None:
            return 1
        return max(len(self.X_train) // self.batch_size, 1)

    def _next_batch(self):
        """The examples of the next step: an index array, or slice(None) for the full batch."""
        if self.batch_size is None:
            return slice(None)
        if self.batch_sampling == "random":
            return self.rng.choice(len(self.X_train), self.batch_size, replace=False)
        i = self._steps_in_epoch
        return self._order[i * self.batch_size:(i + 1) * self.batch_size]

    def _run_callback(self):
        """Run the callback; True if it asks to stop."""
        if self.callback is None:
            return False
        answer = self.callback(self)
        if answer is None or isinstance(answer, (bool, np.bool_)):
            return bool(answer)
        raise TypeError(f"callback must return None, True (stop training) or False, got {answer!r}")

    def _step(self, idx):
        """One update on the examples ``idx``: loss, gradients, rule per parameter."""
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        bad = [p for p, g in grads.items() if not np.all(np.isfinite(g))]
        if not np.isfinite(loss) or bad:
            what = f"the training loss is {float(loss)}" if not np.isfinite(loss) else f"the gradient of {bad[0]!r} is not finite"
            raise FloatingPointError(
                f"{what} at step {len(self.loss_history) + 1} (epoch {self.epoch + 1}); training stopped "
                f"before that update. Lower the learning rate (now {self._current_lr():.3g}) or check the "
                f"data for NaN / inf")
        self.loss_history.append(float(loss))
        for p, w in self.model.params.items():
            next_w, self.optim_configs[p] = self.update_fn(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w
        return float(loss)

    def _set_lr(self, lr):
        for config in self.optim_configs.values():
            config["learning_rate"] = lr

    def _current_lr(self):
        """Learning rate in the optimiser configs (nan until known: rules fill in their default)."""
        config = next(iter(self.optim_configs.values()), {})
        return float(config.get("learning_rate", np.nan))

    def predict(self, X, batch_size=100):
        """Class predictions (N,) of the model in test mode, computed batch_size examples at a time."""
        preds = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1) for i in range(0, len(X), batch_size)]
        return np.concatenate(preds) if preds else np.zeros(0, dtype=int)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of X (N, ...) classified as y (N,), on a random subset of num_samples if given."""
        y = np.asarray(y)
        if num_samples is not None and len(X) > num_samples:
            idx = self.rng.choice(len(X), num_samples, replace=False)
            X, y = X[idx], y[idx]
        return float(np.mean(self.predict(X, batch_size) == y))

    def _record_accuracy(self, log):
        """Append train / val accuracy; keep a copy of the params when validation improves."""
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            if hasattr(self.model, "bn_params"):  # running averages belong with these weights
                self.best_bn_params = copy.deepcopy(self.model.bn_params)
        if self.verbose:
            lr = self._current_lr()
            lr_text = f"; lr: {lr:.3g}" if np.isfinite(lr) else ""
            where = (f"Step {len(self.loss_history)}, inside epoch {self.epoch + 1}" if self._steps_in_epoch
                     else f"Epoch {self.epoch} / {self.num_epochs_total}")
            log(f"({where}) train acc: {train_acc:.3f}; val acc: {val_acc:.3f}{lr_text}")

    def train(self):
        """Run num_epochs epochs or num_steps steps (continuing the histories if called again).

        Ends early when the callback returns True; then restores best_params (with keep_best).
        """
        from tqdm import tqdm  # imported here so the library imports without a terminal setup

        per_epoch = self.steps_per_epoch
        steps = self.num_epochs * per_epoch if self.num_steps is None else self.num_steps
        self.num_epochs_total = self.epoch + math.ceil((self._steps_in_epoch + steps) / per_epoch)
        in_kernel = self.progress and _in_jupyter_kernel()
        bar = tqdm(total=steps, file=_DisplayLine() if in_kernel else sys.stdout, disable=not self.progress,
                   leave=in_kernel, unit="step", dynamic_ncols=not in_kernel, ncols=100 if in_kernel else None)
        log = bar.write if self.progress else print
        try:
            if self.record_accuracy and not self.train_acc_history:
                self._record_accuracy(log)
            for _ in range(steps):
                if self._steps_in_epoch == 0:
                    self._start_epoch()
                loss = self._step(self._next_batch())
                self._steps_in_epoch += 1
                stop = self._run_callback()
                t = len(self.loss_history)
                bar.set_description(f"epoch {self.epoch + 1}/{self.num_epochs_total}", refresh=False)
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                bar.update(1)
                if self.verbose and self.print_every and t % self.print_every == 0:
                    log(f"(Step {t}) loss: {loss:.6f}")
                if self._steps_in_epoch == per_epoch:
                    self._end_epoch(log)
                if stop:
                    break
            if self._steps_in_epoch and self.record_accuracy:  # ended inside an epoch: measure here too
                self._record_accuracy(log)
        finally:
            bar.close()
        self._restore_best()

    def _start_epoch(self):
        if self.lr_schedule is not None:
            self._set_lr(float(self.lr_schedule(self.epoch)))
        if self.batch_size is not None and self.batch_sampling == "epoch":
            self._order = self.rng.permutation(len(self.X_train))

    def _end_epoch(self, log):
        lr = self._current_lr()
        self.lr_history.append(lr)
        if self.lr_decay != 1.0:
            if not np.isfinite(lr):
                raise ValueError("lr_decay needs a learning rate: pass optim_config={'learning_rate': ...}")
            self._set_lr(lr * self.lr_decay)
        self.epoch += 1
        self._steps_in_epoch = 0
        if self.record_accuracy:
            self._record_accuracy(log)

    def _restore_best(self):
        if self.best_params and self.keep_best:
            for k, v in self.best_params.items():
                self.model.params[k] = v.copy()
            if self.best_bn_params is not None:
                # Update the dicts in place: the model's layers may hold references to them.
                live, best = self.model.bn_params, copy.deepcopy(self.best_bn_params)
                pairs = zip(live.values(), best.values()) if isinstance(live, dict) else zip(live, best)
                for live_param, best_param in pairs:
                    live_param.update(best_param)
