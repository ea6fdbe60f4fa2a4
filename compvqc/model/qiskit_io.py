"""Conversion between compvqc VQCs and qiskit circuits, and OpenQASM 3 export/import.

Weights are either bound — every angle canonicalized into its period first (the transpiler
sees the float, see ``gates``) and written into the gate as a plain float64 — or left as a
``ParameterVector`` named ``w``. Inputs are always a ``ParameterVector`` named ``x``: the
encoder's features for angle encoders, the 2^n - 1 RY-tree angles for amplitude encoding
(``input_values`` maps features to them), so the circuit — and its TCD — never depends on a
sample.

OpenQASM 3: qiskit's exporter renames vector elements (``x[1]`` → ``_x_1_``) and the importer
sorts parameters by name (``_x_10_`` before ``_x_1_``), so the round trip maps parameters by
name, never by position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit import Parameter, ParameterExpression, ParameterVector
from qiskit.circuit.library import CRXGate, CRYGate, CRZGate, CU3Gate, RXGate, RYGate, RZGate, U3Gate
from qiskit.quantum_info import Operator

from compvqc.errors import ConversionError
from compvqc.model.circuit import VQC
from compvqc.model.encoders import amplitude_tree_angles
from compvqc.model.gates import GATE_TYPES, canonicalize_angles
from compvqc.model.ops import AmplitudeEncode, Encode, Gate
from compvqc.model.readout import Readout

QISKIT_GATES = {"rx": RXGate, "ry": RYGate, "rz": RZGate, "crx": CRXGate, "cry": CRYGate, "crz": CRZGate,
                "u3": U3Gate, "cu3": CU3Gate}


@dataclass(frozen=True)
class QiskitVQC:
    """A qiskit circuit for a VQC with its input (and, if unbound, weight) parameters."""

    circuit: QuantumCircuit
    inputs: ParameterVector
    weights: ParameterVector | None


def input_values(model: VQC, x: np.ndarray) -> np.ndarray:
    """Values to bind to the circuit's input parameters for a feature batch x, shape (B, k)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if model.ops and isinstance(model.ops[0], AmplitudeEncode):
        return amplitude_tree_angles(x, model.n_qubits)
    return x


def to_qiskit(model: VQC, theta=None, *, measure: bool = False) -> QiskitVQC:
    """The model as a qiskit ``QuantumCircuit``; bound weights are canonicalized first."""
    n = model.n_qubits
    amplitude = bool(model.ops) and isinstance(model.ops[0], AmplitudeEncode)
    inputs = ParameterVector("x", (2**n - 1) if amplitude else model.n_features)
    weights = None
    if theta is None:
        weights = ParameterVector("w", model.n_params)
    else:
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (model.n_params,):
            raise ConversionError(f"θ must have shape ({model.n_params},), got {theta.shape}")
    qc = QuantumCircuit(n)
    for op in model.ops:
        if isinstance(op, AmplitudeEncode):
            _ry_tree(qc, inputs, n)
        elif isinstance(op, Encode):
            qc.append(QISKIT_GATES[op.name](inputs[op.feature]), [op.wire])
        else:
            if weights is not None:
                angles = [weights[p] for p in op.params]
            else:
                angles = canonicalize_angles(op.name, op.angles(theta))
            qc.append(QISKIT_GATES[op.name](*angles), list(op.wires))
    if measure:
        qc.measure_all()
    return QiskitVQC(qc, inputs, weights)


def _ry_tree(qc: QuantumCircuit, angles: ParameterVector, n: int) -> None:
    """Amplitude encoding as uniformly-controlled RY rotations made of RY and CX only.

    Level k rotates qubit n-1-k controlled by qubits n-k … n-1 (control value j, bit i of j =
    qubit n-k+i) by angle α_j = angles[2^k - 1 + j]. A multiplexed RY with k controls is
    RY(θ_0) CX RY(θ_1) CX … in Gray-code order (Möttönen et al. 2004): control value j sees
    Σ_i (-1)^{popcount(j & gray(i))} θ_i, so θ = S^T α / 2^k with that sign matrix S.
    """
    for k in range(n):
        target = n - 1 - k
        alpha = [angles[2**k - 1 + j] for j in range(2**k)]
        if k == 0:
            qc.ry(alpha[0], target)
            continue
        size = 2**k
        gray = [i ^ (i >> 1) for i in range(size)]
        signs = np.array([[(-1) ** bin(j & gray[i]).count("1") for i in range(size)] for j in range(size)])
        controls = [n - k + i for i in range(k)]
        for i in range(size):
            theta_i = sum((signs[j, i] / size) * alpha[j] for j in range(size))
            qc.ry(theta_i, target)
            changed = gray[i] ^ gray[(i + 1) % size]
            qc.cx(controls[changed.bit_length() - 1], target)


