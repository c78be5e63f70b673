"""Warm sandboxes (grading/sandbox.py Zygote, grading/sandbox_worker.py zygote()): one student's
job leaves nothing for the next one, sees nothing of the zygote, and the zygote never holds a job.

Each attack runs real jobs through real warm sandboxes (bubblewrap, namespaces, tmpfs mounts), two
students in a row in the same zygote. The leak probe is first run against a worker whose jobs do
NOT get fresh mounts, to show that it sees a leak when there is one.
"""
import json
import os
import threading
import time

import pytest

from assignments_helpers import sandbox_or_skip
from grading import sandbox, secure_grading

LIMITS = dict(wall_s=60, cell_timeout_s=20)


@pytest.fixture
def warm(monkeypatch):
    """A fresh pool of warm sandboxes for this test (and none left afterwards)."""
    sandbox_or_skip()
    sandbox._close_idle()
    monkeypatch.setitem(sandbox._WARM, "off", None)
    yield
    sandbox._close_idle()


def job(sources):
    limits = sandbox.Limits(**LIMITS)
    steps = [{"op": "exec", "cell": i, "source": src} for i, src in enumerate(sources)]
    return {"steps": steps, "limits": limits.for_job()}, limits


def run(sources, files=None):
    j, limits = job(sources)
    res = sandbox.run_warm(j, files or {}, limits)
    assert res is not None, f"no warm sandbox: {sandbox._WARM['off']}"
    records = [json.loads(line) for line in res.lines if line.strip()]
    out = {}
    for rec in records:
        if rec.get("t") == "cell":
            out[rec["cell"]] = "".join(o.get("text", "") or o.get("evalue", "")
                                       for o in rec["outputs"])
    return out


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _mine(pid):
    """Is pid a descendant of this test process (not of another test worker's)?"""
    for _ in range(64):
        pid = _ppid(pid)
        if pid == os.getpid():
            return True
        if pid <= 1:
            return False
    return False


