"""Batched statevector simulation of a VQC with exact (adjoint) gradients.

Why hand-written: the hot loop of everything compvqc does — training, ReCL's per-gate sweeps,
ADMM's θ-steps — is "one circuit, a batch of inputs, loss and full gradient". That shape lets
us fold every run of trainable gates, which every sample shares, into one 2^n x 2^n unitary
and do the adjoint sweep over 2^n pseudo-samples instead of B samples; general simulators
cannot assume it. How it compares with PennyLane, TorchQuantum and qiskit-machine-learning on
the papers' main case (4x4_ryzxy + 50 random gates, 1024 samples, forward + loss + gradient) and
on larger circuits, where arithmetic rather than call count dominates and the lead shrinks, is
measured side by side by ``benchmarks/simulator.py`` and recorded in ``benchmarks/RESULTS.md``
(Simulator); every peer's expectations and gradients match ours.

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

Small registers (2^n ≤ ``DENSE_MAX_DIM``) skip the sweep altogether, at any batch size. With the
prefix products P_k = G_k ⋯ G_1 (so G_K ⋯ G_{k+1} = U P_k†),

    ∂L/∂θ_kj = 2 Re Tr(H_kj P_k (R U) P_k†) = 2 Re Σ_j ⟨P_k e_j| H_kj |P_k R U e_j⟩,

a 2x2 correlation of bra P_k and ket P_k (R U) on gate k's target. So the gradient is the K
prefix products (they also give U = P_K), one GEMM for all K products P_k (R U), and the K
correlations. At 2^n = 16 a gate is a few hundred multiply-adds, far less than a numpy call
costs, so the two per-gate loops are compiled (``compiled``) and the rest is one BLAS call.

Mid-size registers (2^n > ``DENSE_MAX_DIM``) fuse the block's gates into groups on at most
``FUSE_QUBITS`` qubits (``fused``). Each group is a small register of its own: its unitary F
moves the state in one pass (a small GEMM per value of the other qubits, on rows held in
cache), and its gates' derivatives are the formula above on 2^k with R = Tr_rest(|φ_in⟩⟨λ_out|),
which the sweep reads off in the pass that moves λ back through F. The sweep keeps each group's
input from the forward pass within ``FUSE_TAPE_BYTES``; past that it undoes F on φ as it goes,
so memory stays a few states whatever the depth.

Encoders are single-qubit rotations, so a run of them is a product of one 2x2 matrix per wire
(per sample): composed per wire, vectorized over wires, then applied once per wire; on the
initial |0…0⟩ the state after the run is the Kronecker product of one 2-vector per wire.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from threadpoolctl import ThreadpoolController

from compvqc.errors import ModelError
from compvqc.limits import MAX_QUBITS  # wider descriptions exist (export, TCD); simulation stops here
from compvqc.model import gates as gate_facts
from compvqc.model.encoders import amplitude_state
from compvqc.model.ops import AmplitudeEncode
from compvqc.model.readout import softmax_cross_entropy
from compvqc.simulate import compiled, fused
from compvqc.simulate.heap import keep_heap
from compvqc.simulate.kernels import apply, apply_entries, correlate
from compvqc.simulate.lower import lower

DENSE_MAX_DIM = 16
"""Largest 2^n for the dense prefix-product gradient: K·8^n flops against the sweep's K·4^n,
but one numpy call per gate instead of ~8; faster up to 2^n = 16, slower at 32 (measured:
``benchmarks/RESULTS.md``, Simulator)."""

BLAS_THREADS: int | None = 1
"""BLAS threads during a simulator call (restored afterwards); None leaves BLAS's own setting.

