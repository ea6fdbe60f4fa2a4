"""Gate fusion for mid-size registers: runs of gates become one unitary on a few qubits.

Why: from 5 qubits up a trainable block is applied gate by gate, and numpy's 2x2 kernel is a
pass over the whole state per gate. Fusing the gates that act within ``k`` qubits into one
2^k x 2^k matrix turns several passes into one BLAS GEMM. The state keeps no fixed qubit order
to make that GEMM possible without a scatter: each group permutes the axes it needs next to
the column axis, which stays innermost (one contiguous copy, moving whole column runs), and
multiplies there; the order it leaves is recorded (a *layout*: the axis labels in memory order,
qubits 0..n-1 and ``n`` for the columns).

Gradients stay exact: a group's gates are a small dense register of their own, so the
engine's prefix-product gradient runs on 2^k with R = Tr_rest(|φ_in⟩⟨λ_out|), which one GEMM
over the rest of the state gives (``engine`` docstring). The block size ``k`` and when fusion
pays are measured (``benchmarks/RESULTS.md``, Simulator).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

Layout = tuple[int, ...]


def groups(prims, k: int) -> list[tuple[tuple[int, ...], list]]:
    """Partition ``prims`` into groups on at most ``k`` qubits: (qubits, local primitives).

    A primitive joins the last group that shares a wire with it when the union still fits,
    else the latest later group with room (it commutes past the groups in between, which share
    none of its wires), else it starts a group. The groups multiplied in order equal the
    primitives multiplied in order. Local wire j is ``qubits[j]``.
    """
    out: list[tuple[set, list]] = []
    for p in prims:
        w = {p.target} | ({p.control} if p.control is not None else set())
        last = max((i for i, (q, _) in enumerate(out) if q & w), default=-1)
        for i in ([last] if last >= 0 else []) + list(range(len(out) - 1, last, -1)):
            if len(out[i][0] | w) <= k:
                out[i][0].update(w)
                out[i][1].append(p)
                break
        else:
            out.append((set(w), [p]))
    result = []
    for wires, members in out:
        qubits = tuple(sorted(wires))
        local = {q: j for j, q in enumerate(qubits)}
        result.append((qubits, [replace(p, target=local[p.target],
                                        control=None if p.control is None else local[p.control])
                                for p in members]))
    return result


def standard(n: int) -> Layout:
    """Row-major (2^n, N): qubit n-1 outermost, basis index s = Σ_q b_q 2^q, columns last."""
    return (*range(n - 1, -1, -1), n)


def gather(x: np.ndarray, layout: Layout, qubits: tuple[int, ...]):
    """``x`` (axes as ``layout``) with ``qubits`` just before the columns, local bit j =
    qubits[j]: the (contiguous) array and its layout."""
    cols = layout[-1]
    target = (*(a for a in layout[:-1] if a not in qubits), *reversed(qubits), cols)
    return to_layout(x, layout, target), target


def to_layout(x: np.ndarray, layout: Layout, target: Layout) -> np.ndarray:
    if target == layout:
        return x
    return np.ascontiguousarray(x.transpose([layout.index(a) for a in target]))


def tensor(state: np.ndarray, n: int) -> np.ndarray:
    """(2^n, N) as (2, …, 2, N), a view."""
    return state.reshape(*(2,) * n, state.shape[-1])


def multiply(x: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """``mat`` on the 2^k axis before the columns: a batch of (2^k x 2^k)(2^k x N) GEMMs."""
    return np.matmul(mat, x.reshape(-1, mat.shape[0], x.shape[-1])).reshape(x.shape)


def cross(phi: np.ndarray, mu: np.ndarray, d: int) -> np.ndarray:
    """R[i, j] = Σ φ[.., i, c] μ[.., j, c] over everything but the 2^k axis. The sweep carries
    μ = conj(λ), so this is R = Tr_rest(|φ⟩⟨λ|) with no conjugated copy of a state."""
    n_cols = phi.shape[-1]
    return np.matmul(phi.reshape(-1, d, n_cols), mu.reshape(-1, d, n_cols).swapaxes(1, 2)).sum(0)
