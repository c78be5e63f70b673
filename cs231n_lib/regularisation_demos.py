"""Helpers for lecture 6 (regularisation): weight penalties, a softmax classifier trained with them,
plain vs inverted dropout, batch dependence of batch norm, ensembles, and a model wrapper that
draws the training-time randomness (dropout masks, augmented inputs) from one seeded generator.

Shapes: X (N, D) for the softmax classifier, weights W (D, C), scores (N, C), labels y (N,).
"""
from __future__ import annotations

import numpy as np

from . import layers, optim

__all__ = [
    "PENALTIES", "penalty", "soft_threshold", "softmax", "train_softmax",
    "dropout_train", "dropout_test", "batch_dependence", "ensemble_probs", "TrainTimeNoise", "fit", "summarise",
    "CASE_STUDIES",
]

PENALTIES = ("none", "l2", "l1", "elastic")


# ----------------------------------------------------------------------------- weight penalties
def _check_kind(kind):
    if kind not in PENALTIES:
        raise ValueError(f"unknown penalty {kind!r}; choose one of {PENALTIES}")


def penalty(w, kind, reg, l1_ratio=0.5):
    """Value and (sub)gradient of a weight penalty R(w), scaled by reg.

    kind 'l2':      R = 0.5 * sum(w**2)              dR/dw = w         (shrinks every weight in proportion)
    kind 'l1':      R = sum(|w|)                     dR/dw = sign(w)   (the same pull on small and large weights)
    kind 'elastic': R = l1_ratio * L1 + (1 - l1_ratio) * L2, the mix of both
    kind 'none':    0.
    Inputs: w any shape; reg >= 0; l1_ratio in [0, 1]. Returns (value float, dw with w's shape).
    """
    _check_kind(kind)
    w = np.asarray(w)
    if kind == "none" or reg == 0:
        return 0.0, np.zeros_like(w)
    a = {"l2": 0.0, "l1": 1.0, "elastic": float(l1_ratio)}[kind]   # weight of the L1 part
    value = reg * (a * np.abs(w).sum() + (1 - a) * 0.5 * (w * w).sum())
    return float(value), reg * (a * np.sign(w) + (1 - a) * w)


def soft_threshold(w, t):
    """Proximal step of t * sum|w|: move every weight t towards 0 and stop at 0 (exact zeros)."""
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


