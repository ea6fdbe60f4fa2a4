"""Batched noisy density-matrix evaluation on a deployed circuit's active qubits.

Why: under a backend noise model, qiskit-aer 0.18 already simulates these small circuits with
its ``density_matrix`` method — its ``automatic`` method picks it whenever shots > 2^qubits
after truncation to the active qubits, and the result metadata says so — so Aer's per-binding
cost is not trajectories but a fixed overhead per experiment (circuit copy, noise insertion,
superoperator conversion, fusion, result dictionaries), paid per binding even when all
bindings share one job (``benchmarks/RESULTS.md``, Deployment). Here the noisy circuit is compiled ONCE and every
binding is evolved together, as one (B, 2^n, 2^n) array:

1. Aer's own :func:`qiskit_aer.utils.insert_noise` places the noise model's quantum errors on
   the transpiled circuit (the same model ``AerSimulator.from_backend`` uses; each error
   follows its gate, as in Aer);
2. consecutive fixed operations (gates with numeric angles and their error channels) on the
   same qubits are multiplied into one local superoperator; a parameterized ``rz`` is a
   diagonal phase whose angle is affine in the bindings (checked; other expressions are
   evaluated per binding);
3. the diagonal of ρ gives the noise-free-readout distribution of the measured qubits, the
   noise model's readout errors (per-qubit assignment matrices) are applied to it, and the
   counts are drawn from it with ``numpy.random.default_rng(seed).multinomial`` — one
   multinomial per binding, which is exactly the law of ``shots`` independent shots.

The outcome law is the same as Aer's (both are exact channel compositions; Aer's
statevector-trajectory method samples the same law) — ``tests/test_deploy.py`` checks it with
a chi-square test per binding against Aer's default and ``statevector`` methods. The counts
are not bit-identical to Aer's for the same seed (different random streams).

Cost: each local k-qubit superoperator touches B·4^n·4^k numbers, so the work grows as 4^n
with the active qubits n (memory B·4^n·16 bytes; the batch is chunked to stay under
``_CHUNK_BYTES``). :data:`MAX_ACTIVE_QUBITS` bounds where this is used: see there.
Circuits this compiler does not handle (resets, delays, conditionals, operations after a
measurement, correlated or all-qubit readout errors, parameterized gates other than ``rz``)
raise :class:`Unsupported`, and the caller falls back to Aer.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from compvqc.errors import Unsupported

#: Largest number of active qubits for the batched density-matrix engine. Its work grows 4× per
#: qubit (module docstring, Cost), while Aer's per-experiment overhead is roughly constant at
#: small n. Measured against one Aer job with all bindings (fake_kolkata noise model, 1024 shots,
#: 32 bindings, ``{n}x2_ryz`` + ``random50``, ``max_parallel_threads=1``; ``benchmarks/deploy.py
#: --part crossover``): 5 active qubits 1973/s vs 61/s, 6: 541 vs 32, 7: 88 vs 11, 8: 19 vs 14,
#: 9: 4 vs 4. So up to 8 active qubits the engine is at least as fast; above, Aer runs the job
#: (and from 10 qubits on, its ``automatic`` method switches to statevector trajectories, which
#: grow only 2× per qubit).
MAX_ACTIVE_QUBITS = 8
_CHUNK_BYTES = 64 * 2**20  # ρ of one chunk of bindings, complex128


@dataclass
class _Fixed:
    qubits: tuple  # local qubit indices, op order (qubits[0] = least significant)
    T: np.ndarray  # (2^k, 2^k, 2^k, 2^k): out[i', j'] = Σ T[i', j', i, j] ρ[i, j]


@dataclass
class _Phase:
    qubit: int
    coef: np.ndarray | None  # angle = values @ coef + offset (affine), or
    offset: float
    expr: object = None  # … a ParameterExpression evaluated per binding,
    cols: tuple = ()  # … on these binding columns,
    names: tuple = ()  # … for these parameters of expr (same order as cols)


@dataclass
class Program:
    """A noisy circuit compiled for batched density-matrix evolution on its active qubits."""

    n: int  # active qubits
    active: tuple  # physical qubit of local qubit i
    ops: list
    clbit_qubit: tuple  # local qubit measured into classical bit c
    readout: tuple  # per classical bit: (2, 2) assignment matrix A[true, measured], or None
    params: tuple  # the circuit parameters, in binding-column order


def _superop_tensor(matrix_superop: np.ndarray, k: int) -> np.ndarray:
    """qiskit SuperOp data (column-stacking: vec(ρ)[i + d·j] = ρ[i, j]) → T[i', j', i, j]."""
    d = 2**k
    S = np.asarray(matrix_superop, dtype=np.complex128).reshape(d, d, d, d)  # [j', i', j, i]
    return S.transpose(1, 0, 3, 2)


def _unitary_tensor(U: np.ndarray) -> np.ndarray:
    U = np.asarray(U, dtype=np.complex128)
    return np.einsum("ai,bj->abij", U, U.conj())


def _compose(T2: np.ndarray, T1: np.ndarray) -> np.ndarray:
    """T2 ∘ T1 on the same qubits."""
    d = T1.shape[0]
    return (T2.reshape(d * d, d * d) @ T1.reshape(d * d, d * d)).reshape(d, d, d, d)


def _embed(T: np.ndarray, qubits: tuple, into: tuple) -> np.ndarray:
    """A superoperator on ``qubits`` as one on the superset ``into`` (identity elsewhere)."""
    if qubits == into:
        return T
    k, m = len(qubits), len(into)
    # index tensors: bits in op order, most significant first when reshaped (C order)
    Tk = T.reshape((2,) * (4 * k))
    pos = [into.index(q) for q in qubits]  # position of each op qubit in ``into``
    # axis of bit for into-qubit p within a group of m axes: m - 1 - p
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    grp = [[next(letters) for _ in range(m)] for _ in range(4)]  # out-row, out-col, in-row, in-col
    out_sub = "".join("".join(g) for g in grp)
    t_sub = "".join(g[m - 1 - p] for g in grp for p in reversed(pos))  # T's axes: op qubit k-1 … 0
    free = [m - 1 - p for p in range(m) if into[p] not in qubits]  # the axes of the other qubits: identity
    subs = [t_sub] + [s for a in free for s in (grp[0][a] + grp[2][a], grp[1][a] + grp[3][a])]
    ops = [Tk] + [np.eye(2)] * (2 * len(free))
    d = 2**m
    return np.einsum(",".join(subs) + "->" + out_sub, *ops).reshape(d, d, d, d)


def _affine(expr, params: list, rng) -> tuple[np.ndarray, float] | None:
    """(coef over ``params``, offset) if ``expr`` is affine in its parameters, else None."""
    mine = [p for p in expr.parameters]
    index = {p: i for i, p in enumerate(params)}
    zero = {p: 0.0 for p in mine}
    offset = float(expr.bind(zero))
    coef = np.zeros(len(params))
    for p in mine:
        coef[index[p]] = float(expr.bind({**zero, p: 1.0})) - offset
    for _ in range(2):
        point = {p: float(v) for p, v in zip(mine, rng.uniform(-4, 4, len(mine)))}
        pred = offset + sum(coef[index[p]] * v for p, v in point.items())
        if abs(float(expr.bind(point)) - pred) > 1e-9 * (1 + abs(pred)):
            return None
    return coef, offset


def compile_program(measured, noise_model, params: list, max_qubits: int | None = None) -> Program:
    """Compile a transpiled, measured circuit (and an optional Aer ``NoiseModel``).

    ``max_qubits``: active-qubit bound (default :data:`MAX_ACTIVE_QUBITS`).
    """
    max_qubits = MAX_ACTIVE_QUBITS if max_qubits is None else int(max_qubits)
    from qiskit.circuit import ParameterExpression
    from qiskit.quantum_info import SuperOp

    circuit = measured
    readout_errors = {}
    if noise_model is not None:
        from qiskit_aer.utils import insert_noise

        if getattr(noise_model, "_default_readout_error", None) is not None:
            raise Unsupported("an all-qubit readout error")
        local_readout = getattr(noise_model, "_local_readout_errors", None)  # qiskit-aer 0.18's layout
        if local_readout is None:
            raise Unsupported("a noise model without per-qubit readout errors as qiskit-aer 0.18 keeps them")
        for qubits, err in local_readout.items():
            if len(qubits) != 1:
                raise Unsupported("a correlated readout error")
            readout_errors[int(qubits[0])] = np.asarray(err.probabilities, dtype=np.float64)
        circuit = insert_noise(measured, noise_model, transpile=False)
    index = {q: i for i, q in enumerate(circuit.qubits)}
    active = sorted({index[q] for inst in circuit.data if inst.operation.name != "barrier" for q in inst.qubits})
    n = len(active)
    if n > max_qubits:
        raise Unsupported(f"{n} active qubits (bound {max_qubits})")
    local = {p: i for i, p in enumerate(active)}
    rng = np.random.default_rng(12345)
    ops, clbits, measured_done = [], {}, set()  # fused ops; classical bit -> local qubit; measured qubits
    channels = _channel_cache(noise_model)
    for inst in circuit.data:
        op, name = inst.operation, inst.operation.name
        qubits = tuple(local[index[q]] for q in inst.qubits)
        if name == "barrier":
            continue
        if name == "measure":
            if qubits[0] in measured_done:
                raise Unsupported("a qubit measured twice")
            clbits[circuit.find_bit(inst.clbits[0]).index] = qubits[0]
            measured_done.add(qubits[0])
            continue
        if measured_done.intersection(qubits):
            raise Unsupported("an operation after a measurement")
        if getattr(op, "condition", None) is not None or name in ("reset", "delay", "initialize"):
            raise Unsupported(f"instruction {name}")
        if any(isinstance(p, ParameterExpression) and p.parameters for p in getattr(op, "params", ())):
            if name != "rz":
                raise Unsupported(f"parameterized {name}")
            expr = op.params[0]
            fit = _affine(expr, params, rng)
            if fit:
                ops.append(_Phase(qubits[0], fit[0], fit[1]))
            else:
                where = {p: i for i, p in enumerate(params)}
                names = tuple(expr.parameters)
                ops.append(_Phase(qubits[0], None, 0.0, expr, tuple(where[p] for p in names), names))
            continue
        if name == "quantum_channel" or hasattr(op, "to_quantumchannel"):
            err = getattr(op, "_quantum_error", op)
            hit = channels.get(id(err))
            if hit is None or hit[0] is not err:  # one QuantumError object per (gate, qubits): convert once
                channel = err.to_quantumchannel() if hasattr(err, "to_quantumchannel") else err
                hit = channels[id(err)] = (err, _superop_tensor(SuperOp(channel).data, len(qubits)))
            T = hit[1]
        else:
            try:
                T = _unitary_tensor(op.to_matrix())
            except Exception as e:  # noqa: BLE001 - anything without a matrix
                raise Unsupported(f"instruction {name}") from e
        _push_fixed(ops, _Fixed(qubits, T))
    if sorted(clbits) != list(range(len(clbits))):
        raise Unsupported("classical bits are not 0..c-1")
    readout = tuple(readout_errors.get(active[clbits[c]]) for c in range(len(clbits)))
    return Program(n=n, active=tuple(active), ops=ops, clbit_qubit=tuple(clbits[c] for c in range(len(clbits))),
                   readout=readout, params=tuple(params))


# id(noise model) -> (weakref, {id(QuantumError): (error, T)}): qiskit's conversion of an Aer error
# to a superoperator is slow (tens of ms); the errors of one noise model are shared by all deployments.
_CHANNELS: dict = {}


def _channel_cache(noise_model) -> dict:
    return {} if noise_model is None else _per_object(_CHANNELS, noise_model)


def _per_object(cache: dict, obj) -> dict:
    """The dict ``cache`` keeps for ``obj``, keyed by id and dropped with ``obj`` (objects such as
    QuantumCircuit define __eq__ without __hash__, so a WeakKeyDictionary cannot hold them); a
    fresh, unkept dict if ``obj`` cannot be weakly referenced."""
    entry = cache.get(id(obj))
    if entry is None or entry[0]() is not obj:
        try:
            ref = weakref.ref(obj, lambda _, key=id(obj): cache.pop(key, None))
        except TypeError:
            return {}
        entry = cache[id(obj)] = (ref, {})
    return entry[1]


def _push_fixed(ops: list, new: _Fixed) -> None:
    """Fuse ``new`` into the previous fixed op when one's qubits contain the other's (≤ 2 qubits)."""
    if ops and isinstance(ops[-1], _Fixed):
        prev = ops[-1]
        if set(new.qubits) <= set(prev.qubits):
            ops[-1] = _Fixed(prev.qubits, _compose(_embed(new.T, new.qubits, prev.qubits), prev.T))
            return
        if set(prev.qubits) < set(new.qubits):
            ops[-1] = _Fixed(new.qubits, _compose(new.T, _embed(prev.T, prev.qubits, new.qubits)))
            return
    ops.append(new)


def probabilities(program: Program, values: np.ndarray) -> np.ndarray:
    """(B, 2^c) outcome distribution of the classical bits (readout errors included)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    B, n = len(values), program.n
    if B == 0:
        return np.zeros((0, 2 ** len(program.clbit_qubit)))
    chunk = max(1, _CHUNK_BYTES // (16 * 4**n))
    return np.concatenate([_probabilities(program, values[i:i + chunk]) for i in range(0, B, chunk)])


def _angles(op: _Phase, values: np.ndarray) -> np.ndarray:
    if op.coef is not None:
        return values @ op.coef + op.offset
    return np.array([float(op.expr.bind(dict(zip(op.names, row[list(op.cols)].tolist())))) for row in values])


def _probabilities(program: Program, values: np.ndarray) -> np.ndarray:
    B, n = len(values), program.n
    rho = np.zeros((B,) + (2,) * (2 * n), dtype=np.complex128)
    rho[(slice(None),) + (0,) * (2 * n)] = 1.0
    row_ax = lambda q: 1 + (n - 1 - q)  # noqa: E731 - axis of local qubit q's row bit
    col_ax = lambda q: 1 + n + (n - 1 - q)  # noqa: E731
    for op in program.ops:
        if isinstance(op, _Phase):
            theta = _angles(op, values)
            f = np.ones((B, 2, 2), dtype=np.complex128)
            f[:, 0, 1] = np.exp(-1j * theta)
            f[:, 1, 0] = np.exp(1j * theta)
            shape = [B] + [1] * (2 * n)
            shape[row_ax(op.qubit)] = shape[col_ax(op.qubit)] = 2
            rho *= f.reshape(shape)
            continue
        k = len(op.qubits)
        Tk = op.T.reshape((2,) * (4 * k))
        qs = op.qubits[::-1]  # T's bit axes: op qubit k-1 first
        in_axes = [row_ax(q) for q in qs] + [col_ax(q) for q in qs]
        out = np.tensordot(rho, Tk, axes=(in_axes, list(range(2 * k, 4 * k))))
        # tensordot puts T's output axes (2k) last: move them back where they came from
        rho = np.moveaxis(out, list(range(out.ndim - 2 * k, out.ndim)), in_axes)
    d = 2**n
    diag = np.real(np.einsum("bii->bi", rho.reshape(B, d, d)))
    # marginal over the measured qubits, classical bit c = local qubit clbit_qubit[c]
    p = np.clip(diag, 0.0, None).reshape((B,) + (2,) * n)
    c = len(program.clbit_qubit)
    others = tuple(1 + (n - 1 - q) for q in range(n) if q not in program.clbit_qubit)
    p = p.sum(axis=others) if others else p
    kept = [q for q in range(n - 1, -1, -1) if q in program.clbit_qubit]  # remaining axes, msb first
    # reorder axes to classical bits c-1 … 0 (C order of the outcome index s = Σ b_c 2^c)
    order = [1 + kept.index(program.clbit_qubit[cb]) for cb in range(c - 1, -1, -1)]
    p = np.transpose(p, [0] + order)
    for cb, A in enumerate(program.readout):
        if A is None:
            continue
        ax = 1 + (c - 1 - cb)
        p = np.moveaxis(np.tensordot(p, A, axes=([ax], [0])), -1, ax)
    p = p.reshape(B, 2**c)
    return p / p.sum(axis=1, keepdims=True)


# id(circuit) -> (weakref to the circuit, {(id(noise model), bound, params): (noise model, Program | Unsupported)})
_PROGRAMS: dict = {}


def program_for(measured, noise_model, params: list, max_qubits: int | None = None) -> Program:
    """:func:`compile_program`, cached per circuit object and noise model object."""
    max_qubits = MAX_ACTIVE_QUBITS if max_qubits is None else int(max_qubits)
    per = _per_object(_PROGRAMS, measured)
    key = (id(noise_model), max_qubits, tuple(params))
    hit = per.get(key)
    if hit is None or hit[0] is not noise_model:
        try:
            hit = (noise_model, compile_program(measured, noise_model, params, max_qubits))
        except Unsupported as e:
            hit = (noise_model, e)
        per[key] = hit
    if isinstance(hit[1], Unsupported):
        raise Unsupported(str(hit[1]))
    return hit[1]


def sample_counts(probs: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """(B, K) counts: one multinomial(shots, p_b) draw per binding, ``default_rng(seed)``."""
    rng = np.random.default_rng(int(seed))
    return rng.multinomial(int(shots), probs).astype(np.int64)
