"""Hidden tests as plain data: how a case is built, run and judged (instructor only).

A hidden test cell in solutions/ is one call, check(name, cases), with `cases` a list of dicts
of plain values: shapes, hyperparameters, a seed, a dtype. Everything else lives here, in three
steps kept apart on purpose so that a trusted process can later run the first and last while
only the middle one touches student code:

    inputs  = build(name, case)                 # seeded arrays and param dicts (trusted)
    outputs = invoke(name, case, inputs, funcs) # calls the student's functions (untrusted)
    results = judge(name, case, inputs, outputs)# reference + verdict + likely cause (trusted)

`outputs` holds only arrays (out, dx, running_mean, ...), never a student object, so it can cross
a process boundary. Case keys, per graded function:

- conv_forward_naive / conv_backward_naive: x (N, C, H, W), w (F, C, HH, WW), stride, pad
- max_pool_forward_naive / max_pool_backward_naive: x, pool_height, pool_width, stride
- batchnorm_forward / spatial_batchnorm_forward: x ((N, D) or (N, C, H, W)), mode ('train' or
  'test'), eps and momentum (left out of bn_param when absent), running ('default': no running
  stats passed; 'given': random ones passed), steps (training calls sharing one bn_param),
  check ('out', 'running' or both)
- batchnorm_backward / spatial_batchnorm_backward: x, eps
- every case: seed, dtype ('float64' or 'float32'); backward cases: oracle ('reference' or
  'numeric': centred differences of the reference forward pass); tol (default TOL).
"""
import hashlib
import hmac
import json
import os
import secrets

import numpy as np

from . import reference as ref

TOL = 1e-4  # max |yours - expected| allowed, relative to max(1, max |expected|); float32 passes

FORWARD_OF = {
    "conv_backward_naive": "conv_forward_naive",
    "max_pool_backward_naive": "max_pool_forward_naive",
    "batchnorm_backward": "batchnorm_forward",
    "spatial_batchnorm_backward": "spatial_batchnorm_forward",
}
RETURNS = {  # what each graded function returns, in order
    "conv_forward_naive": ("out", "cache"), "max_pool_forward_naive": ("out", "cache"),
    "batchnorm_forward": ("out", "cache"), "spatial_batchnorm_forward": ("out", "cache"),
    "conv_backward_naive": ("dx", "dw", "db"), "max_pool_backward_naive": ("dx",),
    "batchnorm_backward": ("dx", "dgamma", "dbeta"),
    "spatial_batchnorm_backward": ("dx", "dgamma", "dbeta"),
}


class StudentError(Exception):
    """A student function raised or returned something unusable; `function` names which."""

    def __init__(self, function, message, exc=None):
        super().__init__(message)
        self.function, self.message, self.exc = function, message, exc


# ----------------------------------------------------------------------------- the course secret
_SECRET = {"key": None}
SECRET_FILE = os.path.join(".grading", "secret")  # under the course root; instructor only


def set_secret(key):
    """Salt every case's seed with `key` (bytes; None: the plain seeds, as in `nbgrader validate`
    of the source). With a secret the inputs cannot be predicted from the seeds in the notebooks,
    and the same secret (the same course) rebuilds the same inputs: regrading is stable."""
    _SECRET["key"] = bytes(key) if key else None


def salt_id():
    """A short fingerprint of the secret in use ('plain' without one), for cache keys."""
    key = _SECRET["key"]
    return hashlib.sha256(b"salt:" + key).hexdigest()[:16] if key else "plain"


