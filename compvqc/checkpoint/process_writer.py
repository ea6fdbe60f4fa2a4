"""The checkpoint writer in a separate process: training pays only for copying its arrays.

Why a process and not only a thread (``AsyncWriter``): at our step rate (well under a millisecond
per MNIST-2 training step) a background *thread* is slower than it looks. Every submission wakes it,
and every system call of the save (temporary file, write, fsync, rename, directory fsync, pointer
files, rotation) hands the GIL back and forth with the training thread; measured on the 2-core
benchmark machine, a thread that saves *nothing* already added 5% to an epoch when saving every 10
steps, and the real save 50% (``benchmarks/checkpoint.py``). A child process has its own
interpreter: the trainer writes one frame into a pipe (``os.write`` of the arrays' bytes and a small
JSON header: a fraction of a millisecond, ``benchmarks/RESULTS.md``, Checkpoints) and the child
validates, encodes, writes durably and rotates on the other core (it still competes for the shared
cores: RESULTS.md). No library does this hand-off for us without pickle (``multiprocessing`` pickles
its messages), hence the small frame format below.

Frame (trainer → child, over the child's stdin): ``b"CVQC"``, ``u64 header length, u64 payload
length`` (little-endian), a UTF-8 JSON header, the payload (the arrays' raw bytes and the documents'
texts, in header order), and a CRC-32 of header and payload. The header of a ``save`` holds the path
(absolute), shots, array and text specs, the hardware profile, the model description (only when it
changed: by identity, or its ``meta``) and the file steps to run once the checkpoint is durable (the
manager's pointer files and rotation). Documents travel as the exact text the file holds, so the
child writes the bytes ``save_checkpoint`` would (tests compare them).

Replies (child → trainer, over its stdout) are JSON lines: ``{"seq", "error"}`` for a failed
save, ``{"flushed": seq}`` when a flush is reached. The trainer reads them without blocking at
every call, so a background error surfaces on the next ``submit``, ``flush`` or ``close``.

Waking: the child sleeps in ``sigtimedwait`` on ``WAKE``, which the trainer sends after each
write (``Popen.send_signal``, which never signals a reaped pid). Not a blocking read of the
pipe: a pipe write wakes its reader "synchronously", and Linux then runs the child on the
trainer's CPU (measured several times slower inside ``save()``, RESULTS.md); a signal wakes it on an idle CPU. Not a
sleep loop either (the previous design): every timed wake-up of the idle child costs the
trainer too on a small machine (RESULTS.md), and an idle child should not wake 50 times a second
through a long epoch. An idle child wakes once a second to see whether its parent is alive.

Lifetime: the child runs in its own session and ignores SIGINT/SIGTERM (a Ctrl-C is the trainer's
to handle: it saves once more and closes), ends at end of input after the frames before it, and
stops before the next frame if its parent has died — queued saves die with the trainer, as they
would in a thread; the save in progress completes atomically or not at all. A frame cut short (a
dead trainer, or a submit interrupted by an exception) is never read as a whole one.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import weakref
import zlib
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (the manager uses a thread there)
    fcntl = None

import numpy as np

from compvqc.checkpoint.container import doc_json, encode, json_default
from compvqc.checkpoint.content import ARRAYS, DOCUMENTS, Checkpoint, CheckpointError
from compvqc.checkpoint.io import Generations, Writer, save_error
from compvqc.fsutil import atomic_write_bytes

FRAME = struct.Struct("<4sQQ")  # magic, header length, payload length; then header, payload, CRC
CRC = struct.Struct("<I")  # zlib.crc32 of header and payload: a torn frame is never taken for a whole one
MAGIC = b"CVQC"
MAX_PART = 1 << 30  # header or payload bytes of one frame
# The trainer nudges the child with this signal after writing to the pipe (see "Waking" above).
# Its default action is to be ignored, so a nudge that arrives before the child has blocked it
# (during start-up) or reaches a process that reused a dead child's pid does nothing.
WAKE = signal.SIGURG
IDLE_CHECK_SECONDS = 1.0  # an idle child looks at its parent this often (the trainer may have died)
PIPE_BYTES = 1 << 20  # Linux's default maximum pipe size; frames beyond it make submit wait
# Documents sent as the exact text the file will hold; the hardware profile travels as JSON in the
# header (the encoder splits off its arrays).
TEXT_DOCS = tuple(name for name in DOCUMENTS if name != "hardware_profile")
ARRAY_KINDS = "biufc"  # numeric and boolean arrays only: nothing that needs pickle
_HEADER_ENCODER = json.JSONEncoder(allow_nan=True, default=json_default)
# The child's entry: put the trainer's compvqc first on the path only if Python would find
# another one (or none); ``-m`` would re-run a module the package already imported.
BOOT = (
    "import importlib.util, os, signal, sys\n"
    # Every thread must block WAKE, or one (numpy's OpenBLAS workers start at import) may take a
    # nudge meant for sigtimedwait and drop it; threads inherit the mask of the thread that starts them.
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGURG})\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    # The trainer's pid comes in argv: one that died during our start-up is noticed at once.
    "if os.getppid() != int(sys.argv[2]):\n"
    "    os._exit(0)\n"
    "root = sys.argv[1]\n"
    "spec = importlib.util.find_spec('compvqc')\n"
    "if spec is None or not os.path.realpath(spec.origin).startswith(os.path.join(root, 'compvqc') + os.sep):\n"
    "    sys.path.insert(0, root)\n"
    "from compvqc.checkpoint.process_writer import serve\n"
    "os._exit(serve(parent=int(sys.argv[2])))\n"
)


# --- frames (both sides) ----------------------------------------------------------------------
def pack_save(path, ckpt: Checkpoint, *, seq: int, model: dict | None, then: dict | None = None) -> bytes:
    """One ``save`` frame: the snapshot of ``ckpt`` (arrays and documents copied into its bytes);
    ``model``: the model's description if it changed since the last frame (else None). Documents
    are encoded here (:func:`doc_json`), so one that cannot be stored fails in the caller."""
    arrays = [(f.name, ckpt.array(f.name)) for f in ARRAYS]
    arrays += [("optimizer." + k, v) for k, v in ckpt.optimizer_state.items()]
    specs, chunks = [], []
    for name, value in arrays:
        a = np.asarray(value, order="C")
        if a.dtype.kind not in ARRAY_KINDS:
            raise CheckpointError(f"{path}: array {name!r} has dtype {a.dtype}, not a numeric one")
        specs.append([name, a.dtype.str, list(a.shape)])
        chunks.append(a.tobytes())
    texts = []
    for f in TEXT_DOCS:
        t = doc_json(getattr(ckpt, f), f).encode()
        texts.append([f, len(t)])
        chunks.append(t)
    header = {"op": "save", "seq": seq, "path": str(path), "model": model, "shots": int(ckpt.shots), "arrays": specs,
              "texts": texts, "hardware_profile": ckpt.hardware_profile, "then": then or {}}
    try:
        text = _HEADER_ENCODER.encode(header).encode()
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot snapshot the checkpoint ({e})") from None
    payload = b"".join(chunks)
    if len(text) > MAX_PART or len(payload) > MAX_PART:
        raise CheckpointError(f"{path}: checkpoint too large for the writer process (use writer='thread')")
    return _frame(text, payload)


def _frame(text: bytes, payload: bytes) -> bytes:
    body = text + payload
    return FRAME.pack(MAGIC, len(text), len(payload)) + body + CRC.pack(zlib.crc32(body))


def pack_control(op: str, seq: int) -> bytes:
    return _frame(json.dumps({"op": op, "seq": seq}).encode(), b"")


def unpack_save(header: dict, payload: bytes, model) -> tuple[Checkpoint, dict[str, str]]:
    """The checkpoint a ``save`` frame describes and its documents' texts (the child's side)."""
    arrays, offset = {}, 0
    for name, dtype, shape in header["arrays"]:
        dt = np.dtype(dtype)
        if dt.kind not in ARRAY_KINDS:
            raise CheckpointError(f"array {name!r}: dtype {dt} refused")
        n = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        if offset + n > len(payload):
            raise CheckpointError("truncated frame")
        arrays[name] = np.frombuffer(payload, dt, count=n // dt.itemsize, offset=offset).reshape(tuple(shape))
        offset += n
    texts = {}
    for name, n in header["texts"]:
        texts[name] = payload[offset:offset + n].decode()
        offset += n
    documents = {"hardware_profile": header["hardware_profile"], **{f: json.loads(t) for f, t in texts.items()}}
    return Checkpoint.from_parts(model, arrays, documents, header["shots"]), texts


def _read_exact(fd: int, n: int, alive=None) -> bytes | None:
    """``n`` bytes from ``fd``; None at end of input (or, with ``alive``, once it says False
    while the rest of a frame is missing — a dead trainer's forked process may hold the pipe)."""
    chunks, got = [], 0
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while got < n:
        if alive is not None and not poller.poll(1000):  # (poll retries on EINTR itself: PEP 475)
            if not alive():
                return None
            continue
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None  # end of input (a partial frame is dropped)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, alive=None):
    """(header, payload), or None at end of input; a corrupt frame raises CheckpointError."""
    head = _read_exact(fd, FRAME.size, alive)
    if head is None:
        return None
    magic, n_header, n_payload = FRAME.unpack(head)
    if magic != MAGIC or n_header > MAX_PART or n_payload > MAX_PART:
        raise CheckpointError("corrupt frame from the trainer")
    body = _read_exact(fd, n_header + n_payload + CRC.size, alive)
    if body is None:
        return None
    if CRC.unpack(body[-CRC.size:])[0] != zlib.crc32(body[:-CRC.size]):
        raise CheckpointError("corrupt frame from the trainer (checksum)")
    return json.loads(body[:n_header]), body[n_header:-CRC.size]


def _reply(out: int, doc: dict) -> None:
    view = memoryview(json.dumps(doc).encode() + b"\n")
    while view:
        view = view[os.write(out, view):]


# --- the child ---------------------------------------------------------------------------------
def serve(parent: int, inp: int = 0, out: int = 1) -> int:
    """The child's loop: read frames, save, reply; returns at end of input or parent death.

    ``parent``: the trainer's pid as the trainer gave it (not ``os.getppid()`` read after the
    imports, by when a trainer that died during them has already been replaced by init).

    Every save is durable before the next frame is read, so the child may leave with
    ``os._exit`` (skipping an interpreter teardown of tens of ms that the trainer's ``close``
    would otherwise wait for). A frame it cannot read is reported, then the child stops.
    """
    from compvqc.model.circuit import VQC

    # BOOT, before any import, ignored SIGINT/SIGTERM and blocked WAKE (kept pending for sigtimedwait)

    def alive() -> bool:
        return os.getppid() == parent

    poller = select.poll()
    poller.register(inp, select.POLLIN)
    model = None
    generations = Generations()
    while True:
        if not poller.poll(0):  # nothing yet (end of input counts as readable)
            if not alive():  # the trainer died; a process it forked may hold the pipe open
                return 0
            signal.sigtimedwait((WAKE,), IDLE_CHECK_SECONDS)  # a nudge pending since the look returns at once
            continue
        try:
            frame = read_frame(inp, alive)
        except (CheckpointError, ValueError) as e:
            _reply(out, {"seq": None, "error": f"checkpoint writer process: {e}"})
            return 1
        if frame is None or not alive():
            return 0
        header, payload = frame
        op, seq = header.get("op"), header.get("seq")
        if op == "flush":
            _reply(out, {"flushed": seq})
            continue
        if op == "close":
            return 0
        path = header.get("path")
        try:
            if header.get("model") is not None:
                model = VQC.from_dict(header["model"])
            ckpt, texts = unpack_save(header, payload, model)
            atomic_write_bytes(path, encode(ckpt, doc_texts=texts))
            generations.run(header.get("then"), saved=path)
        except Exception as e:  # noqa: BLE001 - reported to the trainer, which raises it
            generations.failure(header.get("then"))
            _reply(out, {"seq": seq, "error": " ".join(save_error(path, e).split())})


# --- the trainer's side ------------------------------------------------------------------------
class ProcessWriter(Writer):
    """A :class:`Writer` whose serialization and I/O run in a child process; ``submit`` writes a
    frame to the child's pipe, and a full pipe (a slow disk) blocks, so memory stays bounded.
    Thread-safe. A submit interrupted halfway through its frame (an exception from a signal
    handler) leaves the writer unusable rather than the pipe torn."""

    def __init__(self, inherit: tuple[int, ...] = ()):
        """``inherit``: descriptors the child keeps open for its whole life (the run lock)."""
        import compvqc

        root = str(Path(compvqc.__file__).resolve().parents[1])
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", BOOT, root, str(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True, pass_fds=tuple(inherit),
                start_new_session=True,  # a Ctrl-C to the terminal's process group is the trainer's to handle
            )
        except OSError as e:
            raise CheckpointError(f"cannot start the checkpoint writer process: {e}") from None
        self._to_child = self._proc.stdin.fileno()
        os.set_blocking(self._to_child, False)  # a full pipe: nudge the child, then wait for room
        self._room = select.poll()  # room in the pipe, or replies to take so the child is not stuck writing them
        self._room.register(self._to_child, select.POLLOUT)
        if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room while the child starts
            with contextlib.suppress(OSError):
                fcntl.fcntl(self._to_child, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._from_child = self._proc.stdout.fileno()
        os.set_blocking(self._from_child, False)
        self._poller = select.poll()
        self._poller.register(self._from_child, select.POLLIN)
        self._room.register(self._from_child, select.POLLIN)
        self._lock = threading.Lock()
        self._replies = b""
        self._errors: list[str] = []
        self._broken: str | None = None
        self._seq = 0
        self._model = self._meta = None  # the model (and its meta) the child last received
        self._closed = False
        self._owner = os.getpid()  # a forked copy of the trainer must not use (or end) this child
        self._finalizer = weakref.finalize(self, _shutdown, self._proc, self._owner)

    def submit(self, path, ckpt: Checkpoint, *, then: dict | None = None) -> None:
        """Queue a save of ``ckpt`` to ``path``, then the file steps ``then`` (see ``run_then``)."""
        with self._lock:
            self._check_owner()
            self._raise_pending()
            if self._closed:
                raise CheckpointError("the checkpoint writer is closed")
            meta = doc_json(ckpt.model.meta, "model meta")
            changed = ckpt.model is not self._model or meta != self._meta
            frame = pack_save(os.path.abspath(path), ckpt, seq=self._seq + 1, then=then,
                              model=ckpt.model.to_dict() if changed else None)
            self._send(frame)
            self._seq += 1
            self._model, self._meta = ckpt.model, meta

    def flush(self) -> None:
        """Wait until every submitted save is done; raise the first error."""
        with self._lock:
            self._check_owner()
            if not self._closed:
                self._seq += 1
                seq = self._seq
                self._send(pack_control("flush", seq))
                self._wait_for(lambda r: r.get("flushed") == seq)
            self._raise_pending()

    def close(self) -> None:
        with self._lock:
            self._check_owner()
            if not self._closed:
                self._closed = True
                if self._broken is None:
                    with contextlib.suppress(CheckpointError):
                        self._send(pack_control("close", self._seq + 1))
                self._proc.stdin.close()
                self._proc.send_signal(WAKE)  # to see the end of its input
                self._wait_for(lambda r: False)  # until the child closes its end
                self._proc.wait()
                self._proc.stdout.close()
                self._finalizer.detach()
                if self._broken is not None:
                    self._errors.append(self._broken)
                elif self._proc.returncode != 0:
                    self._errors.append(f"the checkpoint writer process exited with code {self._proc.returncode}")
            self._raise_pending()

    # --- internals (called with the lock held)
    def _send(self, data: bytes) -> None:
        if self._broken is not None:
            raise CheckpointError(self._broken)
        sent = 0
        try:
            view = memoryview(data)
            while sent < len(data):
                try:
                    sent += os.write(self._to_child, view[sent:])
                except BlockingIOError:  # the child has a pipe's worth to read first
                    self._proc.send_signal(WAKE)
                    if any(fd == self._from_child for fd, _ in self._room.poll()):
                        self._drain(block=False)
            self._proc.send_signal(WAKE)
        except BaseException as e:
            if 0 < sent < len(data):  # the child would read the next frame as this one's rest
                self._broken = "the checkpoint writer was interrupted while sending a checkpoint; it is unusable"
                self._proc.kill()
            if isinstance(e, OSError):
                self._proc.wait()
                raise CheckpointError(
                    f"the checkpoint writer process stopped (exit code {self._proc.returncode})") from None
            raise

    def _take_replies(self) -> list[dict]:
        lines, _, self._replies = self._replies.rpartition(b"\n")
        out = [json.loads(line) for line in lines.split(b"\n")] if lines else []
        self._errors += [r["error"] for r in out if "error" in r]
        return out

    def _drain(self, block: bool) -> bool:
        """Read what the child said; False at end of its output."""
        if block:
            self._poller.poll()
        try:
            chunk = os.read(self._from_child, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        self._replies += chunk
        return True

    def _wait_for(self, done) -> None:
        while True:
            if any(done(r) for r in self._take_replies()):
                return
            if not self._drain(block=True):
                self._take_replies()
                if not self._closed:
                    self._proc.wait()
                    self._errors.append(self._broken or
                                        f"the checkpoint writer process stopped (exit code {self._proc.returncode})")
                return

    def _check_owner(self) -> None:
        if os.getpid() != self._owner:
            raise CheckpointError("this checkpoint writer belongs to the process that created it, not to a fork of it")

    def _raise_pending(self) -> None:
        if not self._closed and self._poller.poll(0):  # the child said something (or ended)
            self._drain(block=False)
            self._take_replies()
        if self._errors:
            first, self._errors = self._errors[0], []
            raise CheckpointError(first)


def _shutdown(proc, owner: int) -> None:
    """At garbage collection or interpreter exit: let the child finish what it was given (only
    in the process that started it; a fork's copy of the writer leaves the child alone)."""
    if os.getpid() != owner:
        return
    try:
        proc.stdin.close()
        proc.stdin = None  # closed: communicate must not flush it
        proc.send_signal(WAKE)
        proc.communicate(timeout=60)  # drains its replies until it ends
    except Exception:  # noqa: BLE001 - best effort at exit
        proc.kill()