def softmax(scores):
    """Row-wise softmax of scores (N, C) -> probabilities (N, C), rows summing to 1."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def train_softmax(X, y, X_val, y_val, kind="none", reg=0.0, l1_ratio=0.5, lr=0.5, num_steps=300,
                  num_classes=None):
    """A linear softmax classifier trained by full-batch gradient descent with a weight penalty.

    The smooth part (data loss + L2 part) takes a gradient step; the L1 part takes a proximal step
    (soft_threshold by lr * reg * l1_ratio), which lands weights exactly on 0 instead of making them
    jitter around it as the subgradient sign(w) would. The bias is not penalised.
    Inputs: X (N, D), y (N,), X_val (M, D), y_val (M,). Every step uses all N examples (one epoch).
    Returns a dict: W (D, C), b (C,), loss_history (num_steps,) data loss + penalty,
    train_acc_history and val_acc_history (num_steps + 1,), entry 0 before training.
    """
    _check_kind(kind)
    C = int(num_classes or max(y.max(), y_val.max()) + 1)
    W, b = np.zeros((X.shape[1], C)), np.zeros(C)
    a = {"none": 0.0, "l2": 0.0, "l1": 1.0, "elastic": float(l1_ratio)}[kind]
    reg = 0.0 if kind == "none" else float(reg)
    hist = {"loss_history": [], "train_acc_history": [], "val_acc_history": []}

    def record():
        hist["train_acc_history"].append(float(np.mean(np.argmax(X @ W + b, 1) == y)))
        hist["val_acc_history"].append(float(np.mean(np.argmax(X_val @ W + b, 1) == y_val)))

    record()
    for _ in range(num_steps):
        loss, dscores = layers.softmax_loss(X @ W + b, y)     # (N, C)
        dW = X.T @ dscores + reg * (1 - a) * W                 # smooth part: data + L2
        hist["loss_history"].append(loss + penalty(W, kind, reg, l1_ratio)[0])
        W = soft_threshold(W - lr * dW, lr * reg * a)
        b = b - lr * dscores.sum(axis=0)
        record()
    return {"W": W, "b": b, **{k: np.array(v) for k, v in hist.items()}}


# ----------------------------------------------------------------------------- dropout
def dropout_train(x, p, scheme, rng, num_masks=1):
    """Training-time dropout of x with KEEP probability p, for num_masks independent masks.

    scheme 'plain':    keep with probability p, drop the rest (the 2012 paper's scheme)
    scheme 'inverted': the same mask divided by p (cs231n_lib.layers.dropout_forward)
    Returns (num_masks, *x.shape).
    """
    x = np.asarray(x)
    xs = np.broadcast_to(x, (num_masks,) + x.shape)
    seed = int(np.random.default_rng(rng).integers(2**32))
    if scheme == "inverted":
        return layers.dropout_forward(xs, {"p": p, "mode": "train", "seed": seed})[0]
    if scheme == "plain":
        return xs * (np.random.default_rng(seed).random(xs.shape) < p)
    raise ValueError(f"unknown dropout scheme {scheme!r}; choose 'plain' or 'inverted'")


def dropout_test(x, p, scheme):
    """Test-time dropout layer: plain dropout multiplies by the keep probability p, inverted does nothing."""
    if scheme == "inverted":
        return layers.dropout_forward(x, {"p": p, "mode": "test"})[0]
    if scheme == "plain":
        return p * np.asarray(x)
    raise ValueError(f"unknown dropout scheme {scheme!r}; choose 'plain' or 'inverted'")


# ----------------------------------------------------------------------------- batch norm, ensembles
def batch_dependence(forward_train, X, index, batch_size, num_batches, rng):
    """Outputs for the example X[index] when it shares a batch with batch_size - 1 random others.

    forward_train: a function batch (B, ...) -> outputs (B, ...) in training mode (batch statistics).
    Returns (num_batches, ...) : the example's output in each of num_batches random batches. For a
    network without batch statistics every row is the same.
    """
    gen = np.random.default_rng(rng)
    others = np.delete(np.arange(len(X)), index)
    rows = []
    for _ in range(num_batches):
        batch = np.concatenate([[index], gen.choice(others, batch_size - 1, replace=False)])
        rows.append(forward_train(X[batch])[0])
    return np.stack(rows)


def ensemble_probs(scores_list):
    """Average the softmax probabilities of several models: [(N, C), ...] -> (N, C)."""
    if len(scores_list) == 0:
        raise ValueError("an ensemble needs at least one member")
    return np.mean([softmax(np.asarray(s, dtype=np.float64)) for s in scores_list], axis=0)


class TrainTimeNoise:
    """Wrap a model so that the random z of y = f_W(x, z) comes from one seeded generator.

    On every training call loss(X, y) the wrapper gives each dropout layer of the model a fresh mask
    seed and, if `augment` is given, replaces X by augment(X, rng). Test-time calls loss(X) go to the
    model unchanged (no dropout, no augmentation). The wrapper shares the model's params dict (and
    bn_params), so the Solver trains the wrapped model itself.
    augment: None or a function (X (N, C, H, W), rng) -> X of the same shape.
    """

    def __init__(self, model, augment=None, seed=None):
        self.model, self.augment, self.rng = model, augment, np.random.default_rng(seed)
        self.params = model.params
        if hasattr(model, "bn_params"):
            self.bn_params = model.bn_params

    def loss(self, X, y=None):
        if y is None:
            return self.model.loss(X)
        for dropout_param in getattr(self.model, "dropout_params", []):
            dropout_param["seed"] = int(self.rng.integers(2**32))
        if self.augment is not None:
            X = self.augment(X, self.rng)
        return self.model.loss(X, y)


def _loss_and_accuracy(model, X, y, batch_size=500):
    """Data loss (no penalty) and accuracy of the model in test mode on X (N, ...), y (N,)."""
    scores = np.concatenate([model.loss(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    return layers.softmax_loss(scores, y)[0], float(np.mean(np.argmax(scores, axis=1) == y))


def fit(model, data, num_epochs=30, batch_size=25, update_rule="adam", optim_config=None, augment=None,
        seed=0):
    """Train with mini-batches and keep the LAST weights, recording both splits' loss and accuracy.

    The Solver keeps the weights with the best validation accuracy (early stopping); here we want to
    watch overfitting happen, so every epoch ends with a test-mode evaluation of the current weights.
    Training noise (dropout masks, augment(X, rng)) comes from TrainTimeNoise with the same seed.
    Inputs: data with X_train (N, ...), y_train, X_val, y_val; update_rule a name in optim.RULES.
    Returns a dict: loss_history (one training-mode loss per step, penalty included) and, per epoch
    e = 0 .. num_epochs (0 = before training), train_loss_history, val_loss_history (data loss only),
    train_acc_history, val_acc_history.
    """
    net, rule, gen = TrainTimeNoise(model, augment, seed), optim.RULES[update_rule], np.random.default_rng(seed)
    configs = {k: dict(optim_config or {}) for k in net.params}
    X, y = data["X_train"], data["y_train"]
    hist = {k: [] for k in ("loss_history", "train_loss_history", "val_loss_history",
                            "train_acc_history", "val_acc_history")}

    def record():
        for split in ("train", "val"):
            loss, acc = _loss_and_accuracy(net, data[f"X_{split}"], data[f"y_{split}"])
            hist[f"{split}_loss_history"].append(float(loss))
            hist[f"{split}_acc_history"].append(acc)

    record()
    for _ in range(num_epochs):
        order = gen.permutation(len(X))
        for i in range(max(len(X) // batch_size, 1)):
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss, grads = net.loss(X[idx], y[idx])
            hist["loss_history"].append(float(loss))
            for k in net.params:
                net.params[k], configs[k] = rule(net.params[k], grads[k], configs[k])
        record()
    return {k: np.array(v) for k, v in hist.items()}


def summarise(histories):
    """Mean over runs of the last epoch's train / val accuracy and loss, and the two gaps.

    histories: a list of dicts from fit(). Returns a dict with train_acc, val_acc, train_loss, val_loss,
    acc_gap = train_acc - val_acc and loss_gap = val_loss - train_loss (both > 0 when overfitting).
    """
    if len(histories) == 0:
        raise ValueError("summarise needs at least one run")
    out = {k: float(np.mean([h[f"{k}_history"][-1] for h in histories]))
           for k in ("train_acc", "val_acc", "train_loss", "val_loss")}
    out["acc_gap"] = out["train_acc"] - out["val_acc"]
    out["loss_gap"] = out["val_loss"] - out["train_loss"]
    return out


# ----------------------------------------------------------------------------- what the case studies used
# From the papers: Krizhevsky et al. 2012 (AlexNet) sec. 4; Simonyan & Zisserman 2014 (VGG) sec. 3.1;
# Szegedy et al. 2014 (GoogLeNet) sec. 5-6; He et al. 2015 (ResNet) sec. 3.4; Zagoruyko & Komodakis
# 2016 (Wide Residual Networks) sec. 2.4 and 3. Dropout rates are written
# as the KEEP probability p of this course, with the papers' drop ratio in brackets.
CASE_STUDIES = {
    "AlexNet (2012)": {
        "dropout": "FC6, FC7: p = 0.5 (drop 0.5)", "batch norm": False, "weight decay": 5e-4,
        "augmentation": "224x224 crops of 256x256 images, horizontal flips, PCA colour (lighting) noise",
    },
    "VGG (2014)": {
        "dropout": "FC6, FC7: p = 0.5 (drop 0.5)", "batch norm": False, "weight decay": 5e-4,
        "augmentation": "224x224 crops, flips, AlexNet's colour shift, scale jittering (shorter side 256-512)",
    },
    "GoogLeNet (2014)": {
        "dropout": "before the classifier: p = 0.6 (drop 0.4)", "batch norm": False, "weight decay": None,
        "augmentation": "crops of 8%-100% of the area, aspect ratio 3/4-4/3, photometric distortions",
    },
    "ResNet (2015)": {
        "dropout": None, "batch norm": True, "weight decay": 1e-4,
        "augmentation": "scale augmentation (shorter side 256-480), 224x224 crops, flips, AlexNet's colour noise",
    },
    "Wide ResNet (2016)": {
        "dropout": "between the convs of a block: p = 0.7 (drop 0.3)", "batch norm": True,
        "weight decay": 5e-4, "augmentation": "flips, random crops of 4-pixel zero-padded 32x32 images (CIFAR)",
    },
}
