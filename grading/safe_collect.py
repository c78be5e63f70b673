"""Collecting submissions without trusting them: nbgrader's exchange and LMS zips (instructor only).

Switched on in ../nbgrader_config.py; docs/SECURITY.md ("Collecting") says what each guard stops
and tests/test_collect_security.py attacks both doors with real Unix accounts.

Stock nbgrader 0.9 `collect` copies each student's inbound folder with `shutil.copytree` under
the instructor's rights, though the student owns that folder and can change it at any time: it
follows the links planted there (into solutions/ or gradebook.db), files a submission under
whatever student id its folder name claims (it only logs "cheating attempt?"), and records the
time written in the student's own timestamp.txt. Stock `zip_collect` unpacks archives nested in
a submission and attributes their contents, and aborts for everyone on a duplicate.

- SafeExchangeCollect (c.ExchangeFactory.collect):
  * copies through file descriptors: every entry is checked with lstat, opened with O_NOFOLLOW
    and checked again with fstat (same inode, still a regular file or folder), so nothing is
    followed and there is no window between the check and the read. Links, hard-linked files,
    FIFOs, devices and sockets are skipped with a log line naming the student and the entry; the
    rest of that submission and every other student are collected;
  * refuses a whole submission whose folder is not owned by the student it names (an account
    with that name, or student_uids / student_uids_csv); it never becomes a candidate, so it can
    neither be filed as that student nor replace their real submission;
  * records the newest ctime in the submission (a user cannot set ctime back) as its time, and
    logs when the student's timestamp.txt or folder name says otherwise.
- SafeZipExtractor (c.ZipCollectApp.extractor_plugin): reads the LMS's .zip itself; never
  unpacks an archive found inside it; refuses traversal names, links, special files and
  oversized entries; keeps one file per (student, notebook): the highest resubmission number,
  then the newest entry time.
- SafeFileNameCollector (c.ZipCollectApp.collector_plugin): the stock file-name collector that
  also refuses a student id or file id that is not a plain name ("..", "a/b").
"""
import csv
import datetime
import errno
import fnmatch
import os
import re
import shutil
import stat
import tempfile
import zipfile

from dateutil.tz import gettz
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default import ExchangeCollect
from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from nbgrader.utils import parse_utc
from traitlets import Dict, Float, Int, List, Unicode, Integer

try:
    import pwd
except ImportError:  # Windows: the exchange is not available there anyway
    pwd = None

MAX_DEPTH = 32  # folders inside a submission; deeper ones would exhaust descriptors or the stack
MAX_SCAN = 100_000  # entries looked at in one submission before it is refused as a flood
_NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a FIFO never blocks open


class Refused(Exception):
    """An entry (or a whole submission) that is not collected; the message says why."""


def _kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "link"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


_STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def safe_student_id(name):
    """True for ids of letters, digits and . _ @ + - (at most 64, not starting with a dot): an id
    becomes a folder name and is shown in the formgrader, whose navigation bar inserts it as HTML,
    so markup characters in an id a student chose (a file name in an LMS zip) are refused."""
    return bool(name) and _STUDENT_ID.fullmatch(name) is not None


