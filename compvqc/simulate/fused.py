"""Gate fusion for mid-size registers: runs of gates become one unitary on a few qubits.

Why: from 5 qubits up a trainable block is applied gate by gate, and numpy's 2x2 kernel is a
pass over the whole state per gate. Fusing the gates that act within ``k`` qubits into one
2^k x 2^k matrix turns several passes into one. The state (2^n, N) keeps its order: for each
value of the other qubits (a *base* row), the group's 2^k rows — contiguous runs of N columns
— are copied into a buffer that stays in cache, multiplied there by one small BLAS GEMM and
copied back (``compiled.group_apply``). That is one read and one write of the state per group;
permuting the group's axes next to each other first, for one big GEMM, cost two more. The
bases are split in two fixed halves, run on two threads when the state is large
(``THREAD_MIN``); the halves are the same whether threaded or not, so results do not depend
on it.

Gradients stay exact: a group's gates are a small dense register of their own, so the
engine's prefix-product gradient runs on 2^k with R = Tr_rest(|φ_in⟩⟨λ_out|) (``engine``
docstring), which the sweep reads off the rows it moves anyway (``compiled.group_sweep``). The
block size ``k`` and when fusion pays are measured (``benchmarks/RESULTS.md``, Simulator).
"""

from __future__ import annotations

import importlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from compvqc.simulate import compiled

THREAD_MIN = 1 << 15
"""Fewest amplitudes (2^n x N) at which a group's two halves run on two threads: below it the
hand-off costs more than the second core saves (``benchmarks/RESULTS.md``, Simulator)."""


PASS_COST = 24
"""What a group costs beyond its 2^k-wide product, in the same units: copying its rows in and out
and the GEMM's fixed part. Fitted to one 12-qubit pass at batch 256 on one core, k = 4 and 5
(``benchmarks/RESULTS.md``, Simulator); :func:`groups` compares partitions by it."""


def groups(prims, k: int) -> list[tuple[tuple[int, ...], list]]:
    """Partition ``prims`` into groups on at most ``k`` qubits: (qubits, local primitives).

    Two partitions are built, :func:`in_order` and :func:`from_front`; the one that costs less
    (:func:`cost`) is kept, :func:`in_order` on a tie: neither wins on every circuit. The groups
    multiplied in order equal the primitives multiplied in order; local wire j is ``qubits[j]``.
    """
    wires = [wires_of(p) for p in prims]
    best = min((in_order(wires, k), from_front(wires, k)), key=cost)
    result = []
    for used, members in best:
        qubits = tuple(sorted(used))
        local = {q: j for j, q in enumerate(qubits)}
        result.append((qubits, [replace(prims[i], target=local[prims[i].target],
                                        control=None if prims[i].control is None else local[prims[i].control])
                                for i in members]))
    return result


def cost(partition) -> int:
    """A partition's modelled time: 2^|qubits| + ``PASS_COST`` per group."""
    return sum(2 ** len(qubits) + PASS_COST for qubits, _ in partition)


def wires_of(prim) -> frozenset:
    """The qubits a primitive acts on."""
    return frozenset({prim.target} | ({prim.control} if prim.control is not None else set()))


def in_order(wires: list, k: int) -> list[tuple[set, list[int]]]:
    """Gates in circuit order: gate i (on ``wires[i]``) joins the last group that shares a wire
    with it when the union still fits, else the latest later group with room (it commutes past
    the groups in between, which share none of its wires), else it starts a group."""
    out: list[tuple[set, list]] = []
    for g, w in enumerate(wires):
        last = max((i for i, (q, _) in enumerate(out) if q & w), default=-1)
        for i in ([last] if last >= 0 else []) + list(range(len(out) - 1, last, -1)):
            if len(out[i][0] | w) <= k:
                out[i][0].update(w)
                out[i][1].append(g)
                break
        else:
            out.append((set(w), [g]))
    return out


