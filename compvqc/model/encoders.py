"""Input encoders: how a feature vector enters the circuit.

* Angle encoders are named ``{wires}x{layers}_r{axes}``: ``layers`` layers of single-qubit
  rotations over ``wires`` wires, one axis letter per layer, feature k on wire k % wires of
  layer k // wires. ``4x4_ryzxy`` (16 features → RY, RZ, RX, RY layers on 4 qubits) and
  ``2x2_ryz`` (4 features → RY then RZ on 2 qubits) are the papers' two.
* ``amplitude`` encodes x / ‖x‖ as the amplitudes of ⌈log2 d⌉ qubits (zero-padded). As a qiskit
  circuit it is a tree of uniformly-controlled RY rotations (Möttönen et al. 2004) whose angles
  are qiskit Parameters: StatePreparation cannot take unbound Parameters and a numeric
  ``initialize`` gives an input-dependent depth, so TCD would depend on the sample. The tree
  is exact for real amplitudes of either sign (the leaf angles come from atan2).
"""

from __future__ import annotations

import math
import re

import numpy as np

from compvqc.errors import ModelError
from compvqc.model.ops import AmplitudeEncode, Encode, Op

ANGLE_PATTERN = re.compile(r"^(\d+)x(\d+)_r([xyz]+)$")
KNOWN = ("4x4_ryzxy", "2x2_ryz", "amplitude")


def encoder_ops(name: str, n_features: int | None = None) -> tuple[int, int, list[Op]]:
    """(n_qubits, n_features, ops) for an encoder name.

    ``n_features`` is needed only for ``amplitude`` (default 16).
    """
    if name == "amplitude":
        d = 16 if n_features is None else int(n_features)
        if d < 2:
            raise ModelError("amplitude encoding needs at least 2 features")
        n_qubits = max(1, math.ceil(math.log2(d)))
        return n_qubits, d, [AmplitudeEncode(d)]
    m = ANGLE_PATTERN.match(name)
    if not m:
        raise ModelError(f"unknown encoder {name!r} (known: {', '.join(KNOWN)}, or WxL_r<axes>)")
    wires, layers, axes = int(m.group(1)), int(m.group(2)), m.group(3)
    if wires < 1 or layers != len(axes):
        raise ModelError(f"encoder {name!r}: {layers} layers but {len(axes)} axis letters")
    ops: list[Op] = [Encode("r" + axis, wire, layer * wires + wire)
                     for layer, axis in enumerate(axes) for wire in range(wires)]
    d = wires * layers
    if n_features is not None and n_features != d:
        raise ModelError(f"encoder {name!r} takes {d} features, data has {n_features}")
    return wires, d, ops


def amplitude_state(x: np.ndarray, n_qubits: int) -> np.ndarray:
    """Normalized, zero-padded amplitudes, shape (2^n, B), float64; a zero vector gives |0…0⟩."""
    x = np.asarray(x, dtype=np.float64)
    b, d = x.shape
    dim = 2**n_qubits
    state = np.zeros((dim, b))
    state[:d] = x.T
    norm = np.linalg.norm(state, axis=0)
    zero = norm == 0.0
    state[:, ~zero] /= norm[~zero]
    state[0, zero] = 1.0
    return state


def amplitude_tree_angles(x: np.ndarray, n_qubits: int) -> np.ndarray:
    """RY-tree angles reproducing ``amplitude_state(x)``, shape (B, 2^n - 1).

    Level k (k = 0 … n-1) rotates qubit n-1-k, controlled by the k more significant qubits;
    its 2^k angles are stored at offset 2^k - 1, indexed by the value of those qubits. Inner
    levels split the norm of a block between its two halves (angles in [0, π]); the leaf level
    uses atan2 so negative amplitudes come out right.
    """
    amp = amplitude_state(x, n_qubits).T  # (B, 2^n)
    b = amp.shape[0]
    out = np.zeros((b, 2**n_qubits - 1))
    for k in range(n_qubits):
        blocks = amp.reshape(b, 2**k, 2, -1)  # (B, prefix, bit of qubit n-1-k, rest)
        if k == n_qubits - 1:
            lo, hi = blocks[..., 0, 0], blocks[..., 1, 0]
        else:
            lo = np.linalg.norm(blocks[..., 0, :], axis=-1)
            hi = np.linalg.norm(blocks[..., 1, :], axis=-1)
        out[:, 2**k - 1 : 2 ** (k + 1) - 1] = 2.0 * np.arctan2(hi, lo)
    return out
