"""Runs INSIDE the grading sandbox (see grading/sandbox.py): executes one student notebook.

Self-contained on purpose: it imports nothing from `grading` (the reference solutions and hidden
tests are not in the sandbox) and it is trusted by nobody. Everything it writes is treated by the
trusted side (grading/judge.py) as the student's own answer: at worst a student who tampers with
this process forges answers they could have returned anyway.

Job (/job/job.json, written by the trusted side): a list of steps in notebook order,
    {"op": "exec",  "cell": i, "source": "..."}           a student (or visible-check) cell
    {"op": "grade", "cell": i, "calls": [{"fn": name, "inputs": key}, ...]}
The inputs of a graded call are arrays and parameter dicts only; expected outputs never come here.

Two phases, so that no student cell ever runs while the hidden inputs exist in the sandbox:
1. cells: every exec step runs in order; at each grade step a *holder* is forked, a paused copy of
   the state at that point of the notebook. Then the worker sends the boundary record
   {"t": "cells_done"}.
2. graded calls: only after seeing the boundary does the trusted side write the hidden inputs to
   the worker's stdin; the worker unpacks them into a private folder and releases the holders one
   after another, each running its test cell's graded calls. Student code now runs only inside
   graded calls, whose prints are dropped; the trusted side ignores every cell record after the
   first boundary, so nothing the student's code learns of the inputs can reach an output.
Each graded function gets a time limit per call (a graded call's) in the cells after the one that
defines it; a call that runs out of it, or a graded call that runs out of time (named from the
child's stack by faulthandler), makes the function stuck: later calls raise at once and later
graded calls are reported "not run", so one endless loop costs one time limit, not one per cell
and case.
After every cell and every test cell, every process that is not part of the worker is killed (the
sandbox's own PID namespace lists them all in /proc), so nothing a cell starts outlives it.

Fault containment: every run of consecutive exec steps goes to one forked child of the process
holding the state before the run; the child acknowledges each step it finishes and, after the
last, takes over (its parent exits). A child that crashes, exits or times out in step k is
discarded: that step is reported as not finished, and a fresh child of the state before the run
replays the steps before k without reporting them again (each within its own time limit), then
goes on after k. (Were the replay to fail too -- code that behaves differently the second time --
the steps after k go on from the state before the run.) Forking once per run instead of once
per cell saves about 10 ms of fork and copy-on-write work per cell. Graded calls run in
short-lived children (one per test cell, a fresh one after a crash or a time-out), so a segfault,
an os._exit or an endless loop costs that call only.

Results go to the results pipe (fd given in the job) as JSON lines; arrays as base64 .npy bytes
written with allow_pickle=False.
"""
import base64
import faulthandler
import io
import json
import os
import resource
import select
import signal
import sys
import time

JOB = "/job/job.json"
TEXT_CAP = 64 * 1024          # characters of stdout/stderr kept per cell
DISPLAY_CAP = 8               # rich outputs kept per cell
IMAGE_CAP = 2 * 1024 * 1024   # bytes of one PNG


class _Capped(io.TextIOBase):
    """A text stream keeping the first `cap` characters (the rest is counted and dropped)."""

    def __init__(self, cap):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def text(self):
        t = "".join(self.parts)
        if self.dropped:
            t += f"\n[... {self.dropped} more characters of output not kept]\n"
        return t