def plain_name(name):
    """True if `name` is usable as one path component (a student id, a notebook name)."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


def _open_entry(name, dir_fd):
    """Open one directory entry without following it; return (fd, fstat).

    lstat first, so a FIFO or device is never opened; then open with O_NOFOLLOW and fstat the
    descriptor: it must be the inode lstat saw, so swapping the entry in between is refused too.
    """
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as err:
        raise Refused(f"cannot read it ({err.strerror})") from None
    kind = _kind(before.st_mode)
    if kind not in ("file", "folder"):
        raise Refused(f"a {kind}, not a regular file or folder")
    flags = os.O_RDONLY | _NOFOLLOW | (os.O_DIRECTORY if kind == "folder" else 0)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused("replaced by a link while being collected") from None
        raise Refused(f"cannot open it ({err.strerror})") from None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino) or \
            _kind(st.st_mode) != kind:
        os.close(fd)
        raise Refused("replaced while being collected")
    return fd, st


def newest_ctime(dir_fd, depth=0, budget=None):
    """The newest ctime of a folder and everything in it (links themselves, never followed).

    A user can set mtime to anything (touch, utime) but not ctime: any change to a file, to a
    folder's entries, a rename or chmod moves ctime to the present. Errors are ignored: an entry
    that vanished made its folder's ctime newer anyway.
    """
    if depth > MAX_DEPTH:
        raise Refused(f"folders nested deeper than {MAX_DEPTH}")
    budget = budget if budget is not None else [MAX_SCAN]
    newest = os.fstat(dir_fd).st_ctime
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            budget[0] -= 1
            if budget[0] < 0:
                raise Refused(f"more than {MAX_SCAN} files and folders")
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            newest = max(newest, st.st_ctime)
            if stat.S_ISDIR(st.st_mode):
                try:
                    fd = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW,
                                 dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    newest = max(newest, newest_ctime(fd, depth + 1, budget))
                finally:
                    os.close(fd)
    return newest


class SafeExchangeCollect(ExchangeCollect):
    """`nbgrader collect` that treats the inbound folder as the students' (see the module doc)."""

    student_uids = Dict(
        value_trait=Integer(), key_trait=Unicode(),
        help="Student id -> the Unix uid that must own their submissions. Decides before the "
             "account names: use it where students are not Unix accounts named by their id "
             "(e.g. JupyterHub with other user names), or simulated students share one uid.",
    ).tag(config=True)

    student_uids_csv = Unicode(
        "", help="A CSV file with columns student_id,uid, read in addition to student_uids.",
    ).tag(config=True)

    timestamp_tolerance = Float(
        30.0, help="Seconds the student's timestamp.txt may differ from the files' newest ctime "
                   "before collect logs it (the ctime is recorded either way).",
    ).tag(config=True)

    max_entries = Int(
        2000, help="A submission with more files and folders than this is refused.",
    ).tag(config=True)

    # ------------------------------------------------------------------------- identity
    def _uid_map(self):
        uids = {}
        if self.student_uids_csv:
            with open(self.student_uids_csv, newline="") as fh:
                for n, row in enumerate(csv.DictReader(fh), start=2):
                    try:
                        uids[row["student_id"].strip()] = int(row["uid"])
                    except (KeyError, TypeError, ValueError):
                        self.fail(f"{self.student_uids_csv} line {n}: expected columns "
                                  f"student_id,uid with a whole-number uid, got {row}")
        uids.update(self.student_uids)
        return uids

    def expected_uid(self, student_id):
        """The uid that must own this student's submission, or None: refuse (no way to know)."""
        if student_id in self.uids:
            return self.uids[student_id]
        try:
            return pwd.getpwnam(student_id).pw_uid
        except KeyError:
            return None

    @staticmethod
    def _owner(uid):
        try:
            return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
        except KeyError:
            return f"uid {uid}"

    # ------------------------------------------------------------------------- finding submissions
    def _parse_name(self, name):
        """(student id, claimed time or None) of an inbound folder name 'id+assignment+time[+x]'."""
        parts = name.rsplit("+", 3)
        if len(parts) == 4 and parts[1] != self.coursedir.assignment_id:
            parts = name.rsplit("+", 2)  # no random suffix and an id with '+' in it
        if len(parts) < 3 or parts[1] != self.coursedir.assignment_id:
            return None, None
        try:
            claimed = parse_utc(parts[2])
        except (ValueError, OverflowError):
            claimed = None
        return parts[0], claimed

    def init_src(self):
        if not self.check_owner:
            self.fail("SafeExchangeCollect always checks who owns a submission; instead of "
                      "check_owner=False, map student ids to uids with "
                      "SafeExchangeCollect.student_uids (or student_uids_csv)")
        if pwd is None:
            self.fail("SafeExchangeCollect needs Unix accounts (the pwd module)")
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.uids = self._uid_map()
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        try:
            self.inbound_fd = os.open(self.inbound_path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
        except OSError as err:
            self.fail(f"Cannot open the inbound folder {self.inbound_path}: {err.strerror}")
        owner = os.fstat(self.inbound_fd).st_uid
        if not self.coursedir.groupshared and owner not in (os.geteuid(), 0):
            self.fail(f"{self.inbound_path} belongs to {self._owner(owner)}, not to you: "
                      "refusing to collect from it")

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None

        wanted = self.coursedir.student_id or "*"
        candidates = {}
        for name in sorted(os.listdir(self.inbound_fd)):
            if name.startswith("."):
                continue
            student_id, claimed = self._parse_name(name)
            if student_id is None or not fnmatch.fnmatchcase(student_id, wanted):
                continue
            try:
                rec = self._candidate(name, student_id, claimed)
            except Refused as why:
                self.log.error("Refused submission %s (claims to be %s's): %s",
                               name, student_id, why)
                continue
            candidates.setdefault(student_id, []).append(rec)

        self.src_records = []
        for records in candidates.values():
            records.sort(key=lambda r: (r["timestamp"], r["filename"]), reverse=True)
            if self.duedate is not None and self.before_duedate:
                on_time = [r for r in records if r["timestamp"] <= self.duedate]
                records = on_time or records
            self.src_records.append(records[0])

    def _candidate(self, name, student_id, claimed):
        """A submission folder that may be collected, with its trusted time; or Refused."""
        if not safe_student_id(student_id):
            raise Refused("the student id is not a plain name (letters, digits, . _ @ + -)")
        try:
            fd, st = _open_entry(name, self.inbound_fd)
        except Refused as why:
            raise Refused(f"the submission itself is {why}") from None
        try:
            if not stat.S_ISDIR(st.st_mode):
                raise Refused(f"not a folder but a {_kind(st.st_mode)}")
            expected = self.expected_uid(student_id)
            if expected is None:
                raise Refused(f"no Unix account is named {student_id!r} and "
                              "SafeExchangeCollect.student_uids does not map it: cannot tell "
                              f"who submitted it (it belongs to {self._owner(st.st_uid)})")
            if st.st_uid != expected:
                raise Refused(f"impersonation: it belongs to {self._owner(st.st_uid)} but "
                              f"{student_id}'s work must belong to {self._owner(expected)}; "
                              f"not filed as {student_id}'s")
            ctime = newest_ctime(fd)
        finally:
            os.close(fd)
        return {"username": student_id, "filename": name, "claimed": claimed,
                "uid": expected, "ctime": ctime, "timestamp": self._utc(ctime)}

    @staticmethod
    def _utc(seconds):
        """Naive UTC, as nbgrader's parse_utc and the gradebook's due dates."""
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)

    # ------------------------------------------------------------------------- copying
    def copy_files(self):
        if not self.src_records:
            self.log.warning("No submissions of '%s' for course '%s' to collect",
                             self.coursedir.assignment_id, self.coursedir.course_id)
        else:
            self.log.info("Processing %d submissions of '%s' for course '%s'",
                          len(self.src_records), self.coursedir.assignment_id,
                          self.coursedir.course_id)
        try:
            for rec in self.src_records:
                self._collect_one(rec)
        finally:
            os.close(self.inbound_fd)

    def _collect_one(self, rec):
        student_id, assignment = rec["username"], self.coursedir.assignment_id
        dest_path = self.coursedir.format_path(self.coursedir.submitted_directory, student_id,
                                               assignment)
        if os.path.isdir(dest_path):
            existing = self.coursedir.get_existing_timestamp(dest_path)
            if not (self.update and (existing is None or rec["timestamp"] > existing)) and \
                    not (self.before_duedate and existing != rec["timestamp"]):
                self.log.info("%s: %s %s", "No newer submission to collect" if self.update else
                              "Submission already exists, use --update to update",
                              student_id, assignment)
                return
        parent = os.path.dirname(dest_path)
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{assignment}.collecting-", dir=parent)
        try:
            recorded = self._copy_submission(rec, staging)
        except (Refused, OSError) as why:
            shutil.rmtree(staging)
            self.log.error("Refused submission %s of %s: %s", rec["filename"], student_id, why)
            return
        except BaseException:
            shutil.rmtree(staging)
            raise
        os.chmod(staging, 0o755)
        if os.path.isdir(dest_path):  # swap in the new copy; the old one stays until it is in place
            self.log.info("Updating submission: %s %s", student_id, assignment)
            old = tempfile.mkdtemp(prefix=f".{assignment}.replaced-", dir=parent)
            os.rename(dest_path, os.path.join(old, "old"))
            os.rename(staging, dest_path)
            shutil.rmtree(old)
        else:
            self.log.info("Collecting submission: %s %s", student_id, assignment)
            os.rename(staging, dest_path)
        self.log.info("%s %s submitted at %s (newest change in the exchange)", student_id,
                      assignment, recorded)

    def _copy_submission(self, rec, dest):
        """Copy one inbound folder into dest (a fresh folder); write the trusted timestamp.txt."""
        fd, st = _open_entry(rec["filename"], self.inbound_fd)
        try:
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != rec["uid"]:
                raise Refused("the folder was replaced while being collected")
            ctx = {"rec": rec, "entries": 0, "bytes": 0, "claimed": None}
            self._copy_dir(fd, dest, "", ctx)
            # Every change to what was just read moved some ctime in the tree; read them after
            # the copy so the time recorded is never older than the content collected.
            newest = max(newest_ctime(fd), rec["ctime"])
        finally:
            os.close(fd)
        when = self._utc(newest)
        recorded = datetime.datetime.fromtimestamp(newest, gettz(self.timezone)).strftime(
            self.timestamp_format)
        with open(os.path.join(dest, "timestamp.txt"), "w") as fh:
            fh.write(recorded)
        for source, claimed in (("timestamp.txt", ctx["claimed"]),
                                ("the folder name", rec["claimed"])):
            if claimed is None:
                self.log.warning("%s: %s of %s gives no readable time; recording %s",
                                 rec["username"], source, rec["filename"], recorded)
            elif abs((claimed - when).total_seconds()) > self.timestamp_tolerance:
                self.log.warning("%s: %s of %s says %s but its files last changed at %s; "
                                 "recording %s", rec["username"], source, rec["filename"],
                                 claimed, recorded, recorded)
        return recorded

    def _refuse_entry(self, ctx, rel, why):
        self.log.error("Skipped %r in %s's submission %s: %s", rel, ctx["rec"]["username"],
                       ctx["rec"]["filename"], why)

    def _ignored(self, name, is_dir):
        if any(fnmatch.fnmatch(name, glob) for glob in self.coursedir.ignore):
            return True
        return not is_dir and bool(self.coursedir.include) and \
            not any(fnmatch.fnmatch(name, glob) for glob in self.coursedir.include)

    def _copy_dir(self, dir_fd, dest, rel, ctx):
        for name in sorted(os.listdir(dir_fd)):
            path = f"{rel}{name}"
            ctx["entries"] += 1
            if ctx["entries"] > self.max_entries:
                raise Refused(f"more than {self.max_entries} files and folders")
            try:
                fd, st = _open_entry(name, dir_fd)
            except Refused as why:
                self._refuse_entry(ctx, path, why)
                continue
            try:
                if st.st_uid != ctx["rec"]["uid"]:
                    self._refuse_entry(ctx, path, f"belongs to {self._owner(st.st_uid)}, not to "
                                                  "the student")
                elif path == "timestamp.txt":  # read to compare, never copied: collect writes it
                    if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                        ctx["claimed"] = self._read_claimed(fd)
                    else:
                        self._refuse_entry(ctx, path, "not a plain file")
                elif stat.S_ISDIR(st.st_mode):
                    if path.count("/") >= MAX_DEPTH:
                        raise Refused(f"folders nested deeper than {MAX_DEPTH}")
                    if not self._ignored(name, True):
                        os.mkdir(os.path.join(dest, name), 0o755)
                        self._copy_dir(fd, os.path.join(dest, name), path + "/", ctx)
                elif st.st_nlink != 1:
                    self._refuse_entry(ctx, path, f"a hard link ({st.st_nlink} names for one "
                                                  "file)")
                elif not self._ignored(name, False):
                    self._copy_file(fd, st, os.path.join(dest, name), path, ctx)
            finally:
                os.close(fd)

    def _read_claimed(self, fd):
        try:
            return parse_utc(os.read(fd, 200).decode().strip())
        except (ValueError, OverflowError, UnicodeDecodeError):
            return None

    def _copy_file(self, fd, st, dest, rel, ctx):
        limit = 1000 * self.coursedir.max_file_size
        if st.st_size > limit:
            self._refuse_entry(ctx, rel, f"{st.st_size} bytes, more than CourseDirectory."
                                         f"max_file_size ({self.coursedir.max_file_size} kB)")
            return
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with open(out, "wb") as fh:
            while chunk := os.read(fd, 1 << 16):
                ctx["bytes"] += len(chunk)
                if ctx["bytes"] > 1000 * self.coursedir.max_dir_size:
                    raise Refused(f"more than CourseDirectory.max_dir_size "
                                  f"({self.coursedir.max_dir_size} kB)")
                fh.write(chunk)


