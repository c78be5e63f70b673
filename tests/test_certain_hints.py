"""A likely cause is named only when it is certain (issue 15, item 3).

For every catalogued mistake on cases of every graded function: the mistake's own output gets its
cause; zeros, random noise and every other mistake's output never get it. Then the misfires seen
on real student code, one test each, and the new mistake models on the bugs they model.
"""
import sys

import numpy as np
import pytest

from assignments_helpers import ROOT

sys.path.insert(0, str(ROOT))  # the instructor-only grading package
from grading.cases import build, expected, judge  # noqa: E402

CASES = {
    "conv_forward_naive": [dict(x=(2, 3, 5, 5), w=(4, 3, 3, 3), stride=1, pad=1, seed=11),
                           dict(x=(2, 2, 7, 6), w=(3, 2, 3, 2), stride=2, pad=0, seed=12),
                           dict(x=(1, 2, 6, 6), w=(2, 2, 4, 4), stride=2, pad=2, seed=13)],
    "conv_backward_naive": [dict(x=(2, 3, 5, 5), w=(4, 3, 3, 3), stride=1, pad=1, seed=21),
                            dict(x=(2, 2, 6, 7), w=(3, 2, 3, 3), stride=2, pad=0, seed=22),
                            dict(x=(1, 1, 6, 9), w=(1, 1, 2, 4), stride=2, pad=1, seed=23)],
    "max_pool_forward_naive": [dict(x=(2, 3, 7, 7), pool_height=3, pool_width=3, stride=2, seed=31),
                               dict(x=(2, 2, 6, 8), pool_height=2, pool_width=3, stride=2, seed=32)],
    "max_pool_backward_naive": [dict(x=(2, 2, 5, 5), pool_height=2, pool_width=2, stride=1, seed=41),
                                dict(x=(2, 3, 6, 6), pool_height=2, pool_width=2, stride=2, seed=42)],
    "batchnorm_forward": [dict(x=(8, 5), mode="train", seed=51),
                          dict(x=(6, 4), mode="train", eps=0.5, momentum=0.7, steps=2, seed=52),
                          dict(x=(5, 3), mode="test", running="given", seed=53)],
    "batchnorm_backward": [dict(x=(8, 5), seed=61), dict(x=(5, 4), eps=0.5, seed=62)],
    "spatial_batchnorm_forward": [dict(x=(2, 3, 4, 5), mode="train", seed=71),
                                  dict(x=(2, 3, 4, 5), mode="test", running="given", seed=72)],
    "spatial_batchnorm_backward": [dict(x=(2, 3, 4, 5), seed=81),
                                   dict(x=(3, 2, 3, 3), eps=0.2, seed=82)],
}
PARAMS = [(name, i) for name, cl in CASES.items() for i in range(len(cl))]


def _causes(lines):
    return [ln for ln in lines if ln.startswith("likely cause")]


def _answer(model, want, rng):
    """A student's outputs equal to a mistake model's (values it does not predict: random)."""
    out = {}
    for k, w in want.items():
        m = model.get(k, w) if k in model else w
        if m is None:
            m = w
        m = np.array(m, dtype=np.float64)
        m[~np.isfinite(m)] = rng.standard_normal(int((~np.isfinite(m)).sum()))
        out[k] = m
    return out


@pytest.mark.parametrize("name, i", PARAMS)
def test_every_hint_fires_only_on_its_own_mistake(name, i):
    from cs231n_lib.explain import mistake_models
    case = CASES[name][i]
    inputs = build(name, case)
    want = expected(name, case, inputs)
    rng = np.random.default_rng(0)
    models = mistake_models(name, case, inputs, want)
    assert len(models) >= 3
    answers = [(cid, text, _answer(m, want, rng)) for cid, text, m in models]
    answers = [a for a in answers if not judge(name, case, inputs, a[2])[0]]  # wrong ones only
    named_some = 0
    for cid, text, answer in answers:
        ok, lines = judge(name, case, inputs, answer)
        causes = _causes(lines)
        assert len(causes) <= 1, lines
        if causes:
            named_some += 1
            # whatever is named fits this answer: it is this mistake, or one computing the same
            named = [t for c, t, a in answers if causes[0].startswith(f"likely cause: {t};")]
            assert named, (causes, text)
    assert named_some >= len(answers) // 2, "most mistakes should be recognised on their own output"
    for label, wrong in (("zeros", {k: np.zeros_like(v) for k, v in want.items()}),
                         ("noise", {k: rng.standard_normal(np.shape(v)) for k, v in want.items()}),
                         ("noise on the answer", {k: np.asarray(v) + 0.1 * rng.standard_normal(
                             np.shape(v)) for k, v in want.items()})):
        ok, lines = judge(name, case, inputs, wrong)
        assert not ok and not _causes(lines), (label, lines)
        assert not any(ln.startswith("hint") for ln in lines), (label, lines)


@pytest.mark.parametrize("name, i", PARAMS)
def test_another_mistakes_output_never_gets_this_mistakes_cause(name, i):
    from cs231n_lib.explain import _close, mistake_models
    case = CASES[name][i]
    inputs = build(name, case)
    want = expected(name, case, inputs)
    rng = np.random.default_rng(1)
    models = mistake_models(name, case, inputs, want)
    for cid, text, model in models:
        answer = _answer(model, want, rng)
        ok, lines = judge(name, case, inputs, answer)
        for c in _causes(lines):
            # the named mistake's model must itself fit this answer on every checked output
            fits = [m for cj, t, m in models if c.startswith(f"likely cause: {t};")]
            assert fits and any(all(
                m.get(k) is None or _close(np.asarray(answer[k]), np.asarray(m[k], float),
                                           case.get("tol", 1e-4))
                for k in m if k in answer) for m in fits), (text, c)