class _Out:
    fd = None

    @classmethod
    def send(cls, rec):
        data = (json.dumps(rec) + "\n").encode()
        view = memoryview(data)
        while view:
            try:
                n = os.write(cls.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return
            view = view[n:]


_NP = {}  # numpy functions the worker uses, taken before any student code can patch them


def _npy(a):
    buf = io.BytesIO()
    _NP["save"](buf, a, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _load_inputs(key):
    path = os.path.join(_STATE["inputs_dir"], os.path.basename(str(key)))
    with open(os.path.join(path, "spec.json")) as f:
        spec = json.load(f)

    def decode(v):
        if isinstance(v, dict) and "__array__" in v:
            return _NP["load"](os.path.join(path, v["__array__"]), allow_pickle=False)
        if isinstance(v, dict):
            return {k: decode(u) for k, u in v.items()}
        if isinstance(v, list):
            return [decode(u) for u in v]
        return v
    return decode(spec)


# ----------------------------------------------------------------------------- graded calls
RETURNS = {
    "conv_forward_naive": ("out", "cache"), "max_pool_forward_naive": ("out", "cache"),
    "batchnorm_forward": ("out", "cache"), "spatial_batchnorm_forward": ("out", "cache"),
    "conv_backward_naive": ("dx", "dw", "db"), "max_pool_backward_naive": ("dx",),
    "batchnorm_backward": ("dx", "dgamma", "dbeta"),
    "spatial_batchnorm_backward": ("dx", "dgamma", "dbeta"),
}
FORWARD_OF = {"conv_backward_naive": "conv_forward_naive",
              "max_pool_backward_naive": "max_pool_forward_naive",
              "batchnorm_backward": "batchnorm_forward",
              "spatial_batchnorm_backward": "spatial_batchnorm_forward"}


class _Failed(Exception):
    def __init__(self, fn, message, status="error"):
        super().__init__(message)
        self.fn, self.message, self.status = fn, message, status


def _copy(v):
    import numpy as np
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, dict):
        return {k: _copy(u) for k, u in v.items()}
    return v


def _student_line(exc):
    import traceback
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith("<ipython-input") or f.filename.startswith("/tmp/ipykernel")
              or "<cell" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f" (in your code, line {f.lineno}:{code})"


def _call(ns, fname, args):
    import _grading_tripwire as tw
    f = ns.get(fname)
    if not callable(f):
        raise _Failed(fname, f"{fname} is not defined: run (or restore) the cell that defines it")
    tw.calls.clear()
    try:
        result = f(*args)
    except tw.LibraryCallForbidden as exc:
        raise _Failed(fname, str(exc.args[0] if exc.args else exc), "library") from None
    except NotImplementedError:
        raise _Failed(fname, f"{fname} is not implemented yet (it raised NotImplementedError)")
    except MemoryError:
        raise _Failed(fname, f"{fname} ran out of memory (the grading limit is "
                             f"{_JOBINFO.get('memory_mb', '?')} MB)")
    except RecursionError:
        raise _Failed(fname, f"{fname} raised RecursionError: maximum recursion depth exceeded")
    except Exception as exc:  # noqa: BLE001
        msg = str(exc)[:300]
        raise _Failed(fname, f"{fname} raised {type(exc).__name__}: {msg}{_student_line(exc)}")
    except BaseException as exc:  # SystemExit, KeyboardInterrupt ...
        if tw.calls:
            raise _Failed(fname, tw.calls[0], "library") from None
        raise _Failed(fname, f"{fname} raised {type(exc).__name__} (it must return, not exit)")
    if tw.calls:
        raise _Failed(fname, tw.calls[0], "library")
    return result


def _unpack(fname, result):
    names = RETURNS[fname]
    if len(names) == 1:
        if isinstance(result, tuple):
            raise _Failed(fname, f"{fname} must return {names[0]} alone, got a tuple of "
                                 f"{len(result)}")
        return {names[0]: result}
    if not isinstance(result, tuple) or len(result) != len(names):
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise _Failed(fname, f"{fname} must return a tuple ({', '.join(names)}), got {got}")
    return dict(zip(names, result))


def _invoke(ns, name, inp):
    """The student's function(s) on copies of the inputs -> {output name: value}."""
    fwd = FORWARD_OF.get(name, name)
    if "conv_param" in inp:
        args = [inp[k] for k in ("x", "w", "b", "conv_param")]
    elif "pool_param" in inp:
        args = [inp["x"], inp["pool_param"]]
    else:
        args = None
    if args is not None:
        res = _unpack(fwd, _call(ns, fwd, [_copy(a) for a in args]))
        if name == fwd:
            return {"out": res["out"]}
        return _unpack(name, _call(ns, name, [inp["dout"].copy(), res["cache"]]))
    bn_param = _copy(inp["bn_param"])
    res = None
    for x in inp["xs"]:
        res = _unpack(fwd, _call(ns, fwd, [x.copy(), inp["gamma"].copy(), inp["beta"].copy(),
                                           bn_param]))
    if name != fwd:
        return _unpack(name, _call(ns, name, [inp["dout"].copy(), res["cache"]]))
    out = {"out": res["out"]}
    if isinstance(bn_param, dict):
        for key in ("running_mean", "running_var"):
            if key in bn_param:
                out[key] = bn_param[key]
    return out


def _encode_outputs(outputs):
    """Only exact numpy.ndarray of numbers cross the boundary; anything else is described."""
    import numpy as np
    enc = {}
    for key, v in outputs.items():
        if type(v) is not np.ndarray:  # noqa: E721 -- subclasses and look-alikes are refused
            enc[key] = {"type": type(v).__module__ + "." + type(v).__qualname__
                        if type(v).__module__ not in ("builtins",) else type(v).__qualname__}
            continue
        if v.dtype.kind not in "biuf" or v.dtype.hasobject:
            enc[key] = {"type": "numpy.ndarray", "dtype": str(v.dtype)}
            continue
        if v.nbytes > _JOBINFO.get("max_array_bytes", 8 << 20):
            enc[key] = {"type": "numpy.ndarray", "too_big": int(v.nbytes), "shape": list(v.shape)}
            continue
        enc[key] = {"npy": _npy(_NP["contiguous"](v))}
    return enc


def _graded_call(ns, call):
    """One graded call on fresh copies of its inputs -> its result record (never raises)."""
    rec = {"t": "case", "cell": call["cell"], "k": call["k"]}
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _Capped(0)  # a graded call's prints are not shown
    try:
        rec.update(status="ok", outputs=_encode_outputs(
            _invoke(ns, call["fn"], _load_inputs(call["inputs"]))))
    except _Failed as f:
        rec.update(status=f.status, fn=f.fn, message=f.message)
    except BaseException as exc:  # noqa: BLE001
        rec.update(status="error", fn=call["fn"], message=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        sys.stdout, sys.stderr = saved
    return rec


def _graded_calls(ns, calls, ack_fd, dump_fd):
    """In a forked child: the calls one after another, each reported and acknowledged; never returns.

    Each call gets a CPU-time limit of its own on top of what the process has used so far.
    """
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    _GUARD["depth"] = 1  # graded calls have their own time limit (the caller's), no guard's
    _dump_stack_on(dump_fd)
    limit = int(_JOBINFO.get("case_cpu_s", 20))
    for call in calls:
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
            used = int(time.process_time()) + 1
            new = used + limit if hard == resource.RLIM_INFINITY else min(hard, used + limit)
            resource.setrlimit(resource.RLIMIT_CPU, (new, hard))
        except (ValueError, OSError):
            pass
        _Out.send(_graded_call(ns, call))
        os.write(ack_fd, b"A")
    os._exit(0)


# ----------------------------------------------------------------------------- fork helpers
def _wait(pid, ack_fd, timeout, dump_fd=None):
    """Wait for a child: ('ack', None) if it acknowledged a step, ('exit', status) or
    ('timeout', names of the graded functions on its stack when it was stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            stuck = _stack_of(pid, dump_fd)
            _kill_tree(pid)
            return "timeout", stuck
        if ack_fd is not None:
            r, _, _ = select.select([ack_fd], [], [], min(left, 0.05))
            if r:
                data = os.read(ack_fd, 1)
                if data == b"A":
                    return "ack", None
                ack_fd = None  # EOF: the child is gone, collect its status below
        else:
            time.sleep(min(left, 0.005))
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "exit", status


def _kill_tree(pid):
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _dump_stack_on(dump_fd):
    """In a child: dump the Python stack to dump_fd on SIGUSR2 (works inside C loops too)."""
    if dump_fd is None:
        return
    try:
        faulthandler.register(signal.SIGUSR2, file=dump_fd, all_threads=False, chain=False)
    except (ValueError, OSError, RuntimeError):
        pass


def _stack_of(pid, dump_fd):
    """Names of graded functions on a stuck child's stack, innermost first (asked by SIGUSR2)."""
    if dump_fd is None:
        return []
    try:
        os.kill(pid, signal.SIGUSR2)
    except OSError:
        return []
    text, deadline = b"", time.monotonic() + 0.3
    while time.monotonic() < deadline:
        r, _, _ = select.select([dump_fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(dump_fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
            if b"\n\n" in text or text.count(b"\n") > 200:
                break
        elif text:
            break
    names = []
    for line in text.decode(errors="replace").splitlines():  # most recent call first
        name = line.rsplit(" in ", 1)[-1].strip() if " in " in line else ""
        if name in RETURNS and name not in names:
            names.append(name)
    return names


def _describe_status(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = {signal.SIGSEGV: "a segmentation fault (SIGSEGV)", signal.SIGKILL:
                "being killed (SIGKILL: memory or CPU-time limit)", signal.SIGXCPU:
                "exceeding the CPU-time limit (SIGXCPU)", signal.SIGABRT: "an abort (SIGABRT)",
                signal.SIGBUS: "a bus error (SIGBUS)", signal.SIGFPE: "SIGFPE"}.get(sig, f"signal {sig}")
        return f"the process died from {name}"
    return f"the process exited (exit status {os.WEXITSTATUS(status)}) instead of returning"


def _alive(pid):
    """True unless the process is gone or a zombie (dead, waiting for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _sweep(keep):
    """Kill every process of this sandbox except `keep` (the worker's own): what a cell started
    (background processes, new sessions, daemons) does not outlive it. /proc shows exactly the
    sandbox's PID namespace. Waits (briefly) until they are dead."""
    keep = set(keep) | {1, os.getpid(), _STATE.get("coordinator")} | set(_STATE["holders"])
    for _ in range(100):
        try:
            names = os.listdir("/proc")
        except OSError:
            return
        left = [int(n) for n in names if n.isdigit() and int(n) not in keep and _alive(int(n))]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_any()
        time.sleep(0.005)


def _reap_any():
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:
            return


# ----------------------------------------------------------------------------- cells
def _make_shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Shell(InteractiveShell):
        last_error = None

        def _showtraceback(self, etype, evalue, stb):
            self.last_error = (getattr(etype, "__name__", str(etype)), str(evalue), stb)

        def showtraceback(self, *a, **k):
            try:
                super().showtraceback(*a, **k)
            except Exception:  # noqa: BLE001
                etype, value, _ = sys.exc_info()
                self.last_error = (getattr(etype, "__name__", "Error"), str(value), [])

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"
    cfg.InteractiveShell.xmode = "Plain"
    return Shell.instance(config=cfg)


def _run_cell(shell, step, report=True):
    from IPython.utils.capture import capture_output
    out, err = _Capped(TEXT_CAP), _Capped(TEXT_CAP)
    shell.last_error = None
    with capture_output(stdout=False, stderr=False, display=True) as cap:
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            shell.run_cell(step["source"], store_history=True)
        finally:
            sys.stdout, sys.stderr = old
    outputs = []
    if out.text():
        outputs.append({"output_type": "stream", "name": "stdout", "text": out.text()})
    if err.text():
        outputs.append({"output_type": "stream", "name": "stderr", "text": err.text()})
    for rich in cap.outputs[:DISPLAY_CAP]:
        data = {}
        if isinstance(rich.data.get("image/png"), str) and len(rich.data["image/png"]) < IMAGE_CAP:
            data["image/png"] = rich.data["image/png"]
        if isinstance(rich.data.get("text/plain"), str):
            data["text/plain"] = rich.data["text/plain"][:TEXT_CAP]
        if data:
            outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
    if shell.last_error:
        ename, evalue, stb = shell.last_error
        outputs.append({"output_type": "error", "ename": ename, "evalue": evalue[:2000],
                        "traceback": [str(s)[:4000] for s in stb[-20:]]})
    if report:
        _Out.send({"t": "cell", "cell": step["cell"], "status": "error" if shell.last_error else "ok",
                   "outputs": outputs, "count": step.get("count")})


_GUARD = {"depth": 0}


class _GuardTimeout(TimeoutError):
    pass


def _guard(shell):
    """Each graded function the student defined gets a time limit per call in the cells after
    the one defining it (one graded call's limit: a correct function takes milliseconds on the
    notebook's small checks, so a slow cell of many quick calls is never stopped by it). A call
    that runs out of it, or a graded call that ran out of time, makes the function *stuck*: it is
    not run again (calling it raises at once, its graded calls are reported "not run")."""
    for name in RETURNS:
        f = shell.user_ns.get(name)
        if callable(f) and not getattr(f, "_grading_guard", False):
            shell.user_ns[name] = _guarded(name, f)


def _guarded(name, f):
    import functools
    limit = float(_JOBINFO.get("case_timeout_s", 20))

    def stuck_error():
        return TimeoutError(f"{name} ran longer than the time limit earlier in this notebook "
                            f"(an endless loop?), so it is not run again")

    @functools.wraps(f)
    def guarded(*args, **kwargs):
        if name in _STATE["stuck"]:
            raise stuck_error()
        if _GUARD["depth"]:
            return f(*args, **kwargs)

        def alarm(signum, frame):
            raise _GuardTimeout()
        old = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        _GUARD["depth"] += 1
        try:
            return f(*args, **kwargs)
        except _GuardTimeout:
            _STATE["stuck"].append(name)
            raise stuck_error() from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            _GUARD["depth"] -= 1
    guarded._grading_guard = True
    return guarded


def _exec_steps(shell, steps):
    """Run consecutive exec steps in one child that takes over after them (see module docstring).

    After each step the child acknowledges ("A") and waits for the parent's "C": in between, the
    parent kills whatever the step left running (_sweep), so nothing a cell starts outlives it and
    nothing the next cell starts is touched.
    """
    replay = []  # steps whose state was lost with a crashed child: run again, silently
    timeout = _JOBINFO.get("cell_timeout_s", 60)
    while steps or replay:
        r, w = os.pipe()      # child -> parent: one "A" per step done
        cr, cw = os.pipe()    # parent -> child: "C", go on with the next step
        dr, dw = os.pipe()    # child -> parent: its stack, when asked (a step ran out of time)
        pid = _fork()
        if pid is None:  # no process left: run them here, without a way back
            for fd in (r, w, cr, cw, dr, dw):
                os.close(fd)
            for step in replay:
                _run_cell(shell, step, report=False)
            _guard(shell)
            for step in steps:
                _run_cell(shell, step)
            return
        if pid == 0:  # the child: run the steps, acknowledging each, then carry on as the worker
            for fd in (r, cw, dr):
                os.close(fd)
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            _dump_stack_on(dw)
            for step in replay:
                _run_cell(shell, step, report=False)
                os.write(w, b"A")
            _guard(shell)
            for step in steps:
                _run_cell(shell, step)
                _guard(shell)
                os.write(w, b"A")
                try:
                    os.read(cr, 1)  # the parent has swept up after this step
                except OSError:
                    pass
            for fd in (w, cr):
                os.close(fd)
            try:
                faulthandler.unregister(signal.SIGUSR2)
            except (ValueError, RuntimeError):
                pass
            os.close(dw)
            return
        for fd in (w, cr, dw):
            os.close(fd)
        replayed = True
        for _ in replay:
            how, _ = _wait(pid, r, timeout)
            if how != "ack":
                replayed = False
                break
        if not replayed:  # the replay failed: go on from the state before the run
            for fd in (r, cw, dr):
                os.close(fd)
            _reap(pid)
            replay = []
            continue
        for k, step in enumerate(steps):
            how, detail = _wait(pid, r, timeout, dr)
            if how == "ack":
                _sweep({pid})
                try:
                    os.write(cw, b"C")
                except OSError:
                    pass
                continue
            if how == "timeout":
                named = f" (in {detail[0]})" if detail else ""
                why = f"it ran longer than the time limit of {timeout:g} s{named}"
            else:
                why = _describe_status(detail)
            _Out.send({"t": "cell", "cell": step["cell"], "status": "crashed",
                       "outputs": [{"output_type": "error", "ename": "CellCrashed",
                                    "evalue": f"this cell did not finish: {why}; grading went "
                                              f"on from the state before it",
                                    "traceback": []}]})
            for fd in (r, cw, dr):
                os.close(fd)
            _reap(pid)
            _sweep(set())
            replay, steps = replay + steps[:k], steps[k + 1:]
            break
        else:
            for fd in (r, cw, dr):
                os.close(fd)
            os._exit(0)  # the child holds the new state and goes on; this one is done


# ----------------------------------------------------------------------------- graded calls
def _hold(shell, step):
    """Fork a holder: a paused copy of the state at this test cell, which runs the cell's graded
    calls once released (after every cell has run and the inputs have arrived)."""
    go_r, go_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = _fork()
    if pid is None:
        for fd in (go_r, go_w, rep_r, rep_w):
            os.close(fd)
        _STATE["unheld"].append(step)  # no process left: graded from the final state instead
        return
    if pid == 0:
        os.close(go_w)
        os.close(rep_r)
        for other in _STATE["holder_fds"].values():  # keep no other holder's pipes open
            for fd in other:
                try:
                    os.close(fd)
                except OSError:
                    pass
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        msg = b""
        while not msg.endswith(b"\n"):
            try:
                chunk = os.read(go_r, 1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                os._exit(0)  # never released
            msg += chunk
        go = json.loads(msg)
        _STATE.update(inputs_dir=go["inputs_dir"], stuck=list(go["stuck"]))
        _grade_step(shell, step)
        os.write(rep_w, (json.dumps({"stuck": _STATE["stuck"]}) + "\n").encode())
        os._exit(0)
    os.close(go_r)
    os.close(rep_w)
    _STATE["holders"].append(pid)
    _STATE["holder_fds"][pid] = (go_w, rep_r)
    _STATE["held"].append((pid, step))


def _release_holders(shell):
    """Phase 2: each holder in notebook order runs its test cell's graded calls."""
    for pid, step in _STATE["held"]:
        go_w, rep_r = _STATE["holder_fds"].pop(pid)
        msg = json.dumps({"inputs_dir": _STATE["inputs_dir"], "stuck": _STATE["stuck"]}) + "\n"
        try:
            os.write(go_w, msg.encode())
        except OSError:
            pass
        os.close(go_w)
        n = len(step["calls"])
        limit = n * (_JOBINFO.get("case_timeout_s", 30) + 2) + 10
        deadline, reply = time.monotonic() + limit, b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([rep_r], [], [], 0.2)
            if r:
                chunk = os.read(rep_r, 1 << 16)
                if not chunk:
                    break
                reply += chunk
                if reply.endswith(b"\n"):
                    break
        os.close(rep_r)
        try:
            stuck = json.loads(reply)["stuck"]
            _STATE["stuck"].extend(str(x) for x in stuck if x in RETURNS
                                   and x not in _STATE["stuck"])
        except (ValueError, KeyError, TypeError):
            pass
        _kill_tree(pid)
        _STATE["holders"].remove(pid)
        _sweep(set())
    for step in _STATE["unheld"]:
        _grade_step(shell, step)


def _grade_step(shell, step):
    """The graded calls of a test cell, in forked children of the held state.

    One child runs the calls in order, acknowledging each; a call that crashes the child or runs
    out of time costs that call alone: a fresh child takes the calls after it. A function that ran
    out of time (here or in an earlier cell or test cell) is not run again.
    """
    calls = [dict(call, cell=step["cell"], k=k) for k, call in enumerate(step["calls"])]

    def is_stuck(call):
        fn = call["fn"]
        return fn in _STATE["stuck"] or FORWARD_OF.get(fn) in _STATE["stuck"]

    def not_run(call):
        who = call["fn"] if call["fn"] in _STATE["stuck"] else FORWARD_OF.get(call["fn"])
        _Out.send({"t": "case", "cell": step["cell"], "k": call["k"], "status": "timeout",
                   "fn": call["fn"], "message": f"not run: {who} ran out of time earlier"})

    k = 0
    while k < len(calls):
        rest = calls[k:]
        skip = {c["k"] for c in rest if is_stuck(c)}
        r, w = os.pipe()
        dr, dw = os.pipe()
        pid = _fork()
        if pid is None:  # no process left (the student's own forks took them): run them here
            for fd in (r, w, dr, dw):
                os.close(fd)
            for call in rest:
                if call["k"] in skip:
                    not_run(call)
                else:
                    _Out.send(_graded_call(shell.user_ns, call))
            return
        if pid == 0:
            os.close(r)
            os.close(dr)
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            _graded_calls(shell.user_ns, [c for c in rest if c["k"] not in skip], w, dw)
        os.close(w)
        os.close(dw)
        for call in rest:  # one acknowledgement per call run, each within one call's time limit
            k = call["k"] + 1
            if call["k"] in skip:
                not_run(call)
                continue
            how, detail = _wait(pid, r, _JOBINFO.get("case_timeout_s", 30), dr)
            if how == "ack":
                continue
            if how == "timeout":
                names = [n for n in detail if n in (call["fn"], FORWARD_OF.get(call["fn"]))]
                for n in names or [call["fn"]]:
                    if n not in _STATE["stuck"]:
                        _STATE["stuck"].append(n)
                _Out.send({"t": "case", "cell": step["cell"], "k": call["k"], "status": "timeout",
                           "fn": call["fn"]})
            else:
                _Out.send({"t": "case", "cell": step["cell"], "k": call["k"], "status": "crashed",
                           "fn": call["fn"], "message": _describe_status(detail)})
            break
        os.close(r)
        os.close(dr)
        _reap(pid)


def _reap(pid):
    """Collect a child that is about to exit: wait for it (a pidfd, no polling) up to 1 s, then
    kill it."""
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        fd = None
    for _ in range(1 if fd is not None else 200):
        if fd is not None:
            select.select([fd], [], [], 1.0)
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            break
        if fd is None:
            time.sleep(0.005)
    if fd is not None:
        os.close(fd)
    if done:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _fork():
    """os.fork(), retried briefly; None when no process can be made."""
    for delay in (0.01, 0.05, 0.2, 0.5):
        try:
            return os.fork()
        except OSError:
            time.sleep(delay)
    return None


# ----------------------------------------------------------------------------- the inputs
def _read_header(missing):
    """The next JSON line from the private stdin (kept in its buffer: what follows stays there)."""
    fd, buf = _STATE["stdin"], _STATE["stdin_buf"]
    while b"\n" not in buf:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise EOFError(missing)
        buf.extend(chunk)
    nl = buf.index(b"\n")
    header = json.loads(bytes(buf[:nl]))
    del buf[:nl + 1]
    return header


def _receive_inputs():
    """Read the hidden inputs from the private copy of stdin (sent by the trusted side only after
    the boundary record) and unpack them into a fresh private folder.

    Stream: one JSON header line {"files": [[relative path, size], ...]}, then the files' bytes.
    """
    fd = _STATE["stdin"]
    buf = _STATE["stdin_buf"]

    def read_exact(n):
        while len(buf) < n:
            try:
                chunk = os.read(fd, max(1 << 16, n - len(buf)))
            except InterruptedError:
                continue
            if not chunk:
                raise EOFError("the inputs ended early")
            buf.extend(chunk)
        out = bytes(buf[:n])
        del buf[:n]
        return out

    header = _read_header("no inputs arrived")
    import tempfile
    root = tempfile.mkdtemp(prefix=".graded-inputs-", dir="/tmp")
    for rel, size in header["files"]:
        rel = os.path.normpath(str(rel))
        if rel.startswith(("/", "..")):
            raise ValueError(f"bad input path {rel!r}")
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(read_exact(int(size)))
    return root


_JOBINFO = {}
_STATE = {"stuck": [], "holders": [], "holder_fds": {}, "held": [], "unheld": [],
          "inputs_dir": None, "coordinator": None, "stdin": None, "stdin_buf": bytearray()}


def main():
    with open(JOB) as f:
        job = json.load(f)
    _JOBINFO.update(job.get("limits", {}))
    # fd 1 is the results pipe and fd 0 brings the inputs later: keep both private, point fds
    # 0, 1 and 2 at /dev/null
    _Out.fd = os.dup(1)
    _STATE["stdin"] = os.dup(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _install_seccomp(_libc())  # no keyrings, no user namespaces (see _install_seccomp)
    for src in job.get("copy", []):  # the student's own files, into the working directory
        dst = os.path.join(os.getcwd(), os.path.relpath(src, "/job/submission"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            with open(src, "rb") as a, open(dst, "wb") as b:
                b.write(a.read())
        except OSError:
            pass
    _run_job(job, _prepare())


def _prepare():
    """What every job starts from: NumPy, the tripwire and an IPython shell (in a warm sandbox,
    once per zygote; see zygote())."""
    import numpy  # before forking, so children share it
    _NP.update(save=numpy.save, load=numpy.load, contiguous=numpy.ascontiguousarray)
    import _grading_tripwire  # noqa: F401
    shell = _make_shell()
    import gc
    gc.freeze()  # what every job starts from is never collected in its forks: fewer pages copied
    return shell


def _run_job(job, shell):
    # The coordinator (this process) stays alive only to keep the sandbox up; the chain of
    # workers does the steps. It leaves when a worker reports done (or all workers are gone).
    done_r, done_w = os.pipe()
    _STATE["coordinator"] = os.getpid()
    pid = os.fork()
    if pid:
        os.close(done_w)
        while True:  # only "D" (or every writer gone) ends the run
            try:
                data = os.read(done_r, 1)
            except InterruptedError:
                continue
            if data in (b"D", b""):
                break
        _Out.send({"t": "end", "clean": data == b"D"})
        os._exit(0)
    os.close(done_r)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    steps, i = job["steps"], 0
    while i < len(steps):
        if steps[i]["op"] == "exec":  # a run of exec steps goes to one child
            j = i
            while j < len(steps) and steps[j]["op"] == "exec":
                j += 1
            _exec_steps(shell, steps[i:j])
            i = j
        else:
            if steps[i]["op"] == "grade":
                _hold(shell, steps[i])
            i += 1
    _Out.send({"t": "cells_done"})
    if _STATE["held"] or _STATE["unheld"]:
        try:
            _STATE["inputs_dir"] = _receive_inputs()
        except (OSError, ValueError, EOFError) as exc:
            _Out.send({"t": "fatal", "error": f"the graded inputs could not be read: {exc}"})
        else:
            _release_holders(shell)
    _Out.send({"t": "done"})
    os.write(done_w, b"D")
    os._exit(0)


# ----------------------------------------------------------------------------- warm sandboxes
# A zygote is this worker started once per warm sandbox (grading/sandbox.py, Zygote): it imports
# NumPy and IPython and builds the shell once, then serves jobs one at a time. It never reads a
# job: for each one it receives two pipe ends over its control socket and forks a child that
# takes a fresh mount, IPC, PID and network namespace (no interface up), mounts its own empty
# /tmp, /home/student, /dev/shm and /proc, drops every capability, installs the seccomp filter
# (no keyrings, no user namespaces), sets the rlimits, and only then reads the job from its pipe
# and runs it like a cold worker. When the child's PID namespace ends, every process of the job
# ends with it, and its files with its tmpfs mounts, its sockets with its network namespace.
# The zygote keeps the two capabilities that needs (CAP_SYS_ADMIN, CAP_SETPCAP, inside its own
# user namespace only), runs no student code, is not dumpable, and is invisible to the jobs
# (they have their own PID namespace).
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
CLONE_NEWNET = 0x40000000
JOB_NAMESPACES = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 0x4000, 1 << 18
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 4, 24, 38, 47
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SETUP_FAILED = 71  # exit code of a job whose namespaces, mounts or privileges could not be set


def _libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


def _ok(rc, what):
    if rc != 0:
        import ctypes
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _fresh_mounts(libc, tmpfs_bytes):
    """In the job's own mount namespace: its own /proc (its PID namespace only; /proc/sys
    read-only) and empty, size-limited /tmp, /home/student and /dev/shm."""
    _ok(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _ok(libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")
    for sub in (b"/proc/sys", b"/proc/sysrq-trigger"):
        if os.path.exists(sub):
            _ok(libc.mount(sub, sub, None, MS_BIND | MS_REC, None), f"bind {sub!r}")
            _ok(libc.mount(None, sub, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags, None),
                f"read-only {sub!r}")
    fresh = ((b"/tmp", "1777"), (b"/home/student", "0700"), (b"/dev/shm", "1777"))
    # what the sandbox binds below these (the Python environment, when it lives under /tmp)
    # must stay: held by descriptor, bound again on top of the fresh tmpfs, read-only as it was
    below = [(point, opts, os.open(point, os.O_PATH | os.O_CLOEXEC))
             for point, opts in _mounts_below([p.decode() for p, _ in fresh])]
    for path, mode in fresh:
        if os.path.isdir(path):
            opts = f"size={int(tmpfs_bytes)},mode={mode}".encode()
            _ok(libc.mount(b"tmpfs", path, b"tmpfs", MS_NOSUID | MS_NODEV, opts),
                f"tmpfs {path!r}")
    for point, opts, fd in below:
        os.makedirs(point, mode=0o755, exist_ok=True)
        _ok(libc.mount(f"/proc/self/fd/{fd}".encode(), point.encode(), None, MS_BIND | MS_REC,
                       None), f"bind {point!r}")
        keep = MS_BIND | MS_REMOUNT | sum(flag for name, flag in (
            ("ro", MS_RDONLY), ("nosuid", MS_NOSUID), ("nodev", MS_NODEV),
            ("noexec", MS_NOEXEC)) if name in opts)
        _ok(libc.mount(None, point.encode(), None, keep, None), f"remount {point!r}")
        os.close(fd)
    os.chdir("/home/student")


def _mounts_below(tops):
    """[(mount point, its options)] of the outermost mounts strictly below one of `tops`, from
    /proc/self/mountinfo (each with its own mounts below it, bound again recursively)."""
    import re
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if any(point.startswith(top + "/") for top in tops):
                found.append((point, fields[5].split(",")))
    found.sort(key=lambda m: m[0].count("/"))
    outer = []
    for point, opts in found:
        if not any(point == o or point.startswith(o + "/") for o, _ in outer):
            outer.append((point, opts))
    return outer


def _drop_privileges(libc):
    """No capability left in any set (bounding, ambient, effective, permitted, inheritable),
    no_new_privs on; checked from /proc/self/status."""
    import ctypes
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    _ok(libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    _ok(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _install_seccomp(libc)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Seccomp:") and line.split()[1] != "2":
                raise OSError("the seccomp filter is not in place")
            if line.startswith(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")) and \
                    int(line.split()[1], 16):
                raise OSError(f"a capability is left: {line.strip()}")
            if line.startswith("NoNewPrivs") and line.split()[1] != "1":
                raise OSError("no_new_privs is not set")


# A seccomp filter, installed before any student code, cold or warm:
# - the kernel's keyrings are not namespaced by a job's namespaces: the user keyrings belong to
#   the uid of the zygote's user namespace, shared by its jobs, and the session keyring is
#   inherited from the grading service, whatever the uid. add_key, request_key and keyctl fail
#   with EPERM;
# - no user namespace of the job's own (unshare or clone with CLONE_NEWUSER: EPERM; clone3,
#   whose flags a filter cannot read: ENOSYS, and the C library falls back to clone): root of one
#   could not take the job's mounts off (they come locked), but it reaches kernel code (mounting
#   file systems, netfilter) that most local privilege escalations of recent years go through.
_SYSCALLS = {  # AUDIT_ARCH; add_key, request_key, keyctl; unshare, clone; clone3
    "x86_64": (0xC000003E, (248, 249, 250), (272, 56), 435),
    "aarch64": (0xC00000B7, (217, 218, 219), (97, 220), 435)}
CLONE_NEWUSER = 0x10000000


def _install_seccomp(libc):
    """The filter above; a system call of another architecture (32-bit: other numbers) kills the
    process, x32 ones fail."""
    import ctypes
    import errno
    import struct
    arch, keyrings, (unshare, clone), clone3 = _SYSCALLS.get(os.uname().machine, (None,) * 4)
    if arch is None:
        raise OSError(f"no seccomp filter for {os.uname().machine}")
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|...|K
    allow, deny, nosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    prog = [(load, 4), (jeq, arch, 1, 0), (ret, 0x80000000),    # seccomp_data.arch, else kill
            (load, 0), (jge, 0x40000000, "deny", 0)]             # .nr; x32
    prog += [(jeq, nr, "deny", 0) for nr in keyrings]
    prog += [(jeq, clone3, "nosys", 0), (jeq, unshare, "flags", 0), (jeq, clone, "flags", 0),
             (ret, allow), "flags", (load, 16), (jset, CLONE_NEWUSER, "deny", 0), (ret, allow),
             "deny", (ret, deny), "nosys", (ret, nosys)]        # .args[0], low half: the flags
    code, labels = [i for i in prog if not isinstance(i, str)], {}
    for i in prog:
        if isinstance(i, str):
            labels[i] = sum(1 for j in prog[:prog.index(i)] if not isinstance(j, str))
    out = []
    for at, (op, k, *jumps) in enumerate(code):
        jt, jf = [labels[j] - at - 1 if isinstance(j, str) else j for j in jumps or (0, 0)]
        out.append(struct.pack("HBBI", op, jt, jf, k))
    buf = ctypes.create_string_buffer(b"".join(out))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    _ok(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
                   ctypes.byref(Prog(len(out), ctypes.addressof(buf))), 0, 0), "seccomp")


def _set_limits(spec):
    for name, value in spec.get("rlimits", {}).items():
        res = getattr(resource, "RLIMIT_" + name)
        resource.setrlimit(res, (int(value), int(value)))


def _job_child(spec, in_fd, out_fd, shell, libc):
    """The zygote's child for one job (never returns)."""
    _ok(libc.unshare(JOB_NAMESPACES), "unshare")
    pid = os.fork()  # pid 1 of the job's PID namespace
    if pid:
        os.close(in_fd)
        os.close(out_fd)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    try:
        _fresh_mounts(libc, spec["tmpfs_bytes"])
        _drop_privileges(libc)
        # the init stays not dumpable (as the zygote): the job cannot trace it, take its file
        # descriptors (the zygote's stderr) or make it exit with SETUP_FAILED
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        _set_limits(spec)
    except Exception as exc:  # noqa: BLE001 -- reported, and nothing of the job ran
        _Out.fd = out_fd
        _Out.send({"t": "fatal", "error": f"the warm sandbox could not set up a job: {exc}"})
        os._exit(SETUP_FAILED)
    worker = os.fork()
    if worker:  # init of the job's namespace: reap every orphan until the worker is done
        os.close(in_fd)
        os.close(out_fd)
        while True:
            try:
                done, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                os._exit(0)
            except InterruptedError:
                continue
            if done == worker:
                os._exit(0)  # the namespace, and whatever is left in it, ends here
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # the worker's own /proc files are its own
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _Out.fd, _STATE["stdin"] = out_fd, in_fd
    try:
        job = _receive_job()
    except (OSError, ValueError, EOFError) as exc:
        _Out.send({"t": "fatal", "error": f"the job could not be read: {exc}"})
        os._exit(1)
    _JOBINFO.update(job.get("limits", {}))
    import numpy
    numpy.random.seed()  # fresh entropy, as a cold worker would have
    _run_job(job, shell)


def _receive_job():
    """The job frame: one JSON header line {"job": {...}, "files": [[path, size], ...]}, then the
    student's files' bytes, written into the (fresh) working directory."""
    fd, buf = _STATE["stdin"], _STATE["stdin_buf"]
    header = _read_header("no job arrived")
    home = os.getcwd()
    for rel, size in header["files"]:
        rel = os.path.normpath(str(rel))
        if rel.startswith(("/", "..")) or rel == ".":
            raise ValueError(f"bad file path {rel!r}")
        while len(buf) < int(size):
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("the job's files ended early")
            buf.extend(chunk)
        path = os.path.join(home, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(bytes(buf[:int(size)]))
        del buf[:int(size)]
    return header["job"]


def _self_test(libc, tmpfs_bytes, paths=()):
    """Set up one empty job (namespaces, mounts, no capabilities) before saying ready: a kernel
    that cannot do it makes the zygote refuse, never run a job with less isolation. A job must
    also still see every folder of the zygote's import path (else every import would fail and
    every notebook score zero): if not, the zygote refuses and grading runs cold."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            _ok(libc.unshare(JOB_NAMESPACES), "unshare")
            inner = os.fork()
            if inner == 0:
                try:
                    _fresh_mounts(libc, tmpfs_bytes)
                    _drop_privileges(libc)
                    lost = [p for p in paths if not os.path.isdir(p)]
                    os.write(w, f"a job would not see {lost}".encode()[:500] if lost else b"ok")
                except Exception as exc:  # noqa: BLE001
                    os.write(w, str(exc).encode()[:500])
                os._exit(0)
            os.waitpid(inner, 0)
        except Exception as exc:  # noqa: BLE001
            os.write(w, str(exc).encode()[:500])
        os._exit(0)
    os.close(w)
    said = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        said += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return said.decode(errors="replace")


def zygote(ctl_fd):
    import socket
    libc = _libc()
    ctl = socket.socket(fileno=ctl_fd)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    first = json.loads(ctl.recv(4096) or b"{}")
    said = _self_test(libc, first.get("tmpfs_bytes", 1 << 20),
                      [p for p in sys.path if p and os.path.isdir(p)])
    if said != "ok":
        ctl.send(json.dumps({"t": "unsupported", "why": said}).encode())
        os._exit(0)
    shell = _prepare()
    for name in first.get("preload", []):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 -- a job imports it itself then
            pass
    # IPython initialises much on its first cell and its first traceback (about 11 ms, and the
    # traceback formatter's imports): done once here, silently, so that the execution count, the
    # namespace and the last error every job starts from are those of a fresh shell
    for warm_up in ("pass", "1 / 0"):
        shell.run_cell(warm_up, store_history=False, silent=True)
    shell.last_error = None
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        sys.__dict__.pop(name, None)
    import gc
    gc.freeze()
    ctl.send(b'{"t": "ready"}')
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 4096, 2)
        except (OSError, ValueError):
            os._exit(0)
        if not msg or len(fds) != 2:
            os._exit(0)
        spec = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            try:
                ctl.close()
                _job_child(spec, fds[0], fds[1], shell, libc)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        ctl.send(json.dumps({"t": "done", "status": status}).encode())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
    try:
        main()
    except BaseException:  # noqa: BLE001 -- report why the worker itself failed
        import traceback
        if _Out.fd is not None:
            _Out.send({"t": "fatal", "error": traceback.format_exc()[-3000:]})
        raise
