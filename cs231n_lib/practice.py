"""Practice check: your graded functions on public random cases, explained as the grader would.

In an assignment notebook, after writing a function:

    from cs231n_lib import practice
    practice.check_public("conv_forward_naive")

It calls your function (from the notebook's namespace) on the public cases below, compares every
output with the library's reference layers (``cs231n_lib.mistakes`` with no mistake switched on:
they floor the output size like the assignments, where ``fast_layers`` insists on sizes that fit)
and prints, case by case, what is wrong and, when it is certain, why: the same judge and the same
words as the grader's feedback (``cs231n_lib.explain``). The public cases are not the grader's: the grader runs other, hidden
cases, so passing here is a good sign, not a promise.

While a notebook is being graded this module is not available: there ``check_public`` prints one
line and does nothing.
"""
import numpy as np

from . import explain

# Public cases: padding 0 and > 0, stride > 1, overlapping and gapped pools, N = 1, non-square
# inputs and kernels, float32, eps and momentum given, test mode, running averages given.
# The seeds are plain numbers of this file; nothing here comes from the grader.
CASES = {
    "conv_forward_naive": [
        dict(x=(2, 3, 6, 6), w=(3, 3, 3, 3), stride=1, pad=0, seed=1),
        dict(x=(2, 3, 6, 6), w=(3, 3, 3, 3), stride=1, pad=1, seed=2),
        dict(x=(1, 2, 9, 7), w=(2, 2, 3, 2), stride=2, pad=1, seed=3),
        dict(x=(2, 1, 8, 8), w=(4, 1, 4, 4), stride=3, pad=2, seed=4),
        dict(x=(1, 2, 5, 6), w=(2, 2, 2, 3), stride=2, pad=0, dtype="float32", seed=5),
    ],
    "conv_backward_naive": [
        dict(x=(2, 3, 6, 6), w=(3, 3, 3, 3), stride=1, pad=0, seed=11),
        dict(x=(2, 2, 6, 6), w=(3, 2, 3, 3), stride=1, pad=1, seed=12),
        dict(x=(1, 2, 9, 7), w=(2, 2, 3, 2), stride=2, pad=1, seed=13),
        dict(x=(2, 1, 8, 8), w=(2, 1, 4, 4), stride=3, pad=2, seed=14),
        dict(x=(1, 2, 5, 6), w=(2, 2, 2, 3), stride=2, pad=0, dtype="float32", seed=15),
    ],
    "max_pool_forward_naive": [
        dict(x=(2, 3, 6, 6), pool_height=2, pool_width=2, stride=2, seed=21),
        dict(x=(2, 2, 7, 7), pool_height=3, pool_width=3, stride=2, seed=22),
        dict(x=(1, 2, 7, 8), pool_height=2, pool_width=3, stride=3, seed=23),
        dict(x=(1, 1, 5, 6), pool_height=3, pool_width=2, stride=1, dtype="float32", seed=24),
    ],
    "max_pool_backward_naive": [
        dict(x=(2, 3, 6, 6), pool_height=2, pool_width=2, stride=2, seed=31),
        dict(x=(2, 2, 7, 7), pool_height=3, pool_width=3, stride=2, seed=32),
        dict(x=(1, 2, 6, 7), pool_height=2, pool_width=3, stride=1, seed=33),
        dict(x=(1, 1, 8, 8), pool_height=2, pool_width=2, stride=3, dtype="float32", seed=34),
    ],
    "batchnorm_forward": [
        dict(x=(10, 4), mode="train", seed=41),
        dict(x=(3, 5), mode="train", eps=0.4, seed=42),
        dict(x=(6, 3), mode="train", momentum=0.6, steps=3, running="given", seed=43),
        dict(x=(5, 4), mode="test", running="given", seed=44),
        dict(x=(8, 3), mode="train", dtype="float32", seed=45),
    ],
    "batchnorm_backward": [
        dict(x=(10, 4), seed=51),
        dict(x=(3, 5), eps=0.4, seed=52),
        dict(x=(2, 3), seed=53),
        dict(x=(7, 2), dtype="float32", seed=54),
    ],
    "spatial_batchnorm_forward": [
        dict(x=(2, 3, 4, 4), mode="train", seed=61),
        dict(x=(1, 2, 3, 5), mode="train", eps=0.3, momentum=0.7, steps=2, seed=62),
        dict(x=(3, 2, 4, 3), mode="test", running="given", seed=63),
        dict(x=(2, 2, 3, 3), mode="train", dtype="float32", seed=64),
    ],
    "spatial_batchnorm_backward": [
        dict(x=(2, 3, 4, 4), seed=71),
        dict(x=(1, 2, 3, 5), eps=0.3, seed=72),
        dict(x=(2, 2, 3, 3), dtype="float32", seed=73),
    ],
}
SALT = 15  # public seeds start from (SALT, seed): different inputs from any plain-seeded case


def _namespace():
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    if shell is not None:
        return shell.user_ns
    import __main__
    return vars(__main__)


def run(name, namespace=None):
    """-> (number of cases, [(case number, case, lines)] of the failed ones)."""
    if name not in CASES:
        raise ValueError(f"practice.check_public: no practice cases for {name!r}; choose one of "
                         f"{', '.join(sorted(CASES))}")
    funcs = _namespace() if namespace is None else namespace
    failures = []
    for i, case in enumerate(CASES[name], start=1):
        inputs = explain.build(name, case, np.random.default_rng((SALT, case["seed"])))
        try:
            outputs = explain.invoke(name, case, inputs, funcs)
        except explain.StudentError as err:
            line = err.message + ("" if err.function == name else
                                  f", so {name} could not be tested")
            failures.append((i, case, [line]))
            continue
        passed, lines = explain.judge(name, case, inputs, outputs)
        if not passed:
            failures.append((i, case, lines))
    return len(CASES[name]), failures


def check_public(name, namespace=None):
    """Run `name` (e.g. "conv_forward_naive") on the public practice cases and print the report.
    namespace: where your functions are (default: the notebook's)."""
    total, failures = run(name, namespace)
    if not failures:
        print(f"{name}: all {total} practice cases passed (the grader runs other, hidden cases).")
    else:
        print(explain.failure_report(name, total, failures, kind="practice"))
