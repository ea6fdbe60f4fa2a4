"""Measurement outcomes as arrays: one row per sample, one column per basis state.

Counts come back from Aer (``Result`` with hexadecimal keys) or from a primitive (a
``BitArray``); both become an int64 array of shape (B, 2^n) whose column s counts outcome
s = Σ_i b_i 2^i with b_i the classical bit of logical qubit i — the order of the model's
simulator and readout, so logits = (counts / shots) @ W as for exact probabilities.
"""

from __future__ import annotations

import numpy as np


def counts_from_aer(result, n_experiments: int, n_qubits: int) -> np.ndarray:
    out = np.zeros((n_experiments, 2**n_qubits), dtype=np.int64)
    for i in range(n_experiments):
        for key, c in result.data(i)["counts"].items():
            out[i, int(key, 16) if key.startswith("0x") else int(key, 2)] += int(c)
    return out


def counts_from_bitarray(bits, n_qubits: int) -> np.ndarray:
    """(B, 2^n) counts from a ``BitArray`` of shape (B,) (one binding per sample)."""
    dim = 2**n_qubits
    bools = bits.to_bool_array(order="little")  # (B, shots, n): bool[..., i] = classical bit i
    values = bools.reshape(-1, bits.num_shots, bits.num_bits).astype(np.int64) @ (1 << np.arange(bits.num_bits))
    rows = values.shape[0]
    flat = values + (np.arange(rows)[:, None] * dim)
    return np.bincount(flat.ravel(), minlength=rows * dim).reshape(rows, dim)


def probabilities_from_counts(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return counts / counts.sum(axis=1, keepdims=True)
