"""First-order update rules, learning-rate schedules and second-order methods for the 2-D demos.

Every update rule follows one contract (CS231n):

    next_w, config = rule(w, dw, config=None)

    w       (...)  current parameter array (any shape; float32 stays float32)
    dw      (...)  gradient of the loss with respect to w, the same shape
    config  dict of hyperparameters ('learning_rate', ...) and the rule's state ('velocity', 'm', ...).
            Missing hyperparameters get their defaults; the state starts at zero on the first call.
            The dict is updated in place *and* returned: keep one config per parameter array and
            pass it back on the next step. Unknown keys raise TypeError naming them (a typo such as
            'learning rate' would otherwise silently train with the default).

The rules, for a gradient g = dw and learning rate lr:

    sgd                w -= lr * g
    sgd_momentum       v = mu * v - lr * g;                w += v
    nesterov_momentum  v_prev = v; v = mu * v - lr * g;    w += -mu * v_prev + (1 + mu) * v
    adagrad            cache += g**2;                      w -= lr * g / (sqrt(cache) + eps)
    rmsprop            cache = rho * cache + (1 - rho) * g**2;   w -= lr * g / (sqrt(cache) + eps)
    adam               m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g**2;  t += 1
                       m_hat = m / (1 - b1**t);    v_hat = v / (1 - b2**t)   (bias correction)
                       w -= lr * m_hat / (sqrt(v_hat) + eps)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .shapes import check_array

__all__ = [
    "sgd", "sgd_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adam", "RULES",
    "step_decay", "exponential_decay", "cosine_schedule",
    "run_optimizer", "newton_method", "lbfgs_trajectory",
]


# --------------------------------------------------------------------------- shared helpers
def _prepare(rule: str, w, dw, config, defaults: dict, state: tuple = ()):
    """Check w / dw, fill `config` with `defaults` (in place) and reject unknown keys."""
    w = check_array(w, "w")
    dw = check_array(dw, "dw")
    if w.shape != dw.shape:
        raise ValueError(f"{rule}: w and dw must have the same shape, got w {w.shape} and dw {dw.shape}")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"{rule}: config must be a dict or None, got {type(config).__name__}")
    unknown = sorted(set(config) - set(defaults) - set(state))
    if unknown:
        raise TypeError(f"{rule}: unknown config keys {unknown}; allowed: {sorted(defaults) + list(state)}")
    for key, value in defaults.items():
        config.setdefault(key, value)
        value, (low, high, text) = config[key], _RANGES[key]
        if key == "bias_correction":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{rule}: config['bias_correction'] must be True or False, got {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low(value) or not high(value):
            raise ValueError(f"{rule}: config['{key}'] must be {text}, got {value!r}")
    return w, dw, config


# valid range of each hyperparameter: (lower test, upper test, text for the error)
_RANGES = {
    "learning_rate": (lambda v: v >= 0, math.isfinite, "a finite number >= 0"),
    "momentum": (lambda v: v >= 0, lambda v: v < 1, "in [0, 1) (1 never forgets a gradient: no convergence)"),
    "decay_rate": (lambda v: v >= 0, lambda v: v < 1, "in [0, 1) (1 never updates the cache: steps of lr / eps)"),
    "beta1": (lambda v: v >= 0, lambda v: v < 1, "in [0, 1) (1 makes the bias correction divide by 0)"),
    "beta2": (lambda v: v >= 0, lambda v: v < 1, "in [0, 1) (1 makes the bias correction divide by 0)"),
    "epsilon": (lambda v: v > 0, math.isfinite, "a finite number > 0 (it keeps the division away from 0)"),
    "bias_correction": (None, None, "True or False"),
}


def _state(config: dict, key: str, w: np.ndarray) -> np.ndarray:
    """The rule's running array `key`, created as zeros like w on the first step."""
    value = config.get(key)
    if value is None:
        return np.zeros_like(w)
    if np.shape(value) != w.shape:
        raise ValueError(f"config['{key}'] has shape {np.shape(value)} but w has shape {w.shape}; "
                         "use one config dict per parameter array")
    return value


def _hyper(config: dict, *keys: str):
    # Python floats are "weak" in NumPy 2: a float32 w stays float32 even if the user passed np.float64.
    return [float(config[k]) for k in keys]


# --------------------------------------------------------------------------- update rules
def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: w -= lr * dw.

    config: 'learning_rate' (default 1e-2).
    Returns next_w (same shape and dtype as w) and config.
    """
    w, dw, config = _prepare("sgd", w, dw, config, {"learning_rate": 1e-2})
    (lr,) = _hyper(config, "learning_rate")
    next_w = w - lr * dw
    return next_w.astype(w.dtype, copy=False), config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: a velocity v accumulates past gradients, v = mu*v - lr*dw; w += v.

    The velocity keeps moving in directions where gradients agree (the long axis of a ravine) and
    averages out the zig-zag across it, but it also carries w past a minimum (overshoot).
    config: 'learning_rate' (1e-2), 'momentum' mu (0.9); state 'velocity' (same shape as w).
    """
    w, dw, config = _prepare("sgd_momentum", w, dw, config,
                             {"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",))
    lr, mu = _hyper(config, "learning_rate", "momentum")
    v = mu * _state(config, "velocity", w) - lr * dw
    config["velocity"] = v.astype(w.dtype, copy=False)
    return (w + v).astype(w.dtype, copy=False), config