def from_qiskit(circuit: QuantumCircuit, inputs, weights, readout: Readout, *,
                meta: dict | None = None) -> tuple[VQC, np.ndarray | None]:
    """A VQC from a qiskit circuit of supported gates, as qiskit-machine-learning's QNNs take it.

    ``inputs`` and ``weights`` list the circuit's input and trainable Parameters in the order
    the feature vector and θ use. Every gate angle must be exactly one input parameter (RX, RY,
    RZ encoders) or exactly one weight parameter; each weight is used once. Bound numeric gates
    are not supported (return a ConversionError naming the instruction). Returns (model, None).
    """
    in_index = {p: i for i, p in enumerate(inputs)}
    w_index = {p: i for i, p in enumerate(weights)}
    if len(in_index) != len(list(inputs)) or len(w_index) != len(list(weights)):
        raise ConversionError("input and weight parameter lists must not repeat parameters")
    if set(in_index) & set(w_index):
        raise ConversionError("a parameter cannot be both an input and a weight")
    qubit = {q: i for i, q in enumerate(circuit.qubits)}
    ops = []
    for k, inst in enumerate(circuit.data):
        op = inst.operation
        name = op.name
        if name in ("barrier", "measure"):
            continue
        if name not in GATE_TYPES:
            raise ConversionError(f"instruction {k}: unsupported gate {name!r} (supported: {' '.join(GATE_TYPES)})")
        _check_definition(k, op)
        wires = tuple(qubit[q] for q in inst.qubits)
        params = [_bare_parameter(k, name, p) for p in op.params]
        if all(p in w_index for p in params):
            ops.append(Gate(name, wires, tuple(w_index[p] for p in params)))
        elif len(params) == 1 and params[0] in in_index and name in ("rx", "ry", "rz"):
            ops.append(Encode(name, wires[0], in_index[params[0]]))
        else:
            raise ConversionError(f"instruction {k} ({name}): each angle must be one listed weight, "
                                  "or one listed input on rx/ry/rz")
    return VQC(circuit.num_qubits, len(in_index), tuple(ops), readout, dict(meta or {})), None


def _bare_parameter(k: int, name: str, p):
    if isinstance(p, Parameter):
        return p
    if isinstance(p, ParameterExpression) and len(p.parameters) == 1:
        (q,) = p.parameters
        if p == q:  # e.g. an expression that simplifies to the parameter itself
            return q
    raise ConversionError(f"instruction {k} ({name}): angle {p} is not a bare parameter")


def _check_definition(k: int, op) -> None:
    """Gates re-imported from OpenQASM may be custom gates named like ours: check the matrix."""
    cls = QISKIT_GATES[op.name]
    if type(op) is cls:
        return
    values = [0.3 + 0.7 * i for i in range(len(op.params))]
    try:
        binding = {p: v for p, v in zip(op.params, values)}
        same = Operator(op.definition.assign_parameters(binding)).equiv(Operator(cls(*values)))
    except Exception as e:  # noqa: BLE001 - any failure to build its matrix is a conversion error
        raise ConversionError(f"instruction {k}: cannot check the definition of {op.name!r}: {e}") from None
    if not same:
        raise ConversionError(f"instruction {k}: gate {op.name!r} does not act as qiskit's {cls.__name__}")


def to_qasm3(model: VQC, theta=None) -> str:
    """OpenQASM 3 text of the model (inputs ``_x_i_``, weights ``_w_j_`` if unbound)."""
    return qasm3.dumps(to_qiskit(model, theta).circuit)


_NAME = re.compile(r"^_(x|w)_(\d+)_$")


def from_qasm3(text: str, readout: Readout, *, meta: dict | None = None) -> VQC:
    """Read back ``to_qasm3`` output (weights unbound): parameters are matched by name."""
    try:
        circuit = qasm3.loads(text)
    except Exception as e:  # noqa: BLE001 - the importer raises many types; report one line
        raise ConversionError(f"cannot parse OpenQASM 3: {e}") from None
    found: dict[str, dict[int, Parameter]] = {"x": {}, "w": {}}
    for p in circuit.parameters:
        m = _NAME.match(p.name)
        if not m:
            raise ConversionError(f"unexpected parameter {p.name!r} (expected _x_<i>_ or _w_<j>_)")
        found[m.group(1)][int(m.group(2))] = p
    ordered = {}
    for kind, d in found.items():
        if sorted(d) != list(range(len(d))):
            raise ConversionError(f"parameters _{kind}_i_ are not numbered 0..{len(d) - 1}")
        ordered[kind] = [d[i] for i in range(len(d))]
    return from_qiskit(circuit, ordered["x"], ordered["w"], readout, meta=meta)[0]
