"""The engine's loops that numpy can only run as many small calls, compiled with numba.

Why compiled: on a register of 2^n ≤ 16 amplitudes each gate is a 2x2 matrix on a 16 x 16
product, about 500 multiply-adds, and each prefix needs the one before, so numpy can only take
them one call at a time; at ~3 µs a call that overhead, not arithmetic, was the floor of the
small-batch gradient. The encoders' rotations were a dozen full-batch temporaries per step, and
their sines and cosines most of a large batch's time: numpy's float64 sin and cos are scalar
libm calls (~8 ns an element here), so :func:`sincos` evaluates them as fdlibm does (Cody–Waite
reduction by π/2, fdlibm's minimax polynomials on [-π/4, π/4]) in a loop the compiler
vectorizes, to within 2.2e-16 (one ulp at 1) of libm (``tests/test_simulate_compiled.py``). No library gives us that
from numba: its SVML path needs a patched LLVM that PyPI's llvmlite is not. Times before and
after: ``benchmarks/RESULTS.md``, Simulator. numba compiles these loops once per
machine (its own cache, in ``__pycache__`` beside this file like a ``.pyc``; not a compvqc file
format). Everything else stays numpy and BLAS, which already run at full speed.

A gate here is (target, control), control −1 when there is none; basis state s has qubit q's
value in bit q, as everywhere in the engine.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def prefix_products(mats: np.ndarray, targets: np.ndarray, controls: np.ndarray, d: int) -> np.ndarray:
    """P_k = G_k ⋯ G_1 for every gate k, shape (K, d, d); ``mats`` (K, 2, 2) the target matrices."""
    out = np.empty((mats.shape[0], d, d), np.complex128)
    prev = np.eye(d, dtype=np.complex128)
    for k in range(mats.shape[0]):
        bit, c = 1 << targets[k], controls[k]
        m00, m01, m10, m11 = mats[k, 0, 0], mats[k, 0, 1], mats[k, 1, 0], mats[k, 1, 1]
        cur = out[k]
        for s in range(d):
            if s & bit:
                continue
            r = s | bit
            if c >= 0 and not (s >> c) & 1:  # control 0: the pair is left alone
                cur[s] = prev[s]
                cur[r] = prev[r]
                continue
            for i in range(d):
                a, b = prev[s, i], prev[r, i]
                cur[s, i] = m00 * a + m01 * b
                cur[r, i] = m10 * a + m11 * b
        prev = cur
    return out


@numba.njit(cache=True, nogil=True)
def pair_correlations(bra: np.ndarray, ket: np.ndarray, targets: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """C_k[a, b] = Σ over the basis pairs (s, s + 2^t) gate k acts on, and over columns i, of
    conj(bra_k[s_a, i]) ket_k[s_b, i]: shape (K, 2, 2), from ``bra`` and ``ket`` (K, d, m)."""
    k_gates, d, m = bra.shape
    out = np.zeros((k_gates, 2, 2), np.complex128)
    for k in range(k_gates):
        bit, c = 1 << targets[k], controls[k]
        for s in range(d):
            if s & bit or (c >= 0 and not (s >> c) & 1):
                continue
            r = s | bit
            for i in range(m):
                b0, b1 = np.conj(bra[k, s, i]), np.conj(bra[k, r, i])
                k0, k1 = ket[k, s, i], ket[k, r, i]
                out[k, 0, 0] += b0 * k0
                out[k, 0, 1] += b0 * k1
                out[k, 1, 0] += b1 * k0
                out[k, 1, 1] += b1 * k1
    return out


# fdlibm's split of π/2 (33 + 33 + 53 bits: q · part is exact for |q| < 2^20) and its kernels'
# coefficients (k_sin.c, k_cos.c).
_TWO_OVER_PI = 0.63661977236758134308
_PIO2 = (1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21)
_SIN = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_COS = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
SINCOS_LIMIT = 1e6
"""Above this |x| (and for inf and nan) :func:`sincos` hands the element to libm."""


@numba.njit(cache=True, nogil=True)
def sincos(x, c, s) -> None:
    """c[i], s[i] = cos(x[i]), sin(x[i]) for a 1-d float64 array."""
    p1, p2, p3 = _PIO2
    s1, s2, s3, s4, s5, s6 = _SIN
    c1, c2, c3, c4, c5, c6 = _COS
    for i in range(x.shape[0]):
        v = x[i]
        q = np.floor(v * _TWO_OVER_PI + 0.5)
        r = ((v - q * p1) - q * p2) - q * p3  # v - q π/2, |r| ≤ π/4
        z = r * r
        sin_r = r + r * z * (s1 + z * (s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))))
        cos_r = 1.0 - (0.5 * z - z * z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6))))))
        k = np.int64(q)  # the quadrant: sin(r + kπ/2) and cos(r + kπ/2)
        a = cos_r if k & 1 else sin_r
        b = sin_r if k & 1 else cos_r
        s[i] = -a if k & 2 else a
        c[i] = -b if (k + 1) & 2 else b
    for i in range(x.shape[0]):
        if not abs(x[i]) < SINCOS_LIMIT:
            c[i], s[i] = np.cos(x[i]), np.sin(x[i])


AXES = {"rx": 0, "ry": 1, "rz": 2, "p": 3}
"""Encoder axis codes for :func:`rotate_wires`."""


@numba.njit(cache=True, nogil=True)
def _rotate(r0, r1, axis, c, s) -> None:
    """(r0, r1) ← R_axis (r0, r1) per sample, from c = cos(angle/2) and s = sin(angle/2)."""
    for b in range(r0.shape[0]):
        a0, a1 = r0[b], r1[b]
        if axis == 0:  # rx
            r0[b] = c[b] * a0 - 1j * s[b] * a1
            r1[b] = c[b] * a1 - 1j * s[b] * a0
        elif axis == 1:  # ry
            r0[b] = c[b] * a0 - s[b] * a1
            r1[b] = s[b] * a0 + c[b] * a1
        elif axis == 2:  # rz: diag(e^{-i half}, e^{i half})
            r0[b] = (c[b] - 1j * s[b]) * a0
            r1[b] = (c[b] + 1j * s[b]) * a1
        else:  # p: diag(1, e^{2i half})
            e = c[b] + 1j * s[b]
            r1[b] = e * e * a1


@numba.njit(cache=True, nogil=True)
def rotate_wires(angles, columns, wires, axes, row0, row1) -> None:
    """Left-multiply each wire's rows by its encoders, in order, in place: encoder e is
    R_axes[e](angles[:, columns[e]]) on wire wires[e]; row0 and row1 are (n, k, B), the two rows
    of a 2 x k block per wire and sample (k = 1: a state's 2-vector; k = 2: a 2x2 matrix)."""
    half, cos, sin = np.empty(angles.shape[0]), np.empty(angles.shape[0]), np.empty(angles.shape[0])
    for e in range(columns.shape[0]):
        half[:] = 0.5 * angles[:, columns[e]]
        sincos(half, cos, sin)
        for j in range(row0.shape[1]):
            _rotate(row0[wires[e], j], row1[wires[e], j], axes[e], cos, sin)


@numba.njit(cache=True, nogil=True)
def product_state(angles, columns, wires, axes, n: int) -> np.ndarray:
    """The encoders on |0…0⟩, (2^n, B): each wire's 2-vector (:func:`rotate_wires`), then their
    Kronecker product, basis state s = Σ_q b_q 2^q."""
    b = angles.shape[0]
    v0, v1 = np.ones((n, 1, b), np.complex128), np.zeros((n, 1, b), np.complex128)
    rotate_wires(angles, columns, wires, axes, v0, v1)
    out = np.empty((1 << n, b), np.complex128)
    out[0], out[1] = v0[n - 1, 0], v1[n - 1, 0]
    for q in range(n - 2, -1, -1):  # qubit q becomes the new lowest bit: i → 2i + b_q
        for i in range((1 << (n - 1 - q)) - 1, -1, -1):
            for k in range(b):
                t = out[i, k]
                out[2 * i + 1, k] = t * v1[q, 0, k]
                out[2 * i, k] = t * v0[q, 0, k]
    return out


@numba.njit(cache=True, nogil=True)
def group_apply(src, dst, mat, offsets, bases) -> None:
    """Rows base + offsets of ``dst`` = ``mat`` @ those rows of ``src``, for every base: a gate
    group's 2^k x 2^k unitary on its qubits (local basis state l is row offset offsets[l]), the
    other qubits' values enumerated by ``bases``. ``dst`` may be ``src``."""
    d, m = offsets.shape[0], src.shape[1]
    rows, out = np.empty((d, m), np.complex128), np.empty((d, m), np.complex128)
    for base in bases:
        for j in range(d):
            rows[j] = src[base + offsets[j]]
        np.dot(mat, rows, out)
        for j in range(d):
            dst[base + offsets[j]] = out[j]


@numba.njit(cache=True, nogil=True)
def group_sweep(phi, lam, lam_mat, phi_mat, move_lam, move_phi, offsets, bases) -> np.ndarray:
    """Σ over ``bases`` of φ_rows λ_rows† (2^k x 2^k: a partial trace over everything but the
    group's qubits, read before any move), then, in place, λ rows ← ``lam_mat`` @ λ rows when
    ``move_lam`` and φ rows ← ``phi_mat`` @ φ rows when ``move_phi`` (:func:`group_apply`)."""
    d, m = offsets.shape[0], phi.shape[1]
    p, u = np.empty((d, m), np.complex128), np.empty((d, m), np.complex128)
    uc, out = np.empty((d, m), np.complex128), np.empty((d, m), np.complex128)
    r = np.zeros((d, d), np.complex128)
    for base in bases:
        for j in range(d):
            p[j] = phi[base + offsets[j]]
            u[j] = lam[base + offsets[j]]
            for c in range(m):
                uc[j, c] = u[j, c].conjugate()
        r += np.dot(p, uc.T)
        if move_lam:
            np.dot(lam_mat, u, out)
            for j in range(d):
                lam[base + offsets[j]] = out[j]
        if move_phi:
            np.dot(phi_mat, p, out)
            for j in range(d):
                phi[base + offsets[j]] = out[j]
    return r