def zygotes():
    """Host pids of this process's zygotes and their forks running now (root sees them all)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if b"--zygote" in cmd and os.path.basename(cmd[0]).startswith(b"python") and \
                    _mine(int(name)):
                found.append(int(name))
    return found


LEAVE = r'''
import ctypes, os, time
marker = "LEAK-" + "from-student-A"
written = []
for d in ["/", "/tmp", "/home/student", "/dev", "/dev/shm", "/job", "/opt", "/opt/grading-lib",
          "/home", "/root", "/var"]:
    try:
        with open(os.path.join(d, "leak.txt"), "w") as f:
            f.write(marker)
        written.append(d)
    except OSError:
        pass
shm = ctypes.CDLL(None).shmget(0x2310, 4096, 0o1666)
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork():
        os._exit(0)
    ctypes.CDLL(None).prctl(15, b"leftover-of-A", 0, 0, 0)  # PR_SET_NAME: findable on the host
    time.sleep(120)
    os._exit(0)
print("written", written, "shm", shm >= 0, "ns", os.readlink("/proc/self/ns/pid"))
'''

FIND = r'''
import os
found = []
for top, dirs, files in os.walk("/"):
    if top.startswith(("/proc", "/sys", "/usr", "/etc", "/work", "/root/.pyenv")):
        dirs[:] = []
        continue
    for name in files:
        p = os.path.join(top, name)
        if not os.path.isfile(p) or os.path.islink(p):
            continue
        try:
            with open(p, "rb") as f:
                if b"LEAK-" in f.read(1 << 16):
                    found.append(p)
        except OSError:
            pass
with open("/proc/sysvipc/shm") as f:
    segments = len(f.read().strip().splitlines()) - 1
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("found", found, "segments", segments, "pids", len(pids))
'''


def leak_probe():
    """Student A leaves files everywhere it can write, a SysV segment and a process; student B,
    next in the same zygote, looks for them. -> (what A wrote, what B found, A's PID namespace)"""
    a = run([LEAVE])[0]
    assert "written" in a, a
    b = run([FIND])[0]
    assert "found" in b, b
    return a, b


def test_the_leak_probe_sees_a_leak_without_fresh_mounts(warm, monkeypatch, tmp_path):
    """The control: a worker whose jobs share the zygote's /tmp and /home/student."""
    src = open(sandbox.WORKER).read()
    shared = src.replace("    for path, mode in fresh:", "    for path, mode in ():")
    assert shared != src
    leaky = tmp_path / "worker.py"
    leaky.write_text(shared)
    monkeypatch.setattr(sandbox, "WORKER", str(leaky))
    a, b = leak_probe()
    assert "'/tmp'" in a and "/tmp/leak.txt" in b, (a, b)


def test_a_job_leaves_nothing_for_the_next_one(warm):
    a, b = leak_probe()
    assert "'/tmp'" in a and "'/home/student'" in a and "shm True" in a, a  # A did write
    assert "found []" in b, b                 # ... and B finds none of it
    assert "segments 0" in b, b               # its own IPC namespace
    time.sleep(0.2)
    left = []
    for name in os.listdir("/proc"):          # A's daemon is gone from the host too
        try:
            if name.isdigit() and open(f"/proc/{name}/comm").read().strip() == "leftover-of-A":
                left.append(name)
        except OSError:
            pass
    assert not left, f"student A's daemon outlived the job: {left}"


def test_a_job_has_no_capabilities_and_sees_only_itself(warm):
    out = run([r'''
import os
status = {l.split(":")[0]: (l.split() + [""])[1] for l in open("/proc/self/status") if ":" in l}
print({k: status[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")})
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
names = [open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ")[:60] for p in pids]
print("pids", pids, names)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x00020000), "mount", libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None))
print("uid", os.getuid(), "dumpable-parent?", os.getppid())
'''])[0]
    assert "'CapInh': '0000000000000000'" in out and "'CapEff': '0000000000000000'" in out, out
    assert "'CapBnd': '0000000000000000'" in out and "'CapAmb': '0000000000000000'" in out, out
    assert "'NoNewPrivs': '1'" in out, out
    pids = eval(out.split("pids ")[1].split("]")[0] + "]")  # its own PID namespace: init (1),
    assert pids[0] == 1 and max(pids) <= 8, out              # the worker and its few children
    assert "unshare -1 mount -1" in out, out
    assert "uid 65534" in out, out


def scan(pid, needles):
    """Which of `needles` (bytes) occur in the writable memory of process `pid` (root reads it)."""
    hits = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            hits |= {n for n in needles if n in chunk}
    return hits


def test_the_zygote_never_holds_a_job(warm):
    if os.geteuid() != 0:
        pytest.skip("reading another process's memory needs root")
    secret = "STUDENT_CODE_" + "9f27c1e3"
    out = run([f"x = '{secret}' * 3\nprint(len(x))"],
              files={"mine.py": f"# {secret}-in-a-file\n".encode()})
    assert out[0].strip() == str(3 * len(secret)), out
    pids = zygotes()
    assert len(pids) == 1, pids
    hits = scan(pids[0], [secret.encode(), b"cs231n_lib.gradcheck"])
    assert b"cs231n_lib.gradcheck" in hits   # the scan does see what the zygote was sent
    assert secret.encode() not in hits       # ... and nothing of the job


def test_a_time_out_ends_the_zygote_and_the_next_job_runs(warm):
    j, _ = job(["while True: pass"])
    limits = sandbox.Limits(wall_s=3, cell_timeout_s=30)
    res = sandbox.run_warm(j, {}, limits)
    assert res.timed_out
    assert not sandbox._WARM["idle"].get(tuple(sorted(limits.__dict__.items())) + (sandbox.WORKER,))
    assert zygotes() == [], "the zygote of a timed-out job was kept"
    assert run(["print(6 * 7)"])[0] == "42\n"


def test_a_zygote_lost_mid_job_is_run_again_cold(warm):
    """The zygote dies (killed from outside: an out-of-memory kill, say) while a job runs: the job
    is not graded from half its output, it runs again in a cold sandbox."""
    run(["pass"])  # a zygote, idle
    j, limits = job(["import time; time.sleep(1.5)", "print('finished')"])
    payload = {"job": j, "files": {}, "limits": limits.__dict__, "inputs": None}
    got = {}
    t = threading.Thread(target=lambda: got.update(secure_grading.run_payload(payload)))
    t.start()
    time.sleep(0.8)
    pids = zygotes()
    assert pids
    for pid in pids:
        os.kill(pid, 9)
    t.join(60)
    records = [json.loads(line) for line in got["lines"] if line.strip()]
    cells = {r["cell"]: r for r in records if r.get("t") == "cell"}
    assert "finished" in cells[1]["outputs"][0]["text"], records
    assert sum(r.get("t") == "done" for r in records) == 1


def test_a_kernel_that_refuses_turns_warm_sandboxes_off_never_weaker(warm, monkeypatch, tmp_path):
    src = open(sandbox.WORKER).read()
    refusing = src.replace('    said = _self_test(libc, first.get("tmpfs_bytes", 1 << 20),\n'
                           '                      [p for p in sys.path if p and os.path.isdir(p)])',
                           '    said = "unshare: Operation not permitted"')
    assert refusing != src
    (tmp_path / "worker.py").write_text(refusing)
    real = sandbox.WORKER
    monkeypatch.setattr(sandbox, "WORKER", str(tmp_path / "worker.py"))
    j, limits = job(["print('ran')"])
    assert sandbox.run_warm(j, {}, limits) is None
    assert "Operation not permitted" in sandbox._WARM["off"]
    monkeypatch.setattr(sandbox, "WORKER", real)
    payload = {"job": j, "files": {}, "limits": limits.__dict__, "inputs": None}
    raw = secure_grading.run_payload(payload)   # graded cold, in the same sandbox as before
    assert any(b"ran" in line for line in raw["lines"])


def test_what_the_sandbox_binds_below_tmp_stays_in_every_job(warm, monkeypatch):
    """A Python environment under /tmp (a clean clone there, as CI may make) is bound at its own
    path; a job's fresh /tmp must not hide it (every import failed: "No module named ...")."""
    import tempfile
    d = tempfile.mkdtemp(prefix="grading-env-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        with open(os.path.join(d, "marker.txt"), "w") as f:
            f.write("still here")
        os.chmod(os.path.join(d, "marker.txt"), 0o644)
        real = sandbox._python_dirs
        monkeypatch.setattr(sandbox, "_python_dirs", lambda: real() + [d])
        out = run([f"print(open('{d}/marker.txt').read())\n"
                   f"try:\n    open('{d}/new.txt', 'w')\nexcept OSError as e:\n"
                   f"    print('read-only', e.errno)\n"
                   "open('/tmp/mine.txt', 'w').write('x'); print('tmp writable')"])[0]
        assert "still here" in out and "read-only 30" in out and "tmp writable" in out, out
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_a_zygote_whose_jobs_would_lose_the_import_path_refuses(warm, monkeypatch, tmp_path):
    """Jobs that could not import (a folder of the import path hidden by their fresh mounts)
    would score zero on every notebook: the zygote's self-test refuses instead, grading goes cold.
    Shown with a worker that does not bind again what lies below /tmp."""
    import shutil
    import tempfile
    src = open(sandbox.WORKER).read()
    no_rebind = src.replace("    for point, opts, fd in below:", "    for point, opts, fd in []:")
    assert no_rebind != src
    (tmp_path / "worker.py").write_text(no_rebind)
    monkeypatch.setattr(sandbox, "WORKER", str(tmp_path / "worker.py"))
    d = tempfile.mkdtemp(prefix="grading-path-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        dirs, env = sandbox._python_dirs, sandbox._environment
        monkeypatch.setattr(sandbox, "_python_dirs", lambda: dirs() + [d])
        monkeypatch.setattr(sandbox, "_environment", lambda: [
            f"/opt/grading-lib:{d}" if x == "/opt/grading-lib" else x for x in env()])
        j, limits = job(["print(1)"])
        assert sandbox.run_warm(j, {}, limits) is None
        assert "would not see" in sandbox._WARM["off"] and d in sandbox._WARM["off"]
    finally:
        shutil.rmtree(d, ignore_errors=True)
