"""Hidden tests as plain data: the grader's side of a case (instructor only).

A hidden test cell in solutions/ is one call, check(name, cases), with `cases` a list of dicts
of plain values (the keys are listed in cs231n_lib.explain). How a case is built, run and judged,
and how a failure is explained, is shared with the students' practice check and lives in the
public library (cs231n_lib.explain, with the mistake models in cs231n_lib.mistakes); what stays
here is what only the instructor has: the course secret that salts every hidden case's seed.

    inputs  = build(name, case)                 # seeded from the secret (trusted)
    outputs = invoke(name, case, inputs, funcs) # calls the student's functions (untrusted)
    results = judge(name, case, inputs, outputs)# reference + verdict + likely cause (trusted)
"""
import hashlib
import hmac
import json
import os
import secrets

import numpy as np
from cs231n_lib import explain as _explain
from cs231n_lib.explain import (FORWARD_OF, RETURNS, TOL, StudentError, checked_keys,  # noqa: F401
                                describe, expected, failure_report, invoke, judge,
                                likely_causes, mistake_models)

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


def build(name, case):
    """Seeded inputs for one hidden case (the seed salted with the course secret, if any)."""
    return _explain.build(name, case, _rng(name, case))


def run_case(name, case, funcs):
    """build -> invoke -> judge for one hidden case -> (passed, lines)."""
    return _explain.run_case(name, case, funcs, build(name, case))
