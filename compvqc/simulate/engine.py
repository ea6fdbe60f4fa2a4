"""Batched statevector simulation of a VQC with exact (adjoint) gradients.

Why hand-written: the hot loop of everything compvqc does — training, ReCL's per-gate sweeps,
ADMM's θ-steps — is "one circuit, a batch of inputs, loss and full gradient". That shape lets
us fold every run of trainable gates, which every sample shares, into one 2^n x 2^n unitary
and do the adjoint sweep over 2^n pseudo-samples instead of B samples; general simulators
cannot assume it. ``benchmarks/simulator.py`` measures the choice against the peers.

The maths. With φ_k the state after gate k, λ_k = (G_K ⋯ G_{k+1})† λ the cotangent propagated
back to that point and λ = ∂L/∂ψ̄ at the output, the gradient of L with respect to angle j of
gate k is

    ∂L/∂θ_kj = 2 Re ⟨λ_k| H_kj |φ_k⟩,   H_kj = (∂G_k/∂θ_kj) G_k†,

so one backward sweep that undoes each gate on φ and λ (the adjoint method) gives every
derivative. For a readout linear in p = |ψ|² (``compvqc.model.readout``), λ_s = g_s ψ_s with
g = W ∂L/∂logits.

Folding a shared block U = G_K ⋯ G_1 (used when 2^n ≤ B): with R = Σ_b |ψ_b⟩⟨λ_b| the batch
enters only through R, since Σ_b ⟨λ_b| A dG B |ψ_b⟩ = Tr(A dG B R) = Σ_j ⟨e_j| A dG B |R e_j⟩.
The adjoint sweep then runs on the 2^n columns of U R with cotangents e_j (the identity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.errors import ModelError
from compvqc.model import gates as gate_facts
from compvqc.model.encoders import amplitude_state
from compvqc.model.ops import AmplitudeEncode, Encode, Gate
from compvqc.model.readout import softmax_cross_entropy
from compvqc.simulate.kernels import apply, correlate


@dataclass(frozen=True)
class _Segment:
    trainable: bool
    ops: tuple  # Gate ops (trainable) or Encode ops


def _segments(ops) -> list[_Segment]:
    segs: list[_Segment] = []
    for op in ops:
        if isinstance(op, AmplitudeEncode):
            continue
        trainable = isinstance(op, Gate)
        if segs and segs[-1].trainable == trainable:
            segs[-1] = _Segment(trainable, segs[-1].ops + (op,))
        else:
            segs.append(_Segment(trainable, (op,)))
    return segs


def gate_matrices(gates, theta: np.ndarray) -> np.ndarray:
    """Target matrices of all ``gates`` at θ, shape (len(gates), 2, 2), vectorized per type."""
    out = np.empty((len(gates), 2, 2), dtype=np.complex128)
    by_type: dict[str, list[int]] = {}
    for i, g in enumerate(gates):
        by_type.setdefault(g.name, []).append(i)
    for name, idx in by_type.items():
        angles = theta[np.array([gates[i].params for i in idx])]
        out[idx] = gate_facts.matrix(name, angles)
    return out


def _wires(op):
    """(target, control) of a trainable gate or encoder."""
    if isinstance(op, Encode):
        return op.wire, None
    if len(op.wires) == 2:
        return op.wires[1], op.wires[0]
    return op.wires[0], None


class Simulator:
    """Noise-free simulator for one VQC: logits, probabilities, loss and exact gradients."""

    def __init__(self, model):
        self.model = model
        self.n = model.n_qubits
        self.dim = 1 << self.n
        self.weights = model.readout.weights(self.n)
        self.amplitude = bool(model.ops) and isinstance(model.ops[0], AmplitudeEncode)
        self.segments = _segments(model.ops)

    # --- inputs ---------------------------------------------------------------------------
    def _check(self, theta, x):
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.model.n_params,):
            raise ModelError(f"θ must have shape ({self.model.n_params},), got {theta.shape}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.model.n_features:
            raise ModelError(f"inputs must have shape (B, {self.model.n_features}), got {x.shape}")
        return theta, x

    def _initial(self, x: np.ndarray) -> np.ndarray:
        b = x.shape[0]
        if self.amplitude:
            return amplitude_state(x, self.n).astype(np.complex128)
        state = np.zeros((self.dim, b), dtype=np.complex128)
        state[0] = 1.0
        return state

    # --- forward ----------------------------------------------------------------------------
    def _encode(self, seg: _Segment, state: np.ndarray, x: np.ndarray, adjoint: bool = False):
        ops = reversed(seg.ops) if adjoint else seg.ops
        for op in ops:
            mats = gate_facts.matrix(op.name, x[:, op.feature, None])  # (B, 2, 2)
            if adjoint:
                mats = mats.conj().swapaxes(-1, -2)
            state = apply(state, mats, self.n, op.wire)
        return state

    def _apply_gates(self, state, gates, mats):
        for g, m in zip(gates, mats):
            t, c = _wires(g)
            state = apply(state, m, self.n, t, c)
        return state

    def _fold(self, state: np.ndarray) -> bool:
        return self.dim <= state.shape[1]

    def _forward(self, theta, x):
        """Final state (2^n, B) and, per segment, what the backward sweep needs."""
        state = self._initial(x)
        tape = []
        for seg in self.segments:
            if not seg.trainable:
                state = self._encode(seg, state, x)
                tape.append(None)
                continue
            mats = gate_matrices(seg.ops, theta)
            if self._fold(state):
                u = self._apply_gates(np.eye(self.dim, dtype=np.complex128), seg.ops, mats)
                tape.append((mats, state, u))
                state = u @ state
            else:
                tape.append((mats, state, None))
                state = self._apply_gates(state, seg.ops, mats)
        return state, tape

    def probabilities(self, theta, x) -> np.ndarray:
        theta, x = self._check(theta, x)
        state, _ = self._forward(theta, x)
        return (np.abs(state) ** 2).T

    def logits(self, theta, x) -> np.ndarray:
        return self.probabilities(theta, x) @ self.weights

    # --- backward ---------------------------------------------------------------------------
    def logits_and_vjp(self, theta, x):
        """Logits (B, C) and a function mapping ∂L/∂logits (B, C) to ∂L/∂θ (n_params,)."""
        theta, x = self._check(theta, x)
        state, tape = self._forward(theta, x)
        probs = (np.abs(state) ** 2).T
        logits = probs @ self.weights

        def vjp(dlogits: np.ndarray) -> np.ndarray:
            g = np.asarray(dlogits, dtype=np.float64) @ self.weights.T  # ∂L/∂p, (B, 2^n)
            lam = g.T * state
            return self._backward(theta, x, state, lam, tape)

        return logits, vjp

    def loss_and_grad(self, theta, x, y) -> tuple[float, np.ndarray]:
        logits, vjp = self.logits_and_vjp(theta, x)
        y = np.asarray(y)
        if y.shape != (logits.shape[0],):
            raise ModelError(f"labels must have shape ({logits.shape[0]},), got {y.shape}")
        loss, dlogits = softmax_cross_entropy(logits, y)
        return loss, vjp(dlogits)

    def _backward(self, theta, x, state, lam, tape) -> np.ndarray:
        grad = np.zeros(self.model.n_params)
        last_trainable = max((i for i, s in enumerate(self.segments) if s.trainable), default=-1)
        first_trainable = min((i for i, s in enumerate(self.segments) if s.trainable), default=-1)
        for i in range(last_trainable, -1, -1):
            seg = self.segments[i]
            if not seg.trainable:
                lam = self._encode(seg, lam, x, adjoint=True)
                continue
            mats, state_in, u = tape[i]
            if u is not None:
                phi = u @ (state_in @ lam.conj().T)  # columns U R e_j
                bra = np.eye(self.dim, dtype=np.complex128)
                if i != first_trainable:
                    lam = u.conj().T @ lam
            else:
                phi, bra = self._apply_gates(state_in, seg.ops, mats), lam
            # Sweep φ and the cotangent together: one stacked array, one kernel call per gate.
            stacked = np.stack([phi, bra], axis=1)  # (2^n, 2, N)
            for g, m in zip(reversed(seg.ops), mats[::-1]):
                t, c = _wires(g)
                corr = correlate(stacked[:, 1], stacked[:, 0], self.n, t, c)
                gens = gate_facts.generators(g.name, theta[list(g.params)])
                grad[list(g.params)] += 2.0 * np.real(np.einsum("kab,ab->k", gens, corr))
                stacked = apply(stacked, m.conj().T, self.n, t, c)
            if u is None:
                lam = stacked[:, 1]
        return grad