One thread, because the engine's GEMMs are either tiny (2^n ≤ 16: a second thread saves
nothing) or memory-bound, and on a 2-core machine shared with other work OpenBLAS's
spin-waiting second thread made gradients several times slower (``benchmarks/RESULTS.md``,
Simulator). Large fused states use the second core themselves (``fused.THREAD_MIN``), one
single-threaded GEMM per thread; BLAS threads on top of that only contend."""

FUSE_QUBITS = 5
"""Qubits per fused group above ``DENSE_MAX_DIM`` (``fused``), at most n − 1 (a group on the
whole register is the dense path, slower there); 0 turns fusion off. Five was the fastest
choice, or within noise of it, from 8 to 12 qubits (``benchmarks/fusion.py``, recorded in
``benchmarks/RESULTS.md``, Simulator): smaller groups hold too few gates for the passes over
the state they cost, larger ones pay for a wider GEMM than their gates save."""

FUSE_TAPE_BYTES = 1 << 30
"""Largest tape of fused-group inputs kept from the forward pass; beyond it the sweep undoes
each group on φ as well, one more GEMM per group in exchange for a few states of memory."""

_BLAS: dict = {}  # the process's BLAS controllers, keyed by whether the groups' BLAS was loaded


def _blas_controllers() -> list:
    """threadpoolctl's controllers for every BLAS loaded, found once (discovery takes ~ms) and
    again once the fused groups' BLAS (``fused.load_blas``) has joined them."""
    key = fused.blas_loaded()
    if key not in _BLAS:
        _BLAS.clear()
        _BLAS[key] = ThreadpoolController().select(user_api="blas").lib_controllers
    return _BLAS[key]


@contextmanager
def _blas_threads():
    """BLAS at ``BLAS_THREADS`` for the duration, then as before. Straight calls to the cached
    controllers: threadpoolctl's ``limit`` re-inspects every library each time (~30 µs, 5% of a
    small-batch gradient)."""
    if BLAS_THREADS is None:
        yield
        return
    libs = _blas_controllers()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(BLAS_THREADS)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.set_num_threads(n)


# --- plan: what the model's op list becomes, computed once per Simulator -----------------------
@dataclass
class _Encoding:
    """A run of encoders: single-qubit gates R_a(angle(x)), so a product of one 2x2 per wire and
    sample, composed in one compiled pass (``compiled.rotate_wires``). An encoder's column is its
    feature when every encoder's angle is a bare feature, else its own column of :meth:`angles`.
    """

    ops: tuple
    n: int
    columns: np.ndarray = None  # per encoder, in circuit order: its column of angles(x)
    targets: np.ndarray = None  # ... its wire
    axes: np.ndarray = None  # ... its axis code (compiled.AXES)
    wires: tuple = ()  # wires with at least one encoder
    plain: bool = True

    def __post_init__(self):
        self.plain = all(op.feature is not None for op in self.ops)
        self.columns = np.array([op.feature if self.plain else k for k, op in enumerate(self.ops)], dtype=np.intp)
        self.targets = np.array([op.wire for op in self.ops], dtype=np.intp)
        self.axes = np.array([compiled.AXES[op.name] for op in self.ops], dtype=np.intp)
        self.wires = tuple(sorted({op.wire for op in self.ops}))

    def angles(self, x: np.ndarray) -> np.ndarray:
        """What the columns index: the inputs themselves, or each encoder's angle (B, k)."""
        return x if self.plain else np.stack([op.values(x) for op in self.ops], axis=1)

    def _compose(self, x: np.ndarray, row0: np.ndarray, row1: np.ndarray):
        """Left-multiply per-wire rows (n, k, B) by every encoder of the run, in order, in place."""
        angles = np.ascontiguousarray(self.angles(x), dtype=np.float64)
        compiled.rotate_wires(angles, self.columns, self.targets, self.axes, row0, row1)
        return row0, row1

    def product_state(self, x: np.ndarray) -> np.ndarray:
        """The state after this run on |0…0⟩: ⊗_q v_q with v_q the wire's 2-vector, (2^n, B)."""
        angles = np.ascontiguousarray(self.angles(x), dtype=np.float64)
        return compiled.product_state(angles, self.columns, self.targets, self.axes, self.n)

    def wire_matrices(self, x: np.ndarray):
        """Per wire the composed 2x2 matrix per sample, as its two rows, each (n, 2, B)."""
        b = x.shape[0]
        eye = np.zeros((self.n, 2, 2, b), np.complex128)
        eye[:, 0, 0] = eye[:, 1, 1] = 1.0
        return self._compose(x, eye[:, 0], eye[:, 1])

    def apply(self, state: np.ndarray, mats, adjoint: bool = False) -> np.ndarray:
        row0, row1 = mats
        out = state.copy()
        for w in self.wires:
            m00, m01, m10, m11 = row0[w, 0], row0[w, 1], row1[w, 0], row1[w, 1]
            if adjoint:
                m00, m01, m10, m11 = m00.conj(), m10.conj(), m01.conj(), m11.conj()
            apply_entries(out, (m00, m01, m10, m11), w, None, per_column=True)
        return out


