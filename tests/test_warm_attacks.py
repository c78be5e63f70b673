"""Attacks on warm sandboxes from inside a job: student A's notebook tries to leave something for
classmate B, graded next in the same zygote, or to reach past its own job.

Each test runs real jobs in a real warm sandbox (tests/test_warm_sandbox.py has the fixture and
the first attacks: files, SysV IPC, daemons, capabilities, the zygote's memory). A marker that B
prints means A's notebook could pass B something: hidden inputs it received during its graded
calls, say, into B's feedback.
"""
import pytest

from grading import sandbox
from test_warm_sandbox import run, warm  # noqa: F401 -- warm is a fixture

MARK = "NOTE-FROM-" + "STUDENT-A"

KEYRING_A = f'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for ring in (-4, -5, -3):   # the user, user-session and session keyrings
    k = libc.syscall({{"x86_64": 248, "aarch64": 217}}[os.uname().machine],
                     b"user", b"note%d" % -ring, b"{MARK}", {len(MARK)}, ctypes.c_int(ring))
    print(ring, k, os.strerror(ctypes.get_errno()))
'''
KEYRING_B = r'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
request_key, keyctl = {"x86_64": (249, 250), "aarch64": (218, 219)}[os.uname().machine]
buf = ctypes.create_string_buffer(200)
for ring in (-4, -5, -3):
    k = libc.syscall(request_key, b"user", b"note%d" % -ring, None, 0)
    n = libc.syscall(keyctl, 11, k, buf, 200) if k > 0 else 0   # KEYCTL_READ
    print(ring, k, buf.raw[:max(n, 0)])
'''


def test_the_kernel_keyrings_carry_nothing_to_the_next_job(warm):
    """Keyrings belong to the uid of a user namespace, not to the job's mount, IPC or PID
    namespaces: every job of a zygote shares them (and a job could reach the grading host's own
    session keyring). A job may not use them at all."""
    a = run([KEYRING_A])[0]
    b = run([KEYRING_B])[0]
    assert MARK not in b, f"job B read what job A left in a keyring:\n{a}\n{b}"
    assert a.count("Operation not permitted") == 3, a


INIT_FD_A = f'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(1)            # the job's init, forked from the zygote
fd = libc.syscall(438, pidfd, 2, 0)  # pidfd_getfd: a copy of its stderr
print("got", fd, os.strerror(ctypes.get_errno()))
if fd >= 0:
    os.write(fd, b"{MARK}")
'''
INIT_FD_B = r'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(438, os.pidfd_open(1), 2, 0)
if fd >= 0:
    os.lseek(fd, 0, 0)
    print(os.read(fd, 4096))
print("got", fd)
'''


def test_the_jobs_init_is_out_of_the_students_reach(warm):
    """The job's init is forked from the zygote: it holds the zygote's stderr, a file that outlives
    the job. A student who could take its descriptors (or trace it) would share that file with
    every later job of the zygote."""
    a = run([INIT_FD_A])[0]
    b = run([INIT_FD_B])[0]
    assert MARK not in b, f"job B read what job A wrote through its init:\n{a}\n{b}"
    assert "got -1 Operation not permitted" in a, a


PTRACE_INIT = r'''
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
regs = (ctypes.c_ulong * 27)()       # x86-64 user_regs_struct
r = libc.ptrace(16, 1, None, None)   # PTRACE_ATTACH to the job's init
print("attach", r, os.strerror(ctypes.get_errno()), flush=True)
if r == 0:
    os.waitpid(1, 0x40000000)        # __WALL
    libc.ptrace(12, 1, None, regs)   # GETREGS: stopped in wait4
    # rax, rdi, orig_rax, rip: run the syscall instruction again as exit_group(71)
    regs[10], regs[14], regs[15], regs[16] = 231, 71, 2**64 - 1, regs[16] - 2
    libc.ptrace(13, 1, None, regs)   # SETREGS
    libc.ptrace(17, 1, None, None)   # DETACH
    time.sleep(5)
'''


def test_a_job_cannot_fake_a_setup_failure_to_turn_warm_sandboxes_off(warm):
    """Exit code 71 of a job's init means "this kernel cannot set up a job" and turns warm
    sandboxes off for the whole grading run. A student who traced the init could make it say so:
    every later notebook would pay for a cold start."""
    import os
    if os.uname().machine != "x86_64":
        pytest.skip("the register layout of this attack is x86-64's")
    out = run([PTRACE_INIT])
    assert sandbox._WARM["off"] is None, f"a student turned warm sandboxes off: {out}"
    assert "attach -1 Operation not permitted" in out[0], out