def nesterov_momentum(w, dw, config=None):
    """Nesterov momentum in the CS231n "look-ahead variable" form.

    Nesterov evaluates the gradient at the look-ahead point w + mu*v. Renaming that point w (so the
    gradient we receive is taken at the current w) gives an update that needs only dw:
        v_prev = v;  v = mu*v - lr*dw;  w += -mu*v_prev + (1 + mu)*v
    config: 'learning_rate' (1e-2), 'momentum' mu (0.9); state 'velocity'.
    """
    w, dw, config = _prepare("nesterov_momentum", w, dw, config,
                             {"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",))
    lr, mu = _hyper(config, "learning_rate", "momentum")
    v_prev = _state(config, "velocity", w)
    v = mu * v_prev - lr * dw
    config["velocity"] = v.astype(w.dtype, copy=False)
    next_w = w - mu * v_prev + (1 + mu) * v
    return next_w.astype(w.dtype, copy=False), config


def adagrad(w, dw, config=None):
    """AdaGrad: divide each coordinate's step by the root of its summed squared gradients.

    Steep coordinates get small steps and flat ones large steps; the sum only grows, so the
    effective learning rate decays towards zero over a long run.
    config: 'learning_rate' (1e-2), 'epsilon' (1e-8); state 'cache' (sum of dw**2, same shape as w).
    """
    w, dw, config = _prepare("adagrad", w, dw, config,
                             {"learning_rate": 1e-2, "epsilon": 1e-8}, ("cache",))
    lr, eps = _hyper(config, "learning_rate", "epsilon")
    cache = _state(config, "cache", w) + dw * dw
    config["cache"] = cache.astype(w.dtype, copy=False)
    next_w = w - lr * dw / (np.sqrt(cache) + eps)
    return next_w.astype(w.dtype, copy=False), config


def rmsprop(w, dw, config=None):
    """RMSProp: AdaGrad with a leaky (exponentially decaying) average of squared gradients.

    config: 'learning_rate' (1e-2), 'decay_rate' rho (0.99), 'epsilon' (1e-8); state 'cache'.
    """
    w, dw, config = _prepare("rmsprop", w, dw, config,
                             {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}, ("cache",))
    lr, rho, eps = _hyper(config, "learning_rate", "decay_rate", "epsilon")
    cache = rho * _state(config, "cache", w) + (1 - rho) * dw * dw
    config["cache"] = cache.astype(w.dtype, copy=False)
    next_w = w - lr * dw / (np.sqrt(cache) + eps)
    return next_w.astype(w.dtype, copy=False), config


def adam(w, dw, config=None):
    """Adam: momentum on the gradient (m) + RMSProp on its square (v), with bias correction.

    m and v start at zero, so early averages are biased towards zero; dividing by (1 - beta**t)
    removes that bias. Without it, v is tiny after one step and with the default betas the first
    step is (1 - beta1) / sqrt(1 - beta2) ~ 3.2 times larger than the corrected one.
    config: 'learning_rate' (1e-3), 'beta1' (0.9), 'beta2' (0.999), 'epsilon' (1e-8),
            'bias_correction' (True); state 'm', 'v' (same shape as w) and the step count 't'.
    """
    w, dw, config = _prepare("adam", w, dw, config,
                             {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                              "bias_correction": True}, ("m", "v", "t"))
    lr, beta1, beta2, eps = _hyper(config, "learning_rate", "beta1", "beta2", "epsilon")
    t = int(config.get("t", 0)) + 1
    m = beta1 * _state(config, "m", w) + (1 - beta1) * dw
    v = beta2 * _state(config, "v", w) + (1 - beta2) * dw * dw
    config["m"], config["v"], config["t"] = m.astype(w.dtype, copy=False), v.astype(w.dtype, copy=False), t
    if config["bias_correction"]:
        m, v = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    next_w = w - lr * m / (np.sqrt(v) + eps)
    return next_w.astype(w.dtype, copy=False), config


RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov_momentum": nesterov_momentum,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


# --------------------------------------------------------------------------- schedules
def _epochs(epoch):
    e = np.asarray(epoch, dtype=np.float64)
    if np.any(e < 0):
        raise ValueError(f"epoch must be >= 0, got {epoch!r}")
    return e


def _out(value):
    # A plain float for one epoch, an array for an array of epochs (handy for plotting a schedule).
    return float(value) if np.ndim(value) == 0 else value


