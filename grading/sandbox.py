"""The grading sandbox: bubblewrap + prlimit + setpriv around grading/sandbox_worker.py.

What a sandboxed run gets (`command()` builds it):

- new network, PID, IPC and UTS namespaces (no network at all, only its own processes);
- a root file system holding only: /usr (and /lib, /bin via merged-/usr), /etc, a fresh /dev,
  /proc and /tmp, the Python environment (the venv and the interpreter it links to, read-only,
  bound at their own paths), a sanitised copy of the course library without its layer
  implementations (/opt/grading-lib), the job (/job, read-only: the worker, the student's files,
  the inputs of the graded calls) and a writable, size-limited tmpfs home /home/student. The
  course directory (solutions/, grading/, the gradebook, other students' files) is simply not
  there; neither is the rest of the home directory the interpreter lives under;
- as root (CI, a grading server): a fresh unprivileged uid for every run (setpriv: no
  capabilities, empty bounding set, no_new_privs), so runs cannot signal or ptrace each other and
  RLIMIT_NPROC counts only that run's processes; without root: bubblewrap's user namespace
  (--unshare-user, uid 65534 inside, all capabilities dropped);
- rlimits (prlimit): address space, CPU time, processes, file size, open files, no core dumps;
  wall time and the size of what comes back are enforced here, outside.

Why bind the interpreter rather than switch uid on the host: the venv's python links into
/root/.pyenv, and /root is 0700, so an unprivileged uid cannot execute it there (setpriv on the
host fails). Inside the sandbox /root is a fresh 0755 tmpfs holding only the interpreter's own
directory, read-only; nothing else of root's home is visible.
"""
import errno
import os
import platform
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from . import cgroups

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "sandbox_worker.py")
TRIPWIRE = os.path.join(HERE, "sandbox_tripwire.py")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up here; grading must not go on without it."""


@dataclass
class Limits:
    wall_s: float = 300.0        # the whole notebook, outside the sandbox
    cpu_s: int = 300             # RLIMIT_CPU of every process in the sandbox
    cell_timeout_s: float = 60.0  # one student cell
    case_timeout_s: float = 20.0  # one graded call
    case_cpu_s: int = 15
    memory_mb: int = 1024        # RLIMIT_AS per process
    nproc: int = 64              # processes and threads of the run's uid
    fsize_mb: int = 16           # largest file a run may write
    nofile: int = 256
    tmpfs_mb: int = 64           # /home/student and /tmp
    result_mb: int = 48          # what the run may send back
    max_array_mb: int = 8        # largest single array it may return
    cpus: float = 1.0            # CPU bandwidth of the whole sandbox (cgroup), in cores
    sandbox_memory_mb: int = 2048  # memory of the whole sandbox (cgroup)
    warm: bool = True            # run jobs in warm sandboxes (Zygote) where the kernel allows

    def for_job(self):
        return {"cell_timeout_s": self.cell_timeout_s, "case_timeout_s": self.case_timeout_s,
                "case_cpu_s": self.case_cpu_s, "memory_mb": self.memory_mb,

                "max_array_bytes": self.max_array_mb << 20}


# ----------------------------------------------------------------------------- the environment
_LIB_LOCK = threading.Lock()
_LIB_DIR = None


def library_dir():
    """A sanitised copy of cs231n_lib (allowed modules only) plus the tripwire, built once."""
    global _LIB_DIR
    with _LIB_LOCK:
        if _LIB_DIR and os.path.isdir(_LIB_DIR):
            return _LIB_DIR
        import importlib.util
        d = tempfile.mkdtemp(prefix="grading-lib-")
        os.chmod(d, 0o755)
        shutil.copy(TRIPWIRE, os.path.join(d, "_grading_tripwire.py"))
        spec = importlib.util.find_spec("cs231n_lib")
        if spec is not None and spec.submodule_search_locations:
            src = list(spec.submodule_search_locations)[0]
            dst = os.path.join(d, "cs231n_lib")
            os.makedirs(dst)
            sys.path.insert(0, d)
            try:
                allowed = _allowed_library_modules()
            finally:
                sys.path.remove(d)
            for name in sorted(os.listdir(src)):
                stem, ext = os.path.splitext(name)
                if ext == ".py" and (stem == "__init__" or stem in allowed):
                    shutil.copy(os.path.join(src, name), os.path.join(dst, name))
        for root, dirs, files in os.walk(d):
            for x in dirs:
                os.chmod(os.path.join(root, x), 0o755)
            for x in files:
                os.chmod(os.path.join(root, x), 0o644)
        import atexit
        atexit.register(shutil.rmtree, d, True)
        _LIB_DIR = d
        return d


def _allowed_library_modules():
    import ast
    with open(TRIPWIRE) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "LIBRARY_ALLOWED":
            return set(ast.literal_eval(node.value))
    return set()


def _python_dirs():
    """Directories the interpreter needs: the venv and the installation it links to."""
    dirs = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
            os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    dirs.add(os.path.abspath(sys.prefix))
    keep = []
    for d in sorted(dirs, key=len):
        if d.startswith(("/usr/", "/etc/")) or d == "/usr" or any(
                d == k or d.startswith(k + "/") for k in keep):
            continue
        keep.append(d)
    return keep


def _hidden_packages():
    """Site-packages folders overlaid with an empty tmpfs (their code is not in the sandbox)."""
    import site
    names = ("torch", "functorch", "torchgen", "tensorflow", "jax", "cv2", "skimage", "cupy",
             os.path.join("scipy", "signal"), os.path.join("scipy", "ndimage"))
    out = []
    for sp in site.getsitepackages():
        for n in names:
            p = os.path.join(sp, n)
            if os.path.isdir(p):
                out.append(p)
    return out


def _ancestors(path):
    parts, out = path.strip("/").split("/"), []
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return out


def command(job_dir, limits, uid=None):
    """The argv that runs the worker on `job_dir` inside the sandbox."""
    bw = shutil.which("bwrap")
    argv = [bw, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    as_root = os.geteuid() == 0
    if not as_root:
        argv += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    argv += _file_system(limits)
    argv += ["--ro-bind", job_dir, "/job"]
    argv += [
             "--perms", "0755", "--dir", "/home",
             # as root the run's uid is fresh and bwrap cannot chown the tmpfs to it: sticky 1777
             "--size", str(limits.tmpfs_mb << 20), "--perms", "1777" if as_root else "0700",
             "--tmpfs", "/home/student"]
    argv += _environment()
    argv += _prlimit(limits)
    if as_root:
        argv += [f"--nproc={limits.nproc}", "--"]
        uid = uid or (200000 + secrets.randbelow(1 << 30))
        argv += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}",
                 f"--regid={uid}", "--clear-groups", "--bounding-set=-all", "--inh-caps=-all",
                 "--no-new-privs", "--"]
    else:
        argv += ["--"]
    argv += [_python(), "-s", "/job/worker.py"]
    return argv


def _python():
    python = os.path.join(os.path.abspath(sys.prefix), "bin", "python")
    return python if os.path.exists(python) else sys.executable


def _prlimit(limits):
    return [shutil.which("prlimit") or "/usr/bin/prlimit",
            f"--as={limits.memory_mb << 20}", f"--cpu={limits.cpu_s}",
            f"--fsize={limits.fsize_mb << 20}", f"--nofile={limits.nofile}", "--core=0"]


def _environment():
    argv = ["--chdir", "/home/student", "--clearenv"]
    env = {"HOME": "/home/student", "PATH": "/usr/local/bin:/usr/bin:/bin",
           "PYTHONPATH": "/opt/grading-lib", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONNOUSERSITE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "MPLCONFIGDIR": "/tmp/matplotlib", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
    for k, v in env.items():
        argv += ["--setenv", k, v]
    return argv


def _file_system(limits, sources=None):
    """The sandbox's view of the file system, up to /opt/grading-lib (cold and warm alike).
    sources: {Python directory: the path bubblewrap binds it from} (default: itself)."""
    argv = ["--ro-bind", "/usr", "/usr"]
    for d in ("/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    argv += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.tmpfs_mb << 20), "--perms", "1777", "--tmpfs", "/tmp"]
    made = set()
    for d in _python_dirs():
        for a in _ancestors(d):
            if a not in made:
                argv += ["--perms", "0755", "--dir", a]
                made.add(a)
        argv += ["--ro-bind", (sources or {}).get(d, d), d]
    for p in _hidden_packages():
        argv += ["--perms", "0755", "--tmpfs", p]
    argv += ["--perms", "0755", "--dir", "/opt", "--ro-bind", library_dir(), "/opt/grading-lib"]
    return argv


# ----------------------------------------------------------------------------- availability
_AVAILABLE = None


def check_available():
    """Raise SandboxUnavailable (with what to do) unless a sandboxed Python runs here."""
    global _AVAILABLE
    if _AVAILABLE is True:
        return
    if _AVAILABLE is not None:
        raise SandboxUnavailable(_AVAILABLE)
    how = ("Grading runs student code only inside the sandbox, so it stopped. Grade on Linux "
           "with bubblewrap installed (Debian/Ubuntu: `apt-get install bubblewrap`; it needs "
           "namespaces: run as root, or enable unprivileged user namespaces), with `prlimit` "
           "and `setpriv` (util-linux). Nothing was graded without the sandbox.")
    reason = None
    if platform.system() != "Linux":
        reason = f"this is {platform.system()}, and the sandbox needs Linux namespaces."
    else:
        for tool in ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ()):
            if not shutil.which(tool):
                reason = f"`{tool}` was not found on PATH."
                break
    if reason is None:
        job = tempfile.mkdtemp(prefix="grading-probe-")
        try:
            os.chmod(job, 0o755)
            with open(os.path.join(job, "worker.py"), "w") as f:
                f.write("import os, numpy\nprint('sandbox-ok', os.getuid())\n")
            os.chmod(os.path.join(job, "worker.py"), 0o644)
            proc = subprocess.run(command(job, Limits()), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=60)
            out = proc.stdout.decode(errors="replace")
            if proc.returncode != 0 or "sandbox-ok" not in out:
                reason = ("a test run of the sandbox failed: " +
                          (proc.stderr.decode(errors="replace").strip()[-500:] or out[-500:]))
        except (OSError, subprocess.SubprocessError) as exc:
            reason = f"a test run of the sandbox failed: {exc}"
        finally:
            shutil.rmtree(job, ignore_errors=True)
    if reason:
        _AVAILABLE = f"The grading sandbox cannot be set up: {reason} {how}"
        raise SandboxUnavailable(_AVAILABLE)
    _AVAILABLE = True


# ----------------------------------------------------------------------------- running
@dataclass
class RunResult:
    lines: list          # raw result lines (bytes), untrusted
    wall_s: float
    timed_out: bool
    overflow: bool       # sent more than limits.result_mb
    stderr: str          # the sandbox's own messages (before the worker took stdio over)
    cpu_s: float = None  # CPU seconds of the whole sandbox (its cgroup), where accounted


# exec failures seen under load that a second try gets past (EFAULT: once in a full test run on
# two busy cores, starting bwrap from a grading thread)
_TRANSIENT = (errno.EFAULT, errno.EAGAIN, errno.ENOMEM, errno.EINTR)
BOUNDARY = b'{"t": "cells_done"}'


def _start(argv, err, tries=4):
    for k in range(tries):
        try:
            return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, start_new_session=True)
        except OSError as exc:
            if exc.errno not in _TRANSIENT or k == tries - 1:
                raise
            time.sleep(0.05 * (k + 1))


def _private(job_dir, uid):
    """The job folder readable by the run's own uid only (and root): 0700 folders, 0600 files.
    Other accounts on the grading machine cannot read a classmate's code or job."""
    for root, dirs, files in os.walk(job_dir):
        for name in [root] + [os.path.join(root, f) for f in files]:
            if uid is not None:
                os.lchown(name, uid, uid)
            os.chmod(name, 0o700 if os.path.isdir(name) else 0o600)


