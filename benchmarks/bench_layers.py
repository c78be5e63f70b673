#!/usr/bin/env python
"""Time the library's conv, pooling and batch-norm layers against PyTorch CPU and the graded loops.

    python benchmarks/bench_layers.py            # the full table (a few minutes)
    python benchmarks/bench_layers.py --tiny     # tiny shapes, one run: checks that everything runs

For each case and dtype (float32, float64) the forward and the backward pass are timed separately:
median of --runs runs after --warmup calls. Three columns of frameworks:
- library: cs231n_lib.fast_layers;
- PyTorch: torch.nn.functional on the CPU, when torch is installed (the optional `bench` extra,
  `pip install torch==2.13.0`); skipped, and said so, when it is not;
- loops: the graded reference solutions (conv_forward_naive, ...), executed from the code cells of
  the nbgrader source notebooks under solutions/; slow, so they are timed only on the cases marked
  in CASES (the CS231n-sized conv, the pooling layers, batch norm) with --loop-runs runs.
Every framework runs in its own process with the same thread count (--threads, default: all cores):
idle worker threads of one library spin and would slow the other down. Before anything is timed, a
separate process runs every framework on the same seeded inputs and checks that the outputs and
gradients agree; the benchmark stops if they do not.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DTYPES = ("float32", "float64")
TOLERANCE = {"float32": 1e-3, "float64": 1e-9}   # max |a - b| / max |b| for the agreement check

# name, layer, shapes and parameters, whether the loops are timed, and the --tiny version
CASES = [
    dict(name="conv 3->32, 3x3 s1 p1", layer="conv", x=(100, 3, 32, 32), w=(32, 3, 3, 3), stride=1, pad=1,
         loops=False, tiny=dict(x=(2, 3, 8, 8), w=(4, 3, 3, 3))),
    dict(name="conv 64->64, 3x3 s1 p1", layer="conv", x=(64, 64, 32, 32), w=(64, 64, 3, 3), stride=1, pad=1,
         loops=False, tiny=dict(x=(2, 16, 4, 16), w=(4, 16, 3, 3))),
    dict(name="conv 32->64, 5x5 s1 p2", layer="conv", x=(128, 32, 16, 16), w=(64, 32, 5, 5), stride=1, pad=2,
         loops=False, tiny=dict(x=(2, 8, 6, 6), w=(8, 8, 5, 5))),
    dict(name="conv 3->25, 3x3 s2 p1 (CS231n size)", layer="conv", x=(100, 3, 31, 31), w=(25, 3, 3, 3),
         stride=2, pad=1, loops=True, tiny=dict(x=(2, 3, 7, 7), w=(5, 3, 3, 3))),
    dict(name="max pool 2x2 s2", layer="pool", x=(100, 32, 32, 32), size=2, stride=2,
         loops=True, tiny=dict(x=(2, 4, 8, 8))),
    # the library insists that windows tile the input: 31 gives the 15x15 that PyTorch's floor gives on 32
    dict(name="max pool 3x3 s2", layer="pool", x=(100, 32, 31, 31), size=3, stride=2,
         loops=True, tiny=dict(x=(2, 4, 7, 7))),
    dict(name="spatial batch norm, train", layer="bn", x=(128, 64, 32, 32),
         loops=True, tiny=dict(x=(4, 8, 4, 4))),
]
LOOP_NAMES = ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
              "spatial_batchnorm_forward", "spatial_batchnorm_backward")


# ----------------------------------------------------------------------------------------------
# cases and inputs (the same in every process)
# ----------------------------------------------------------------------------------------------
def cases(tiny):
    return [{**case, **case["tiny"]} if tiny else dict(case) for case in CASES]


def make_inputs(case, index, dtype):
    """Seeded inputs of a case: identical in every process, whatever the framework."""
    import numpy as np
    rng = np.random.default_rng(1000 + index)
    inputs = {"x": rng.standard_normal(case["x"])}
    if case["layer"] == "conv":
        fan_in = math.prod(case["w"][1:])
        inputs["w"] = rng.standard_normal(case["w"]) / math.sqrt(fan_in)
        inputs["b"] = rng.standard_normal(case["w"][0])
    elif case["layer"] == "bn":
        C = case["x"][1]
        inputs["x"] = 2 * inputs["x"] + rng.standard_normal((1, C, 1, 1))
        inputs["gamma"], inputs["beta"] = rng.standard_normal(C), rng.standard_normal(C)
    return {k: v.astype(dtype) for k, v in inputs.items()}


def make_dout(shape, index, dtype):
    import numpy as np
    return np.random.default_rng(2000 + index).standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------------------------
# the three frameworks: forward(case, inputs) -> (out, state); backward(state, dout) -> gradients
# ----------------------------------------------------------------------------------------------
def library_framework():
    from cs231n_lib import fast_layers as fl

    def forward(case, a):
        if case["layer"] == "conv":
            return fl.conv_forward_fast(a["x"], a["w"], a["b"], {"stride": case["stride"], "pad": case["pad"]})
        if case["layer"] == "pool":
            param = {"pool_height": case["size"], "pool_width": case["size"], "stride": case["stride"]}
            return fl.max_pool_forward_fast(a["x"], param)
        return fl.spatial_batchnorm_forward_fast(a["x"], a["gamma"], a["beta"], {"mode": "train"})

    def backward(case, cache, dout):
        if case["layer"] == "conv":
            return fl.conv_backward_fast(dout, cache)
        if case["layer"] == "pool":
            return (fl.max_pool_backward_fast(dout, cache),)
        return fl.spatial_batchnorm_backward_fast(dout, cache)

    return (lambda case, a: a), forward, backward, (lambda out: out)


def torch_framework(threads):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)

    def prepare(case, a):
        return {k: torch.from_numpy(v).requires_grad_(True) for k, v in a.items()}

    def forward(case, t):
        if case["layer"] == "conv":
            out = F.conv2d(t["x"], t["w"], t["b"], stride=case["stride"], padding=case["pad"])
            return out, (out, (t["x"], t["w"], t["b"]))
        if case["layer"] == "pool":
            out = F.max_pool2d(t["x"], case["size"], case["stride"])
            return out, (out, (t["x"],))
        C = t["x"].shape[1]
        zeros, ones = torch.zeros(C, dtype=t["x"].dtype), torch.ones(C, dtype=t["x"].dtype)
        # PyTorch's momentum is the weight of the new statistic: 1 - the course's
        out = F.batch_norm(t["x"], zeros, ones, t["gamma"], t["beta"], training=True, momentum=0.1, eps=1e-5)
        return out, (out, (t["x"], t["gamma"], t["beta"]))

    def backward(case, state, dout):
        out, inputs = state
        return torch.autograd.grad(out, inputs, dout, retain_graph=True)

    def to_numpy(value):
        return value.detach().numpy() if hasattr(value, "detach") else value

    def torch_backward(case, state, dout):
        return backward(case, state, torch.from_numpy(dout))

    return prepare, forward, torch_backward, to_numpy


def load_loop_solutions(root):
    """The graded loop solutions, executed from the code cells of the nbgrader source notebooks.

    From every code cell of solutions/*/*.ipynb only the imports and function definitions run
    (tests, prints and hidden grading cells are skipped): the notebooks stay the one source of
    the reference code. Returns (namespace, missing names).
    """
    import numpy as np
    namespace = {"np": np, "__name__": "loop_solutions"}
    for path in sorted(Path(root).glob("*/*.ipynb")):
        notebook = json.loads(path.read_text())
        for cell in notebook.get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            source = "".join(cell.get("source", []))
            source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            keep = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
            if any(isinstance(node, ast.FunctionDef) for node in keep):
                exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), namespace)
    return namespace, [name for name in LOOP_NAMES if name not in namespace]


