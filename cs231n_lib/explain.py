"""How a layer is checked case by case, and how a failure is explained (the student-safe part).

Shared by the practice check (``cs231n_lib.practice``, public random cases) and the course's
grader (hidden cases), so both give the same explanation. A case is a dict of plain values
(shapes, hyperparameters, a seed, a dtype); three steps are kept apart so that a trusted process
can run the first and last while only the middle one touches a student's code:

    inputs  = build(name, case, rng)             # seeded arrays and param dicts
    outputs = invoke(name, case, inputs, funcs)  # calls the student's functions
    passed, lines = judge(name, case, inputs, outputs)  # reference + verdict + likely cause

A likely cause is named only when it is certain: every output the case checks equals (within
the case's tolerance) what one catalogued mistake computes on this very case (``mistake_models``;
the mistakes themselves are in ``cs231n_lib.mistakes``). Any other wrong answer (zeros, noise, a
mix of bugs) gets the plain facts: which output is wrong, by how much and where, or its shape.

Case keys, per graded function:

- conv_forward_naive / conv_backward_naive: x (N, C, H, W), w (F, C, HH, WW), stride, pad
- max_pool_forward_naive / max_pool_backward_naive: x, pool_height, pool_width, stride
- batchnorm_forward / spatial_batchnorm_forward: x ((N, D) or (N, C, H, W)), mode ('train' or
  'test'), eps and momentum (left out of bn_param when absent), running ('default': no running
  stats passed; 'given': random ones passed), steps (training calls sharing one bn_param),
  check ('out', 'running' or both)
- batchnorm_backward / spatial_batchnorm_backward: x, eps
- batch norm cases: spread (optional): feature 0 is made nearly constant, with this std
- every case: seed, dtype ('float64' or 'float32'); backward cases: oracle ('reference' or
  'numeric': centred differences of the reference forward pass); tol (default TOL).
"""
import itertools
import math
import os

import numpy as np

from . import mistakes as ref

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


# ----------------------------------------------------------------------------- build
def build(name, case, rng=None):
    """Seeded inputs for one case: arrays in the case's dtype, plus the hyperparameter dicts.
    rng: a numpy Generator (default: one seeded with the case's own `seed`)."""
    if rng is None:
        rng = np.random.default_rng(case.get("seed", 0))
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
        if "spread" in case:  # feature (channel) 0 nearly constant: its std is `spread`, so
            for x in inp["xs"]:  # eps, and where it is added, decide the answer
                f0 = x[:, 0]
                x[:, 0] = f0.mean() + case["spread"] * (f0 - f0.mean()) / f0.std()
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
    if "spread" in case:
        parts.append(f"feature 0 nearly constant (std {case['spread']:g})")
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
        back = ref.spatial_bn_backward if spatial else ref.bn_backward
        fwd = ref.spatial_bn_forward if spatial else ref.bn_forward
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
    fwd = ref.spatial_bn_forward if spatial else ref.bn_forward
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

