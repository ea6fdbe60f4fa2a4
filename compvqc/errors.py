"""Every error compvqc raises, in one module (nothing else defines an error class).

Every error the library raises on purpose derives from :class:`CompVQCError`, so a caller (and
the CLI, which prints one line and exits 1) needs to catch only that::

    CompVQCError
    ├── ModelError          a circuit description that is inconsistent or unsupported
    ├── DatasetError        a missing, malformed or unknown dataset file or name
    ├── ConversionError     a qiskit circuit or OpenQASM text we cannot map onto a VQC
    ├── TrainingError       training settings that cannot work (empty split, bad optimizer, ...)
    ├── CompileError        anything the compiler stage refuses
    │   ├── BackendNotFound a backend name we cannot resolve (the message lists valid ones)
    │   ├── LUTFileError    a LUT file that is missing, corrupt or fails its checksum
    │   └── LUTStale        a LUT built for another qiskit or calibration, rebuilding disallowed
    ├── CompressionError    compression settings or a LUT that cannot give what was asked
    ├── DeployError         a deployment or evaluation that cannot be done as asked (an
    │   │                   untranspiled circuit for an executor, noise off on real hardware, ...)
    │   ├── TransientJobError  a circuit job that failed for a reason worth retrying
    │   └── BackendFailure  a job that kept failing after its retries (the run saved and stopped)
    ├── CheckpointError     a checkpoint or run directory that is missing, corrupt, hostile,
    │   │                   inconsistent, or owned by another process
    │   └── StepError       a pointer, index or rotation step failed after its checkpoint was written
    ├── Interrupted         a training run stopped by SIGTERM/SIGINT after its final save
    └── UsageError          command-line arguments that do not go together (the CLI exits 2)

``WireError`` (a malformed protobuf wire format) is a ``ValueError`` the loader turns into a
``CheckpointError``; ``Unsupported`` tells the deployment to fall back from its density engine to
Aer (never raised to a caller). ``Terminated`` (SIGTERM/SIGINT under the CLI's handlers) is a
``BaseException``, outside the tree, so that no ``except Exception`` swallows it.
"""

from __future__ import annotations


class CompVQCError(Exception):
    """Base class of every error compvqc raises deliberately."""


class ModelError(CompVQCError, ValueError):
    """A VQC description is inconsistent (bad wires, parameter indices, readout) or unsupported."""


class DatasetError(CompVQCError):
    """A dataset name is unknown or one of its files is missing or malformed."""


class ConversionError(CompVQCError, ValueError):
    """A qiskit circuit or OpenQASM 3 program cannot be expressed as a compvqc VQC."""


class TrainingError(CompVQCError, ValueError):
    """Training settings that cannot work."""


class Interrupted(CompVQCError):
    """Training stopped on SIGTERM/SIGINT after saving a final checkpoint."""

    def __init__(self, signum: int, path):
        saved = f"saved {path}" if path else "no checkpoint saved yet"
        super().__init__(f"interrupted by signal {signum}; {saved} (resume the run to continue)")
        self.signum = signum
        self.path = path


class CompileError(CompVQCError):
    """The compiler stage cannot do what was asked."""


class BackendNotFound(CompileError, LookupError):
    """A backend name that does not resolve to a qiskit ``BackendV2``."""


class LUTFileError(CompileError, ValueError):
    """A LUT file is missing, unreadable, malformed, or its sha256 does not match its table."""


class LUTStale(CompileError):
    """A LUT's provenance does not match the installed qiskit or the backend's Target, or no
    LUT exists, and the caller forbade (re)building one."""


class CompressionError(CompVQCError):
    """Compression settings that cannot work (no levels, bad ratio, ...)."""


class DeployError(CompVQCError):
    """The deployment stage cannot do what was asked."""


class UsageError(CompVQCError):
    """Command-line arguments that do not go together (the CLI prints one line, exits 2)."""


class TransientJobError(DeployError):
    """A circuit job failed for a reason that may pass (a dropped connection, a queue timeout,
    an injected fault): on-chip training retries it with back-off."""


class BackendFailure(DeployError):
    """A circuit job still failed after every retry; the training run saved and stopped."""


class CheckpointError(CompVQCError):
    """A checkpoint is missing, unreadable, corrupt, hostile or inconsistent.

    Always one line: the message's whitespace (a library's multi-line text included) is folded.
    """

    def __init__(self, message: str = ""):
        super().__init__(" ".join(str(message).split()))


class StepError(CheckpointError):
    """A pointer, index or rotation step failed after its checkpoint was written."""


class WireError(ValueError):
    """The bytes are not well-formed protobuf, nest too deeply, or would cost too much to parse."""


class Unsupported(Exception):
    """Not an error users see: the batched density engine does not compile this circuit or noise
    model, and its caller falls back to Aer's own job."""


class Terminated(BaseException):
    """SIGTERM or SIGINT arrived while the CLI's handlers were installed (:mod:`compvqc.signals`).

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` in the library or
    in qiskit swallows it, so it unwinds through every ``finally`` (temporaries removed, queued
    checkpoints written) to the CLI, which prints one line and exits 128 + ``signum``.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
