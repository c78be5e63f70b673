"""Attacks on the two doors submissions come in by, with this repository's nbgrader_config.py.

- The exchange, with real Unix accounts: each student fetches and submits with nbgrader as
  themselves, then attacks their own inbound copy (nbgrader leaves it theirs, mode 0777): links to
  the course's solutions/ and gradebook.db, a hard link, a FIFO, a whole submission that is a link,
  a backdated timestamp.txt and folder name, a submission under a classmate's id. The instructor
  (root) runs `nbgrader collect` twice (the second time with --update).
- An LMS zip (`nbgrader zip_collect`): an archive nested in a submission, traversal names, a
  symlink entry, an oversized entry, duplicates; honest entries are still collected.

Needs root and useradd (CI runs as root). The students run nbgrader with the venv's Python if
they can; the venv's Python here links into /root/.pyenv (mode 0700), so then they run a system
Python of the same version (Debian's /usr/bin/python3.11) with the venv's site-packages on
PYTHONPATH: /work and the venv are world-readable, and compiled extensions match within 3.11.
"""
import contextlib
import datetime
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbgrader.coursedir import CourseDirectory

from assignments_helpers import env, make_course, nbgrader

COURSE_ID = "convnets-from-scratch"
TIMEOUT = 120  # seconds for any one command
GHOST = "cfs_nobody"  # a student id that is no Unix account and is not mapped


def _need(condition, reason):
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