# ============================================================================= LMS zips
_ARCHIVE = re.compile(r"\.(zip|tar|gz|tgz|bz2|tbz2?|xz|txz|7z|rar|jar|whl|zst)$", re.I)
_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf",
          b"Rar!", b"\x28\xb5\x2f\xfd")
_RESUBMISSION = re.compile(r"-(\d+)(\.[^./]+)$")


class SafeZipExtractor(ExtractorPlugin):
    """zip_collect's extractor: reads only the LMS's own zip entries (see the module doc)."""

    max_entry_kb = Int(
        100000, help="Entries larger than this (uncompressed, in kB) are refused.",
    ).tag(config=True)

    zip_ext = List([".zip"], help="Archives in the archive folder read as LMS downloads; "
                                  "only .zip is supported.").tag(config=True)

    def extract(self, archive_path, extracted_path):
        if self.zip_ext != [".zip"]:
            raise ValueError("SafeZipExtractor reads only .zip LMS downloads; "
                             f"zip_ext={self.zip_ext!r} is not supported")
        entries = []  # (archive label, entry name, date_time, reader)
        for root, dirs, files in os.walk(archive_path):  # the instructor's folder; no links in it
            dirs.sort()
            for fname in sorted(files):
                path = os.path.join(root, fname)
                rel = os.path.relpath(path, archive_path)
                if os.path.islink(path) or not os.path.isfile(path):
                    self.log.error("Refused %s: not a regular file", rel)
                elif fname.lower().endswith(".zip"):
                    entries += self._zip_entries(path, rel)
                elif _ARCHIVE.search(fname):
                    self.log.error("Refused %s: only .zip LMS downloads are read; unpack it "
                                   "yourself and put its files in %s", rel, archive_path)
                else:
                    entries.append((None, rel, None, lambda p=path: open(p, "rb")))
        for label, name, reader in self._one_per_student(entries, extracted_path):
            self._write(label, name, reader, extracted_path)

    def _zip_entries(self, path, rel):
        """The acceptable entries of one LMS zip: (label, name, date_time, reader)."""
        label = os.path.splitext(rel)[0]
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            self.log.error("Refused %s: not a readable zip (%s)", rel, err)
            return []
        out = []
        for info in zf.infolist():
            why = self._entry_problem(info)
            if why:
                self.log.error("Refused entry %r of %s: %s", info.filename, rel, why)
            elif not info.is_dir():
                out.append((label, info.filename, info.date_time,
                            lambda zf=zf, info=info: zf.open(info)))
        return out

    def _entry_problem(self, info):
        name = info.filename
        if "\\" in name or "\0" in name:
            return "backslash or NUL in its name"
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            return "absolute name"
        parts = name.rstrip("/").split("/")
        if any(p in ("", ".", "..") for p in parts):
            return "'..', '.' or an empty part in its name (path traversal)"
        mode = info.external_attr >> 16  # Unix mode, if the zip was made on Unix
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return f"a {_kind(mode)} entry, not a regular file"
        if info.is_dir():
            return None
        if info.file_size > 1000 * self.max_entry_kb:
            return f"{info.file_size} bytes, more than SafeZipExtractor.max_entry_kb " \
                   f"({self.max_entry_kb} kB)"
        if _ARCHIVE.search(name):
            return "an archive inside the LMS download: never unpacked"
        return None

    def _one_per_student(self, entries, extracted_path):
        """Keep one entry per (student, notebook): the highest resubmission number ('-2' in
        'alice_conv-2.ipynb'), then the newest entry time, then the later name. Others are
        logged. Attribution is the collector's own (its named_regexp), on the path written."""
        collector = getattr(self.parent, "collector_plugin_inst", None)
        groups = {}
        for n, (label, name, when, reader) in enumerate(entries):
            key = ("unattributed", n)
            if collector is not None:
                info = collector.collect(self._dest(label, name, extracted_path))
                if info and "student_id" in info and "file_id" in info:
                    key = (info["student_id"], info["file_id"],
                           os.path.splitext(name)[1].lower())
            m = _RESUBMISSION.search(os.path.basename(name))
            rank = (int(m.group(1)) if m else 0, when or (0,), label or "", name)
            groups.setdefault(key, []).append((rank, label, name, reader))
        for key, group in groups.items():
            group.sort(key=lambda g: g[0])
            for _, label, name, _ in group[:-1]:
                self.log.warning("Duplicate for student %r, file %r: skipped %r, kept %r "
                                 "(higher resubmission number or newer)", key[0], key[1],
                                 name, group[-1][2])
            yield group[-1][1:]

    @staticmethod
    def _dest(label, name, extracted_path):
        return os.path.join(extracted_path, *(label.split(os.sep) if label else []),
                            *name.split("/"))

    def _write(self, label, name, reader, extracted_path):
        dest = self._dest(label, name, extracted_path)
        limit = 1000 * self.max_entry_kb
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            self.log.error("Refused %r: a second entry with the same name", name)
            return
        size, ok = 0, True
        with reader() as src, open(out, "wb") as fh:
            head = src.read(8)
            if head.startswith(_MAGIC):
                self.log.error("Refused %r: its content is an archive (never unpacked)", name)
                ok = False
            chunk = head
            while ok and chunk:
                size += len(chunk)
                if size > limit:
                    self.log.error("Refused %r: more than %d kB uncompressed", name,
                                   self.max_entry_kb)
                    ok = False
                    break
                fh.write(chunk)
                chunk = src.read(1 << 16)
        if not ok:
            os.unlink(dest)
        else:
            self.log.info("Extracted %r to %s", name, dest)


class SafeFileNameCollector(FileNameCollectorPlugin):
    """The stock file-name collector, refusing ids that are not plain names."""

    def collect(self, submitted_file):
        info = super().collect(submitted_file)
        if info and not (safe_student_id(info.get("student_id") or "") and
                         all(plain_name(p) for p in (info.get("file_id") or "").split("/"))):
            self.log.error("Refused %s: student id %r or file id %r is not a plain name",
                           submitted_file, info.get("student_id"), info.get("file_id"))
            return None
        return info
