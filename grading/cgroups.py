"""A cgroup per sandboxed run: caps on the CPU, memory and processes of the whole sandbox.

RLIMITs (grading/sandbox.py) hold per process; a student who starts many processes could still
take every core of the grading machine and slow the classmates graded beside them. A cgroup caps
the sandbox as a whole: `cpus` cores (CPU bandwidth), `sandbox_memory_mb` of memory, `nproc`
processes. cgroup v2 (the unified hierarchy) is used where its controllers can be enabled, else
cgroup v1's cpu, memory and pids hierarchies (as on the CI machine). Creating cgroups needs root
(or a delegated subtree); where neither works, `create()` returns None and the sandbox runs with
its RLIMITs only (docs/SECURITY.md says so, and `available()` tells which).
"""
import os
import secrets
import signal
import threading
import time

ROOT = "/sys/fs/cgroup"
PERIOD_US = 100_000
_LOCK = threading.Lock()
_MODE = []  # [None | "v2" | "v1"], decided once


def _writable(path):
    return os.path.isdir(path) and os.access(path, os.W_OK)


def _detect():
    if os.path.exists(os.path.join(ROOT, "cgroup.controllers")) and _writable(ROOT):
        parent = os.path.join(ROOT, "cs231n-grading")
        try:
            os.makedirs(parent, exist_ok=True)
            with open(os.path.join(ROOT, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu +memory +pids")
            with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu +memory +pids")
            return "v2"
        except OSError:
            pass
    if all(_writable(os.path.join(ROOT, c)) for c in ("cpu", "memory", "pids")):
        return "v1"
    return None


def available():
    """'v2', 'v1' or None (no cgroup can be made here)."""
    with _LOCK:
        if not _MODE:
            _MODE.append(_detect())
        return _MODE[0]


class Group:
    """One run's cgroup(s). wrap(argv) puts the command into them before it starts."""

    def __init__(self, mode, limits):
        self.mode, self.name = mode, f"run-{os.getpid()}-{secrets.token_hex(6)}"
        self.dirs = []
        cpus = getattr(limits, "cpus", 1.0)
        mem = getattr(limits, "sandbox_memory_mb", 2048) << 20
        nproc = getattr(limits, "nproc", 64) + 8  # the worker's own processes
        if mode == "v2":
            d = os.path.join(ROOT, "cs231n-grading", self.name)
            os.mkdir(d)
            self.dirs = [d]
            self._write(d, "cpu.max", f"{int(cpus * PERIOD_US)} {PERIOD_US}")
            self._write(d, "memory.max", str(mem))
            self._write(d, "memory.swap.max", "0", optional=True)
            self._write(d, "pids.max", str(nproc))
        else:
            for ctl in ("cpu", "memory", "pids"):
                d = os.path.join(ROOT, ctl, "cs231n-grading", self.name)
                os.makedirs(d)
                self.dirs.append(d)
            cpu, memory, pids = self.dirs
            acct = os.path.join(ROOT, "cpuacct")  # CPU accounting, where it is its own hierarchy
            if _writable(acct) and not os.path.samefile(acct, os.path.join(ROOT, "cpu")):
                d = os.path.join(acct, "cs231n-grading", self.name)
                try:
                    os.makedirs(d)
                    self.dirs.append(d)
                except OSError:
                    pass
            self._write(cpu, "cpu.cfs_period_us", str(PERIOD_US))
            self._write(cpu, "cpu.cfs_quota_us", str(int(cpus * PERIOD_US)))
            self._write(memory, "memory.limit_in_bytes", str(mem))
            self._write(memory, "memory.memsw.limit_in_bytes", str(mem), optional=True)
            self._write(pids, "pids.max", str(nproc))

    @staticmethod
    def _write(d, name, value, optional=False):
        try:
            with open(os.path.join(d, name), "w") as f:
                f.write(value)
        except OSError:
            if not optional:
                raise

    def wrap(self, argv):
        """argv, started inside this cgroup: a shell moves itself in, then execs the command."""
        moves = " && ".join(f"echo $$ > '{d}/cgroup.procs'" for d in self.dirs)
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "sh"] + list(argv)

    def cpu_seconds(self):
        """CPU time used by everything in the group so far, or None where it is not accounted."""
        for d in self.dirs:
            try:
                if self.mode == "v2":
                    with open(os.path.join(d, "cpu.stat")) as f:
                        for line in f:
                            if line.startswith("usage_usec"):
                                return int(line.split()[1]) / 1e6
                elif os.path.exists(os.path.join(d, "cpuacct.usage")):
                    with open(os.path.join(d, "cpuacct.usage")) as f:
                        return int(f.read()) / 1e9
            except (OSError, ValueError):
                pass
        return None

    def procs(self):
        out = set()
        for d in self.dirs:
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    out |= {int(x) for x in f.read().split()}
            except OSError:
                pass
        return out

    def remove(self):
        """Kill whatever is left in the group, then delete it."""
        for _ in range(50):
            left = self.procs()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)
        for d in self.dirs:
            for _ in range(20):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def create(limits):
    """A Group for one run, or None where cgroups cannot be made (RLIMITs still apply)."""
    mode = available()
    if mode is None:
        return None
    try:
        return Group(mode, limits)
    except OSError:
        return None