def from_front(wires: list, k: int) -> list[tuple[set, list[int]]]:
    """Each group grows from the dependency front, the gates with no earlier gate left on any of
    their wires: it takes the front gate that adds the fewest new wires (the earliest on a tie)
    while the union fits in ``k`` (a gate wider than ``k`` is a group of its own). A gate joins
    only after every earlier gate it shares a wire with."""
    on_wire: dict[int, list[int]] = {}
    for g, w in enumerate(wires):
        for q in w:
            on_wire.setdefault(q, []).append(g)
    head = dict.fromkeys(on_wire, 0)  # per wire, its first gate not yet in a group

    def front(q):
        return on_wire[q][head[q]] if head[q] < len(on_wire[q]) else None

    out: list[tuple[set, list]] = []
    placed = 0
    while placed < len(wires):
        taken: set = set()
        members: list = []
        while True:
            ready = {front(q) for q in on_wire} - {None}
            fits = [g for g in ready if all(front(q) == g for q in wires[g])
                    and (len(taken | wires[g]) <= k or not taken)]
            if not fits:
                break
            g = min(fits, key=lambda g: (len(wires[g] - taken), g))
            taken |= wires[g]
            members.append(g)
            for q in wires[g]:
                head[q] += 1
        assert members, "the earliest gate left is always ready"  # else this loop would not end
        placed += len(members)
        out.append((taken, members))
    return out


@dataclass(frozen=True)
class Plan:
    """Where a group's rows are: ``offsets[l]`` the row offset of local basis state l, and the
    base row of every value of the other qubits, in two fixed halves (module docstring)."""

    offsets: np.ndarray
    halves: tuple[np.ndarray, np.ndarray]


def plan(n: int, qubits: tuple[int, ...]) -> Plan:
    """The rows of a group on ``qubits`` in an n-qubit state; local bit j is qubit qubits[j]."""
    local = np.arange(1 << len(qubits))
    offsets = sum(((local >> j) & 1) << q for j, q in enumerate(qubits))
    rest = [q for q in range(n) if q not in qubits]
    values = np.arange(1 << len(rest))
    bases = sum((((values >> j) & 1) << q for j, q in enumerate(rest)), np.zeros_like(values))
    half = (len(bases) + 1) // 2
    return Plan(np.asarray(offsets, dtype=np.intp), (bases[:half].astype(np.intp), bases[half:].astype(np.intp)))


def apply(src: np.ndarray, dst: np.ndarray, mat: np.ndarray, where: Plan) -> np.ndarray:
    """``dst`` = the group's ``mat`` on ``src`` (both (2^n, N); ``dst`` may be ``src``)."""
    mat = np.ascontiguousarray(mat)
    _halves(src.size, compiled.group_apply, lambda b: (src, dst, mat, where.offsets, b), where)
    return dst


def sweep(phi: np.ndarray, lam: np.ndarray, where: Plan, lam_mat=None, phi_mat=None) -> np.ndarray:
    """R = Tr_rest(|φ⟩⟨λ|) over everything but the group's qubits (2^k x 2^k), then, in place,
    λ ← ``lam_mat`` λ and φ ← ``phi_mat`` φ on the group's qubits where given."""
    move_lam, move_phi = lam_mat is not None, phi_mat is not None
    d = len(where.offsets)
    lam_mat = np.ascontiguousarray(lam_mat) if move_lam else np.empty((d, d), np.complex128)
    phi_mat = np.ascontiguousarray(phi_mat) if move_phi else lam_mat
    parts = _halves(phi.size, compiled.group_sweep,
                    lambda b: (phi, lam, lam_mat, phi_mat, move_lam, move_phi, where.offsets, b), where)
    return parts[0] + parts[1]


_GROUP_BLAS = "scipy.linalg.cython_blas"  # numba's np.dot calls the BLAS scipy ships


def load_blas() -> None:
    """Load the groups' BLAS, so the engine's thread limit finds it before the first group runs
    (a second BLAS thread under each of ours only contends: ``engine.BLAS_THREADS``)."""
    importlib.import_module(_GROUP_BLAS)


def blas_loaded() -> bool:
    return _GROUP_BLAS in sys.modules


_POOL: list = []  # one worker thread, made on first use, forgotten in a forked child


def _halves(size: int, kernel, args, where: Plan) -> list:
    """``kernel(*args(half))`` for both halves of the bases: the second on the worker thread when
    the state has ``THREAD_MIN`` amplitudes (the kernels release the GIL), else in turn."""
    first, second = where.halves
    if size < THREAD_MIN or not len(second):
        return [kernel(*args(first)), kernel(*args(second))]
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(1, thread_name_prefix="compvqc-fused"))
    other = _POOL[0].submit(kernel, *args(second))
    mine = kernel(*args(first))
    return [mine, other.result()]


os.register_at_fork(after_in_child=_POOL.clear)  # the worker thread does not survive a fork