def course_secret(root, create=True):
    """The course's grading secret: `<root>/.grading/secret` (32 random bytes, hex), made on first
    use with mode 0600 in a 0700 folder. It never leaves the instructor's side: jobs carry the
    inputs it produced, never the secret, and the student edition holds no `.grading/`."""
    path = os.path.join(root, SECRET_FILE)
    try:
        with open(path) as f:
            return bytes.fromhex(f.read().strip())
    except FileNotFoundError:
        if not create:
            return None
    except ValueError:
        raise ValueError(f"{path} is not a hex secret; delete it to make a new one (hidden "
                         f"inputs, and so regrading, change with it)") from None
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.chmod(os.path.dirname(path), 0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


JUDGING_ONLY = ("tol", "check", "oracle")  # case keys that change the verdict, not the inputs


def input_identity(case):
    """The case without the keys that only judge (tolerance, which outputs, the oracle): equal
    identities get equal inputs, so a stored answer can be judged again after those change."""
    return {k: v for k, v in case.items() if k not in JUDGING_ONLY}


def _rng(name, case):
    key = _SECRET["key"]
    if key is None:
        return np.random.default_rng(case.get("seed", 0))
    digest = hmac.new(key, json.dumps([name, input_identity(case)], sort_keys=True).encode(),
                      hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


# ----------------------------------------------------------------------------- build
def build(name, case):
    """Seeded inputs for one case: arrays in the case's dtype, plus the hyperparameter dicts."""
    rng = _rng(name, case)
    dt = np.dtype(case.get("dtype", "float64"))
    family = _family(name)
    inp = {}
    if family == "conv":
        F = case["w"][0]
        inp["x"] = rng.standard_normal(case["x"])
        inp["w"] = 0.5 * rng.standard_normal(case["w"])
        inp["b"] = rng.standard_normal(F)
        inp["conv_param"] = {"stride": case["stride"], "pad": case["pad"]}
        out_shape = ref.conv_forward(inp["x"], inp["w"], inp["b"], case["stride"], case["pad"]).shape
    elif family == "pool":
        inp["x"] = rng.standard_normal(case["x"])
        inp["pool_param"] = {k: case[k] for k in ("pool_height", "pool_width", "stride")}
        out_shape = ref.max_pool_forward(inp["x"], case["pool_height"], case["pool_width"],
                                         case["stride"]).shape
    else:
        shape = tuple(case["x"])
        D = shape[1]
        stat_shape = (1, D) + (1,) * (len(shape) - 2)  # per feature / per channel
        steps = case.get("steps", 1)
        inp["xs"] = [rng.uniform(-3, 3, stat_shape) + rng.uniform(0.5, 2, stat_shape)
                     * rng.standard_normal(shape) for _ in range(steps)]
        inp["gamma"] = rng.uniform(0.5, 2.0, D)
        inp["beta"] = rng.standard_normal(D)
        bn_param = {"mode": case.get("mode", "train")}
        for key in ("eps", "momentum"):
            if key in case:
                bn_param[key] = case[key]
        if case.get("running", "default") == "given":
            bn_param["running_mean"] = rng.uniform(-2, 2, D)
            bn_param["running_var"] = rng.uniform(0.5, 3, D)
        inp["bn_param"] = bn_param
        out_shape = shape
    inp["dout"] = rng.standard_normal(out_shape)
    for key, val in inp.items():
        if isinstance(val, np.ndarray):
            inp[key] = val.astype(dt)
        elif key == "xs":
            inp[key] = [v.astype(dt) for v in val]
    for key in ("gamma", "beta"):
        if key in inp:
            inp[key] = inp[key].astype(dt)
    return inp


def _family(name):
    if name.startswith("conv"):
        return "conv"
    if name.startswith("max_pool"):
        return "pool"
    return "spatial_bn" if name.startswith("spatial") else "bn"


def _copy(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, dict):
        return {k: _copy(u) for k, u in v.items()}
    return v


# ----------------------------------------------------------------------------- invoke
def _call(funcs, fname, args):
    """Call a student function; wrap anything it raises (or a missing name) in StudentError."""
    f = funcs.get(fname)
    if not callable(f):
        raise StudentError(fname, f"{fname} is not defined: run (or restore) the cell that "
                                  f"defines it")
    try:
        return f(*args)
    except NotImplementedError as exc:
        raise StudentError(fname, f"{fname} is not implemented yet (it raised "
                                  f"NotImplementedError)", exc) from None
    except Exception as exc:  # noqa: BLE001 -- any student bug becomes a verdict
        raise StudentError(fname, f"{fname} raised {type(exc).__name__}: {exc}"
                                  f"{_student_line(exc)}", exc) from None


def _student_line(exc):
    """' (your code: line 12, `...`)' for the innermost frame in a notebook cell, else ''."""
    import traceback
    here = os.path.dirname(os.path.abspath(__file__))
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(here)
              and "site-packages" not in f.filename and "/lib/python" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f" (in your code, line {f.lineno}:{code})"


def _unpack(fname, result):
    names = RETURNS[fname]
    if len(names) == 1:
        if isinstance(result, tuple):
            raise StudentError(fname, f"{fname} must return {names[0]} alone, got a tuple of "
                                      f"{len(result)}")
        return {names[0]: result}
    if not isinstance(result, tuple) or len(result) != len(names):
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise StudentError(fname, f"{fname} must return a tuple ({', '.join(names)}), got {got}")
    return dict(zip(names, result))


def invoke(name, case, inputs, funcs):
    """Run the student's function(s) on copies of the inputs -> dict of returned arrays."""
    family = _family(name)
    fwd = FORWARD_OF.get(name, name)
    if family == "conv":
        args = [inputs[k] for k in ("x", "w", "b", "conv_param")]
    elif family == "pool":
        args = [inputs["x"], inputs["pool_param"]]
    if family in ("conv", "pool"):
        res = _unpack(fwd, _call(funcs, fwd, [_copy(a) for a in args]))
        if name == fwd:
            return {"out": res["out"]}
        return _unpack(name, _call(funcs, name, [inputs["dout"].copy(), res["cache"]]))
    bn_param = _copy(inputs["bn_param"])
    outputs = {}
    for x in inputs["xs"]:
        res = _unpack(fwd, _call(funcs, fwd, [x.copy(), inputs["gamma"].copy(),
                                              inputs["beta"].copy(), bn_param]))
    if name != fwd:
        return _unpack(name, _call(funcs, name, [inputs["dout"].copy(), res["cache"]]))
    outputs["out"] = res["out"]
    for key in ("running_mean", "running_var"):
        if key in bn_param:
            outputs[key] = bn_param[key]
    return outputs


# ----------------------------------------------------------------------------- judge
def describe(name, case):
    """The case in the student's terms, e.g. 'x (2, 3, 5, 5), w (4, 3, 3, 3), stride 2, pad 1'."""
    parts = [f"x {tuple(case['x'])}"]
    family = _family(name)
    if family == "conv":
        parts += [f"w {tuple(case['w'])}", f"stride {case['stride']}", f"pad {case['pad']}"]
    elif family == "pool":
        parts += [f"pool {case['pool_height']}x{case['pool_width']}", f"stride {case['stride']}"]
    elif "backward" not in name:
        parts.append(f"{case.get('mode', 'train')} mode")
        if case.get("running") == "given":
            parts.append("running averages given")
        if case.get("steps", 1) > 1:
            parts.append(f"{case['steps']} training calls")
    for key in ("eps", "momentum"):
        if key in case:
            parts.append(f"{key} {case[key]:g}")
    if case.get("dtype", "float64") != "float64":
        parts.append(f"{case['dtype']} input")
    return ", ".join(parts)


def expected(name, case, inputs, mistakes=None):
    """The reference outputs for a case (all float64); `mistakes` switches a bug on."""
    m = mistakes or {}
    family = _family(name)
    if family == "conv":
        x, w, b = inputs["x"], inputs["w"], inputs["b"]
        S, P = case["stride"], case["pad"]
        if name == "conv_forward_naive":
            return {"out": ref.conv_forward(x, w, b, m.get("stride", S), P, **_drop(m, "stride"))}
        if case.get("oracle") == "numeric" and not m:
            return _numeric(lambda x, w, b: ref.conv_forward(x, w, b, S, P),
                            dict(x=x, w=w, b=b), inputs["dout"], ("dx", "dw", "db"))
        if m.get("overwrite"):  # '=' for '+=' in the loops: dx and dw only
            odx, odw = ref.conv_backward_overwrite(inputs["dout"], x, w, S, P)
            return {"dx": odx, "dw": odw}
        dx, dw, db = ref.conv_backward(inputs["dout"], x, w, S, P, **m)
        return {"dx": dx, "dw": dw, "db": db}
    if family == "pool":
        x, S = inputs["x"], case["stride"]
        ph, pw = case["pool_height"], case["pool_width"]
        if name == "max_pool_forward_naive":
            return {"out": ref.max_pool_forward(x, m.get("ph", ph), m.get("pw", pw),
                                                m.get("stride", S), m.get("kind", "max"))}
        if case.get("oracle") == "numeric" and not m:
            return _numeric(lambda x: ref.max_pool_forward(x, ph, pw, S), dict(x=x),
                            inputs["dout"], ("dx",))
        return {"dx": ref.max_pool_backward(inputs["dout"], x, ph, pw, S, **m)}
    spatial = family == "spatial_bn"
    g, bt = inputs["gamma"], inputs["beta"]
    eps = case.get("eps", 1e-5)
    if "backward" in name:
        x = inputs["xs"][-1]
        back = ref.spatial_batchnorm_backward if spatial else ref.batchnorm_backward
        fwd = ref.spatial_batchnorm_forward if spatial else ref.batchnorm_forward
        if case.get("oracle") == "numeric" and not m:
            return _numeric(lambda x, gamma, beta: fwd(x, gamma, beta, eps=eps)[0],
                            dict(x=x, gamma=g, beta=bt), inputs["dout"], ("dx", "dgamma", "dbeta"))
        dx, dgamma, dbeta = back(inputs["dout"], x, g, m.get("eps", eps), **_drop(m, "eps"))
        return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    p = inputs["bn_param"]
    kw = dict(mode=p["mode"], eps=eps, momentum=case.get("momentum", 0.9),
              running_mean=p.get("running_mean"), running_var=p.get("running_var"))
    kw.update(m)
    keep_running = kw.pop("keep_running", False)
    fwd = ref.spatial_batchnorm_forward if spatial else ref.batchnorm_forward
    for x in inputs["xs"]:
        out, rm, rv = fwd(x, g, bt, **kw)
        if not keep_running:
            kw["running_mean"], kw["running_var"] = rm, rv
    res = {"out": out}
    if p["mode"] == "train":
        res["running_mean"], res["running_var"] = kw["running_mean"], kw["running_var"]
    return res


def _drop(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def _numeric(f, args, dout, names, h=1e-6):
    """Centred differences of sum(f(**args) * dout) with respect to every argument, in float64."""
    args = {k: np.array(v, dtype=np.float64) for k, v in args.items()}
    dout = np.asarray(dout, dtype=np.float64)
    grads = {}
    for (key, arr), gname in zip(args.items(), names):
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            plus = np.sum(f(**args) * dout)
            arr[idx] = old - h
            minus = np.sum(f(**args) * dout)
            arr[idx] = old
            g[idx] = (plus - minus) / (2 * h)
        grads[gname] = g
    return grads


def alternatives(name, case, inputs):
    """(likely cause, mistakes) pairs: the bugs whose outputs a wrong answer is compared with."""
    family = _family(name)
    alts = []
    if name == "conv_forward_naive":
        S, P = case["stride"], case["pad"]
        F, _, HH, WW = case["w"]
        if P:
            alts += [("the zero padding was skipped", {"pad_mode": "none"}),
                     ("padding was added only at the top and left", {"pad_mode": "before"})]
        if S > 1:
            alts.append(("the stride was ignored (windows moved 1 pixel at a time)", {"stride": 1}))
        alts.append(("the kernel was flipped (a true convolution; this layer is a "
                     "cross-correlation: no flip)", {"flip": True}))
        if HH == WW and HH > 1:
            alts.append(("the kernel's rows and columns were swapped (w[f, c, j, i])",
                         {"transpose": True}))
        alts.append(("the bias b was left out", {"bias": "none"}))
        if F > 1:
            alts.append(("b[0] was added to every filter instead of b[f]", {"bias": "first"}))
    elif name == "conv_backward_naive":
        alts.append(("the kernel was flipped", {"flip": True}))
    elif name == "max_pool_forward_naive":
        S, ph, pw = case["stride"], case["pool_height"], case["pool_width"]
        if S > 1:
            alts.append(("the stride was ignored (windows moved 1 pixel at a time)", {"stride": 1}))
        if S != ph:
            alts.append(("the stride was taken to be the pool height", {"stride": ph}))
        if ph != pw:
            alts += [("pool_height was used for the width too", {"pw": ph}),
                     ("pool_width was used for the height too", {"ph": pw})]
        alts.append(("the windows were averaged instead of taking the maximum", {"kind": "avg"}))
    elif name == "max_pool_backward_naive":
        alts += [("dout was sent to every element of the window, not only to the maximum",
                  {"route": "all"}),
                 ("dout was spread evenly over the window (average pooling's gradient)",
                  {"route": "avg"}),
                 ("where windows overlap, a later window overwrote (=) the gradient of an "
                  "earlier one instead of adding to it (+=)", {"route": "overwrite"}),
                 ("where windows overlap, the gradient at a shared maximum was overwritten (=) "
                  "instead of accumulated (+=)", {"route": "overwrite_argmax"})]
    elif name in ("batchnorm_forward", "spatial_batchnorm_forward"):
        alts += _bn_forward_alternatives(name, case)
    elif name == "batchnorm_backward":
        alts += [("dx treats the batch mean and variance as constants (only the direct path "
                  "dout * gamma / std)", {"variant": "constant_stats"}),
                 ("dx leaves out the path through the batch variance", {"variant": "no_var_path"}),
                 ("the forward pass cached the unbiased variance (N - 1)",
                  {"variant": "unbiased_cache"}),
                 ("dx uses N - 1 where the biased variance needs N", {"variant": "unbiased"}),
                 ("dgamma sums dout * x; it needs dout * x_hat (the normalised x)",
                  {"variant": "dgamma_x"})]
        if "eps" in case and case["eps"] != 1e-5:
            alts.append(("eps was not read from bn_param (1e-5 used)", {"eps": 1e-5}))
    elif name == "spatial_batchnorm_backward":
        alts.append(("x was reshaped to (-1, C) without first moving the channel axis last",
                     {"layout": "plain_reshape"}))
    return alts


def _bn_forward_alternatives(name, case):
    vanilla = name == "batchnorm_forward"
    alts = []
    if case.get("mode", "train") == "train":
        if vanilla:
            alts += [("the unbiased variance (dividing by N - 1) was used; batch norm uses the "
                      "biased one (dividing by N)", {"ddof": 1}),
                     ("the statistics were taken per sample (axis=1) instead of per feature "
                      "(axis=0)", {"axis": 1}),
                     ("running_var was updated with the unbiased variance (N - 1); use the "
                      "biased batch variance", {"running_ddof": 1})]
        else:
            alts += [("statistics were taken over N only, separately at every (c, h, w); "
                      "spatial batch norm pools N, H and W for each channel",
                      {"layout": "per_position"}),
                     ("statistics were taken per sample (over C, H, W), not per channel",
                      {"layout": "per_sample"}),
                     ("x was reshaped to (-1, C) without first moving the channel axis last "
                      "(transpose to (N, H, W, C) before reshaping)", {"layout": "plain_reshape"}),
                     ("the normalised rows were reshaped straight back to (N, C, H, W) without "
                      "moving the channel axis back", {"layout": "no_transpose_back"})]
        alts += [("momentum was applied the wrong way round: running = momentum * running + "
                  "(1 - momentum) * batch statistic", {"swap_momentum": True}),
                 ("the running averages were not stored back into bn_param (or not updated)",
                  {"keep_running": True}),
                 ("the running averages were replaced by the batch statistics instead of being "
                  "averaged", {"momentum": 0.0})]
        if "momentum" in case and case["momentum"] != 0.9:
            alts.append(("bn_param['momentum'] was not read (0.9 used)", {"momentum": 0.9}))
    else:
        alts.append(("test mode used the batch's own mean and variance; it must use "
                     "bn_param's running_mean and running_var",
                     {"mode": "train", "keep_running": True}))
        if vanilla:
            alts.append(("the square root was left out (divided by the variance, not the "
                         "standard deviation)", {"no_sqrt": True}))
    if vanilla:
        alts += [("eps was added outside the square root: use sqrt(var + eps)",
                  {"eps_place": "outside"}),
                 ("eps was left out", {"eps_place": "none"}),
                 ("gamma and beta were swapped", {"swap_gamma_beta": True})]
    if "eps" in case and case["eps"] != 1e-5:
        alts.append(("bn_param['eps'] was not read (1e-5 used)", {"eps": 1e-5}))
    return alts


def _arr(v):
    try:
        a = np.asarray(v)
    except Exception:  # noqa: BLE001
        return None
    return a if a.dtype.kind in "fiub" else None


def _close(got, want, tol):
    return got.shape == want.shape and \
        float(np.max(np.abs(got - want), initial=0.0)) <= tol * max(1.0, float(np.max(np.abs(want),
                                                                                   initial=0.0)))


def _where(key, got, want):
    idx = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
    return f"{key}[{', '.join(str(int(i)) for i in idx)}]"


def checked_keys(case, want):
    """The outputs a case checks: all of `want`'s, or those its 'check' names ('running': the
    running averages)."""
    keys = list(want)
    if "check" in case:
        keys = [k for k in keys if k in case["check"] or
                (case["check"] == "running" and k.startswith("running"))]
    return keys


def judge(name, case, inputs, outputs, want=None, variant=None):
    """Compare outputs with the reference -> (passed, lines) in the student's terms.
    want: the reference outputs when the caller has them already (the trusted judge memoises them
    per case); by default they are computed here. variant: mistakes -> that mistake's outputs
    (the trusted judge memoises them too); by default expected(name, case, inputs, mistakes)."""
    tol = case.get("tol", TOL)
    if want is None:
        want = expected(name, case, inputs)
    keys = checked_keys(case, want)
    verdicts = {}
    for key in keys:
        verdicts[key] = _judge_one(name, case, inputs, key, outputs.get(key), want[key], tol)
    wrong = [k for k in keys if verdicts[k] is not None]
    if not wrong:
        return True, []
    causes = _likely_causes(name, case, inputs, outputs, wrong, tol, variant)
    # a named cause beats the generic shape hint (after ':'), which may then mislead
    lines = [verdicts[k][0] if causes else verdicts[k][0] + verdicts[k][1] for k in wrong]
    right = [k for k in keys if k not in wrong]
    if right:
        lines[-1] += f"; {' and '.join(right)} correct"
    matched = " and ".join(wrong)
    lines += [f"likely cause: {c}; your {matched} match{'es' if len(wrong) == 1 else ''} "
              f"exactly what that mistake computes" for c in causes]
    if not causes:
        lines += _structural_hints(name, case, outputs, want, wrong, tol)
    return False, lines


def _judge_one(name, case, inputs, key, got_raw, want, tol):
    """None if right, else (what is wrong with `key`, a generic hint or '')."""
    if got_raw is None:
        if key.startswith("running"):
            return (f"bn_param has no '{key}' after a training call: store the updated running "
                    f"average back into bn_param['{key}']", "")
        return f"{key} is None: return a NumPy array", ""
    got = _arr(got_raw)
    if got is None:
        return f"{key} is a {type(got_raw).__name__}, expected a NumPy array of numbers", ""
    if got.shape != want.shape:
        return (f"{key} has shape {got.shape}, expected {want.shape}",
                _shape_hint(name, case, key, got.shape, want.shape))
    if not np.all(np.isfinite(got)):
        return f"{key} contains NaN or inf", ""
    if _close(got, want, tol):
        return None
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    return f"{key} wrong by up to {diff:.3g} (largest difference at {_where(key, got, want)})", ""


def _shape_hint(name, case, key, got, want):
    family = _family(name)
    if key in ("dx",) and len(got) == 4 and family == "conv" and case["pad"] and \
            got[2:] == (want[2] + 2 * case["pad"], want[3] + 2 * case["pad"]):
        return " (x's shape): the padding was not stripped from dx"
    if key == "out" and family in ("conv", "pool") and got[:2] == want[:2]:
        dh, dw = got[2] - want[2], got[3] - want[3]
        if {abs(dh), abs(dw)} <= {0, 1}:
            formula = ("1 + (H + 2 * pad - HH) // stride" if family == "conv" else
                       "1 + (H - pool_height) // stride")
            return f": the output size is off by one; it is {formula}"
    if key.startswith(("db", "dgamma", "dbeta")) and got != want:
        over = {"conv": "the batch and both spatial axes", "spatial_bn": "N, H and W",
                "bn": "the batch axis"}[family]
        return f": it needs one entry per {'filter' if family == 'conv' else 'feature'}; " \
               f"sum over {over}"
    return ""


def _likely_causes(name, case, inputs, outputs, wrong, tol, variant=None):
    """Name the bugs whose reference variant reproduces every wrong output."""
    causes = []
    variant = variant or (lambda mistakes: expected(name, case, inputs, mistakes))
    for label, mistakes in alternatives(name, case, inputs):
        try:
            alt = variant(mistakes)
        except Exception:  # noqa: BLE001 -- a variant that cannot be computed matches nothing
            continue
        modelled = [k for k in wrong if alt.get(k) is not None]  # a variant may not model all
        ok = bool(modelled)
        for key in modelled:
            got = _arr(outputs.get(key))
            if got is None or not _close(got, np.asarray(alt[key]), tol):
                ok = False
                break
        if ok:
            causes.append(label)
    if not causes and name == "conv_backward_naive":
        over = variant({"overwrite": True})
        for key, alt in (("dx", over["dx"]), ("dw", over["dw"])):
            got = _arr(outputs.get(key))
            if key in wrong and got is not None and _close(got, alt, tol):
                causes.append(f"{key} was overwritten (=) instead of accumulated (+=) inside the "
                              f"loops")
    if not causes and name == "conv_backward_naive" and "db" in wrong:
        got = _arr(outputs.get("db"))
        last = inputs["dout"].astype(np.float64)[-1].sum(axis=(1, 2))
        if got is not None and _close(got, last, tol) and inputs["dout"].shape[0] > 1:
            causes.append("db holds only the last example's sum: accumulate over the batch too")
    return causes


def _structural_hints(name, case, outputs, want, wrong, tol):
    """Where the error sits, when no single known bug explains it."""
    hints = []
    family = _family(name)
    if name == "conv_forward_naive" and case["pad"] and "out" in wrong:
        got = _arr(outputs["out"])
        if got is not None and got.shape == want["out"].shape:
            bad = np.abs(got - want["out"]).max(axis=(0, 1)) > tol * max(1, np.abs(want["out"]).max())
            border = ref.touches_padding(case["x"], case["w"][2], case["w"][3], case["stride"],
                                         case["pad"])
            if bad.any() and not (bad & ~border).any():
                hints.append("hint: the output is right in the interior and wrong only where a "
                             "window reaches into the zero padding")
    if "dx" in wrong and family in ("conv", "pool"):
        got = _arr(outputs["dx"])
        if got is not None and got.shape == want["dx"].shape:
            HH, WW = (case["w"][2:] if family == "conv" else
                      (case["pool_height"], case["pool_width"]))
            cover = ref.window_coverage(case["x"], HH, WW, case["stride"],
                                        case["pad"] if family == "conv" else 0)
            bad = np.abs(got - want["dx"]).max(axis=(0, 1)) > tol * max(1, np.abs(want["dx"]).max())
            if bad.any() and not (bad & (cover < 2)).any():
                hints.append("hint: dx is right where one window covers a pixel and wrong only "
                             "where windows overlap: accumulate (+=), do not overwrite (=)")
    return hints


def run_case(name, case, funcs):
    """build -> invoke -> judge for one case -> (passed, lines)."""
    inputs = build(name, case)
    try:
        outputs = invoke(name, case, inputs, funcs)
    except StudentError as err:
        lines = [err.message]
        if err.function != name:
            lines[0] += f", so {name} could not be tested"
        return False, lines
    return judge(name, case, inputs, outputs)


def failure_report(name, total, failures):
    """The student's report for the failed cases of one check: failures = [(i, case, lines)].

    Each failed case names its inputs and what is wrong; a likely cause shared with an earlier case
    is given once and referred to after that.
    """
    out = [f"{name} failed {len(failures)} of {total} hidden cases."]
    explained = {}  # explanation lines -> the case that first showed them
    for i, case, lines in failures:
        out.append(f"  case {i} ({describe(name, case)}):")
        what = [ln for ln in lines if not ln.startswith(("likely cause", "hint"))]
        why = tuple(ln for ln in lines if ln.startswith(("likely cause", "hint")))
        out += [f"      {ln}" for ln in what]
        if why and why in explained:
            out.append(f"      (same likely cause as case {explained[why]})")
        else:
            out += [f"      {ln}" for ln in why]
            explained.setdefault(why, i)
    failed = {f[0] for f in failures}
    ok_ids = [str(i) for i in range(1, total + 1) if i not in failed]
    if ok_ids:
        out.append(f"  cases passed: {', '.join(ok_ids)}")
    return "\n".join(out)
