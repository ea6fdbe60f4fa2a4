"""The checkpoint manager every long run uses (training and compression alike).

A run directory holds ``ckpt-<step>.ckpt`` files (atomic and durable: fsync, rename, directory
fsync), ``index.json`` (step and metric of each) and ``latest`` (the newest file's name), both
written atomically after the checkpoint itself, so ``latest`` never points at a file that is not
complete; they are not fsynced, since restore recovers without them. Rotation keeps the last
``keep_last`` files plus the best one by a metric. Saves run in a child process by default
(``writer=``: ``"process"``, ``"thread"`` or ``"sync"``), so training only pays for a snapshot of
its arrays. ``restore`` walks from the newest checkpoint back and returns the first that
validates, reporting each corrupt one it skips.

Ownership: a manager locks its directory before it touches anything (``lock.py`` says why and how).

Signals: inside ``with manager.catch_signals():`` SIGTERM and SIGINT only set
``stop_requested``; the loop sees it, saves once more and exits cleanly, instead of dying
between two checkpoints. ``flush`` and ``close`` hold any signal until the queued checkpoints
are written (``compvqc.signals.deferred``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from compvqc.checkpoint.content import Checkpoint, CheckpointError
from compvqc.checkpoint.io import AsyncWriter, load_checkpoint, run_then, save_checkpoint, save_error
from compvqc.checkpoint.lock import acquire
from compvqc.checkpoint.process_writer import ProcessWriter
from compvqc.signals import deferred, restore

NAME = re.compile(r"^ckpt-(\d{9})\.ckpt$")
# Who writes: a child process (the default: process_writer.py has the measurements), a thread, or the caller.
WRITERS = ("process", "thread", "sync")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


class CheckpointManager:
    def __init__(self, directory, *, keep_last: int = 3, best_metric: str | None = None, best_mode: str = "max",
                 every_steps: int | None = None, every_epochs: int | None = 1, every_seconds: float | None = None,
                 auto=None, writer: str = "process", log: Callable[[str], None] = _stderr):
        if keep_last < 1:
            raise CheckpointError("keep_last must be at least 1")
        if best_mode not in ("max", "min"):
            raise CheckpointError("best_mode must be 'max' or 'min'")
        if writer not in WRITERS:
            raise CheckpointError(f"writer must be one of {', '.join(WRITERS)}, not {writer!r}")
        self.directory = Path(directory).absolute()  # background saves must not follow a chdir
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{self.directory}: cannot create the run directory ({e.strerror or e})") from None
        self._lock = acquire(self.directory)  # before anything in it is touched
        self._root = str(self.directory) + os.sep
        self.keep_last, self.best_metric, self.best_mode = keep_last, best_metric, best_mode
        self.every_steps, self.every_epochs, self.every_seconds = every_steps, every_epochs, every_seconds
        self._last_save = self._started = time.monotonic()
        self.auto = auto  # an AutoInterval (compvqc.checkpoint.policy): replaces the fixed intervals
        self.log = log
        self.stop_requested: int | None = None  # the signal number once one arrived
        self.restored_from: Path | None = None  # the file restore() returned
        self._remove_stale_temporaries()
        self._writer = self._start_writer(writer)
        self._index = self._read_index()
        self._generation = 0  # bumped when a failed save resynchronizes the index with the disk

    def _start_writer(self, kind: str):
        """The writer (None: the caller writes); a process writer that cannot start (no POSIX
        pipes, no ``fork``/``exec`` allowed) falls back to a thread, saying so, rather than
        failing the run."""
        if kind == "sync":
            return None
        if kind == "process" and os.name == "posix":
            try:
                return ProcessWriter(inherit=() if self._lock is None else (self._lock.fd,))
            except CheckpointError as e:
                self.log(f"compvqc: {e}; checkpoints are written from a thread instead")
        return AsyncWriter()

    # --- policy -----------------------------------------------------------------------------
    def due(self, *, step: int, epoch_end: int | None = None) -> bool:
        """Whether a save is due at this global step (or at the end of epoch ``epoch_end``).

        ``every_seconds`` bounds the work a crash can lose by wall time instead of steps: the
        remedy when steps are so fast that saving every few steps would cost much of the run.
        """
        if self.auto is not None:
            return time.monotonic() - self._last_save >= self.auto.interval(self.wall_seconds)
        if epoch_end is not None:
            return bool(self.every_epochs) and epoch_end % self.every_epochs == 0
        if self.every_steps and step % self.every_steps == 0:
            return True
        return bool(self.every_seconds) and time.monotonic() - self._last_save >= self.every_seconds

    # --- writing ----------------------------------------------------------------------------
    def path_for(self, step: int) -> Path:
        return self.directory / f"ckpt-{step:09d}.ckpt"

    def save(self, ckpt: Checkpoint, *, step: int, metric: float | None = None, wait: bool = False) -> Path:
        """Save ``ckpt`` as the checkpoint of ``step``; in the background unless ``wait``.

        The index changes only once the save is accepted: a failed save (now, or reported later
        by the background writer) leaves the index as the files on disk say.
        """
        path = self.path_for(step)
        t0 = time.monotonic()
        index, then = self._plan(path.name, step, metric)
        try:
            if self._writer is None or wait:
                if self._writer is not None:
                    self._writer.flush()
                try:
                    save_checkpoint(path, ckpt)
                except OSError as e:
                    raise CheckpointError(save_error(path, e)) from None
                run_then(then, saved=path)
            else:
                self._writer.submit(path, ckpt, then=then)  # raises an earlier save's error first
        except CheckpointError:
            self._recover()
            raise
        self._index = index
        self._last_save = time.monotonic()
        if self.auto is not None:
            self.auto.observe_save(self._last_save - t0)
        return path

    @property
    def wall_seconds(self) -> float:
        """Seconds since this manager started (the run time of this process)."""
        return time.monotonic() - self._started

    @property
    def steps_on_disk(self) -> list[int]:
        """The steps of the checkpoint files written so far (a queued save is not there yet)."""
        return sorted(int(NAME.match(p.name).group(1)) for p in self.candidates())

    def flush(self) -> None:
        """Wait until every queued checkpoint is written (a signal waits for it too)."""
        self._drain(close=False)

    def close(self) -> None:
        """Write what is queued, stop the writer and give up the directory."""
        try:
            self._drain(close=True)
        finally:
            if self._lock is not None:
                self._lock, lock = None, self._lock
                lock.release()

    def _drain(self, close: bool) -> None:
        """Flush (or close) the writer with signals held; a save error resynchronizes the index."""
        if self._writer is not None:
            with deferred():
                try:
                    (self._writer.close if close else self._writer.flush)()
                except CheckpointError:
                    self._recover(flush=not close)
                    raise

    def _recover(self, flush: bool = True) -> None:
        """After a save error: wait for the saves still queued, then rebuild the index from disk."""
        if flush and self._writer is not None:
            with contextlib.suppress(CheckpointError):  # consequences of the failure already raised
                self._writer.flush()
        self._index = self._read_index()
        self._generation += 1  # plans made from now on rest on the files as they are

    def _plan(self, name: str, step: int, metric: float | None) -> tuple[list[dict], dict]:
        """The index with a new checkpoint, and the file steps that follow its save: pointer files
        first, deletions last, so ``latest`` never names a deleted file (none is fsynced: see the
        module docstring). A background writer that saw a save of this plan's generation fail
        writes only ``latest`` (``run_then``)."""
        index = [e for e in self._index if e["file"] != name]
        index.append({"file": name, "step": step, "metric": metric})
        index.sort(key=lambda e: e["step"])
        keep = {e["file"] for e in index[-self.keep_last :]}
        best = self._best(index)
        if best is not None:
            keep.add(best["file"])
        root = self._root
        gone = [root + e["file"] for e in index if e["file"] not in keep]
        index = [e for e in index if e["file"] in keep]
        # json without indent: the C encoder (this runs in the training loop)
        return index, {"write": [[root + "index.json", json.dumps(index)]], "pointer": [root + "latest", name + "\n"],
                       "unlink": gone, "generation": self._generation}

    def _best(self, index=None):
        scored = [e for e in (self._index if index is None else index) if isinstance(e.get("metric"), (int, float))]
        if not self.best_metric or not scored:
            return None
        pick = max if self.best_mode == "max" else min
        return pick(scored, key=lambda e: (e["metric"], e["step"]))

    @property
    def best_path(self) -> Path | None:
        best = self._best()
        return None if best is None else self.directory / best["file"]

    def _read_index(self) -> list[dict]:
        """``index.json``'s entries whose files exist, plus checkpoint files it does not list
        (a save whose pointer steps never ran) with no metric, so rotation still covers them."""
        try:
            entries = json.loads((self.directory / "index.json").read_text())
            entries = [e for e in entries if isinstance(e, dict) and NAME.match(str(e.get("file", "")))]
        except (OSError, ValueError, TypeError):
            entries = []
        on_disk = {p.name for p in self.directory.iterdir() if NAME.match(p.name)}
        index = [e for e in entries if e["file"] in on_disk]
        listed = {e["file"] for e in index}
        index += [{"file": n, "step": int(NAME.match(n).group(1)), "metric": None} for n in on_disk - listed]
        return sorted(index, key=lambda e: e["step"])

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of writes that a crash interrupted (they are never a checkpoint)."""
        for pattern in (".ckpt-*.ckpt.*.tmp", ".index.json.*.tmp", ".latest.*.tmp"):
            for p in self.directory.glob(pattern):
                p.unlink(missing_ok=True)

    # --- reading ----------------------------------------------------------------------------
    def candidates(self) -> list[Path]:
        """Checkpoint files, newest first (the ``latest`` pointer's file leads)."""
        files = sorted((p for p in self.directory.iterdir() if NAME.match(p.name)), key=lambda p: p.name, reverse=True)
        latest = ""
        with contextlib.suppress(OSError):
            latest = (self.directory / "latest").read_text().strip()
        return sorted(files, key=lambda p: p.name != latest)  # stable: the rest stay newest first

    def restore(self) -> Checkpoint | None:
        """The newest checkpoint that validates (corrupt ones are skipped, saying so), or None."""
        for path in self.candidates():
            try:
                ckpt = load_checkpoint(path)
            except CheckpointError as e:
                self.log(f"compvqc: skipping corrupt checkpoint: {e}")
                continue
            self.restored_from = path
            return ckpt
        return None

    # --- signals ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def catch_signals(self, signals=(signal.SIGTERM, signal.SIGINT)):
        """Turn SIGTERM/SIGINT into ``stop_requested`` for the duration of the block."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, _frame):
            self.stop_requested = signum

        previous = {s: signal.signal(s, handler) for s in signals}
        try:
            yield self
        finally:
            restore(previous)