# ----------------------------------------------------------------------------- mistake models
# Defaults students put in place of eps = 1e-5. Those too close to 1e-5 to change an answer
# beyond the tolerance drop out by themselves (a model equal to the reference is never named).
EPS_DEFAULTS = (1e-8, 1e-7, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
EPS_TINY = ("eps is left out or far smaller than the default 1e-5 (e.g. 1e-8): use "
            "bn_param.get('eps', 1e-5), inside the square root")


def mistake_models(name, case, inputs, want):
    """[(cause id, cause, outputs)]: what each catalogued mistake computes on this case.

    `outputs` maps an output name to the array the mistake produces; an output left out is the
    reference's (the mistake does not change it), None means the mistake model does not say, and
    NaN entries are values it does not predict (e.g. the extra row of a too-large output).
    """
    models = []

    def variant(cid, text, mistakes):
        try:
            out = expected(name, case, inputs, mistakes)
        except Exception:  # noqa: BLE001 -- a variant that cannot be computed matches nothing
            return
        models.append((cid, text, out))

    for cid, text, mistakes in _variants(name, case):
        variant(cid, text, mistakes)
    family = _family(name)
    if name in ("conv_forward_naive", "max_pool_forward_naive"):
        models += _size_models(name, case, want["out"])
    if name == "conv_backward_naive":
        models += _conv_backward_models(case, inputs, want)
    if family in ("bn", "spatial_bn"):
        eps_given = "eps" in case
        for e in EPS_DEFAULTS:
            if eps_given:
                variant("eps_not_read", f"bn_param['eps'] was not read ({e:g} used instead)",
                        {"eps": e})
            elif e < 1e-5:  # as good as no eps at all: the two cannot be told apart
                variant("eps_tiny", EPS_TINY, {"eps": e})
            else:
                variant("eps_default", f"eps defaults to {e:g}; the default is 1e-5: use "
                        f"bn_param.get('eps', 1e-5)", {"eps": e})
        if "backward" in name:
            models += _sum_models(name, inputs, want)
        elif case.get("mode", "train") == "train":
            models += _keepdims_running_models(want)
    return models


def _variants(name, case):
    """(cause id, cause, mistakes for `expected`): the mistakes that are switches of the reference."""
    alts = []
    if name == "conv_forward_naive":
        S, P = case["stride"], case["pad"]
        F, _, HH, WW = case["w"]
        if P:
            alts += [("no_pad", "the zero padding was skipped", {"pad_mode": "none"}),
                     ("pad_before", "padding was added only at the top and left",
                      {"pad_mode": "before"})]
        if S > 1:
            alts.append(("no_stride", "the stride was ignored (windows moved 1 pixel at a time)",
                         {"stride": 1}))
        alts.append(("flip", "the kernel was flipped (a true convolution; this layer is a "
                     "cross-correlation: no flip)", {"flip": True}))
        if HH == WW and HH > 1:
            alts.append(("transpose", "the kernel's rows and columns were swapped (w[f, c, j, i])",
                         {"transpose": True}))
        alts.append(("no_bias", "the bias b was left out", {"bias": "none"}))
        if F > 1:
            alts.append(("first_bias", "b[0] was added to every filter instead of b[f]",
                         {"bias": "first"}))
    elif name == "conv_backward_naive":
        alts.append(("flip", "the kernel was flipped", {"flip": True}))
        if case["pad"]:
            alts.append(("dx_padded", "the padding was not stripped from dx: cut the padded "
                         "gradient back to x's shape, dx_pad[:, :, pad:pad + H, pad:pad + W]",
                         {"crop": "none"}))
        else:
            alts.append(("dx_negative_crop", "dx was cut out of the padded gradient with "
                         "pad:-pad, which is empty when pad = 0: use pad:pad + H and pad:pad + W",
                         {"crop": "negative"}))
    elif name == "max_pool_forward_naive":
        S, ph, pw = case["stride"], case["pool_height"], case["pool_width"]
        if S > 1:
            alts.append(("no_stride", "the stride was ignored (windows moved 1 pixel at a time)",
                         {"stride": 1}))
        if S != ph and ph > 1:  # (a height of 1 makes it the stride-1 mistake above)
            alts.append(("stride_is_height", "the stride was taken to be the pool height",
                         {"stride": ph}))
        if ph != pw:
            alts += [("square_height", "pool_height was used for the width too", {"pw": ph}),
                     ("square_width", "pool_width was used for the height too", {"ph": pw})]
        alts.append(("average", "the windows were averaged instead of taking the maximum",
                     {"kind": "avg"}))
    elif name == "max_pool_backward_naive":
        alts += [("route_all", "dout was sent to every element of the window, not only to the "
                  "maximum", {"route": "all"}),
                 ("route_avg", "dout was spread evenly over the window (average pooling's "
                  "gradient)", {"route": "avg"}),
                 ("overwrite", "where windows overlap, each window's gradient was written over "
                  "the earlier windows' (overwritten (=) instead of accumulated (+=))",
                  {"route": "overwrite"}),
                 ("overwrite", "where windows overlap, the gradient at a shared maximum was "
                  "overwritten (=) instead of accumulated (+=)", {"route": "overwrite_argmax"}),
                 ("route_last", "dout was sent to the last element of each window whatever its "
                  "value, not to the window's maximum", {"route": "last"})]
    elif name in ("batchnorm_forward", "spatial_batchnorm_forward"):
        alts += _bn_forward_variants(name, case)
    elif name == "batchnorm_backward":
        alts += [(cid, text, {"variant": v}) for cid, text, v in _BN_BACKWARD]
        if "eps" in case and case["eps"] != 1e-5:
            alts.append(("eps_not_read", "bn_param['eps'] was not read (1e-5 used)",
                         {"eps": 1e-5}))
    elif name == "spatial_batchnorm_backward":
        alts += [(cid, text, {"variant": v}) for cid, text, v in _BN_BACKWARD]
        alts += [("per_position", "statistics were taken over N only, separately at every "
                  "(c, h, w); spatial batch norm pools N, H and W for each channel",
                  {"layout": "per_position"}),
                 ("plain_reshape", "x was reshaped to (-1, C) without first moving the channel "
                  "axis last", {"layout": "plain_reshape"}),
                 ("no_transpose_back", "the rows of dx were reshaped straight back to "
                  "(N, C, H, W) without moving the channel axis back (reshape to (N, H, W, C), "
                  "then transpose)", {"layout": "no_transpose_back"})]
        if "eps" in case and case["eps"] != 1e-5:
            alts.append(("eps_not_read", "bn_param['eps'] was not read (1e-5 used)",
                         {"eps": 1e-5}))
    return alts


_BN_BACKWARD = [
    ("constant_stats", "dx treats the batch mean and variance as constants (only the direct "
     "path dout * gamma / std)", "constant_stats"),
    ("no_var_path", "dx leaves out the path through the batch variance", "no_var_path"),
    ("unbiased_cache", "the forward pass cached the unbiased variance (N - 1)", "unbiased_cache"),
    ("unbiased", "dx uses N - 1 where the biased variance needs N", "unbiased"),
    ("dgamma_x", "dgamma sums dout * x; it needs dout * x_hat (the normalised x)", "dgamma_x")]


def _bn_forward_variants(name, case):
    vanilla = name == "batchnorm_forward"
    alts = []
    if case.get("mode", "train") == "train":
        alts += [("unbiased", "the unbiased variance (dividing by N - 1) was used; batch norm "
                  "uses the biased one (dividing by N)", {"ddof": 1, "running_ddof": 1}),
                 ("unbiased", "the unbiased variance (dividing by N - 1) was used; batch norm "
                  "uses the biased one (dividing by N)", {"ddof": 1}),
                 ("running_unbiased", "running_var was updated with the unbiased variance "
                  "(N - 1); use the biased batch variance", {"running_ddof": 1})]
        if vanilla:
            alts.append(("per_sample", "the statistics were taken per sample (axis=1) instead of "
                         "per feature (axis=0)", {"axis": 1}))
        else:
            alts += [("per_position", "statistics were taken over N only, separately at every "
                      "(c, h, w); spatial batch norm pools N, H and W for each channel",
                      {"layout": "per_position_avg"}),
                     ("per_position", "statistics were taken over N only, separately at every "
                      "(c, h, w); spatial batch norm pools N, H and W for each channel",
                      {"layout": "per_position"}),
                     ("per_sample", "statistics were taken per sample (over C, H, W), not per "
                      "channel", {"layout": "per_sample"}),
                     ("plain_reshape", "x was reshaped to (-1, C) without first moving the "
                      "channel axis last (transpose to (N, H, W, C) before reshaping)",
                      {"layout": "plain_reshape"}),
                     ("no_transpose_back", "the normalised rows were reshaped straight back to "
                      "(N, C, H, W) without moving the channel axis back",
                      {"layout": "no_transpose_back"})]
        alts += [("swap_momentum", "momentum was applied the wrong way round: running = "
                  "momentum * running + (1 - momentum) * batch statistic",
                  {"swap_momentum": True}),
                 ("keep_running", "the running averages were not stored back into bn_param "
                  "(or not updated)", {"keep_running": True}),
                 ("momentum_zero", "the running averages were replaced by the batch statistics "
                  "instead of being averaged", {"momentum": 0.0})]
        if "momentum" in case and case["momentum"] != 0.9:
            alts.append(("momentum_not_read", "bn_param['momentum'] was not read (0.9 used)",
                         {"momentum": 0.9}))
    else:
        alts.append(("test_batch_stats", "test mode used the batch's own mean and variance; it "
                     "must use bn_param's running_mean and running_var",
                     {"mode": "train", "keep_running": True}))
        if not vanilla:
            alts += [("plain_reshape", "x was reshaped to (-1, C) without first moving the "
                      "channel axis last (transpose to (N, H, W, C) before reshaping)",
                      {"layout": "plain_reshape"}),
                     ("no_transpose_back", "the normalised rows were reshaped straight back to "
                      "(N, C, H, W) without moving the channel axis back",
                      {"layout": "no_transpose_back"})]
        if vanilla:
            alts.append(("no_sqrt", "the square root was left out (divided by the variance, not "
                         "the standard deviation)", {"no_sqrt": True}))
    if vanilla:
        alts += [("eps_outside", "eps was added outside the square root: use sqrt(var + eps)",
                  {"eps_place": "outside"}),
                 ("eps_none", "eps was left out", {"eps_place": "none"}) if "eps" in case else
                 ("eps_tiny", EPS_TINY, {"eps_place": "none"}),
                 ("swap_gamma_beta", "gamma and beta were swapped", {"swap_gamma_beta": True})]
    if "eps" in case and case["eps"] != 1e-5:
        alts.append(("eps_not_read", "bn_param['eps'] was not read (1e-5 used)", {"eps": 1e-5}))
    return alts


_DIM = {"conv": ("1 + (H + 2 * pad - HH) // stride", "1 + (W + 2 * pad - WW) // stride"),
        "pool": ("1 + (H - pool_height) // stride", "1 + (W - pool_width) // stride")}


def _size_models(name, case, out):
    """Outputs one row and/or column too small or too large, the rest right. An extra row or
    column is not predicted (NaN): only the part both sizes share must be right."""
    family = _family(name)
    H, W = case["x"][2:]
    S = case["stride"]
    if family == "conv":
        span = (H + 2 * case["pad"] - case["w"][2], W + 2 * case["pad"] - case["w"][3])
    else:
        span = (H - case["pool_height"], W - case["pool_width"])
    right = out.shape[2:]
    models = []
    for dh, dw in itertools.product((-1, 0, 1), repeat=2):
        size = (right[0] + dh, right[1] + dw)
        if (dh, dw) == (0, 0) or min(size) < 0:
            continue
        model = np.full(out.shape[:2] + size, np.nan)
        h, w = min(size[0], right[0]), min(size[1], right[1])
        model[:, :, :h, :w] = out[:, :, :h, :w]
        parts = []
        for axis, d in (("H", dh), ("W", dw)):
            if d:
                i = 0 if axis == "H" else 1
                rounded = any(f(span[i] / S) + 1 == right[i] + d for f in (round, math.ceil))
                parts.append(f"{axis}_out is one too {'large' if d > 0 else 'small'}: it is "
                             f"{_DIM[family][i]}"
                             + (", rounded down (// or int(), not round() or ceil)"
                                if d > 0 and rounded else ""))
        if not (dh and dw):
            parts.append(f"{'W' if dh else 'H'}_out is right")
        models.append(("size", "the output size is off by one: " + "; ".join(parts),
                       {"out": model}))
    return models


def _conv_backward_models(case, inputs, want):
    S, P = case["stride"], case["pad"]
    models = []
    try:
        fdx = expected("conv_backward_naive", case, inputs, {"flip": True})["dx"]
        models.append(("flip_dx", "the kernel was flipped when computing dx", {"dx": fdx}))
    except Exception:  # noqa: BLE001 -- a variant that cannot be computed matches nothing
        pass
    odx, odw = ref.conv_backward_overwrite(inputs["dout"], inputs["x"], inputs["w"], S, P)
    over = "was overwritten (=) instead of accumulated (+=) inside the loops"
    models += [("overwrite_dx", f"dx {over}", {"dx": odx}),
               ("overwrite_dw", f"dw {over}", {"dw": odw}),
               ("overwrite_both", f"dx and dw {over}", {"dx": odx, "dw": odw})]
    dout = inputs["dout"].astype(np.float64)
    if dout.shape[0] > 1:
        models.append(("db_last", "db holds only the last example's sum: accumulate over the "
                       "batch too", {"db": dout[-1].sum(axis=(1, 2))}))
    return models + _conv_db_models(dout)


_AXIS_NAMES = {0: "the batch axis (N)", 2: "H", 3: "W"}


def _partial_sums(terms, axes):
    """(kind, summed axes, value): `terms` summed over only some of `axes`, or over all of them
    with keepdims=True (the right answer, all of them without keepdims, is left out). An axis of
    length 1 is never the one "left out": summing over it changes only the shape, which the
    keepdims cause names."""
    out = []
    for r in range(len(axes) + 1):
        for sub in itertools.combinations(axes, r):
            for keep in (False, True):
                if (r == len(axes) and not keep) or (r == 0 and keep):
                    continue  # the right answer; and keepdims changes nothing without a sum
                if r < len(axes) and all(terms.shape[a] == 1 for a in axes if a not in sub):
                    continue
                value = terms.sum(axis=sub, keepdims=keep) if sub else terms
                out.append(("keepdims" if r == len(axes) else "partial_sum", sub, value))
    return out


def _sum_cause(keys, kind, sub, axes, value_shape, shape):
    """The cause for gradients `keys` (e.g. ['dgamma', 'dbeta']) summed the `kind` way."""
    names, many = " and ".join(keys), len(keys) > 1
    if kind == "keepdims":
        return (f"{names} {'have' if many else 'has'} the right values but shape {value_shape}: "
                f"sum without keepdims (or reshape) to get shape {shape}")
    missing = " and ".join(_AXIS_NAMES[a] for a in axes if a not in sub)
    done = (f"summed over {' and '.join(_AXIS_NAMES[a] for a in sub)} only" if sub else
            "not summed at all")
    return (f"{names} {'were' if many else 'was'} {done}: sum over {missing} too, to get "
            f"shape {shape}")


def _conv_db_models(dout):
    return [(f"db_{kind}", _sum_cause(["db"], kind, sub, (0, 2, 3), value.shape, "(F,)"),
             {"db": value}) for kind, sub, value in _partial_sums(dout, (0, 2, 3))]


def _sum_models(name, inputs, want):
    """dgamma and / or dbeta summed over too few axes, or kept 2-D (keepdims), the rest right."""
    spatial = name.startswith("spatial")
    x = inputs["xs"][-1].astype(np.float64)
    dout = inputs["dout"].astype(np.float64)
    eps = inputs["bn_param"].get("eps", 1e-5)
    axes = (0, 2, 3) if spatial else (0,)
    mu = x.mean(axis=axes, keepdims=True)
    xhat = (x - mu) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    shape = "(C,)" if spatial else "(D,)"
    models = []
    per = {"dgamma": _partial_sums(dout * xhat, axes), "dbeta": _partial_sums(dout, axes)}
    for key, options in per.items():
        models += [(f"{key}_{kind}", _sum_cause([key], kind, sub, axes, value.shape, shape),
                    {key: value}) for kind, sub, value in options]
    for (kind, sub, vg), (_, _, vb) in zip(per["dgamma"], per["dbeta"]):  # both the same way
        models.append((f"both_{kind}", _sum_cause(["dgamma", "dbeta"], kind, sub, axes,
                                                  vg.shape, shape), {"dgamma": vg, "dbeta": vb}))
    if spatial:  # the (N*H*W, C) view's rows: not summed, or summed with keepdims (1, C)
        rows = {"dgamma": ref._rows(dout * xhat), "dbeta": ref._rows(dout)}
        for keys in (["dgamma"], ["dbeta"], ["dgamma", "dbeta"]):
            models.append(("rows_not_summed", _sum_cause(keys, "partial_sum", (), (0,), None,
                                                         shape).replace(
                "the batch axis (N)", "the rows (N * H * W)"), {k: rows[k] for k in keys}))
            kept = {k: rows[k].sum(axis=0, keepdims=True) for k in keys}
            models.append(("rows_keepdims", _sum_cause(keys, "keepdims", (0,), (0,),
                                                       kept[keys[0]].shape, shape), kept))
    return models


def _keepdims_running_models(want):
    """running_mean and / or running_var stored with keepdims=True shapes."""
    models = []
    keys = [k for k in ("running_mean", "running_var") if want.get(k) is not None]
    for r in (1, 2):
        for sub in itertools.combinations(keys, r):
            for shape in ((1, -1), (1, -1, 1, 1)):
                out = {k: np.asarray(want[k]).reshape(shape) for k in sub}
                got = next(iter(out.values())).shape
                out_name = " and ".join(sub)
                models.append(("running_keepdims", f"{out_name} {'has' if r == 1 else 'have'} "
                               f"shape {got} (statistics kept with keepdims=True): store 1-D "
                               f"arrays, one entry per feature", out))
    return models


# ----------------------------------------------------------------------------- judging
def _arr(v):
    try:
        a = np.asarray(v)
    except Exception:  # noqa: BLE001
        return None
    return a if a.dtype.kind in "fiub" else None


def _close(got, want, tol):
    """got equals want within tol (relative to max(1, max |want|)); NaN in want: not compared."""
    want = np.asarray(want, dtype=np.float64)
    if got is None or got.shape != want.shape:
        return False
    mask = np.isfinite(want)
    if not mask.any():
        return True
    scale = max(1.0, float(np.max(np.abs(want[mask]))))
    diff = np.abs(got.astype(np.float64)[mask] - want[mask])
    return bool(np.all(diff <= tol * scale))  # NaN in got fails


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


class DistinctModels(list):
    """mistake_models(...) of one case without those that compute the right answer on it (see
    distinct_models): likely_causes need not compare them with the right answer again."""


def _same_as_right(model, want, keys, tol):
    return all(model.get(k, want[k]) is None or
               _close(np.asarray(want[k], np.float64), model.get(k, want[k]), tol) for k in keys)


def distinct_models(case, want, models):
    """The mistake models of a case that compute something other than the right answer on its
    checked outputs (the others can never be a likely cause there): a DistinctModels list for
    likely_causes, worth keeping when many students are judged on the same case."""
    keys, tol = checked_keys(case, want), case.get("tol", TOL)
    return DistinctModels(m for m in models if not _same_as_right(m[2], want, keys, tol))


def likely_causes(name, case, inputs, outputs, want, keys, wrong, tol, models=None):
    """The causes whose mistake model computes exactly the student's outputs on this case: every
    checked output within tol of the model's (the model must predict every wrong one), and the
    model not itself within tol of the right answer. Several distinct causes that all fit
    (they compute the same here) are not named: none of them would be certain.
    models: the list of mistake_models(...) when the caller keeps it (the same for every student
    who fails the case), or distinct_models(...) of it; by default computed here."""
    found = {}
    if models is None:
        models = mistake_models(name, case, inputs, want)
    known_distinct = isinstance(models, DistinctModels)
    for cid, text, model in models:
        if cid in found:
            continue
        pred = {k: (model[k] if k in model else want[k]) for k in keys}
        if any(pred[k] is None for k in wrong):
            continue
        if not known_distinct and _same_as_right(model, want, keys, tol):
            continue  # no different from the right answer on this case
        if all(pred[k] is None or _close(_arr(outputs.get(k)), pred[k], tol) for k in keys):
            found[cid] = text
    for cid in list(found):
        for other in SUBSUMES.get(cid, ()):
            found.pop(other, None)
    return list(found.values()) if len(found) == 1 else []


# A mistake whose output, whenever it fits, the listed ones fit as well (they compute nearly the
# same): naming it is then still certain. E.g. eps not read, 1e-5 used in place of 0.5: leaving
# eps out, or adding it outside the square root, differ from that by far less than the tolerance.
SUBSUMES = {"eps_not_read": ("eps_none", "eps_outside", "eps_default", "eps_tiny"),
            # only the running averages checked: the unbiased variance shows only there
            "running_unbiased": ("unbiased",)}


def judge(name, case, inputs, outputs, want=None, models=None):
    """Compare outputs with the reference -> (passed, lines) in the student's terms.
    want: the reference outputs when the caller has them already (the trusted judge memoises them
    per case); by default they are computed here. models: a callable returning the case's list of
    mistake models (memoised by the trusted judge too); by default they are computed here."""
    tol = case.get("tol", TOL)
    if want is None:
        want = expected(name, case, inputs)
    keys = checked_keys(case, want)
    verdicts = {key: _judge_one(key, outputs.get(key), want[key], tol) for key in keys}
    wrong = [k for k in keys if verdicts[k] is not None]
    if not wrong:
        return True, []
    lines = [verdicts[k] for k in wrong]
    right = [k for k in keys if k not in wrong]
    if right:
        lines[-1] += f"; {' and '.join(right)} correct"
    causes = likely_causes(name, case, inputs, outputs, want, keys, wrong, tol,
                           models=models() if models is not None else None)
    matched = " and ".join(wrong)
    lines += [f"likely cause: {c}; your {matched} match{'es' if len(wrong) == 1 else ''} "
              f"exactly what that mistake computes" for c in causes]
    if not causes:
        lines += _where_hints(name, case, outputs, want, wrong, tol)
    return False, lines


def _judge_one(key, got_raw, want, tol):
    """None if right, else what is wrong with `key`."""
    if got_raw is None:
        if key.startswith("running"):
            return (f"bn_param has no '{key}' after a training call: store the updated running "
                    f"average back into bn_param['{key}']")
        return f"{key} is None: return a NumPy array"
    got = _arr(got_raw)
    if got is None:
        return f"{key} is a {type(got_raw).__name__}, expected a NumPy array of numbers"
    if got.shape != want.shape:
        return f"{key} has shape {got.shape}, expected {want.shape}"
    if not np.all(np.isfinite(got)):
        return f"{key} contains NaN or inf"
    if _close(got, want, tol):
        return None
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    return f"{key} wrong by up to {diff:.3g} (largest difference at {_where(key, got, want)})"


def _where_hints(name, case, outputs, want, wrong, tol):
    """Where the error sits, as a fact (no cause), when it is only at the padded border."""
    if name != "conv_forward_naive" or not case["pad"] or "out" not in wrong:
        return []
    got = _arr(outputs["out"])
    if got is None or got.shape != want["out"].shape:
        return []
    bad = np.abs(got - want["out"]).max(axis=(0, 1)) > tol * max(1, np.abs(want["out"]).max())
    border = ref.touches_padding(case["x"], case["w"][2], case["w"][3], case["stride"],
                                 case["pad"])
    if bad.any() and (~border).any() and not (bad & ~border).any():
        return ["where: the output is right in the interior and wrong only where a window "
                "reaches into the zero padding"]
    return []


def run_case(name, case, funcs, inputs=None):
    """build -> invoke -> judge for one case -> (passed, lines)."""
    if inputs is None:
        inputs = build(name, case)
    try:
        outputs = invoke(name, case, inputs, funcs)
    except StudentError as err:
        lines = [err.message]
        if err.function != name:
            lines[0] += f", so {name} could not be tested"
        return False, lines
    return judge(name, case, inputs, outputs)


WHY = ("likely cause", "where")


def failure_report(name, total, failures, kind="hidden"):
    """The student's report for the failed cases of one check: failures = [(i, case, lines)].

    Each failed case names its inputs and what is wrong; a likely cause shared with an earlier case
    is given once and referred to after that. kind: 'hidden' (the grader) or 'public' (practice).
    """
    out = [f"{name} failed {len(failures)} of {total} {kind} cases."]
    explained = {}  # explanation lines -> the case that first showed them
    for i, case, lines in failures:
        out.append(f"  case {i} ({describe(name, case)}):")
        what = [ln for ln in lines if not ln.startswith(WHY)]
        why = tuple(ln for ln in lines if ln.startswith(WHY))
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
