"""Student checks: `make check` (all assignments) or `make check A=conv` (one).

1. The set-up: the installed packages are the versions in requirements.lock, the ones the grader
   runs (a different NumPy can change what your code computes), and the course library passes a
   gradient check.
2. `nbgrader validate` on each assignment notebook: the visible tests of the graded cells. Hidden
   tests run only after you submit.

Exit status 0 when everything passes, 1 otherwise.
"""
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*([^#]+?))?\s*(?:#.*)?$")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def version_problems():
    """Installed packages whose version differs from the lock's pin (only those installed)."""
    from packaging.markers import Marker  # installed with JupyterLab

    problems = []
    for line in (HERE / "requirements.lock").read_text().splitlines():
        m = PIN.match(line.strip())
        if not m or (m.group(3) and not Marker(m.group(3)).evaluate()):
            continue
        try:
            installed = metadata.version(m.group(1))
        except metadata.PackageNotFoundError:
            continue  # an instructor-only package: students do not install it
        if installed != m.group(2):
            problems.append(f"{m.group(1)} {installed} is installed, the course uses {m.group(2)}")
    return problems


def library_selftest():
    """A gradient check of the library's affine-ReLU layers: relative errors must be tiny."""
    import numpy as np
    from cs231n_lib.gradcheck import numerical_gradient_array, rel_error
    from cs231n_lib.layers import affine_backward, affine_forward, relu_backward, relu_forward

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)

    def forward(x, w, b):
        a, fc_cache = affine_forward(x, w, b)
        out, relu_cache = relu_forward(a)
        return out, (fc_cache, relu_cache)

    out, (fc_cache, relu_cache) = forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = affine_backward(relu_backward(dout, relu_cache), fc_cache)
    errors = {
        "dx": rel_error(dx, numerical_gradient_array(lambda v: forward(v, w, b)[0], x.copy(), dout)),
        "dw": rel_error(dw, numerical_gradient_array(lambda v: forward(x, v, b)[0], w.copy(), dout)),
        "db": rel_error(db, numerical_gradient_array(lambda v: forward(x, w, v)[0], b.copy(), dout)),
    }
    return [f"library gradient check: {k} relative error {e:.1e} (should be < 1e-7)"
            for k, e in errors.items() if not e < 1e-7]


def notebooks(assignment):
    """assignments/<assignment>/*.ipynb (every assignment when None)."""
    pattern = f"{assignment or '*'}/*.ipynb"
    found = sorted(p for p in (HERE / "assignments").glob(pattern) if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise SystemExit(f"no notebook matches assignments/{pattern}")
    return found


def validate(path):
    """Run `nbgrader validate`, show its output, and say whether every visible test passed."""
    print(f"\n== nbgrader validate {path.relative_to(HERE)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], cwd=HERE,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200)
    print(proc.stdout.rstrip())
    return proc.returncode == 0 and "Success! Your notebook passes all the tests." in proc.stdout


def main(argv):
    if len(argv) > 1:
        raise SystemExit("usage: python check.py [ASSIGNMENT]   (e.g. conv; none: all of them)")
    setup = version_problems() + library_selftest()
    for problem in setup:
        print("SET-UP PROBLEM:", problem)
    if setup:
        print("Fix the set-up first: delete .venv and run `make lab` or `make check` again.")
        return 1
    print("Set-up OK: the course's exact versions, and the library passes its gradient check.")
    results = {path: validate(path) for path in notebooks(argv[0] if argv else None)}
    print("\nSummary:")
    for path, ok in results.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {path.relative_to(HERE)}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