def loops_framework(root):
    ns, missing = load_loop_solutions(root)
    if missing:
        raise RuntimeError(f"loop solutions missing from {root}: {missing}")

    def forward(case, a):
        if case["layer"] == "conv":
            return ns["conv_forward_naive"](a["x"], a["w"], a["b"], {"stride": case["stride"], "pad": case["pad"]})
        if case["layer"] == "pool":
            param = {"pool_height": case["size"], "pool_width": case["size"], "stride": case["stride"]}
            return ns["max_pool_forward_naive"](a["x"], param)
        return ns["spatial_batchnorm_forward"](a["x"], a["gamma"], a["beta"], {"mode": "train"})

    def backward(case, cache, dout):
        if case["layer"] == "conv":
            return ns["conv_backward_naive"](dout, cache)
        if case["layer"] == "pool":
            return (ns["max_pool_backward_naive"](dout, cache),)
        return ns["spatial_batchnorm_backward"](dout, cache)

    return (lambda case, a: a), forward, backward, (lambda out: out)


def framework(name, args):
    if name == "library":
        return library_framework()
    if name == "torch":
        return torch_framework(args.threads)
    return loops_framework(args.solutions)


# ----------------------------------------------------------------------------------------------
# workers (one process each)
# ----------------------------------------------------------------------------------------------
def run_case(fw, case, index, dtype):
    """One forward and one backward pass on the seeded inputs -> (outputs as NumPy arrays)."""
    import numpy as np
    prepare, forward, backward, to_numpy = fw
    inputs = prepare(case, make_inputs(case, index, dtype))
    out, state = forward(case, inputs)
    out = np.asarray(to_numpy(out))
    grads = backward(case, state, make_dout(out.shape, index, dtype))
    return [out] + [np.asarray(to_numpy(g)) for g in grads]


