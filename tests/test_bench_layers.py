"""benchmarks/bench_layers.py runs end to end on tiny shapes (a smoke test, not a timing assertion)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_layers.py"


def run(*args):
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--threads", "1", *args],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_tiny_benchmark_prints_the_table():
    out = run()
    assert "| case | dtype | library fwd | library bwd | PyTorch fwd | PyTorch bwd |" in out
    for case in ("conv 3->32", "conv 64->64", "conv 32->64, 5x5", "CS231n size", "max pool 2x2 s2",
                 "max pool 3x3 s2", "spatial batch norm"):
        assert sum(case in line for line in out.splitlines() if line.startswith("| ")) == 2   # both dtypes
    assert "Agreement checked before timing" in out
    if importlib.util.find_spec("torch") is not None:
        assert "Geometric mean of library/PyTorch (forward + backward, 14 cases)" in out
    else:
        assert "PyTorch is not installed" in out


def test_tiny_benchmark_runs_without_torch_and_loops(tmp_path):
    out = run("--no-torch", "--no-loops", "--dtypes", "float32", "--json", str(tmp_path / "t.json"))
    assert "PyTorch columns skipped: --no-torch." in out and "Loop columns skipped: --no-loops" in out
    rows = [line for line in out.splitlines() if line.startswith("| conv")]
    assert len(rows) == 4 and all(line.split("|")[5].strip() == "-" for line in rows)   # no PyTorch times
    saved = json.loads((tmp_path / "t.json").read_text())
    assert {r["dtype"] for r in saved["timings"]["library"]} == {"float32"}


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loop_loader_runs_only_imports_and_definitions(tmp_path):
    cells = [
        "%matplotlib inline\nimport numpy as np\n\ndef helper(a):\n    return 2 * a\n",
        "def conv_forward_naive(x, w, b, conv_param):\n    ### BEGIN SOLUTION\n    return helper(x), None\n"
        "    ### END SOLUTION\n",
        "raise RuntimeError('a test cell must not run')\n",
        "from grading import check\ncheck('conv_forward_naive', [])\n",
    ]
    notebook = {"cells": [{"cell_type": "code", "source": c, "metadata": {}} for c in cells]
                + [{"cell_type": "markdown", "source": "def not_code(): pass"}]}
    (tmp_path / "conv").mkdir()
    (tmp_path / "conv" / "conv.ipynb").write_text(json.dumps(notebook))
    namespace, missing = load_bench().load_loop_solutions(tmp_path)
    assert namespace["conv_forward_naive"](3, None, None, None) == (6, None)
    assert "not_code" not in namespace and "check" not in namespace
    assert "conv_backward_naive" in missing and "conv_forward_naive" not in missing


def test_cases_are_the_ones_of_the_issue():
    bench = load_bench()
    shapes = {(c["layer"], c["x"], c.get("w"), c.get("stride"), c.get("pad"), c.get("size")) for c in bench.CASES}
    assert shapes == {
        ("conv", (100, 3, 32, 32), (32, 3, 3, 3), 1, 1, None),
        ("conv", (64, 64, 32, 32), (64, 64, 3, 3), 1, 1, None),
        ("conv", (128, 32, 16, 16), (64, 32, 5, 5), 1, 2, None),
        ("conv", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1, None),
        ("pool", (100, 32, 32, 32), None, 2, None, 2),
        ("pool", (100, 32, 31, 31), None, 2, None, 3),      # 32 -> 31: the library needs tiling windows
        ("bn", (128, 64, 32, 32), None, None, None, None),
    }


@pytest.mark.parametrize("tiny", [False, True])
def test_inputs_are_the_same_in_every_process(tiny):
    bench = load_bench()
    case = bench.cases(tiny)[1]
    a, b = bench.make_inputs(case, 1, "float32"), bench.make_inputs(case, 1, "float32")
    assert all((a[k] == b[k]).all() and a[k].dtype.name == "float32" for k in a)
