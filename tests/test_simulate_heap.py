"""The simulator's heap policy (compvqc.simulate.heap): freed pages stay with the process.

Checked by behaviour in a fresh interpreter each (the policy is process-wide): after an 8 MB
array is freed, glibc's own counters say whether its pages are still in the heap's free list
(kept) or were handed back (the default: such a block is mmapped and unmapped on free)."""

import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, json
import numpy as np
from compvqc.model import build_model
from compvqc.simulate import heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
model = build_model("2x2_ryz", "random14", 2)
model.simulator  # the first Simulator applies the policy
a = np.ones(1 << 20)  # 8 MB
del a
print(json.dumps({"kept": heap.keep_heap(), "free_in_heap": libc.mallinfo2().fordblks}))
"""

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the policy applies to glibc's malloc only")


def _probe(**env) -> dict:
    import json

    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return json.loads(out.stdout)


@glibc
def test_the_first_simulator_keeps_freed_pages_in_the_heap():
    got = _probe()
    assert got["kept"] and got["free_in_heap"] >= 8 << 20


@glibc
def test_compvqc_keep_heap_0_leaves_the_allocator_alone():
    got = _probe(COMPVQC_KEEP_HEAP="0")
    assert not got["kept"] and got["free_in_heap"] < 8 << 20
