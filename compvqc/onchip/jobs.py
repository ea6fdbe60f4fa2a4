"""Circuit jobs of on-chip training: derived shot seeds, a journal of completed batches, retries.

A training step's circuits go out as batches (one job each, at most ``max_bindings`` bindings
of one transpiled parameterized circuit). Restoring from classical state, as the quantum-HPC
paper puts it, needs three things no library gives us for qiskit jobs, so they are here:

* **Derived shot seeds.** Batch b of step s samples with ``shot_seed(run_seed, s, b)``, a pure
  function, so a retried or resumed batch draws exactly the shots an uninterrupted run draws.
* **A journal** (``<run dir>/journal/``): each completed batch's counts, shots, the hash of its
  bound parameters, the backend and its calibration date, as ``s<step>-b<batch>.npz`` (numpy's
  own format, no pickle, written atomically); and an append-only ``log.jsonl`` of submissions
  and job ids. A resumed run replays a recorded batch whose hash matches instead of running it,
  and re-attaches to a job whose id was recorded but whose result was not.
* **Retries** with exponential back-off on :class:`~compvqc.errors.TransientJobError` (and
  connection errors); a batch still failing after them raises
  :class:`~compvqc.errors.BackendFailure`, and the run layer saves a final checkpoint.

Runners turn bindings into counts: :class:`LocalRunner` (the density engine or Aer, on a fake
backend's noise model or noise-free), :class:`RuntimeRunner` (qiskit-ibm-runtime's Sampler on a
device: the one with job ids) and :class:`FlakyRunner` (fault injection for tests and
benchmarks). Their ``submit(values, shots, seed)`` returns a job with ``job_id()`` and
``result()`` (counts, or exact probabilities when ``shots == 0``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compvqc.errors import BackendFailure, DeployError, TransientJobError
from compvqc.fsutil import atomic_write_bytes

TRANSIENT = (TransientJobError, ConnectionError, TimeoutError)


def shot_seed(run_seed: int, step: int, batch: int) -> int:
    """The sampling seed of batch ``batch`` of step ``step``: a function of the three alone."""
    return int(np.random.SeedSequence([int(run_seed), int(step), int(batch)]).generate_state(1, np.uint32)[0])


@dataclass(frozen=True)
class Retry:
    """Exponential back-off: attempt k (from 0) waits min(cap, base·2^k) seconds before the next."""

    attempts: int = 6
    base: float = 1.0
    cap: float = 60.0
    sleep: object = time.sleep

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2.0**attempt)


class _Done:
    """A job that already ran (local simulation)."""

    def __init__(self, out):
        self._out = out

    def job_id(self):
        return None

    def result(self):
        return self._out


class LocalRunner:
    """The density engine or Aer on a fake backend's noise model (or noise-free), synchronously."""

    def __init__(self, deployment, backend, *, noise: bool = True, engine: str = "auto"):
        from compvqc.compile.backends import backend_name, resolve_backend
        from compvqc.deploy.executors import aer_engine

        self.deployment, self.backend = deployment, resolve_backend(backend)
        self.noise, self.name = bool(noise), backend_name(self.backend)
        self.engine = aer_engine(deployment, self.backend, shots=1, noise=noise, engine=engine)
        self.calibration_date = calibration_date(self.backend)

    def submit(self, values, shots: int, seed: int):
        from compvqc.deploy import density
        from compvqc.deploy.executors import _density_program, run_aer

        if shots == 0 and self.engine == "density" and not self.noise:  # exact: the density engine's law itself
            return _Done(density.probabilities(_density_program(self.deployment, self.backend, False, None), values))
        return _Done(run_aer(self.deployment, values, self.backend, shots=shots, noise=self.noise, seed=seed,
                             engine=self.engine if shots else "aer"))

    def attach(self, job_id):
        return None  # local jobs finish inside submit: nothing is ever in flight


class RuntimeRunner:
    """qiskit-ibm-runtime's Sampler (``mode=backend``) with job ids; ``service.job(id)`` re-attaches.

    ``sampler`` and ``service`` may be stand-ins with the same methods (tests use one: there is
    no network here)."""

    def __init__(self, deployment, backend, *, sampler=None, service=None):
        from compvqc.compile.backends import backend_name

        self.deployment, self.backend, self.service = deployment, backend, service
        if sampler is None:
            from qiskit_ibm_runtime import SamplerV2

            sampler = SamplerV2(mode=backend)
        self.sampler, self.name = sampler, backend_name(backend)
        self.calibration_date = calibration_date(backend)

    def submit(self, values, shots: int, seed: int):
        if shots < 1:
            raise DeployError("a device samples: shots must be at least 1")
        options = getattr(self.sampler, "options", None)
        if options is not None and hasattr(getattr(options, "simulator", None), "seed_simulator"):
            options.simulator.seed_simulator = int(seed)  # local simulation only; hardware ignores it
        return _RuntimeJob(self.sampler.run([(self.deployment.measured, values)], shots=int(shots)),
                           self.deployment.n_qubits)

    def attach(self, job_id):
        if self.service is None:
            return None
        return _RuntimeJob(self.service.job(job_id), self.deployment.n_qubits)