@dataclass
class _Block:
    """A run of input-independent primitives (``lower``), with index arrays so matrices build
    in a few numpy calls. A *slot* is one angle of a trainable primitive: θ index, scale, offset."""

    prims: tuple
    n: int
    wires: list = field(default_factory=list)  # (target, control) per primitive
    param_gate: np.ndarray = None  # for each slot, in primitive order: its primitive
    param_index: np.ndarray = None  # ... and its position in θ
    unique: bool = True  # no θ index twice in the block (a plain += accumulates)
    _affine: tuple | None = None  # (scales, offsets) per slot, unless all are 1 and 0
    _rot: tuple = None  # rotations: (primitive indices, slot indices, Pauli axes (k, 2, 2))
    _phase: tuple = None  # phases: (primitive indices, slot indices)
    _u3: tuple = None  # U3/CU3: (primitive indices, slot indices (k, 3))
    _const: tuple = None  # constants: (primitive indices, matrices (k, 2, 2))
    _base_generators: np.ndarray = None
    _dense: tuple = None
    _fused: list = None

    def __post_init__(self):
        prims = self.prims
        self.wires = [(p.target, p.control) for p in prims]
        self.param_gate = np.array([k for k, p in enumerate(prims) for _ in p.slots], dtype=np.intp)
        self.param_index = np.array([s[0] for p in prims for s in p.slots], dtype=np.intp)
        self.unique = len(set(self.param_index.tolist())) == len(self.param_index)
        scales = np.array([s[1] for p in prims for s in p.slots])
        offsets = np.array([s[2] for p in prims for s in p.slots])
        if np.any(scales != 1.0) or np.any(offsets != 0.0):
            self._affine = (scales, offsets)
        start = np.cumsum([0] + [len(p.slots) for p in prims])

        def of(kinds):
            return [k for k, p in enumerate(prims) if p.kind in kinds]

        rot, phase, u3, const = of(("rx", "ry", "rz")), of(("p",)), of(("u3",)), of(("const",))
        paulis = np.array([gate_facts.PAULI[prims[k].kind[1]] for k in rot]).reshape(-1, 2, 2)
        self._rot = (np.array(rot, dtype=np.intp), start[rot].astype(np.intp), paulis)
        self._phase = (np.array(phase, dtype=np.intp), start[phase].astype(np.intp))
        self._u3 = (np.array(u3, dtype=np.intp), (start[u3][:, None] + np.arange(3)).astype(np.intp))
        self._const = (np.array(const, dtype=np.intp), np.array([prims[k].matrix for k in const]).reshape(-1, 2, 2))
        gens = np.zeros((len(self.param_index), 2, 2), dtype=np.complex128)
        gens[start[rot]] = -0.5j * paulis  # rotations: H = -i P / 2, constant
        gens[start[phase]] = np.diag([0, 1j])  # P(α) = diag(1, e^{iα}): H = diag(0, i)
        if self._affine is not None:
            gens *= scales[:, None, None]  # chain rule: ∂/∂θ = scale · ∂/∂angle
        self._base_generators = gens

    def slot_angles(self, theta: np.ndarray) -> np.ndarray:
        a = theta[self.param_index]
        if self._affine is not None:
            a = a * self._affine[0] + self._affine[1]
        return a

    def matrices(self, theta: np.ndarray) -> np.ndarray:
        """Target matrices (K, 2, 2): R_P(θ) = cos(θ/2) I - i sin(θ/2) P, phases, U3, constants."""
        out = np.empty((len(self.prims), 2, 2), dtype=np.complex128)
        a = self.slot_angles(theta)
        idx, slots, paulis = self._rot
        if len(idx):
            half = 0.5 * a[slots][:, None, None]
            out[idx] = np.cos(half) * _EYE - 1j * np.sin(half) * paulis
        idx, slots = self._phase
        if len(idx):
            out[idx] = gate_facts.matrix("p", a[slots][:, None])
        idx, slots = self._u3
        if len(idx):
            out[idx] = gate_facts.matrix("u3", a[slots])
        idx, mats = self._const
        if len(idx):
            out[idx] = mats
        return out

    def generators(self, theta: np.ndarray) -> np.ndarray:
        """H for every slot of the block, in ``param_index`` order, shape (P, 2, 2), each times
        its slot's scale (so contracting it gives ∂L/∂θ directly)."""
        idx, slots = self._u3
        if not len(idx):
            return self._base_generators
        out = self._base_generators.copy()
        gens = gate_facts.u3_generators(self.slot_angles(theta)[slots])  # (k, 3, 2, 2)
        if self._affine is not None:
            gens = gens * self._affine[0][slots][:, :, None, None]
        for j in range(3):
            out[slots[:, j]] = gens[:, j]
        return out

    def accumulate(self, grad: np.ndarray, values: np.ndarray) -> None:
        """grad[θ index of each slot] += value (summed over slots that share a weight)."""
        if self.unique:
            grad[self.param_index] += values
        else:
            np.add.at(grad, self.param_index, values)

    def fused(self) -> list:
        """(sub-block, rows) per fused group, in circuit order: the group's gates on its own
        qubits and where its rows are in the state (``fused``)."""
        if self._fused is None:
            self._fused = [(_Block(tuple(p), len(q)), fused.plan(self.n, q))
                           for q, p in fused.groups(self.prims, min(FUSE_QUBITS, self.n - 1))]
        return self._fused

    def dense(self) -> tuple:
        """(targets, controls) of the block's primitives as arrays, control −1 where there is
        none: what the compiled dense loops (``compiled``) take."""
        if self._dense is None:
            self._dense = (np.array([t for t, _ in self.wires], dtype=np.intp),
                           np.array([-1 if c is None else c for _, c in self.wires], dtype=np.intp))
        return self._dense


