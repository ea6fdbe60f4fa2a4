"""Saving and loading checkpoint files: atomic writes, and an asynchronous writer for loops."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from compvqc.checkpoint.container import MAX_FILE_BYTES, decode, encode
from compvqc.checkpoint.content import Checkpoint, CheckpointError
from compvqc.errors import StepError
from compvqc.fsutil import atomic_write_bytes, read_bytes_bounded


def save_checkpoint(path, ckpt: Checkpoint) -> Path:
    """Validate, serialize and write atomically (a crash leaves the old file or the new one)."""
    return atomic_write_bytes(path, encode(ckpt))


def load_checkpoint(path) -> Checkpoint:
    """Read and validate a checkpoint; every problem is one ``CheckpointError`` naming the file."""
    data = read_bytes_bounded(path, MAX_FILE_BYTES, CheckpointError, "checkpoint")
    return decode(data, str(path))


def run_then(then: dict, *, after_failure: bool = False, saved=None) -> None:
    """The file steps that follow a durable save (the manager's pointer files, then rotation):
    ``{"write": [[path, text], ...], "pointer": [path, text], "unlink": [path, ...],
    "generation": g}``; files are atomic, not fsynced.

    ``after_failure``: an earlier save planned in the same generation failed, so this save's
    plan (made assuming it succeeded) may be wrong — only the ``pointer`` (naming the file just
    written) is safe; the index and the deletions wait for the planner to resynchronize.
    A failed step raises a :class:`StepError` that names the step's own file (``saved``, the
    checkpoint just written, is complete all the same).
    """
    steps = [] if after_failure else [("the run index", path, text) for path, text in then.get("write", ())]
    if then.get("pointer"):
        steps.append(("the latest pointer", *then["pointer"]))
    if not after_failure:
        steps += [("rotation", path, None) for path in then.get("unlink", ())]
    for what, path, text in steps:
        try:
            if text is None:
                Path(path).unlink(missing_ok=True)
            else:
                atomic_write_bytes(path, text.encode(), durable=False)
        except OSError as e:
            done = f"; {saved} itself is complete" if saved else ""
            raise StepError(f"{path}: writing {what} failed ({e.strerror or e}){done}") from None


def save_error(path, e: BaseException) -> str:
    """The one line that reports a failed background save (which write failed, and where)."""
    if isinstance(e, CheckpointError):
        return str(e)
    if isinstance(e, OSError):
        return f"{path}: writing the checkpoint failed ({e.strerror or e})"
    return f"{path}: background save failed: {e}"


class Generations:
    """Which file steps are still trustworthy after a failed save (see ``run_then``)."""

    def __init__(self):
        self.failed = -1  # newest generation with a failed save

    def failure(self, then: dict | None) -> None:
        self.failed = max(self.failed, (then or {}).get("generation", 0))

    def run(self, then: dict | None, saved=None) -> None:
        then = then or {}
        run_then(then, after_failure=then.get("generation", 0) <= self.failed, saved=saved)


class Writer:
    """What both background writers promise: ``submit`` copies the caller's arrays at once (the
    caller may keep mutating θ) and queues the save; saves happen in submission order; an error in
    the background surfaces as the exception of the next call or of ``close``, which waits for
    every pending save. ``with writer:`` closes it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncWriter(Writer):
    """A :class:`Writer` that serializes and writes from a background thread; at most
    ``max_pending`` saves are queued (``submit`` blocks beyond that, so a slow disk slows training
    instead of growing memory).

    For fast training loops prefer :class:`~compvqc.checkpoint.process_writer.ProcessWriter`: a
    thread shares the GIL with training, which costs more than the save itself when steps take a
    millisecond (see its module docstring).
    """

    def __init__(self, max_pending: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="compvqc-checkpoint-writer", daemon=True)
        self._closed = False
        self._generations = Generations()
        self._thread.start()

    def submit(self, path, ckpt: Checkpoint, *, then: dict | None = None) -> None:
        """Queue a save of ``ckpt`` to ``path``, then the file steps ``then`` (``run_then``)."""
        self._raise_pending()
        if self._closed:
            raise CheckpointError("the checkpoint writer is closed")
        self._queue.put((Path(path), ckpt.copy(), then))

    def flush(self) -> None:
        self._queue.join()
        self._raise_pending()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        self._raise_pending()

    def _raise_pending(self) -> None:
        with self._lock:
            err, self._error = self._error, None
        if err is not None:
            raise err

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                path, ckpt, then = item
                try:
                    save_checkpoint(path, ckpt)
                    self._generations.run(then, saved=path)
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                    self._generations.failure(then)
                    with self._lock:
                        if self._error is None:
                            self._error = e if isinstance(e, CheckpointError) else CheckpointError(
                                save_error(path, e))
            finally:
                self._queue.task_done()