def run(job_dir, limits, inputs=None):
    """Run the worker on job_dir (already filled) in the sandbox; collect what it sends.

    inputs: the graded calls' inputs as one byte stream (grading.judge.input_stream), written to
    the worker's stdin only after it reports that every cell has run (BOUNDARY).
    """
    shutil.copy(WORKER, os.path.join(job_dir, "worker.py"))
    uid = (200000 + secrets.randbelow(1 << 30)) if os.geteuid() == 0 else None
    _private(job_dir, uid)
    argv = command(job_dir, limits, uid=uid)
    group = cgroups.create(limits) if limits.cpus > 0 else None
    if group is not None:
        argv = group.wrap(argv)
    t0 = time.monotonic()
    err = tempfile.TemporaryFile()
    proc = _start(argv, err)
    writer = []

    def send_inputs():
        try:
            proc.stdin.write(inputs or b'{"files": []}\n')
        except (BrokenPipeError, OSError, ValueError):
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def release():
        writer.append(threading.Thread(target=send_inputs, daemon=True))
        writer[0].start()

    cpu = None
    try:
        buf, timed_out, overflow = _collect(proc.stdout.fileno(), t0 + limits.wall_s,
                                            limits.result_mb << 20, release)
    finally:
        _end(proc, uid)
        if group is not None:
            cpu = group.cpu_seconds()
            group.remove()
    writer = writer[0] if writer else None
    if writer is None:
        try:
            proc.stdin.close()
        except OSError:
            pass
    else:
        writer.join(5)
    proc.stdout.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    err.seek(0)
    stderr = err.read(20000).decode(errors="replace")
    err.close()
    lines = bytes(buf).split(b"\n")
    return RunResult(lines, time.monotonic() - t0, timed_out, overflow, stderr, cpu)


