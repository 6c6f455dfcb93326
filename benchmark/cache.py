"""The job cache's safety: checksums of each entry, a lock per job, and owner-aware clean-up.

A cache entry is a folder ``<cache>/<dataset>/<method>/<key>/`` (see :mod:`benchmark.runner`).
This module holds what keeps such folders trustworthy when the disk, a user or another run
touches them:

* **Checksums.** Each record (``job.json``, ``failure.json``) carries a ``checksums`` field: the
  sha256 of every data file of the entry (``prediction.npy``) and of the record itself (its
  other fields, serialised canonically). A reader that finds a mismatch treats the entry as
  damaged. Records written before checksums existed have no such field and are trusted as
  before, though a file that does not load is still damaged.
* **A lock per job.** ``<key>.lock`` beside the entry, held with ``fcntl.flock`` by whoever
  reads-or-computes the job. A second run that reaches the same job waits for the first and
  then reads its entry instead of computing it again. The kernel releases a lock when its
  holder dies, so a killed run never leaves a job locked. Lock files are left in place: deleting
  one while another process waits on it would let two processes hold "the" lock at once.
* **Owner-aware clean-up.** A job is computed in ``<key>.tmp<pid>`` and renamed into place. A
  left-over temporary folder is removed only by the holder of the job's lock, and only when the
  process named in it is not alive (or is the holder itself), so a run never deletes the
  scratch folder of a job another process is still computing.

``flock`` works across processes on one machine and, on Linux, on NFS (emulated with POSIX
record locks). On a file system without working locks the lock is a no-op and concurrent runs
fall back to computing a job twice.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import threading
from pathlib import Path
from typing import Any, Iterator

#: the record field holding the checksums
CHECKSUM_KEY = "checksums"
_CHUNK = 1 << 20

# Locks this process holds, per (lock file, thread): taking the lock again in the same thread is
# a no-op (run_job is called both on its own and inside a locked read-or-compute), while another
# thread of the same process still waits, as another process would (flock locks belong to an open
# file description, so two opens of one file exclude each other even within one process).
_held: dict[tuple[str, int], list[int]] = {}  # -> [fd, depth]
_held_guard = threading.Lock()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (read in chunks: predictions can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def record_sha256(record: dict[str, Any]) -> str:
    """The sha256 of a record without its checksum field, serialised canonically.

    The record goes through JSON first, exactly as it is stored, so that the value computed
    before writing equals the one computed from the parsed file (tuples become lists, keys
    strings, floats keep their ``repr``).
    """
    plain = json.loads(json.dumps({k: v for k, v in record.items() if k != CHECKSUM_KEY}, default=str))
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def seal(record: dict[str, Any], folder: Path, files: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """``record`` with a ``checksums`` field: sha256 of each of ``files`` (in ``folder``) and of
    the record itself."""
    out = {k: v for k, v in record.items() if k != CHECKSUM_KEY}
    out[CHECKSUM_KEY] = {
        "algorithm": "sha256",
        "files": {name: file_sha256(Path(folder) / name) for name in files},
        "record": record_sha256(out),
    }
    return out


def verify(record: dict[str, Any], folder: Path) -> str | None:
    """Why ``record`` (read from ``folder``) fails its checksums, or ``None``.

    A record without checksums (written by an older version) passes: it is trusted as before.
    """
    sums = record.get(CHECKSUM_KEY)
    if sums is None:
        return None
    if not isinstance(sums, dict) or not isinstance(sums.get("files", {}), dict):
        return "its checksum field is malformed"
    if sums.get("algorithm", "sha256") != "sha256":
        return f"unknown checksum algorithm {sums.get('algorithm')!r}"
    if sums.get("record") != record_sha256(record):
        return "the record does not match its checksum"
    for name, expected in sums.get("files", {}).items():
        path = Path(folder) / name
        try:
            actual = file_sha256(path)
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or type(exc).__name__})"
        if actual != expected:
            return f"{name} does not match its checksum (size {path.stat().st_size} bytes)"
    return None


def lock_path(jobdir: Path) -> Path:
    """The lock file of a job: ``<key>.lock`` beside its entry folder."""
    jobdir = Path(jobdir)
    return jobdir.with_name(jobdir.name + ".lock")


@contextlib.contextmanager
def job_lock(jobdir: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the job's lock for the block; yields whether it is held.

    With ``blocking`` (the default) this waits until any other holder lets go, and yields
    ``True``. Without it, a lock held elsewhere yields ``False`` at once, and the block runs
    without it. Re-entrant within one thread.
    """
    path = lock_path(jobdir)
    key = (str(path), threading.get_ident())
    with _held_guard:
        mine = _held.get(key)
        if mine is not None:
            mine[1] += 1
    if mine is not None:
        try:
            yield True
        finally:
            with _held_guard:
                mine[1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    unlocked: bool | None = None  # set when the block runs without the lock: held elsewhere / unsupported
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            unlocked = False  # another holder, and the caller asked not to wait
        elif exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            unlocked = True  # a file system without locks: go on as before locks existed
        else:
            raise
    if unlocked is not None:
        yield unlocked
        return
    try:
        # who holds it, for a waiting run's message; written after locking, so never half-read as ours
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError:
        pass
    with _held_guard:
        _held[key] = [fd, 1]
    try:
        yield True
    finally:
        with _held_guard:
            _held.pop(key, None)
        os.close(fd)  # closing the last descriptor releases the lock


def lock_holder(jobdir: Path) -> str:
    """Who last took the job's lock ("pid host"), for messages; empty if unknown."""
    try:
        return lock_path(jobdir).read_text().strip()
    except OSError:
        return ""


def forget_locks_after_fork() -> None:
    """In a forked child: close the inherited descriptors of the parent's job locks.

    Closing a duplicate does not release the lock (the parent's descriptor still holds it), but
    it keeps the lock from outliving the parent: a method's process left running after its
    parent was killed would otherwise hold the job locked until it exits. Registered to run
    after every fork; the guard is replaced rather than taken, since another thread of the
    parent may have held it at the moment of the fork.
    """
    global _held_guard
    for fd, _ in list(_held.values()):
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()
    _held_guard = threading.Lock()


os.register_at_fork(after_in_child=forget_locks_after_fork)


_TMP = re.compile(r"\.tmp(\d+)$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_tmpdirs(jobdir: Path) -> list[Path]:
    """Remove the job's left-over ``<key>.tmp<pid>`` folders whose owner is gone.

    Call with the job's lock held: no process that takes the lock can then be writing one. A
    folder is still kept when the process it names is alive (a run of a version without locks,
    say), unless that process is this one (an attempt of this process that was interrupted).
    Returns what was removed.
    """
    jobdir = Path(jobdir)
    removed = []
    if not jobdir.parent.is_dir():
        return removed
    for tmp in jobdir.parent.glob(jobdir.name + ".tmp*"):
        m = _TMP.search(tmp.name)
        if m is None:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or not pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def discard(jobdir: Path) -> None:
    """Remove a (damaged) entry, whether a folder or a stray file. Call with the job's lock held."""
    jobdir = Path(jobdir)
    if jobdir.is_dir() and not jobdir.is_symlink():
        shutil.rmtree(jobdir, ignore_errors=True)
    if jobdir.exists() or jobdir.is_symlink():
        jobdir.unlink(missing_ok=True)


def damage_line(jobdir: Path, what: str, reason: str) -> str:
    """The one line that reports a damaged entry."""
    jobdir = Path(jobdir)
    where = "/".join(jobdir.parts[-3:])
    return f"warning: damaged cache entry {where} ({what}): {reason}; discarded, recomputing"


def one_line(exc: BaseException) -> str:
    """An exception as one short line (for a damage report)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


__all__ = ["CHECKSUM_KEY", "file_sha256", "record_sha256", "seal", "verify", "lock_path", "job_lock",
           "lock_holder", "forget_locks_after_fork", "pid_alive", "remove_stale_tmpdirs", "discard",
           "damage_line", "one_line"]