# ----------------------------------------------------------------------------- the misfires
def test_all_zero_dx_gets_no_accumulate_hint():
    name, case = "conv_backward_naive", dict(x=(2, 3, 5, 5), w=(4, 3, 3, 3), stride=1, pad=1, seed=1)
    inputs = build(name, case)
    want = expected(name, case, inputs)
    ok, lines = judge(name, case, inputs, dict(want, dx=np.zeros_like(want["dx"])))
    assert not ok and not any("+=" in ln or "accumulate" in ln for ln in lines), lines


def test_changed_default_eps_is_not_called_eps_outside_the_sqrt():
    name, case = "batchnorm_forward", dict(x=(5, 3), mode="test", running="given", seed=2)
    inputs = build(name, case)
    p = inputs["bn_param"]
    x, g, b = inputs["xs"][0], inputs["gamma"], inputs["beta"]
    for eps in (1e-3, 1e-2):  # np.sqrt(var + eps), with a default eps other than 1e-5
        out = g * (x - p["running_mean"]) / np.sqrt(p["running_var"] + eps) + b
        ok, lines = judge(name, case, inputs, {"out": out})
        assert not ok and not any("outside the square root" in ln for ln in lines), lines
        assert any(ln.startswith(f"likely cause: eps defaults to {eps:g}") for ln in lines), lines


def test_keepdims_dgamma_is_not_told_to_sum_over_the_batch():
    name, case = "batchnorm_backward", dict(x=(8, 5), seed=3)
    inputs = build(name, case)
    want = expected(name, case, inputs)
    ok, lines = judge(name, case, inputs, dict(want, dgamma=want["dgamma"].reshape(1, 5)))
    text = "\n".join(lines)
    assert not ok and "sum over the batch axis" not in text, lines
    assert "likely cause: dgamma has the right values but shape (1, 5)" in text, lines


def test_width_only_off_by_one_names_the_width():
    name, case = "conv_forward_naive", dict(x=(2, 3, 7, 5), w=(4, 3, 3, 2), stride=1, pad=0, seed=4)
    inputs = build(name, case)
    want = expected(name, case, inputs)
    ok, lines = judge(name, case, inputs, {"out": want["out"][:, :, :, :-1]})
    text = "\n".join(lines)
    assert "W_out is one too small: it is 1 + (W + 2 * pad - WW) // stride" in text, lines
    assert "H_out is right" in text and "H_out is one" not in text, lines


def test_matches_exactly_never_names_outputs_the_mistake_does_not_model():
    # statistics per position: the model predicts `out` but not these (noisy) running averages
    name, case = "spatial_batchnorm_forward", dict(x=(2, 3, 4, 5), mode="train", seed=5)
    inputs = build(name, case)
    want = expected(name, case, inputs)
    out = expected(name, case, inputs, {"layout": "per_position"})["out"]
    rv = want["running_var"] + 0.5
    ok, lines = judge(name, case, inputs, dict(want, out=out, running_var=rv))
    assert not ok and not any("match" in ln for ln in lines), lines
    ok, lines = judge(name, case, inputs, dict(want, out=out))  # running averages right
    assert any(ln.startswith("likely cause: statistics were taken over N only") and
               "your out matches exactly" in ln for ln in lines), lines


# ----------------------------------------------------------------------------- new mistake models
def test_negative_crop_of_dx_at_pad_zero():
    name, case = "conv_backward_naive", dict(x=(2, 3, 5, 5), w=(4, 3, 3, 3), stride=1, pad=0, seed=6)
    inputs = build(name, case)
    want = expected(name, case, inputs)
    empty = np.zeros((2, 3, 0, 0))  # dx_pad[:, :, 0:-0, 0:-0]
    ok, lines = judge(name, case, inputs, dict(want, dx=empty))
    assert any("pad:-pad, which is empty when pad = 0" in ln for ln in lines), lines


def test_round_instead_of_floor_in_the_output_size():
    # H: (7 + 2 - 2) / 2 = 3.5 rounds up; W: (6 + 2 - 2) / 2 = 3 exactly
    name, case = "conv_forward_naive", dict(x=(1, 2, 7, 6), w=(2, 2, 2, 2), stride=2, pad=1, seed=7)
    inputs = build(name, case)
    want = expected(name, case, inputs)["out"]
    out = np.concatenate([want, np.zeros_like(want[:, :, :1])], axis=2)  # one extra row
    ok, lines = judge(name, case, inputs, {"out": out})
    text = "\n".join(lines)
    assert "H_out is one too large" in text and "not round() or ceil" in text, lines
    assert "W_out is right" in text, lines


def test_keepdims_running_averages():
    name, case = "batchnorm_forward", dict(x=(6, 4), mode="train", check="running", seed=8)
    inputs = build(name, case)
    want = expected(name, case, inputs)
    got = {k: np.asarray(v).reshape(1, 4) for k, v in want.items() if k.startswith("running")}
    ok, lines = judge(name, case, inputs, got)
    assert any(ln.startswith("likely cause: running_mean and running_var have shape (1, 4)")
               for ln in lines), lines


def test_overwritten_pool_gradient_on_overlapping_windows():
    name, case = "max_pool_backward_naive", dict(x=(2, 2, 5, 5), pool_height=2, pool_width=2,
                                                 stride=1, seed=9)
    inputs = build(name, case)
    dx = expected(name, case, inputs, {"route": "overwrite_argmax"})["dx"]
    ok, lines = judge(name, case, inputs, {"dx": dx})
    assert any("overwritten (=) instead of accumulated (+=)" in ln for ln in lines), lines