def _collect(fd, deadline, cap, release):
    """Read a run's result lines from fd until EOF, the deadline or `cap` bytes; call release()
    once, when the first boundary line arrives. -> (bytes read, timed_out, overflow)"""
    buf, total, timed_out, overflow = bytearray(), 0, False, False
    released, scan_from = False, 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if total > cap:
            overflow = True
            break
        buf += chunk
        if not released:  # the first boundary line releases the inputs
            at = buf.find(b"\n" + BOUNDARY, max(0, scan_from - 1))
            if at < 0 and buf.startswith(BOUNDARY):
                at = 0
            if at >= 0:
                released = True
                release()
            scan_from = max(0, len(buf) - len(BOUNDARY) - 1)
    return buf, timed_out, overflow


def _end(proc, uid):
    """Nothing of the run survives it: the sandbox's process group, then (as root) every process
    of the run's own uid, wherever it moved (new sessions, double forks)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if uid is None:
        return
    for _ in range(5):
        left = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    left = True
                    os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
        if not left:
            return
        time.sleep(0.02)


# ----------------------------------------------------------------------------- warm sandboxes
class WarmUnavailable(RuntimeError):
    """No warm sandbox here (the kernel refused its namespaces); jobs run in cold sandboxes."""


_ZYGOTE_LOCK = threading.Lock()
_ZYGOTE_DIRS = {}


def zygote_dir():
    """The worker, read-only at /job/worker.py in every warm sandbox (built once per worker)."""
    with _ZYGOTE_LOCK:
        d = _ZYGOTE_DIRS.get(WORKER)
        if d is None or not os.path.isdir(d):
            d = tempfile.mkdtemp(prefix="grading-zygote-")
            os.chmod(d, 0o755)
            shutil.copy(WORKER, os.path.join(d, "worker.py"))
            os.chmod(os.path.join(d, "worker.py"), 0o644)
            import atexit
            atexit.register(shutil.rmtree, d, True)
            _ZYGOTE_DIRS[WORKER] = d
        return d


_MOUNTPOINTS = {}


def _mountpoint(d):
    """An empty 0755 folder that d is bound onto in a warm sandbox's private mount namespace."""
    with _ZYGOTE_LOCK:
        if d not in _MOUNTPOINTS or not os.path.isdir(_MOUNTPOINTS[d]):
            m = tempfile.mkdtemp(prefix="grading-python-")
            os.chmod(m, 0o755)
            import atexit
            atexit.register(shutil.rmtree, m, True)
            _MOUNTPOINTS[d] = m
        return _MOUNTPOINTS[d]


