"""benchmarks/bench_grading.py end to end on two assignments in one `nbgrader autograde "*"` run.

Not a timing assertion: it checks that the benchmark runs, that one nbgrader run grades several
assignments through the sandbox (the parallel prefetch spans all of them), and that every score
equals plain nbgrader's and, with warm sandboxes off, ours again (the script exits non-zero
otherwise).
"""
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_grading.py"


def test_one_run_over_two_assignments_matches_plain_nbgrader():
    done = subprocess.run([sys.executable, str(SCRIPT), "--assignments", "pooling", "batchnorm",
                           "--one-run", "--cold"], capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    n = int(re.search(r"^(\d+) notebooks \(pooling, batchnorm\)", out, re.M).group(1))
    assert n >= 20, out
    assert 'one `nbgrader autograde "*"`' in out
    assert re.search(r"throughput ratio: \d+\.\d\dx", out)
    assert re.search(r"warm / cold sandboxes: \d+\.\d\dx", out)  # and their scores are equal too
    assert "scores identical for every submission" in out