_EYE = np.eye(2, dtype=np.complex128)


def _segments(ops) -> list:
    """Maximal runs of input-independent primitives (trainable and fixed gates) and of encoders
    (amplitude encoding is the initial state)."""
    prims = [p for op in ops if not isinstance(op, AmplitudeEncode) for p in lower(op)]
    return [list(run) for _, run in itertools.groupby(prims, key=lambda p: p.encode is None)]


def _apply_gates(state: np.ndarray, block: _Block, mats: np.ndarray) -> np.ndarray:
    """The block applied to ``state`` (left unchanged): one copy, then controlled gates in place."""
    state = state.copy()
    for (t, c), m in zip(block.wires, mats):
        state = apply(state, m, t, c)
    return state


@dataclass
class _Tape:
    """What the backward sweep needs from one trainable block's forward pass."""

    mats: np.ndarray
    state_in: np.ndarray
    state_out: np.ndarray
    unitary: np.ndarray | None = None  # folded blocks
    prefixes: np.ndarray | None = None  # dense folded blocks: P_k = G_k ⋯ G_1, (K, d, d)
    groups: list | None = None  # fused blocks: per group (prefixes, its unitary)
    inputs: list | None = None  # ... and, within FUSE_TAPE_BYTES, its input state and layout


class Simulator:
    """Noise-free simulator for one VQC: logits, probabilities, loss and exact gradients."""

    def __init__(self, model):
        if model.n_qubits > MAX_QUBITS:
            raise ModelError(f"the simulator takes at most {MAX_QUBITS} qubits, the model has {model.n_qubits}")
        keep_heap()  # see heap: freed pages stay mapped between calls
        self.model = model
        self.n = model.n_qubits
        self.dim = 1 << self.n
        self.weights = model.readout.weights(self.n)
        self.amplitude = bool(model.ops) and isinstance(model.ops[0], AmplitudeEncode)
        self.segments = [_Block(tuple(run), self.n) if run[0].encode is None
                         else _Encoding(tuple(p.encode for p in run), self.n) for run in _segments(model.ops)]
        if self.dim > DENSE_MAX_DIM and FUSE_QUBITS:
            fused.load_blas()  # before the first call looks for the BLAS libraries to limit

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

    def _zero_state(self, b: int) -> np.ndarray:
        state = np.zeros((self.dim, b), dtype=np.complex128)
        state[0] = 1.0
        return state

    # --- forward ----------------------------------------------------------------------------
    def _forward(self, theta, x):
        """Final state (2^n, B) and, per segment, what the backward sweep needs."""
        b = x.shape[0]
        state = amplitude_state(x, self.n).astype(np.complex128) if self.amplitude else None
        tape = []
        for seg in self.segments:
            if isinstance(seg, _Encoding):
                if state is None:  # on |0…0⟩: a product state, no gate kernel at all
                    state = seg.product_state(x)
                    tape.append(None)
                else:
                    mats = seg.wire_matrices(x)
                    state = seg.apply(state, mats)
                    tape.append(mats)
                continue
            if state is None:
                state = self._zero_state(b)
            rec = _Tape(None, state, None)
            if self.dim > DENSE_MAX_DIM and FUSE_QUBITS:  # the groups build their own matrices
                rec.groups = [_group_products(sub, theta) for sub, _ in seg.fused()]
            else:
                rec.mats = mats = seg.matrices(theta)
            if self.dim <= DENSE_MAX_DIM:  # at any batch: fewest numpy calls (module docstring)
                rec.prefixes = _prefix_products(mats, seg)
                rec.unitary = rec.prefixes[-1]
                state = rec.unitary @ state
            elif self.dim <= b:  # fold the block into one unitary (module docstring)
                if rec.groups is not None:
                    rec.unitary = self._fused_apply(seg, rec.groups, np.eye(self.dim, dtype=np.complex128))
                else:
                    rec.unitary = _apply_gates(np.eye(self.dim, dtype=np.complex128), seg, mats)
                state = rec.unitary @ state
            elif rec.groups is not None:
                rec.inputs = [] if len(rec.groups) * state.nbytes <= FUSE_TAPE_BYTES else None
                state = self._fused_apply(seg, rec.groups, state, keep=rec.inputs)
            else:
                state = _apply_gates(state, seg, mats)
            rec.state_out = state
            tape.append(rec)
        if state is None:
            state = self._zero_state(b)
        return state, tape

    def probabilities(self, theta, x) -> np.ndarray:
        theta, x = self._check(theta, x)
        with _blas_threads():
            state, _ = self._forward(theta, x)
        return _abs2(state).T

    def logits(self, theta, x) -> np.ndarray:
        theta, x = self._check(theta, x)
        with _blas_threads():
            state, _ = self._forward(theta, x)
            return (self.weights.T @ _abs2(state)).T

    # --- backward ---------------------------------------------------------------------------
    def logits_and_vjp(self, theta, x):
        """Logits (B, C) and a function mapping ∂L/∂logits (B, C) to ∂L/∂θ (n_params,)."""
        theta, x = self._check(theta, x)
        with _blas_threads():
            state, tape = self._forward(theta, x)
            logits = self.weights.T @ _abs2(state)  # (C, B)

        def vjp(dlogits: np.ndarray) -> np.ndarray:
            with _blas_threads():
                g = self.weights @ np.asarray(dlogits, dtype=np.float64).T  # ∂L/∂p, (2^n, B)
                return self._backward(theta, g * state, tape)

        return logits.T, vjp

    def loss_and_grad(self, theta, x, y) -> tuple[float, np.ndarray]:
        logits, vjp = self.logits_and_vjp(theta, x)
        y = np.asarray(y)
        if y.shape != (logits.shape[0],):
            raise ModelError(f"labels must have shape ({logits.shape[0]},), got {y.shape}")
        loss, dlogits = softmax_cross_entropy(logits, y)
        return loss, vjp(dlogits)

    def _backward(self, theta, lam, tape) -> np.ndarray:
        grad = np.zeros(self.model.n_params)
        trainable = [i for i, s in enumerate(self.segments) if isinstance(s, _Block) and len(s.param_index)]
        if not trainable:
            return grad
        for i in range(len(self.segments) - 1, trainable[0] - 1, -1):  # trailing encoders too
            seg, rec = self.segments[i], tape[i]
            if isinstance(seg, _Encoding):
                lam = seg.apply(lam, rec, adjoint=True)
                continue
            if not len(seg.param_index):  # fixed gates only: carry the cotangent back through them
                if rec.unitary is not None:
                    lam = rec.unitary.conj().T @ lam
                elif rec.groups is not None:
                    lam = self._fused_apply(seg, rec.groups, lam, adjoint=True)
                else:
                    lam = _undo(seg, rec.mats, lam)
                continue
            first = i == trainable[0]
            if rec.prefixes is not None:
                y = (rec.state_in @ lam.conj().T) @ rec.unitary  # R U
                seg.accumulate(grad, _dense_gradient(rec.prefixes, y, seg.generators(theta), seg))
                if not first:
                    lam = rec.unitary.conj().T @ lam
                continue
            if rec.groups is not None:
                if rec.unitary is not None:
                    phi = rec.unitary @ (rec.state_in @ lam.conj().T)
                    bra = np.eye(self.dim, dtype=np.complex128)
                    self._fused_sweep(seg, rec.groups, phi, bra, theta, grad, last=True)
                    if not first:
                        lam = rec.unitary.conj().T @ lam
                else:
                    lam = self._fused_sweep(seg, rec.groups, rec.state_out, lam, theta, grad, first, rec.inputs)
                continue
            gens = seg.generators(theta)
            if rec.unitary is not None:
                phi = rec.unitary @ (rec.state_in @ lam.conj().T)  # columns U R e_j
                bra = np.eye(self.dim, dtype=np.complex128)
                if not first:
                    lam = rec.unitary.conj().T @ lam
            else:
                phi, bra = rec.state_out, lam
            corr, bra = self._sweep(seg, rec.mats, phi, bra)
            seg.accumulate(grad, 2.0 * np.einsum("pab,pab->p", gens, corr[seg.param_gate]).real)
            if rec.unitary is None:
                lam = bra
        return grad

    def _fused_apply(self, seg: _Block, groups: list, state: np.ndarray, adjoint: bool = False,
                     keep: list | None = None) -> np.ndarray:
        """The block (or its inverse) on ``state`` (2^n, N; left unchanged), group by group
        (``fused``); ``keep`` collects each group's input for the sweep."""
        order = list(zip(seg.fused(), groups))
        x = state
        for (_, rows), (_, unitary) in (reversed(order) if adjoint else order):
            if keep is not None:
                keep.append(x)
            out = x if keep is None and x is not state else np.empty_like(x)
            x = fused.apply(x, out, unitary.conj().T if adjoint else unitary, rows)
        return x

    def _fused_sweep(self, seg: _Block, groups: list, phi, lam, theta, grad, last: bool, inputs=None):
        """Undo the groups on the cotangent ``lam`` (in place: the backward sweep's own array),
        adding each group's gradient from its prefix products and R_in = Tr_rest(|φ_in⟩⟨λ_out|).
        φ_in is the forward's (``inputs``) or, past ``FUSE_TAPE_BYTES``, φ undone alongside,
        R_in = F† Tr_rest(|φ_out⟩⟨λ_out|). Returns the swept cotangent (None when ``last``:
        nothing before the block needs it)."""
        if inputs is None:
            phi = phi.copy()  # the tape's φ stays as it was
        for g in range(len(groups) - 1, -1, -1):
            (sub, rows), (prefixes, unitary) = seg.fused()[g], groups[g]
            dagger = unitary.conj().T
            move = dagger if g or not last else None
            if inputs is not None:
                y = fused.sweep(inputs[g], lam, rows, move) @ unitary  # R_in U
            else:
                y = (dagger @ fused.sweep(phi, lam, rows, move, dagger if g else None)) @ unitary
            sub.accumulate(grad, _dense_gradient(prefixes, y, sub.generators(theta), sub))
        return None if last else lam

    def _sweep(self, seg: _Block, mats, phi, bra):
        """Undo the block's gates on φ and the cotangent together (one stacked array, one kernel
        call per gate); returns the per-gate correlations (K, 2, 2) and the swept cotangent."""
        stacked = np.stack([phi, bra])  # (2, 2^n, N): ket and bra move together
        corr = np.empty((len(seg.prims), 2, 2), dtype=np.complex128)
        daggers = mats.conj().swapaxes(-1, -2)
        for k in range(len(seg.prims) - 1, -1, -1):
            t, c = seg.wires[k]
            corr[k] = correlate(stacked[1], stacked[0], t, c)
            stacked = apply(stacked, daggers[k], t, c)
        return corr, stacked[1]