def zygote_command(limits, ctl_fd, uid=None):
    """The argv of a warm sandbox: the same file system, limits and environment as a cold one
    (command()), in its own user namespace where the zygote keeps CAP_SYS_ADMIN and CAP_SETPCAP
    to give every job fresh namespaces and mounts; its root and /dev are read-only.

    As root the whole sandbox runs under a fresh unprivileged uid (setpriv, before bubblewrap).
    That uid cannot look inside root's 0700 home, where the interpreter may live, so first a
    private mount namespace of this sandbox alone (util-linux unshare, as root) binds each Python
    directory read-only onto an empty 0755 folder, and bubblewrap binds it from there; the host's
    mounts are untouched."""
    argv, sources = [], None
    if os.geteuid() == 0:
        sources = {d: _mountpoint(d) for d in _python_dirs()}
        binds = " && ".join(f"mount --bind -o ro '{d}' '{m}'" for d, m in sources.items())
        argv += [shutil.which("unshare") or "/usr/bin/unshare", "--mount", "--propagation",
                 "private", "--", "/bin/sh", "-c", f'{binds} && exec "$@"', "sh"]
        uid = uid or (200000 + secrets.randbelow(1 << 30))
        argv += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}",
                 f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--no-new-privs", "--"]
    argv += [shutil.which("bwrap"), "--unshare-net", "--unshare-pid", "--unshare-ipc",
             "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
             "--unshare-user", "--uid", "65534", "--gid", "65534",
             "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"]
    argv += _file_system(limits, sources)
    argv += ["--ro-bind", zygote_dir(), "/job",  # the worker at the same path as when cold
             "--perms", "0755", "--dir", "/home",
             "--size", str(limits.tmpfs_mb << 20), "--perms", "0700", "--tmpfs", "/home/student",
             "--remount-ro", "/", "--remount-ro", "/dev"]
    argv += _environment()
    argv += _prlimit(limits) + ["--"]
    argv += [_python(), "-s", "/job/worker.py", "--zygote", str(ctl_fd)]
    return argv


