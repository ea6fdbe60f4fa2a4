"""One owner per run directory: an advisory ``flock`` on ``<dir>/lock``, which holds the owner's pid.

Two trainers on one directory would rotate away each other's checkpoints, and a resume could
continue the *other* run, so the second one is refused before it touches anything. Why
``fcntl.flock`` by hand and not ``filelock``: the lock must outlive the trainer's own
descriptor. The checkpoint writer child inherits it (``pass_fds``), and an flock belongs to the
open file description, so the directory stays locked until the last process of the run — the
trainer or a writer still finishing its last save — is gone; the kernel drops it when they all
exit, however they die. ``filelock`` hides the descriptor that would have to be handed on.

A lock whose owner died is free as soon as its processes are gone; if the dead owner's writer
is still finishing a save, the new owner waits for it (a bounded wait, polling the lock), so a
quick restart after a crash neither fails nor races the old writer. The lock file is never
deleted: unlinking a locked file lets a third process lock a new inode beside the old one.
Within one process, managers of one directory share the lock (a process owns it).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock (documented)
    fcntl = None

from compvqc.errors import CheckpointError
from compvqc.fsutil import alive as _alive

LOCK_NAME = "lock"
DEAD_OWNER_WAIT_SECONDS = 30.0  # how long a dead owner's writer may take to finish its last save
_POLL_SECONDS = 0.02

_held: dict[str, tuple[int, weakref.ref]] = {}  # directory -> (pid, RunLock) of this process
_guard = threading.Lock()


class RunLock:
    """The lock on one run directory; released when every holder (and inheritor) is gone."""

    def __init__(self, fd: int):
        self.fd = fd
        self.holders = 1
        self._finalizer = weakref.finalize(self, os.close, fd)  # a holder that never released

    def release(self) -> None:
        with _guard:
            self.holders -= 1
            if self.holders <= 0:
                self._finalizer()


def acquire(directory) -> RunLock | None:
    """The run lock of ``directory`` (created if need be), or one ``CheckpointError`` naming
    the pid that owns it. None where ``flock`` does not exist."""
    if fcntl is None:  # pragma: no cover
        return None
    directory = Path(directory).absolute()
    key = str(directory)
    with _guard:
        pid, ref = _held.get(key, (None, lambda: None))
        if (lock := ref()) is not None and pid == os.getpid() and lock._finalizer.alive:
            lock.holders += 1
            return lock
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise CheckpointError(f"{directory}: cannot open the run lock ({e.strerror or e})") from None
        try:
            _lock(fd, directory)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        lock = RunLock(fd)
        _held[key] = (os.getpid(), weakref.ref(lock))
        return lock


def _lock(fd: int, directory: Path) -> None:
    deadline = time.monotonic() + DEAD_OWNER_WAIT_SECONDS
    while True:
        with contextlib.suppress(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        owner = _owner(fd)
        if owner is not None and _alive(owner):
            raise CheckpointError(f"{directory} is in use by process {owner} (one run per directory; "
                                  "wait for it to finish or use another directory)")
        if time.monotonic() > deadline:
            who = f"process {owner}" if owner is not None else "a process"
            raise CheckpointError(f"{directory} is still locked by the checkpoint writer of {who}, which has died")
        time.sleep(_POLL_SECONDS)  # the dead owner's writer finishes its save, then the lock is free


def _owner(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