# --- small helpers ------------------------------------------------------------------------------
def _undo(seg: _Block, mats: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """(G_K ⋯ G_1)† λ, gate by gate (a copy: λ is left unchanged)."""
    lam = lam.copy()
    for (t, c), m in zip(reversed(seg.wires), reversed(mats)):
        lam = apply(lam, m.conj().T.copy(), t, c)
    return lam


def _abs2(state: np.ndarray) -> np.ndarray:
    return state.real**2 + state.imag**2


def _prefix_products(mats: np.ndarray, seg: _Block) -> np.ndarray:
    """P_k = G_k ⋯ G_1 for every gate of the block, (K, d, d)."""
    return compiled.prefix_products(mats, *seg.dense(), 1 << seg.n)


def _group_products(sub: _Block, theta: np.ndarray):
    """A fused group's prefix products and its unitary (their last)."""
    prefixes = _prefix_products(sub.matrices(theta), sub)
    return prefixes, prefixes[-1]


def _dense_gradient(p: np.ndarray, y: np.ndarray, gens: np.ndarray, seg: _Block) -> np.ndarray:
    """2 Re Tr(H_p P_k Y P_k†) for every θ index p of the block (k its gate), Y = R U: the K 2x2
    correlations of bra P_k and ket P_k Y on gate k's target (module docstring, small registers)."""
    ket = (p.reshape(-1, p.shape[2]) @ y).reshape(p.shape)  # every P_k Y in one GEMM
    corr = compiled.pair_correlations(p, ket, *seg.dense())
    return 2.0 * np.einsum("pab,pab->p", gens, corr[seg.param_gate]).real
