"""The errors compvqc raises on bad input or bad state.

Every error the library raises on purpose derives from :class:`CompVQCError`, so a caller (and
the CLI, which prints one line and exits 1) needs to catch only that::

    CompVQCError
    ├── ModelError        a circuit description that is inconsistent or unsupported
    ├── DatasetError      a missing, malformed or unknown dataset file or name
    ├── ConversionError   a qiskit circuit or OpenQASM text we cannot map onto a VQC
    ├── TrainingError     training settings that cannot work (empty split, bad optimizer, ...)
    └── CheckpointError   a checkpoint or run directory that is missing, corrupt, hostile,
                          inconsistent, or owned by another process

``Terminated`` (SIGTERM/SIGINT under the CLI's handlers) is a ``BaseException``, outside the tree.
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


class CheckpointError(CompVQCError):
    """A checkpoint is missing, unreadable, corrupt, hostile or inconsistent.

    Always one line: the message's whitespace (a library's multi-line text included) is folded.
    """

    def __init__(self, message: str = ""):
        super().__init__(" ".join(str(message).split()))


class Terminated(BaseException):
    """SIGTERM or SIGINT arrived while the CLI's handlers were installed (:mod:`compvqc.signals`).

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` in the library or
    in qiskit swallows it, so it unwinds through every ``finally`` (temporaries removed, queued
    checkpoints written) to the CLI, which prints one line and exits 128 + ``signum``.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