# ----------------------------------------------------------------------------- students
class Student:
    """A real Unix account with a home holding its nbgrader config; runs commands as itself."""

    python = None  # (executable, extra environment), set once the first account exists

    def __init__(self, name, base, exchange, student_id=None):
        self.name = name
        self.home = base / "home" / name
        subprocess.run(["useradd", "--create-home", "--home-dir", str(self.home), "--shell",
                        "/bin/sh", name], check=True, timeout=TIMEOUT, capture_output=True)
        pw = pwd.getpwnam(name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        (self.home / ".jupyter").mkdir()
        (self.home / ".jupyter" / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            f"c.Exchange.root = {str(exchange)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            + (f"c.CourseDirectory.student_id = {student_id!r}\n" if student_id else ""))
        (self.home / "work").mkdir()
        for path in (self.home / ".jupyter", self.home / ".jupyter" / "nbgrader_config.py",
                     self.home / "work"):
            os.chown(path, self.uid, self.gid)

    def run(self, *cmd, cwd=None):
        proc = subprocess.run(
            list(map(str, cmd)), cwd=cwd or self.home / "work", user=self.uid, group=self.gid,
            extra_groups=[], env=env(self.home, **self.python[1]), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
        assert proc.returncode == 0, f"{self.name}: {' '.join(map(str, cmd))}:\n{proc.stdout}"
        return proc.stdout

    def nbgrader(self, *args):
        return self.run(self.python[0], "-m", "nbgrader", *args)

    def sh(self, script):
        return self.run("/bin/sh", "-euc", script)


def _traversable(path):
    """Let other accounts pass through (not list) the folders above `path`, for this test only:
    a clone under a private folder (mktemp -d makes 0700) hides the venv from the test's students.
    Returns [(folder, old mode)] to restore."""
    changed = []
    for parent in reversed(Path(path).resolve().parents):
        mode = parent.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
            changed.append((parent, mode))
    return changed


def _python_for_students(student):
    """(python, extra env) that an unprivileged account can run nbgrader with."""
    site = sysconfig.get_paths()["purelib"]
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    for python, extra in ((sys.executable, {}), (system, {"PYTHONPATH": site})):
        try:
            proc = subprocess.run([python, "-c", "import nbgrader"], user=student.uid,
                                  group=student.gid, extra_groups=[], cwd="/",
                                  env={"PATH": "/usr/bin:/bin", **extra}, capture_output=True,
                                  timeout=TIMEOUT)
        except OSError:  # not executable by them
            continue
        if proc.returncode == 0:
            return python, extra
    _need(False, f"no Python an unprivileged user can run nbgrader with ({sys.executable} is "
                 f"not readable by them and {system} cannot import the venv's packages)")


def _submission_folder(exchange, account_or_id):
    inbound = exchange / COURSE_ID / "inbound"
    found = sorted(p for p in inbound.iterdir() if p.name.startswith(account_or_id + "+"))
    assert found, f"no submission of {account_or_id} in {inbound}"
    return found[-1]


def _mark(student, text):
    """Write the student's answer: the fetched notebook plus a cell that says whose it is."""
    path = student.home / "work" / "conv" / "conv.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells.append(nbformat.v4.new_markdown_cell(text))
    nbformat.write(nb, path)  # the file stays the student's (written in place)


@contextlib.contextmanager
def _exchange_run(tmp_path_factory):
    _need(os.geteuid() == 0, "needs root to create Unix accounts")
    _need(shutil.which("useradd") and shutil.which("userdel"), "needs useradd and userdel")
    course = make_course(tmp_path_factory.mktemp("instructor"))  # under a 0700 folder: root only
    base = Path(tempfile.mkdtemp(prefix="cfs-", dir="/tmp"))
    base.chmod(0o755)
    (base / "home").mkdir(mode=0o755)
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    tag = secrets.token_hex(3)
    names = {role: f"cfs_{tag}_{role}" for role in ("alice", "bob", "mallory", "eve", "late")}
    made, students, opened = [], {}, []
    try:
        for role, name in names.items():
            made.append(name)
            students[role] = Student(name, base, exchange,
                                     student_id=names["bob"] if role == "eve" else None)
        opened = _traversable(sysconfig.get_paths()["purelib"])
        Student.python = _python_for_students(students["alice"])
        yield _exchange_story(course, exchange, students)
    finally:
        for path, mode in opened:
            os.chmod(path, mode)
        for name in made:
            subprocess.run(["userdel", "--remove", name], timeout=TIMEOUT, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _exchange_story(course, exchange, s):
    x = f"--Exchange.root={exchange}"
    nbgrader("generate_assignment", "conv", "--force", cwd=course)
    nbgrader("release_assignment", "conv", x, cwd=course)
    with ThreadPoolExecutor(3) as pool:  # independent students: no need to wait in line
        list(pool.map(lambda st: st.nbgrader("fetch_assignment", "conv"), s.values()))
        for role in ("alice", "bob", "mallory"):
            _mark(s[role], f"answer of {s[role].name}")
        s["mallory"].sh("echo 'my own notes' > conv/notes.md")
        list(pool.map(lambda r: s[r].nbgrader("submit", "conv"), ("alice", "bob", "mallory")))

    # mallory attacks her own inbound copy, as herself
    mine = _submission_folder(exchange, s["mallory"].name)
    solutions = course / "solutions"
    s["mallory"].sh(
        f"cd '{mine}'; rm conv.ipynb; ln -s '{solutions}/conv/conv.ipynb' conv.ipynb; "
        f"ln -s '{course}/gradebook.db' notes.txt; ln -s '{solutions}' leak; "
        f"echo mine > ~/own.txt; ln ~/own.txt hard.txt; mkfifo pipe; "
        # a whole "submission" that is a link, dated in the future so it looks newest
        f"ln -s '{solutions}/conv' '../{s['mallory'].name}+conv+2099-01-01 00:00:00.000000 UTC'")
    log1 = nbgrader("collect", "conv", x, cwd=course, check=False)

    # the deadline passes; a late student backdates their submission; eve submits as bob
    time.sleep(1.1)
    due = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    nbgrader("db", "assignment", "add", "conv", f"--duedate={due.isoformat()} UTC", cwd=course)
    time.sleep(1.1)
    _mark(s["late"], f"answer of {s['late'].name}")
    s["late"].nbgrader("submit", "conv")
    folder = _submission_folder(exchange, s["late"].name)
    early = (due - datetime.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    s["late"].sh(f"cd '{folder.parent}'; printf '{early}' > '{folder.name}/timestamp.txt'; "
                 f"mv '{folder.name}' '{s['late'].name}+conv+{early}+x'")
    _mark(s["eve"], f"answer of {s['eve'].name} (not bob)")
    s["eve"].nbgrader("submit", "conv")
    s["eve"].nbgrader("submit", "conv", f"--student={GHOST}")  # an id no account has
    log2 = nbgrader("collect", "conv", x, "--update", cwd=course, check=False)
    return {"course": course, "students": s, "due": due,
            "log": log1.stdout + log2.stdout, "returncodes": (log1.returncode, log2.returncode)}


def _submitted(run, role):
    return run["course"] / "submitted" / run["students"][role].name / "conv"


def _recorded(run, role):
    """The submission time autograde will record (nbgrader's own reader, as autograde uses)."""
    return CourseDirectory().get_existing_timestamp(str(_submitted(run, role)))


# Each check gets the story's record: course, students, due date, collect's log.
def check_collect_finishes(exchange_run):
    assert exchange_run["returncodes"] == (0, 0), exchange_run["log"][-4000:]


def check_nothing_of_the_course_reaches_submitted(exchange_run):
    for root, dirs, files in os.walk(exchange_run["course"] / "submitted"):
        for name in dirs + files:
            path = Path(root) / name
            mode = path.lstat().st_mode
            assert stat.S_ISDIR(mode) or stat.S_ISREG(mode), f"{path} is not a plain file"
            if stat.S_ISREG(mode):
                data = path.read_bytes()
                assert not data.startswith(b"SQLite format 3"), f"{path} is the gradebook"
                for secret in (b"BEGIN HIDDEN TESTS", b"### BEGIN SOLUTION"):
                    assert secret not in data, f"{path} holds {secret.decode()}"


def check_links_and_special_files_are_skipped_and_logged_the_rest_collected(exchange_run):
    run, who = exchange_run, exchange_run["students"]["mallory"].name
    got = _submitted(run, "mallory")
    assert sorted(p.name for p in got.iterdir()) == \
        ["notes.md", "submission_secret.txt", "timestamp.txt"]
    assert (got / "notes.md").read_text() == "my own notes\n"
    lines = [line for line in run["log"].splitlines() if who in line]
    for entry, why in (("conv.ipynb", "a link"), ("notes.txt", "a link"), ("leak", "a link"),
                       ("hard.txt", "a hard link"), ("pipe", "a FIFO")):
        assert any(f"'{entry}'" in line and why in line for line in lines), \
            f"no log line for {entry}:\n" + "\n".join(lines)
    assert any("2099-01-01" in line and "is a link" in line for line in lines), lines


def check_impersonation_is_refused_and_the_victims_work_stays(exchange_run):
    run = exchange_run
    bob, eve = run["students"]["bob"].name, run["students"]["eve"].name
    nb = nbformat.read(_submitted(run, "bob") / "conv.ipynb", 4)
    assert nb.cells[-1].source == f"answer of {bob}"
    assert not (run["course"] / "submitted" / eve).exists()
    assert any("impersonation" in line and eve in line and bob in line
               for line in run["log"].splitlines()), run["log"][-4000:]
    assert not (run["course"] / "submitted" / GHOST).exists()
    assert any(f"no Unix account is named '{GHOST}'" in line and eve in line
               for line in run["log"].splitlines()), run["log"][-4000:]


def check_late_submission_is_recorded_late(exchange_run):
    run, late = exchange_run, exchange_run["students"]["late"].name
    nb = nbformat.read(_submitted(run, "late") / "conv.ipynb", 4)
    assert nb.cells[-1].source == f"answer of {late}"
    assert _recorded(run, "late") > run["due"]
    assert any(late in line and "timestamp.txt" in line and "says" in line
               for line in run["log"].splitlines()), run["log"][-4000:]


def check_honest_students_are_collected_on_time(exchange_run):
    run = exchange_run
    for role in ("alice", "bob"):
        nb = nbformat.read(_submitted(run, role) / "conv.ipynb", 4)
        assert nb.cells[-1].source == f"answer of {run['students'][role].name}"
        assert _recorded(run, role) < run["due"], role
    eve = run["students"]["eve"].name  # eve's refused folder names bob
    assert not [line for line in run["log"].splitlines()
                if any(run["students"][r].name in line for r in ("alice", "bob"))
                and eve not in line and any(w in line for w in ("Refused", "Skipped", "says"))]


def test_exchange_attacks_gain_nothing(tmp_path_factory):
    """One story (accounts, release, submissions, attacks, two collects), then every check;
    one test so that pytest-xdist runs the story once. Each failing check is reported."""
    with _exchange_run(tmp_path_factory) as run:
        failed = []
        for check in (check_collect_finishes, check_nothing_of_the_course_reaches_submitted,
                      check_links_and_special_files_are_skipped_and_logged_the_rest_collected,
                      check_impersonation_is_refused_and_the_victims_work_stays,
                      check_late_submission_is_recorded_late,
                      check_honest_students_are_collected_on_time):
            try:
                check(run)
            except AssertionError as err:
                failed.append(f"{check.__name__}: {str(err)[:1500]}")
        assert not failed, "\n\n".join(failed)


# ----------------------------------------------------------------------------- LMS zips
def _notebook(text):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(text))
    return nbformat.writes(nb)


def _zip_bytes(members):
    from io import BytesIO
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_lms_zip_attacks_are_refused_honest_entries_collected(tmp_path):
    course = make_course(tmp_path)
    nbgrader("generate_assignment", "conv", "--force", cwd=course)
    archive = course / "downloaded" / "conv" / "archive"
    archive.mkdir(parents=True)
    link = zipfile.ZipInfo("frank_1_2_conv.ipynb")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive / "lms.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("carol_11_22_conv.ipynb", _notebook("carol"))
        zf.writestr("ivan_conv.ipynb", _notebook("ivan"))
        # dave hands in an archive: inside, a notebook named as erin's and a second one of carol's
        zf.writestr("dave_33_44_conv.zip", _zip_bytes({"erin_conv.ipynb": _notebook("by dave"),
                                                       "carol_conv.ipynb": _notebook("by dave")}))
        zf.writestr("../mallet_conv.ipynb", _notebook("traversal"))
        zf.writestr("/abs_conv.ipynb", _notebook("absolute"))
        zf.writestr("sub\\..\\back_conv.ipynb", _notebook("backslash"))
        zf.writestr(".._conv.ipynb", _notebook("id is .."))
        zf.writestr(link, str(course / "solutions" / "conv" / "conv.ipynb"))
        zf.writestr("gina_conv.ipynb", _notebook("x" * 300_000))
        for n, text in ((1, "hank first"), (3, "hank third"), (2, "hank second")):
            zf.writestr(f"hank_5_6_conv-{n}.ipynb", _notebook(text))
        zf.writestr("kim_conv.ipynb", _zip_bytes({"kim_conv.ipynb": _notebook("in disguise")}))
        zf.writestr("notes.txt", "not a notebook: skipped")
    (archive / "judy_conv.ipynb").write_text(_notebook("judy"))  # loose files are read too
    (archive / "other.tar.gz").write_bytes(b"\x1f\x8b not read")
    log = nbgrader("zip_collect", "conv", "--SafeZipExtractor.max_entry_kb=200",
                   cwd=course, check=False)
    assert log.returncode == 0, log.stdout[-4000:]
    submitted = course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["carol", "hank", "ivan", "judy"], \
        log.stdout
    for sid, text in (("carol", "carol"), ("ivan", "ivan"), ("hank", "hank third"),
                      ("judy", "judy")):
        nb = nbformat.read(submitted / sid / "conv" / "conv.ipynb", 4)
        assert nb.cells[-1].source == text, sid
    assert not (course / "conv").exists() and not (course.parent / "mallet").exists()
    lines = log.stdout.splitlines()
    for entry, why in (("dave_33_44_conv.zip", "never unpacked"), ("../mallet", "traversal"),
                       ("/abs_conv", "absolute"), ("back_conv", "backslash"),
                       ("frank_1_2_conv", "link"), ("gina_conv", "more than"),
                       (".._conv", "not a plain name"), ("hank_5_6_conv-1", "Duplicate"),
                       ("kim_conv", "content is an archive"), ("other.tar.gz", "only .zip"),
                       ("hank_5_6_conv-2", "Duplicate")):
        assert any(entry in line and why in line for line in lines), \
            f"no log line for {entry}:\n{log.stdout[-4000:]}"


# ----------------------------------------------------------------------------- pieces, no accounts
def _collector(**traits):
    from grading.safe_collect import SafeExchangeCollect
    return SafeExchangeCollect(coursedir=CourseDirectory(), **traits)


def test_uid_csv_is_read_and_a_bad_row_is_named(tmp_path):
    from nbgrader.exchange import ExchangeError
    good = tmp_path / "uids.csv"
    good.write_text("student_id,uid\nalice,1001\n bob ,1002\n")
    assert _collector(student_uids_csv=str(good), student_uids={"bob": 7})._uid_map() == \
        {"alice": 1001, "bob": 7}  # the config's dict wins over the file
    bad = tmp_path / "bad.csv"
    bad.write_text("student_id,uid\nalice,1001\ncarol,one\n")
    with pytest.raises(ExchangeError, match="line 3"):
        _collector(student_uids_csv=str(bad))._uid_map()


def test_switching_the_owner_check_off_is_refused():
    from nbgrader.exchange import ExchangeError
    with pytest.raises(ExchangeError, match="student_uids"):
        _collector(check_owner=False).init_src()


def test_submission_time_is_ctime_not_a_backdated_mtime(tmp_path):
    from grading.safe_collect import newest_ctime
    before = time.time() - 1  # file systems keep ctime to the tick
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "conv.ipynb").write_text("{}")
    for path in (tmp_path / "sub" / "conv.ipynb", tmp_path / "sub"):
        os.utime(path, (0, 0))  # anyone can set mtime and atime back to 1970
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert newest_ctime(fd) >= before
    finally:
        os.close(fd)


def test_student_ids_with_markup_are_refused():
    """An id a student chose (an LMS file name) becomes a folder name and is shown, unescaped, in
    the formgrader's navigation bar: ids with markup characters are refused, plain ones kept."""
    from grading.safe_collect import SafeFileNameCollector
    collector = SafeFileNameCollector(named_regexp=(
        r"^(?:.*[\\/])?(?P<student_id>[^_\\/]+)_(?:[^\\/]*_)?(?P<file_id>[A-Za-z0-9]+)"
        r"(?:-\d+)?\.ipynb$"))
    assert collector.collect("alice_12_34_conv.ipynb")["student_id"] == "alice"
    assert collector.collect("a.b-c+d@uni_conv.ipynb")["student_id"] == "a.b-c+d@uni"
    for bad in ("<img src=x onerror=alert(1)>_conv.ipynb", "x'onmouseover='alert(1)_conv.ipynb",
                "..._conv.ipynb", "a b_conv.ipynb", "<svg>_conv.ipynb"):
        assert collector.collect(bad) is None, bad
