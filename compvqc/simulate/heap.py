"""Keep freed heap pages in the process between simulator calls (glibc only).

Why: one gradient call allocates and frees dozens of arrays of 30 KB–1 MB. glibc's default
policy hands the top of the heap back to the kernel whenever more than about twice the largest
recently freed block is free, so the next call touches fresh pages and pays a page fault for
every 4 KB of them: a quarter of the main case's time (``benchmarks/RESULTS.md``, Simulator).
Raising the trim threshold to ``TRIM_BYTES`` and fixing the mmap threshold at ``MMAP_BYTES`` (the
ceiling glibc's own adaptive threshold reaches) keeps those pages mapped. The cost is memory: up
to ``TRIM_BYTES`` of freed heap stays with the process instead of going back to the system.

This is process-wide, so it is set once, when the first :class:`~compvqc.simulate.Simulator`
is built, and never undone. ``COMPVQC_KEEP_HEAP=0`` leaves the allocator alone; other C
libraries (musl, macOS) are left alone too. No library does this for us: allocator tuning is
done with ``mallopt`` or an ``LD_PRELOAD``ed allocator, and the latter cannot be set from
inside a running process.
"""

from __future__ import annotations

import ctypes
import os
import platform

TRIM_BYTES = 128 << 20
MMAP_BYTES = 32 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h

_state: list = []  # [True] once applied, [False] once declined


def keep_heap() -> bool:
    """Apply the policy (once per process); returns whether it is in force."""
    if not _state:
        _state.append(_apply())
    return _state[0]


def _apply() -> bool:
    if os.environ.get("COMPVQC_KEEP_HEAP", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES))
    except (OSError, AttributeError):
        return False
