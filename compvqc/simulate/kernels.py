"""Gate kernels on a batch of statevectors.

Layout: a state batch is a complex128 array of shape (2^n, N), one column per sample (or per
pseudo-sample, see ``engine``), basis index s = Σ_q b_q 2^q as in qiskit. Reshaping it to
(2^(n-1-q), 2, 2^q, N) exposes qubit q as axis 1 without copying, so a 2x2 gate is four
multiply-adds on two views. A controlled gate acts on the control = 1 slice only.

A matrix is either shared, shape (2, 2), or per column, shape (N, 2, 2) (input encoders, whose
angle differs per sample); both broadcast over the last axis.
"""

from __future__ import annotations

import numpy as np


def halves(state: np.ndarray, n: int, target: int, control: int | None = None):
    """Views (s0, s1) of the target bit = 0 / 1 parts (restricted to control = 1)."""
    cols = state.size >> n  # trailing axes (columns, or stacked column blocks) flatten together
    if control is None:
        v = state.reshape(1 << (n - 1 - target), 2, 1 << target, cols)
        return v[:, 0], v[:, 1]
    hi, lo = max(control, target), min(control, target)
    v = state.reshape(1 << (n - 1 - hi), 2, 1 << (hi - lo - 1), 2, 1 << lo, cols)
    if target == hi:
        return v[:, 0, :, 1], v[:, 1, :, 1]
    return v[:, 1, :, 0], v[:, 1, :, 1]


def apply(state: np.ndarray, mat: np.ndarray, n: int, target: int, control: int | None = None) -> np.ndarray:
    """Return ``mat`` applied to ``target`` (controlled on ``control``); the input is not changed."""
    out = state.copy() if control is not None else np.empty_like(state)
    s0, s1 = halves(state, n, target, control)
    o0, o1 = halves(out, n, target, control)
    m00, m01, m10, m11 = mat[..., 0, 0], mat[..., 0, 1], mat[..., 1, 0], mat[..., 1, 1]
    np.multiply(s0, m00, out=o0)
    o0 += m01 * s1
    np.multiply(s0, m10, out=o1)
    o1 += m11 * s1
    return out


def correlate(bra: np.ndarray, ket: np.ndarray, n: int, target: int, control: int | None = None) -> np.ndarray:
    """M[a, b] = Σ conj(bra[.., a, ..]) · ket[.., b, ..] over everything but the target bit.

    Then ⟨bra| (H on target, controlled) |ket⟩ = Σ_ab H[a, b] M[a, b] for any 2x2 H, which is
    how the adjoint gradient contracts a gate's generators.
    """
    b0, b1 = halves(bra, n, target, control)
    k0, k1 = halves(ket, n, target, control)
    return np.array(
        [[np.vdot(b0, k0), np.vdot(b0, k1)], [np.vdot(b1, k0), np.vdot(b1, k1)]], dtype=np.complex128
    )