def step_decay(lr0, epoch, drop=0.1, every=10):
    """Step decay: multiply the learning rate by `drop` every `every` epochs.

    lr = lr0 * drop ** floor(epoch / every). `epoch` may be an int or an array of epochs.
    """
    if every <= 0:
        raise ValueError(f"every must be a positive number of epochs, got {every}")
    return _out(lr0 * drop ** np.floor(_epochs(epoch) / every))


def exponential_decay(lr0, epoch, k):
    """Exponential decay: lr = lr0 * exp(-k * epoch)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not k >= 0:
        raise ValueError(f"k must be a decay rate >= 0, got {k!r}")
    return _out(lr0 * np.exp(-k * _epochs(epoch)))


def cosine_schedule(lr0, epoch, num_epochs, lr_min=0.0):
    """Cosine annealing from lr0 (epoch 0) to lr_min (epoch num_epochs; held there afterwards).

    lr = lr_min + (lr0 - lr_min) * (1 + cos(pi * epoch / num_epochs)) / 2
    """
    if num_epochs <= 0:
        raise ValueError(f"num_epochs must be positive, got {num_epochs}")
    frac = np.minimum(_epochs(epoch) / num_epochs, 1.0)
    return _out(lr_min + (lr0 - lr_min) * 0.5 * (1 + np.cos(math.pi * frac)))


# --------------------------------------------------------------------------- 2-D demos
def _start(x0, name="x0"):
    x = check_array(x0, name, ndim=1, shape_hint="(D,)").astype(np.float64)  # float64 copy
    return x


def run_optimizer(rule, grad, x0, num_steps, config=None, max_norm=1e6):
    """Run an update rule on a function whose gradient is `grad` and record every iterate.

    rule:      an update rule (callable) or its name in RULES ('sgd', 'adam', ...)
    grad:      callable p (D,) -> gradient (D,)  (for noisy demos wrap noisy_grad in a lambda)
    x0:        (D,) starting point;  num_steps: number of updates
    config:    hyperparameters for the rule; copied, so one dict can start several runs
    max_norm:  a run that diverges is stopped once |x| exceeds this (no overflow warnings)
    Returns the trajectory (T, D), T = num_steps + 1 (fewer if the run diverged); row 0 is x0.
    """
    if isinstance(rule, str):
        if rule not in RULES:
            raise ValueError(f"unknown update rule {rule!r}; choose from {sorted(RULES)}")
        rule = RULES[rule]
    if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Integral) or num_steps < 0:
        raise ValueError(f"num_steps must be a whole number >= 0, got {num_steps!r}")
    x = _start(x0)
    config = dict(config or {})
    path = [x.copy()]
    for _ in range(int(num_steps)):
        x, config = rule(x, np.asarray(grad(x), dtype=np.float64), config)
        if not np.all(np.isfinite(x)) or np.linalg.norm(x) > max_norm:
            break
        path.append(x.copy())
    return np.array(path)


def newton_method(fun, grad, hess, x0, num_steps=10):
    """Newton's method: jump to the minimum of the local quadratic model, x -= H(x)^-1 grad(x).

    fun:  callable p (D,) -> loss. The pure Newton step does not need it; it is taken so that
          newton_method and lbfgs_trajectory are called the same way.
    grad: callable p -> (D,);  hess: callable p -> (D, D)
    Returns the trajectory (num_steps + 1, D). No learning rate: on a quadratic one step lands
    exactly on the minimum. Newton heads for any stationary point, saddles included.
    """
    del fun  # see docstring
    x = _start(x0)
    path = [x.copy()]
    for _ in range(int(num_steps)):
        H = np.asarray(hess(x), dtype=np.float64)
        try:
            step = np.linalg.solve(H, np.asarray(grad(x), dtype=np.float64))
        except np.linalg.LinAlgError as exc:
            raise ValueError(f"Hessian is singular at x = {x}; Newton's step is undefined there") from exc
        x = x - step
        path.append(x.copy())
    return np.array(path)


def lbfgs_trajectory(fun, grad, x0, maxiter=100):
    """Minimise `fun` with L-BFGS (scipy.optimize.minimize, method 'L-BFGS-B') and record the iterates.

    L-BFGS builds a low-rank approximation of the inverse Hessian from the last few gradient
    differences, so it needs no Hessian and no learning rate.
    fun: callable p (D,) -> float;  grad: callable p -> (D,);  x0: (D,)
    Returns the trajectory (T, D) with x0 first and one row per L-BFGS iteration (T <= maxiter + 1).
    """
    from scipy.optimize import minimize  # scipy is only needed for this demo

    x = _start(x0)
    path = [x.copy()]
    minimize(lambda p: float(fun(p)), x, jac=lambda p: np.asarray(grad(p), dtype=np.float64),
             method="L-BFGS-B", callback=lambda xk: path.append(np.array(xk, dtype=np.float64)),
             options={"maxiter": int(maxiter)})
    return np.array(path)