class _RuntimeJob:
    def __init__(self, job, n_qubits: int):
        self.job, self.n = job, n_qubits

    def job_id(self):
        return self.job.job_id()

    def result(self):
        from compvqc.deploy.counts import counts_from_bitarray

        try:
            result = self.job.result()
        except TRANSIENT:
            raise
        except Exception as e:  # noqa: BLE001 - a runtime job's failure types vary by version
            raise TransientJobError(f"job {self.job.job_id()} failed: {e}") from e
        return counts_from_bitarray(result[0].data.c, self.n)


class FlakyRunner:
    """Fails each submission with probability ``rate`` (``default_rng(seed)``): fault injection."""

    def __init__(self, runner, rate: float, seed: int = 0):
        if not 0 <= rate < 1:
            raise DeployError("a failure rate must be in [0, 1)")
        self.runner, self.rate, self.rng = runner, float(rate), np.random.default_rng(seed)
        self.name, self.calibration_date = runner.name, runner.calibration_date
        self.failures = 0

    def submit(self, values, shots, seed):
        if self.rng.random() < self.rate:
            self.failures += 1
            raise TransientJobError("injected failure")
        return self.runner.submit(values, shots, seed)

    def attach(self, job_id):
        return self.runner.attach(job_id)


def calibration_date(backend) -> str | None:
    from compvqc.compile.profile import hardware_profile

    try:
        return hardware_profile(backend).get("calibration_date")
    except Exception:  # noqa: BLE001 - a backend without a full Target still runs
        return None


def bindings_hash(values: np.ndarray, shots: int, backend: str) -> str:
    h = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    h.update(f"|{int(shots)}|{backend}".encode())
    return h.hexdigest()


@dataclass
class Tally:
    """What the journal did in this process: batches and bindings run, replayed, re-attached."""

    run: int = 0
    replayed: int = 0
    attached: int = 0
    bindings_run: int = 0
    bindings_replayed: int = 0
    retries: int = 0


class Journal:
    """Completed batches of a run directory (None directory: nothing kept, nothing replayed)."""

    def __init__(self, directory=None):
        self.directory = None if directory is None else Path(directory)
        self.tally = Tally()
        self._jobs: dict = {}  # (step, batch) -> (hash, job id) from the log
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._read_log()

    def _entry(self, step: int, batch: int) -> Path:
        return self.directory / f"s{step:09d}-b{batch:04d}.npz"

    def _read_log(self):
        try:
            lines = (self.directory / "log.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line from a kill
            if rec.get("event") == "job" and rec.get("job_id"):
                self._jobs[(rec["step"], rec["batch"])] = (rec["hash"], rec["job_id"])

    def _log(self, **rec):
        if self.directory is None:
            return
        fd = os.open(self.directory / "log.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (json.dumps(rec) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def recorded(self, step: int, batch: int, digest: str):
        """The recorded result of this batch if its bound parameters hash to ``digest``."""
        if self.directory is None:
            return None
        try:
            with np.load(self._entry(step, batch), allow_pickle=False) as f:
                meta, out = json.loads(str(f["meta"])), np.array(f["out"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # absent, or torn/corrupt: run it again
        return out if meta.get("hash") == digest else None

    def _record(self, step, batch, out, meta):
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, out=out, meta=np.array(json.dumps(meta)))
        atomic_write_bytes(self._entry(step, batch), buf.getvalue(), durable=True)

    def run(self, runner, values: np.ndarray, *, shots: int, seed: int, step: int, batch: int,
            retry: Retry = Retry()) -> np.ndarray:
        """This batch's counts: replayed, re-attached, or run (with retries) and recorded."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        digest = bindings_hash(values, shots, runner.name)
        out = self.recorded(step, batch, digest)
        if out is not None:
            self.tally.replayed += 1
            self.tally.bindings_replayed += len(values)
            return out
        job, known = None, self._jobs.get((step, batch))
        if known is not None and known[0] == digest:
            job = runner.attach(known[1])
            if job is not None:
                self.tally.attached += 1
        last = None
        for attempt in range(retry.attempts + 1):
            try:
                if job is None:
                    self._log(event="submit", step=step, batch=batch, hash=digest, pid=os.getpid())
                    job = runner.submit(values, shots, seed)
                    self.tally.run += 1
                    self.tally.bindings_run += len(values)
                    if job.job_id() is not None:
                        self._log(event="job", step=step, batch=batch, hash=digest, job_id=job.job_id())
                out = np.asarray(job.result())
                break
            except TRANSIENT as e:
                last, job = e, None
                if attempt < retry.attempts:
                    self.tally.retries += 1
                    retry.sleep(retry.delay(attempt))
        else:
            raise BackendFailure(f"{runner.name}: the job of step {step}, batch {batch} failed "
                                 f"{retry.attempts + 1} times (last: {last})") from None
        if self.directory is not None:
            self._record(step, batch, out, {"step": step, "batch": batch, "shots": int(shots), "hash": digest,
                                            "backend": runner.name, "calibration_date": runner.calibration_date,
                                            "seed": int(seed), "job_id": job.job_id(), "bindings": len(values)})
            self._log(event="done", step=step, batch=batch, hash=digest)
        return out

    def prune(self, before_step: int) -> None:
        """Forget batches of steps before ``before_step`` (no kept checkpoint needs them)."""
        if self.directory is None:
            return
        for p in self.directory.glob("s*-b*.npz"):
            try:
                if int(p.name[1:10]) < before_step:
                    p.unlink()
            except (ValueError, OSError):
                continue