def _recv(sock, timeout):
    """One control message (a JSON object) from a zygote, or None (timed out, closed, garbled)."""
    import json
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        return None
    try:
        msg = sock.recv(4096)
        return json.loads(msg) if msg else None
    except (OSError, ValueError):
        return None


class Zygote:
    """One warm sandbox: a sandboxed worker that has imported NumPy and IPython once and runs
    jobs one at a time, each in fresh namespaces of its own (grading/sandbox_worker.py, zygote()).

    Per job, the zygote only receives two pipe ends: the job itself (cells and files) and later
    the hidden inputs go down one, the results come up the other, straight between this process
    and the job. The zygote never reads a job, so nothing of one student's job is in the memory
    the next job is forked from. Any surprise (no "done" from the zygote, a time-out, too much
    output) ends the zygote; a job the zygote could not finish is run again in a cold sandbox.
    """

    MAX_JOBS = 500  # then a fresh one

    def __init__(self, limits):
        import json
        import socket
        self.limits, self.jobs, self.uid = limits, 0, None
        if os.geteuid() == 0:
            self.uid = 200000 + secrets.randbelow(1 << 30)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ctl = parent
        self.proc, self.group = None, None
        self.err = tempfile.TemporaryFile()
        try:
            argv = zygote_command(limits, child.fileno(), uid=self.uid)
            self.group = cgroups.create(limits) if limits.cpus > 0 else None
            if self.group is not None:
                argv = self.group.wrap(argv)
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=self.err,
                                         pass_fds=[child.fileno()], start_new_session=True)
        except OSError as exc:
            self.close()
            raise WarmUnavailable(f"the warm sandbox did not start: {exc}") from exc
        finally:
            child.close()
        parent.send(json.dumps({"tmpfs_bytes": limits.tmpfs_mb << 20,
                                "preload": ["numpy.random", "cs231n_lib", "cs231n_lib.gradcheck"]}).encode())
        said = _recv(parent, 60)
        if not said or said.get("t") != "ready":
            why = (said or {}).get("why") or self._stderr() or "no answer"
            self.close()
            raise WarmUnavailable(f"the warm sandbox refused to start: {why}")

    def _stderr(self):
        try:
            self.err.seek(0)
            return self.err.read(4000).decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None and self.jobs < self.MAX_JOBS

    def _spec(self):
        lim = self.limits
        rl = {"AS": lim.memory_mb << 20, "CPU": lim.cpu_s, "FSIZE": lim.fsize_mb << 20,
              "NOFILE": lim.nofile, "CORE": 0}
        if self.uid is not None:  # the sandbox's own uid: count only its processes
            rl["NPROC"] = lim.nproc + 8
        return {"tmpfs_bytes": lim.tmpfs_mb << 20, "rlimits": rl}

    def run(self, job, files, inputs):
        """-> RunResult, or None when the zygote failed this job (run it cold instead)."""
        import json
        import socket
        self.jobs += 1
        t0 = time.monotonic()
        cpu0 = self.group.cpu_seconds() if self.group is not None else None
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            socket.send_fds(self.ctl, [json.dumps(self._spec()).encode()], [in_r, out_w])
        except OSError:
            for fd in (in_r, in_w, out_r, out_w):
                os.close(fd)
            self.close()
            return None
        os.close(in_r)
        os.close(out_w)
        names = sorted(files)
        frame = [(json.dumps({"job": job, "files": [[n, len(files[n])] for n in names]}) +
                  "\n").encode()] + [files[n] for n in names]
        woken, released = threading.Event(), []

        def release():
            released.append(True)
            woken.set()

        def feed():
            """The job now; the inputs only once the boundary has been seen (release), never
            when the run ended (or timed out) before it."""
            try:
                for part in frame:
                    _write_all(in_w, part)
                woken.wait(self.limits.wall_s + 5)
                if released:
                    _write_all(in_w, inputs or b'{"files": []}\n')
            except OSError:
                pass
            finally:
                os.close(in_w)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            buf, timed_out, overflow = _collect(out_r, t0 + self.limits.wall_s,
                                                self.limits.result_mb << 20, release)
        finally:
            os.close(out_r)
            woken.set()  # a run that never reached the boundary: its input pipe closes unwritten
        if timed_out or overflow:
            self.close()
            feeder.join(5)
            return RunResult(bytes(buf).split(b"\n"), time.monotonic() - t0, timed_out,
                             overflow, "")
        said = _recv(self.ctl, 10)
        feeder.join(5)
        if not said or said.get("t") != "done":
            self.close()
            return None
        status = said.get("status", 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 71:  # SETUP_FAILED in the worker
            self.close()
            _warm_off("a job's namespaces could not be set up: " +
                      bytes(buf)[:300].decode(errors="replace"))
            return None
        cpu1 = self.group.cpu_seconds() if self.group is not None else None
        cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        return RunResult(bytes(buf).split(b"\n"), time.monotonic() - t0, False, False, "", cpu)

    def close(self):
        try:
            self.ctl.close()
        except OSError:
            pass
        proc, self.proc = getattr(self, "proc", None), None
        if proc is not None:
            _end(proc, self.uid)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.group is not None:
            self.group.remove()
            self.group = None
        self.err.close()


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


_WARM = {"idle": {}, "off": None}


def _warm_off(why):
    import logging
    with _ZYGOTE_LOCK:
        if _WARM["off"] is None:
            _WARM["off"] = why
            logging.getLogger("grading.sandbox").warning(
                "warm sandboxes are off (%s); every job starts a cold sandbox", why)


def _close_idle():
    with _ZYGOTE_LOCK:
        idle = [z for zs in _WARM["idle"].values() for z in zs]
        _WARM["idle"].clear()
    for z in idle:
        z.close()


def run_warm(job, files, limits, inputs=None):
    """Run one job in a warm sandbox -> RunResult, or None when warm sandboxes cannot run it here
    (then the caller runs it cold: same sandbox, same result, a fresh interpreter)."""
    if _WARM["off"] is not None:
        return None
    key = tuple(sorted(limits.__dict__.items())) + (WORKER,)
    with _ZYGOTE_LOCK:
        pool = _WARM["idle"].setdefault(key, [])
        z = pool.pop() if pool else None
        if not _WARM.get("atexit"):
            import atexit
            atexit.register(_close_idle)
            _WARM["atexit"] = True
    if z is not None and not z.alive:
        z.close()
        z = None
    if z is None:
        try:
            z = Zygote(limits)
        except WarmUnavailable as exc:
            _warm_off(str(exc))
            return None
    res = z.run(job, files, inputs)
    if z.alive:
        with _ZYGOTE_LOCK:
            _WARM["idle"].setdefault(key, []).append(z)
    else:
        z.close()
    return res
