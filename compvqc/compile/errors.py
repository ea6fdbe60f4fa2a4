"""Errors of the compiler stage (LUTs and TCD), under :class:`compvqc.errors.CompVQCError`::

    CompVQCError
    └── CompileError          anything the compiler stage refuses
        ├── BackendNotFound   a backend name we cannot resolve (the message lists valid ones)
        ├── LUTFileError      a LUT file that is missing, corrupt or fails its checksum
        └── LUTStale          a LUT built for another qiskit or another calibration, with
                              rebuilding disallowed (``no_rebuild``), or no LUT at all

They live here rather than in ``compvqc.errors`` because only this stage raises them.
"""

from __future__ import annotations

from compvqc.errors import CompVQCError


class CompileError(CompVQCError):
    """The compiler stage cannot do what was asked."""


class BackendNotFound(CompileError, LookupError):
    """A backend name that does not resolve to a qiskit ``BackendV2``."""


class LUTFileError(CompileError, ValueError):
    """A LUT file is missing, unreadable, malformed, or its sha256 does not match its table."""


class LUTStale(CompileError):
    """A LUT's provenance does not match the installed qiskit or the backend's Target, or no
    LUT exists, and the caller forbade (re)building one."""