NET_A = f'''
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
port = srv.getsockname()[1]
c = socket.create_connection(srv.getsockname())
s, _ = srv.accept()
c.close(), s.close(), srv.close()    # the connection waits in TIME_WAIT, owned by no process
print(f"PORT={{port}}")
u = socket.socket(socket.AF_UNIX)   # an abstract socket, bound until A's job ends
u.bind(b"\\0{MARK}")
'''
NET_B = r'''
print(open("/proc/net/tcp").read(), open("/proc/net/unix").read())
'''


def test_a_job_leaves_no_connection_for_the_next_one(warm):
    """A connection closed by A waits a minute in TIME_WAIT, in the network namespace: were it
    shared, B would see A's ports and addresses (any of 127.0.0.0/8: bits A chose) in
    /proc/net/tcp. Each job has a network namespace of its own, without any interface up."""
    a = run([NET_A])[0]
    b = run([NET_B])[0]
    if "PORT=" in a:  # (with no interface up, A cannot even connect)
        port = int(a.split("PORT=")[1].split()[0])
        assert f":{port:04X}" not in b, f"job B saw job A's connection:\n{a}\n{b}"
    assert MARK not in b, b
    assert len(b.strip().splitlines()) == 2, f"job B's network namespace is not empty:\n{b}"


NESTED_ROOT = r'''
import subprocess, sys
code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x10000000 | 0x00020000), os.strerror(ctypes.get_errno()))
print("clone3", libc.syscall(435, None, 0), os.strerror(ctypes.get_errno()))
"""
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                     timeout=20).stdout)
print(subprocess.run(["unshare", "-Ur", "id"], capture_output=True, text=True, timeout=20))
'''


def test_a_job_cannot_be_root_of_a_user_namespace_of_its_own(warm):
    """Root of a user namespace made in the job could not take off the job's mounts (they come
    locked) nor reach the next job, but it reaches kernel code (file systems to mount,
    netfilter) that most recent local privilege escalations go through: refused."""
    out = run([NESTED_ROOT])[0]
    assert "unshare -1 Operation not permitted" in out, out
    assert "clone3 -1 Function not implemented" in out, out  # (its flags are out of a filter's
    assert "uid=0" not in out, out                           # reach: the C library uses clone)


def test_a_job_shares_no_writable_memory_with_the_zygote(warm):
    """Jobs are forked from the zygote: a writable shared mapping (MAP_SHARED) inherited from it
    would let one job change the memory every later job is forked from."""
    out = run([r'''
maps = [l.split() for l in open("/proc/self/maps")]
print("shared", [m for m in maps if m[1][1] == "w" and m[1][3] == "s"], len(maps))
'''])[0]
    assert out.startswith("shared [] "), out


HOST_KEYRING = r'''
import ctypes, json, os, sys, tempfile
from grading import sandbox
libc = ctypes.CDLL(None, use_errno=True)
add_key, request_key, keyctl = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}[
    os.uname().machine]
# a grading service with a session keyring of its own (systemd gives every service one)
assert libc.syscall(keyctl, 1, b"grading-service", 0) > 0   # KEYCTL_JOIN_SESSION_KEYRING
assert libc.syscall(add_key, b"user", b"host", b"HOST-SECRET", 11, ctypes.c_int(-3)) > 0
cell = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(100)
k = libc.syscall(%d, b"user", b"host", None, 0)
n = libc.syscall(%d, 11, k, buf, 100) if k > 0 else 0
print("read", buf.raw[:max(n, 0)])
print("added", libc.syscall(%d, b"user", b"from-job", b"JOB", 3, ctypes.c_int(-3)))
""" % (request_key, keyctl, add_key)
limits = sandbox.Limits(wall_s=60, cell_timeout_s=20, warm=False)
job = {"steps": [{"op": "exec", "cell": 0, "source": cell}], "limits": limits.for_job()}
d = tempfile.mkdtemp(prefix="grading-job-")
with open(os.path.join(d, "job.json"), "w") as f:
    json.dump(job, f)
try:
    res = sandbox.run(d, limits)
finally:
    import shutil
    shutil.rmtree(d, ignore_errors=True)
print([json.loads(l) for l in res.lines if l.strip()])
print("host sees", libc.syscall(request_key, b"user", b"from-job", None, 0))
'''


def test_a_cold_sandbox_cannot_reach_the_grading_hosts_session_keyring():
    """A session keyring is inherited by every process the grading service starts, bubblewrap,
    setpriv and the sandbox included, and who holds it may read and add keys whatever their uid.
    A cold job read the service's key and left one for the next job (or the host)."""
    import os
    import subprocess
    import sys
    from assignments_helpers import sandbox_or_skip
    sandbox_or_skip()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, "-c", HOST_KEYRING], cwd=root, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "HOST-SECRET" not in p.stdout, f"a cold job read the host's key:\n{p.stdout}"
    assert "added -1" in p.stdout and "host sees -1" in p.stdout, p.stdout
