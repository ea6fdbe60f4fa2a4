"""The checkpoint writer in a separate process: training pays only for copying its arrays.

Why a process and not only a thread (``AsyncWriter``): at our step rate (≈ 0.55 ms per
MNIST-2 training step) a background *thread* is slower than it looks. Every submission wakes it,
and every system call of the save (temporary file, write, fsync, rename, directory fsync, pointer
files, rotation) hands the GIL back and forth with the training thread; measured on the 2-core
benchmark machine, a thread that saves *nothing* already added 5% to an epoch when saving every
10 steps, and the real save 50% (``benchmarks/checkpoint.py``). A child process has its own
interpreter: the trainer writes one frame into a pipe (``os.write`` of the arrays' bytes and a
small JSON header, ≈ 0.25 ms in a training loop) and the child validates, encodes, writes
durably and rotates on the other core (it still competes for the shared cores: RESULTS.md). No library does this hand-off for us without pickle (``multiprocessing`` pickles its
messages), hence the small frame format below.

Frame (trainer → child, over the child's stdin): ``u64 header length, u64 payload length``
(little-endian), a UTF-8 JSON header, then the arrays' raw bytes in header order. The header of a
``save`` holds the path, the JSON documents, shots, ADMM scalars, array specs (name, dtype,
shape), the model description (only when it changed: a ``VQC`` is immutable) and the file steps
to run once the checkpoint is durable (the manager's pointer files and rotation). The child
rebuilds the :class:`Checkpoint` and writes exactly the bytes ``save_checkpoint`` would (a test
compares them).

Replies (child → trainer, over its stdout) are JSON lines: ``{"seq", "error"}`` for a failed
save, ``{"flushed": seq}`` when a flush is reached. The trainer reads them without blocking at
every call, so a background error surfaces on the next ``submit``, ``flush`` or ``close``.

Lifetime: the child ignores SIGINT/SIGTERM (a Ctrl-C reaches the whole process group; the trainer
decides, saves once more and closes), ends at end of input after the frames before it, and stops
before the next frame if its parent has died — queued saves die with the trainer, as they would
in a thread; the save in progress completes atomically or not at all.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import weakref
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (the manager uses a thread there)
    fcntl = None

import numpy as np

from compvqc.checkpoint.container import json_default
from compvqc.checkpoint.content import ADMMState, Checkpoint, CheckpointError
from compvqc.checkpoint.io import run_then, save_checkpoint

FRAME = struct.Struct("<QQ")
MAX_HEADER = 1 << 30
POLL_SECONDS = (0.001, 0.02)  # the child's sleep between looks at an empty pipe: first, longest
PIPE_BYTES = 1 << 20  # Linux's default maximum pipe size; frames beyond it make submit wait
ARRAY_FIELDS = ("theta", "theta_original", "prune_mask", "quant_mask", "levels", "qubit_mapping", "gradient_history")
DOC_FIELDS = ("optimizer", "run", "hardware_profile", "lut_provenance", "dataset", "training", "metrics")
ARRAY_KINDS = "biufc"  # numeric and boolean arrays only: nothing that needs pickle


# --- frames (both sides) ----------------------------------------------------------------------
def pack_save(path, ckpt: Checkpoint, *, seq: int, with_model: bool, then: dict | None = None) -> bytes:
    """One ``save`` frame: the snapshot of ``ckpt`` (arrays copied into the frame's bytes)."""
    arrays = [(f, getattr(ckpt, f)) for f in ARRAY_FIELDS]
    arrays += [("admm.Z", ckpt.admm.Z), ("admm.u", ckpt.admm.u)]
    arrays += [("optimizer." + k, v) for k, v in ckpt.optimizer_state.items()]
    specs, chunks = [], []
    for name, value in arrays:
        a = np.asarray(value, order="C")
        if a.dtype.kind not in ARRAY_KINDS:
            raise CheckpointError(f"{path}: array {name!r} has dtype {a.dtype}, not a numeric one")
        specs.append([name, a.dtype.str, list(a.shape)])
        chunks.append(a.tobytes())
    header = {
        "op": "save",
        "seq": seq,
        "path": str(path),
        "model": ckpt.model.to_dict() if with_model else None,
        "shots": int(ckpt.shots),
        "admm": [float(ckpt.admm.rho), int(ckpt.admm.iteration)],
        "arrays": specs,
        "then": then or {},
    }
    header["docs"] = {f: getattr(ckpt, f) for f in DOC_FIELDS}
    try:
        text = json.dumps(header, allow_nan=True, default=json_default).encode()
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot snapshot the checkpoint ({e})") from None
    payload = b"".join(chunks)
    return FRAME.pack(len(text), len(payload)) + text + payload


def pack_control(op: str, seq: int) -> bytes:
    text = json.dumps({"op": op, "seq": seq}).encode()
    return FRAME.pack(len(text), 0) + text


def unpack_save(header: dict, payload: bytes, model) -> Checkpoint:
    """The checkpoint a ``save`` frame describes (the child side of ``pack_save``)."""
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
    docs = header["docs"]
    rho, iteration = header["admm"]
    return Checkpoint(
        model=model,
        **{f: arrays[f] for f in ARRAY_FIELDS},
        optimizer_state={k[len("optimizer."):]: v for k, v in arrays.items() if k.startswith("optimizer.")},
        admm=ADMMState(arrays["admm.Z"], arrays["admm.u"], rho, iteration),
        shots=header["shots"],
        **{f: docs[f] for f in DOC_FIELDS},
    )


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None  # end of input (a partial frame is dropped)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int):
    """(header, payload), or None at end of input."""
    head = _read_exact(fd, FRAME.size)
    if head is None:
        return None
    n_header, n_payload = FRAME.unpack(head)
    if n_header > MAX_HEADER or n_payload > MAX_HEADER:
        raise CheckpointError("corrupt frame")
    text = _read_exact(fd, n_header)
    payload = _read_exact(fd, n_payload) if n_payload else b""
    if text is None or payload is None:
        return None
    return json.loads(text), payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- the child ---------------------------------------------------------------------------------
def serve(inp: int = 0, out: int = 1) -> int:
    """The child's loop: read frames, save, reply; returns at end of input or parent death.

    Every save is durable before the next frame is read, so the child may leave with
    ``os._exit`` (skipping an interpreter teardown of 30-50 ms that the trainer's ``close``
    would otherwise wait for)."""
    from compvqc.model.circuit import VQC

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    parent = os.getppid()
    model = None
    idle = POLL_SECONDS[0]
    while True:
        if not select.select([inp], [], [], 0)[0]:  # nothing yet (end of input counts as readable)
            if os.getppid() != parent:  # the trainer died; a process it forked may hold the pipe open
                return 0
            time.sleep(idle)
            idle = min(2 * idle, POLL_SECONDS[1])
            continue
        idle = POLL_SECONDS[0]
        frame = read_frame(inp)
        if frame is None or os.getppid() != parent:
            return 0
        header, payload = frame
        op, seq = header.get("op"), header.get("seq")
        if op == "flush":
            _write_all(out, json.dumps({"flushed": seq}).encode() + b"\n")
            continue
        if op == "close":
            return 0
        path = header.get("path")
        try:
            if header.get("model") is not None:
                model = VQC.from_dict(header["model"])
            save_checkpoint(path, unpack_save(header, payload, model))
            run_then(header.get("then") or {})
        except Exception as e:  # noqa: BLE001 - reported to the trainer, which raises it
            msg = str(e) if isinstance(e, CheckpointError) else f"{path}: background save failed: {e}"
            _write_all(out, json.dumps({"seq": seq, "error": " ".join(msg.split())}).encode() + b"\n")


# --- the trainer's side ------------------------------------------------------------------------
class ProcessWriter:
    """``AsyncWriter``'s interface, with serialization and I/O in a child process.

    ``submit`` snapshots the checkpoint into a frame (the caller may keep mutating its arrays)
    and writes it to the child's pipe; a full pipe (a slow disk) blocks, so memory stays bounded.
    Saves happen in submission order. Errors surface on the next call or on ``close``, which
    waits for every pending save.
    """

    def __init__(self):
        import compvqc

        env = dict(os.environ)
        root = str(Path(compvqc.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "compvqc.checkpoint.process_writer"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True,
            )
        except OSError as e:
            raise CheckpointError(f"cannot start the checkpoint writer process: {e}") from None
        self._to_child = self._proc.stdin.fileno()
        if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room for the frames sent while the child starts
            try:
                fcntl.fcntl(self._to_child, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass
        self._from_child = self._proc.stdout.fileno()
        os.set_blocking(self._from_child, False)
        self._replies = b""
        self._errors: list[str] = []
        self._seq = 0
        self._model = None
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._proc)

    def submit(self, path, ckpt: Checkpoint, *, then: dict | None = None) -> None:
        """Queue a save of ``ckpt`` to ``path``, then the file steps ``then`` (see ``run_then``)."""
        self._raise_pending()
        if self._closed:
            raise CheckpointError("the checkpoint writer is closed")
        self._seq += 1
        frame = pack_save(path, ckpt, seq=self._seq, with_model=ckpt.model is not self._model, then=then)
        self._send(frame)
        self._model = ckpt.model

    def flush(self) -> None:
        """Wait until every submitted save is done; raise the first error."""
        if not self._closed:
            self._seq += 1
            self._send(pack_control("flush", self._seq))
            self._wait_for(lambda r: r.get("flushed") == self._seq)
        self._raise_pending()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._send(pack_control("close", self._seq + 1))
            except CheckpointError:
                pass
            self._proc.stdin.close()
            self._wait_for(lambda r: False)  # until the child closes its end
            self._proc.wait()
            self._finalizer.detach()
            if self._proc.returncode != 0:
                self._errors.append(f"the checkpoint writer process exited with code {self._proc.returncode}")
        self._raise_pending()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- internals
    def _send(self, data: bytes) -> None:
        try:
            _write_all(self._to_child, data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise CheckpointError(
                f"the checkpoint writer process stopped (exit code {self._proc.returncode})") from None

    def _take_replies(self) -> list[dict]:
        lines, _, self._replies = self._replies.rpartition(b"\n")
        out = []
        for line in lines.split(b"\n") if lines else ():
            reply = json.loads(line)
            if "error" in reply:
                self._errors.append(reply["error"])
            out.append(reply)
        return out

    def _drain(self, block: bool) -> bool:
        """Read what the child said; False at end of its output."""
        if block:
            select.select([self._from_child], [], [])
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
                    self._errors.append(f"the checkpoint writer process stopped (exit code {self._proc.returncode})")
                return

    def _raise_pending(self) -> None:
        if not self._closed:
            self._drain(block=False)
            self._take_replies()
        if self._errors:
            first, self._errors = self._errors[0], []
            raise CheckpointError(first)


def _shutdown(proc) -> None:
    """At garbage collection or interpreter exit: let the child finish what it was given."""
    try:
        proc.stdin.close()
        proc.wait(timeout=60)
    except Exception:  # noqa: BLE001 - best effort at exit
        proc.kill()


if __name__ == "__main__":
    code = serve()
    os._exit(code)