def check_worker(args):
    """Run every framework on the same inputs and report the largest relative disagreement."""
    import numpy as np
    names = ["library"] + (["torch"] if args.torch else []) + (["loops"] if args.loops else [])
    fws = {name: framework(name, args) for name in names}
    report = []
    for index, case in enumerate(cases(args.tiny)):
        if not selected(case, args):
            continue
        for dtype in args.dtypes:
            ref = run_case(fws["library"], case, index, dtype)
            for name in names[1:]:
                if name == "loops" and not (case["loops"] or args.tiny):
                    continue
                other = run_case(fws[name], case, index, dtype)
                errors = [float(np.max(np.abs(a.astype(np.float64) - b)) / max(1e-30, np.max(np.abs(b))))
                          for a, b in zip(ref, other)]
                dtypes_ok = all(a.dtype == np.dtype(dtype) for a in ref)
                report.append(dict(case=case["name"], dtype=dtype, other=name, error=max(errors),
                                   ok=bool(max(errors) <= TOLERANCE[dtype] and dtypes_ok)))
    print(json.dumps({"kernels": openblas_kernels(), "checks": report}))


def time_worker(args):
    """Median time of forward and backward per case and dtype, after warm-up calls."""
    import numpy as np
    fw = framework(args.worker, args)
    prepare, forward, backward, to_numpy = fw
    loops = args.worker == "loops"
    runs = args.loop_runs if loops else args.runs
    results = []
    for index, case in enumerate(cases(args.tiny)):
        if not selected(case, args) or (loops and not (case["loops"] or args.tiny)):
            continue
        for dtype in args.dtypes:
            inputs = prepare(case, make_inputs(case, index, dtype))
            out, state = forward(case, inputs)
            dout = make_dout(np.asarray(to_numpy(out)).shape, index, dtype)
            times = {}
            for which in ("forward", "backward"):
                call = (lambda: forward(case, inputs)) if which == "forward" else (lambda: backward(case, state, dout))
                for _ in range(0 if loops else args.warmup):
                    call()
                samples = []
                for _ in range(runs):
                    start = time.perf_counter()
                    call()
                    samples.append(time.perf_counter() - start)
                times[which] = float(np.median(samples))
            results.append(dict(case=case["name"], dtype=dtype, runs=runs, **times))
    print(json.dumps(results))


def selected(case, args):
    return not args.cases or any(part.lower() in case["name"].lower() for part in args.cases)


# ----------------------------------------------------------------------------------------------
# the parent: spawn the workers, print the table
# ----------------------------------------------------------------------------------------------
def spawn(worker, args):
    """Run this script as a worker in a fresh process with the thread count fixed; return its JSON."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    if args.openblas_coretype:
        env["OPENBLAS_CORETYPE"] = args.openblas_coretype
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", worker, *args.forward]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {worker} worker failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def openblas_kernels():
    """The kernel family OpenBLAS picked at load time (e.g. 'Haswell' = AVX2, 'SkylakeX' = AVX-512)."""
    import ctypes
    import numpy as np  # noqa: F401  (loads OpenBLAS)
    try:
        path = next(p for p in Path("/proc/self/maps").read_text().split() if "openblas" in p.lower())
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            if hasattr(lib, name):
                getattr(lib, name).restype = ctypes.c_char_p
                return getattr(lib, name)().decode()
    except (OSError, StopIteration):
        pass
    return "unknown"


def best_of(old, new):
    """Per case, the smaller median of two rounds (with --repeat: other programs only ever add time)."""
    if old is None:
        return new
    return [dict(a, **{k: min(a[k], b[k]) for k in ("forward", "backward")}) for a, b in zip(old, new)]


def machine():
    import numpy as np
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:
        blas = "unknown BLAS"
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__} ({blas})"


def fmt_ms(seconds):
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def fmt_ratio(r):
    return "-" if r is None else (f"{r:.2f}" if r < 10 else f"{r:,.0f}")


def print_table(args, timings, checks):
    lib = {(r["case"], r["dtype"]): r for r in timings["library"]}
    tor = {(r["case"], r["dtype"]): r for r in timings.get("torch", [])}
    loop = {(r["case"], r["dtype"]): r for r in timings.get("loops", [])}
    total = lambda r: r["forward"] + r["backward"] if r else None
    rows, ratios = [], {d: [] for d in args.dtypes}
    for (name, dtype), r in lib.items():
        t, lp = tor.get((name, dtype)), loop.get((name, dtype))
        vs_torch = total(r) / total(t) if t else None
        vs_loop = total(lp) / total(r) if lp else None
        if vs_torch is not None:
            ratios[dtype].append(vs_torch)
        rows.append([name, dtype, fmt_ms(r["forward"]), fmt_ms(r["backward"]),
                     fmt_ms(t and t["forward"]), fmt_ms(t and t["backward"]),
                     fmt_ms(lp and lp["forward"]), fmt_ms(lp and lp["backward"]),
                     fmt_ratio(vs_torch), fmt_ratio(vs_loop)])
    header = ["case", "dtype", "library fwd", "library bwd", "PyTorch fwd", "PyTorch bwd",
              "loops fwd", "loops bwd", "library/PyTorch", "loops/library"]
    print(f"\nMachine: {machine()}; OpenBLAS kernels: {args.kernels}"
          + (f" (OPENBLAS_CORETYPE={args.openblas_coretype})" if args.openblas_coretype else ""))
    print(f"Threads: {args.threads} for every framework; times in ms, median of {args.runs} runs after "
          f"{args.warmup} warm-up call(s)" + (f", smallest of {args.repeat} alternating rounds" if args.repeat > 1
                                              else "")
          + f"; loops: {args.loop_runs} run(s), no warm-up" + (" (tiny shapes)" if args.tiny else ""))
    print("Ratios compare forward + backward.\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    if not args.torch:
        print("PyTorch columns skipped: " + ("--no-torch." if args.no_torch else
              "PyTorch is not installed (pip install torch==2.13.0, the `bench` extra)."))
    else:
        everything = [r for d in args.dtypes for r in ratios[d]]
        geo = lambda rs: math.exp(sum(map(math.log, rs)) / len(rs)) if rs else float("nan")
        per_dtype = ", ".join(f"{d}: {geo(ratios[d]):.2f}" for d in args.dtypes)
        print(f"Geometric mean of library/PyTorch (forward + backward, {len(everything)} cases): "
              f"{geo(everything):.2f} ({per_dtype}); worst case {max(everything):.2f}")
    if not args.loops:
        print(f"Loop columns skipped: {args.loops_missing} (looked in {args.solutions}).")
    else:
        print("Loops are timed only on the cases with a loops column (the others would take minutes).")
    worst = {}
    for c in checks:
        key = (c["other"], c["dtype"])
        worst[key] = max(worst.get(key, 0.0), c["error"])
    print("Agreement checked before timing, largest max|diff| / max|value| over outputs and gradients: "
          + "; ".join(f"library vs {o} {d}: {e:.1e}" for (o, d), e in sorted(worst.items())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, one run (a smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per pass (default 7; 1 with --tiny)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 2; 0 with --tiny)")
    parser.add_argument("--loop-runs", type=int, default=1, help="timed runs of the loop solutions (default 1)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time library and PyTorch in this many alternating rounds and keep each case's "
                             "smallest median (for busy machines; default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every framework")
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    parser.add_argument("--cases", nargs="+", default=[], help="only cases whose name contains one of these")
    parser.add_argument("--solutions", default=str(REPO / "solutions"), help="folder of the source notebooks")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    parser.add_argument("--no-loops", action="store_true", help="skip the loop solutions")
    parser.add_argument("--openblas-coretype", default=os.environ.get("OPENBLAS_CORETYPE"),
                        help="force OpenBLAS's kernels (e.g. SkylakeX) where it misdetects the CPU")
    parser.add_argument("--json", help="also write the timings and checks to this file")
    parser.add_argument("--worker", choices=["check", "library", "torch", "loops"], help=argparse.SUPPRESS)
    parser.add_argument("--torch-on", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loops-on", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.tiny else 7
    if args.warmup is None:
        args.warmup = 0 if args.tiny else 2

    if args.worker:
        args.torch, args.loops = args.torch_on, args.loops_on
        (check_worker if args.worker == "check" else time_worker)(args)
        return 0

    args.torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    args.loops_missing = "--no-loops" if args.no_loops else None
    args.loops = False
    if not args.no_loops:
        _, missing = load_loop_solutions(args.solutions)
        args.loops, args.loops_missing = not missing, f"loop solutions missing: {', '.join(missing)}"
    args.forward = [f"--runs={args.runs}", f"--warmup={args.warmup}", f"--loop-runs={args.loop_runs}",
                    f"--threads={args.threads}", f"--solutions={args.solutions}", "--dtypes", *args.dtypes]
    args.forward += (["--tiny"] if args.tiny else []) + (["--cases", *args.cases] if args.cases else [])
    args.forward += (["--torch-on"] if args.torch else []) + (["--loops-on"] if args.loops else [])

    print("Checking that the frameworks agree ...", flush=True)
    checked = spawn("check", args)
    checks, args.kernels = checked["checks"], checked["kernels"]
    bad = [c for c in checks if not c["ok"]]
    if bad:
        for c in bad:
            print(f"DISAGREE: {c['case']} {c['dtype']}: library vs {c['other']} relative error {c['error']:.2e}")
        return 1
    timings = {}
    for rep in range(args.repeat):
        for worker in ["library"] + (["torch"] if args.torch else []) + (["loops"] if args.loops and rep == 0 else []):
            print(f"Timing {worker} ..." + (f" (round {rep + 1} of {args.repeat})" if args.repeat > 1 else ""),
                  flush=True)
            timings[worker] = best_of(timings.get(worker), spawn(worker, args))
    print_table(args, timings, checks)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "threads": args.threads,
                                               "openblas_kernels": args.kernels,
                                               "timings": timings, "checks": checks}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
