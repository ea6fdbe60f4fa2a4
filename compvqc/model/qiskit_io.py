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

import functools
import re
from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit import Parameter, ParameterExpression, ParameterVector
from qiskit.circuit.library import (CHGate, CPhaseGate, CRXGate, CRYGate, CRZGate, CU3Gate, CXGate, CYGate, CZGate,
                                    ECRGate, HGate, IGate, PhaseGate, RXGate, RXXGate, RYGate, RYYGate, RZGate,
                                    RZZGate, SdgGate, SGate, SwapGate, SXdgGate, SXGate, TdgGate, TGate, U3Gate, XGate,
                                    YGate, ZGate)
from qiskit.quantum_info import Operator

from compvqc.errors import ConversionError
from compvqc.limits import MAX_DEGREE  # an input expression of higher degree (or not a polynomial) is refused
from compvqc.model.circuit import VQC
from compvqc.model.encoders import amplitude_tree_angles
from compvqc.model.gates import ENCODER_GATES, FIXED_GATES, GATE_TYPES, canonicalize_angles
from compvqc.model.ops import AmplitudeEncode, Encode, Fixed, Gate
from compvqc.model.readout import Readout

QISKIT_GATES = {"rx": RXGate, "ry": RYGate, "rz": RZGate, "crx": CRXGate, "cry": CRYGate, "crz": CRZGate,
                "u3": U3Gate, "cu3": CU3Gate, "p": PhaseGate, "cp": CPhaseGate, "rzz": RZZGate, "rxx": RXXGate,
                "ryy": RYYGate}
FIXED_QISKIT = {"id": IGate, "h": HGate, "x": XGate, "y": YGate, "z": ZGate, "s": SGate, "sdg": SdgGate, "t": TGate,
                "tdg": TdgGate, "sx": SXGate, "sxdg": SXdgGate, "cx": CXGate, "cy": CYGate, "cz": CZGate, "ch": CHGate,
                "swap": SwapGate, "ecr": ECRGate}
ALIASES = {"u": "u3", "cnot": "cx", "phase": "p", "cphase": "cp"}  # qiskit names read as ours (same matrices)
MAX_DEPTH = 8  # nested definitions expanded when a gate is not supported as it stands


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
        tree = amplitude_tree_angles(x, model.n_qubits)
        return np.hstack([tree, x]) if any(isinstance(op, Encode) for op in model.ops) else tree
    return x


def to_qiskit(model: VQC, theta=None, *, measure: bool = False) -> QiskitVQC:
    """The model as a qiskit ``QuantumCircuit``; bound weights are canonicalized first."""
    n = model.n_qubits
    amplitude = bool(model.ops) and isinstance(model.ops[0], AmplitudeEncode)
    uploads = any(isinstance(op, Encode) for op in model.ops)  # encoders after amplitude: features follow the tree
    tree = (2**n - 1) if amplitude else 0
    inputs = ParameterVector("x", tree + (model.n_features if uploads or not amplitude else 0))
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
            qc.append(QISKIT_GATES[op.name](_input_angle(op, inputs, tree)), [op.wire])
        elif isinstance(op, Fixed):
            gate = (FIXED_QISKIT[op.name]() if op.name in FIXED_QISKIT
                    else QISKIT_GATES[op.name](*canonicalize_angles(op.name, op.angles)))
            qc.append(gate, list(op.wires))
        else:
            if weights is not None:
                scales = op.scales or (1.0,) * len(op.params)
                offsets = op.offsets or (0.0,) * len(op.params)
                angles = [_affine(weights[p], a, b) for p, a, b in zip(op.params, scales, offsets)]
            else:
                angles = canonicalize_angles(op.name, op.angles(theta))
            qc.append(QISKIT_GATES[op.name](*angles), list(op.wires))
    if measure:
        qc.measure_all()
    return QiskitVQC(qc, inputs, weights)


def _affine(w, scale: float, offset: float):
    out = w if scale == 1.0 else scale * w
    return out if offset == 0.0 else out + offset


def _input_angle(op: Encode, inputs: ParameterVector, offset: int = 0):
    """The encoder's angle as a qiskit expression: x[f] itself, or Σ coef · Π x[f] (feature f is
    input ``offset + f``: after an amplitude tree's angles)."""
    if op.feature is not None:
        return inputs[offset + op.feature]
    total = None
    for coef, fs in op.terms:
        term = coef
        for f in fs:
            term = term * inputs[offset + f]
        total = term if total is None else total + term
    return total


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


def from_qiskit(circuit: QuantumCircuit, inputs, weights, readout: Readout, *, meta: dict | None = None,
                _formals: dict | None = None) -> tuple[VQC, np.ndarray | None]:
    """A VQC from a qiskit circuit, as qiskit-machine-learning's QNNs take it.

    ``inputs`` and ``weights`` list the circuit's input and trainable Parameters in the order
    the feature vector and θ use. Supported: the trainable types (``GATE_TYPES``) with each angle
    an affine function of one weight (shared, negated or doubled weights included); RX/RY/RZ/P
    driven by a polynomial of the inputs (degree ≤ ``MAX_DEGREE``); fixed gates (``FIXED_GATES``)
    and any trainable type at numeric angles; qiskit's ``u`` as U3. Anything else is replaced by
    its definition (the circuit library's blueprint classes, RZZ driven by inputs, …) until it is
    supported, or refused with one line naming the instruction. Returns (model, None).
    """
    in_index = {p: i for i, p in enumerate(inputs)}
    w_index = {p: i for i, p in enumerate(weights)}
    if len(in_index) != len(list(inputs)) or len(w_index) != len(list(weights)):
        raise ConversionError("input and weight parameter lists must not repeat parameters")
    if set(in_index) & set(w_index):
        raise ConversionError("a parameter cannot be both an input and a weight")
    unlisted = sorted(p.name for p in circuit.parameters if p not in in_index and p not in w_index)
    if unlisted:
        raise ConversionError(f"circuit parameter(s) {', '.join(unlisted[:5])} are neither inputs nor weights")
    qubit = {q: i for i, q in enumerate(circuit.qubits)}
    ops: list = []
    measured: set[int] = set()
    for k, inst in enumerate(circuit.data):
        wires = tuple(qubit[q] for q in inst.qubits)
        if inst.operation.name == "measure":
            measured.update(wires)
        elif inst.operation.name != "barrier" and measured.intersection(wires):
            raise ConversionError(f"instruction {k} ({inst.operation.name} on qubits {list(wires)}) acts after a "
                                  "measurement of its qubit: only final measurements are supported")
        _convert(ops, inst.operation, wires, k, (in_index, w_index, _formals or {}), 0)
    used = {p for op in ops if isinstance(op, Gate) for p in op.params}
    unused = [p.name for p, i in w_index.items() if i not in used]
    if unused:
        raise ConversionError(f"weight(s) {', '.join(unused[:5])} drive no gate of the circuit")
    return VQC(circuit.num_qubits, len(in_index), tuple(ops), readout, dict(meta or {})), None


def _convert(ops: list, op, wires, k: int, context: tuple, depth: int) -> None:
    """Append ``op`` on ``wires`` (instruction ``k`` of the circuit) as compvqc operations;
    ``context`` is (input index, weight index, declared formal names of QASM gates)."""
    in_index, w_index, formals = context
    name = ALIASES.get(op.name, op.name)
    where = f"instruction {k} ({op.name} on qubits {list(wires)})"
    if name in ("barrier", "measure"):
        return
    if getattr(op, "condition", None) is not None or name in ("reset", "delay", "initialize"):
        raise ConversionError(f"{where}: not a gate; remove it before importing")
    angles = [_angle(where, p, in_index, w_index) for p in getattr(op, "params", ())]
    kinds = {a[0] for a in angles}
    known = name in GATE_TYPES or (name in FIXED_GATES and not angles)
    if known and getattr(op, "_standard_gate", None) is None:  # qiskit's own gates are what they say
        _check_definition(where, op, name)
    if known and kinds <= {"number"}:
        ops.append(Fixed(name, wires, tuple(a[1] for a in angles)))
        return
    if name in GATE_TYPES and kinds == {"weight"}:
        ops.append(Gate(name, wires, tuple(a[1] for a in angles), tuple(a[2] for a in angles),
                        tuple(a[3] for a in angles)))
        return
    if name in ENCODER_GATES and kinds == {"input"}:
        feature, terms = _encoder_angle(angles[0][1], where)
        constant = feature is None and not any(fs for _, fs in terms)  # e.g. 0·x: no input left
        ops.append(Fixed(name, wires, (sum(c for c, _ in terms),)) if constant else Encode(name, wires[0], feature, terms))
        return
    definition = getattr(op, "definition", None)
    if definition is None or depth >= MAX_DEPTH:
        if name in GATE_TYPES or name in FIXED_GATES:
            what = (f"mixes {' and '.join(sorted(k + 's' for k in kinds))} in its angles" if len(kinds) > 1
                    else "takes inputs only on rx/ry/rz/p")
            raise ConversionError(f"{where}: {what}; give every angle of a gate one kind, or decompose the gate")
        raise ConversionError(f"{where}: unsupported gate (supported: {' '.join(GATE_TYPES)}; fixed: "
                              f"{' '.join(FIXED_GATES)}); decompose it into these first")
    if op.name in formals:
        definition = _unscramble(where, op.name, definition, formals[op.name], list(op.params))
    inner = {q: wires[i] for i, q in enumerate(definition.qubits)}
    for inst in definition.data:
        _convert(ops, inst.operation, tuple(inner[q] for q in inst.qubits), k, context, depth + 1)


def _unscramble(where: str, name: str, definition: QuantumCircuit, declared: list, actual: list) -> QuantumCircuit:
    """Undo qiskit's importer binding a declared gate's formals in name order (see from_qasm3):
    where formal B was written, the definition holds ``actual[rank of B among sorted formals]``."""
    ranked = sorted(declared)
    if ranked == declared or len(declared) != len(actual) or not _importer_sorts_formals():
        return definition
    if not all(isinstance(a, Parameter) for a in actual) or len(set(actual)) != len(actual):
        raise ConversionError(f"{where}: qiskit's importer binds this gate's parameters out of order; "
                              f"export it decomposed, qc.decompose(gates_to_decompose=[{name!r}]), and import that")
    temps = [Parameter(f"_compvqc_{i}") for i in range(len(actual))]  # two passes: a simultaneous swap
    present = set(definition.parameters)
    step = definition.assign_parameters({a: t for a, t in zip(actual, temps) if a in present})
    present = set(step.parameters)
    return step.assign_parameters({temps[r]: actual[declared.index(b)] for r, b in enumerate(ranked) if temps[r] in present})


@functools.cache
def _importer_sorts_formals() -> bool:
    """Whether this qiskit's QASM 3 importer has the formal-order bug (probed once)."""
    probe = qasm3.loads('OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] a;\ninput float[64] b;\n'
                        "gate g(p_b, p_a) q { rx(p_b) q; }\nqubit[1] q;\ng(a, b) q[0];\n")
    (param,) = probe.data[0].operation.definition.data[0].operation.params[0].parameters
    return param.name == "b"


def _angle(where: str, p, in_index: dict, w_index: dict) -> tuple:
    """('number', value) | ('input', expression) | ('weight', index, scale, offset)."""
    if not isinstance(p, ParameterExpression) or not p.parameters:
        try:
            value = complex(p.numeric() if isinstance(p, ParameterExpression) else p)
        except (TypeError, ValueError):
            raise ConversionError(f"{where}: angle {p!r} is not a number or a parameter expression") from None
        if abs(value.imag) > 1e-12 or not np.isfinite(value.real):
            raise ConversionError(f"{where}: angle {p} is not a finite real number")
        return ("number", float(value.real))
    params = p.parameters
    if params <= set(in_index):
        return ("input", (p, in_index))
    if len(params) == 1 and params <= set(w_index):
        (w,) = params
        try:
            scale, offset = _constant(p.gradient(w)), _number(p.bind({w: 0.0}))
        except _SYMBOLIC_ERRORS as e:
            raise ConversionError(f"{where}: angle {p} is not an affine function of weight {w.name} "
                                  f"({type(e).__name__})") from None
        if scale is None:
            raise ConversionError(f"{where}: angle {p} is not an affine function of weight {w.name}")
        return ("weight", w_index[w], scale, offset)
    if params <= set(w_index):
        raise ConversionError(f"{where}: angle {p} combines several weights; give each angle its own")
    raise ConversionError(f"{where}: angle {p} mixes inputs and weights; encode the input in a gate of its own")


def _number(e) -> float:
    return float(np.real(complex(e.numeric() if isinstance(e, ParameterExpression) else e)))


_SYMBOLIC_ERRORS = (ZeroDivisionError, RuntimeError, ValueError, OverflowError, TypeError, ArithmeticError)
_PROBES = (0.0, 0.6180339887, -1.4142135623)  # where an expression is checked to be constant


def _constant(e) -> float | None:
    """The value of ``e`` if it does not depend on its parameters (qiskit's symbolic derivatives
    keep factors such as ``x**0``, so "no parameters left" is not the test), else None."""
    if not isinstance(e, ParameterExpression) or not e.parameters:
        return _number(e)
    values = [_number(e.bind({q: v for q in e.parameters})) for v in _PROBES]
    return values[0] if all(abs(v - values[0]) <= 1e-12 * (1 + abs(values[0])) for v in values) else None


def _encoder_angle(found, where: str) -> tuple:
    """(feature, ()) for a bare input, else (None, terms): the expression's Taylor coefficients at
    x = 0, which are exact for a polynomial (derivatives taken by qiskit's symbolic engine)."""
    expr, in_index = found
    if isinstance(expr, Parameter):
        return in_index[expr], ()
    terms: dict[tuple[int, ...], float] = {}

    def walk(e, mono: tuple[int, ...], factorial: float):
        value = _constant(e) if len(mono) >= MAX_DEGREE or not isinstance(e, ParameterExpression) \
            or not e.parameters else None
        if value is not None:  # a constant: the last coefficient on this branch
            if value != 0.0:
                terms[mono] = terms.get(mono, 0.0) + value / factorial
            return
        if len(mono) >= MAX_DEGREE:
            raise ConversionError(f"{where}: input angle {expr} is not a polynomial of degree ≤ {MAX_DEGREE} "
                                  "of the inputs")
        value = _number(e.bind({q: 0.0 for q in e.parameters}))
        if value != 0.0:
            terms[mono] = terms.get(mono, 0.0) + value / factorial
        last = mono[-1] if mono else -1
        for q in sorted(e.parameters, key=lambda q: in_index[q]):
            f = in_index[q]
            if f >= last:  # each multiset of features once: non-decreasing order
                power = mono.count(f) + 1 if f == last else 1
                walk(e.gradient(q), mono + (f,), factorial * power)

    try:
        walk(expr, (), 1.0)
    except _SYMBOLIC_ERRORS as e:
        raise ConversionError(f"{where}: input angle {expr} is not a polynomial of the inputs "
                              f"({type(e).__name__})") from None
    if len(terms) == 1 and len(fs := next(iter(terms))) == 1 and terms[fs] == 1.0:
        return fs[0], ()
    return None, tuple((c, fs) for fs, c in sorted(terms.items(), key=lambda t: (len(t[0]), t[0])))


def _check_definition(where: str, op, name: str) -> None:
    """Gates re-imported from OpenQASM may be custom gates named like ours: check the matrix."""
    from compvqc.model.gates import full_matrix

    try:
        symbols = sorted({q for p in op.params if isinstance(p, ParameterExpression) for q in p.parameters},
                         key=lambda q: q.name)
        binding = {q: 0.3 + 0.7 * i for i, q in enumerate(symbols)}
        values = [_number(p.bind({q: binding[q] for q in p.parameters}) if isinstance(p, ParameterExpression)
                          else p) for p in op.params]
        definition = op.definition
        bound = definition.assign_parameters({q: binding[q] for q in definition.parameters})
        same = Operator(bound).equiv(Operator(full_matrix(name, values)))
    except Exception as e:  # noqa: BLE001 - any failure to build its matrix is a conversion error
        raise ConversionError(f"{where}: cannot check the definition of {op.name!r}: {e}") from None
    if not same:
        raise ConversionError(f"{where}: gate {op.name!r} does not act as qiskit's {name}")


def to_qasm3(model: VQC, theta=None) -> str:
    """OpenQASM 3 text of the model (inputs ``_x_i_``, weights ``_w_j_`` if unbound)."""
    return qasm3.dumps(to_qiskit(model, theta).circuit)


def from_qasm3(text: str, readout: Readout, *, inputs="x", weights="w", meta: dict | None = None) -> VQC:
    """A VQC from OpenQASM 3 text; parameters are matched by name, never by position.

    ``inputs`` and ``weights`` each name a parameter vector — ``"θ"`` matches qiskit's export of
    ``θ[3]`` as ``_θ_3_`` (and ``θ[3]`` itself) — or list the parameter names in order. The
    defaults read compvqc's own ``to_qasm3`` output (``_x_i_``, ``_w_j_``).
    """
    try:
        circuit = qasm3.loads(text)
    except Exception as e:  # noqa: BLE001 - the importer raises many types; report one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        declared = [m.group(1) for m in _GATE_DECL.finditer(text)]
        hint = (f"; the text declares gates ({', '.join(declared[:4])}), whose bodies qiskit's importer types "
                f"strictly: export with them decomposed, qasm3.dumps(qc.decompose(gates_to_decompose="
                f"{declared[:4]!r}))") if declared else ""
        raise ConversionError(f"cannot parse OpenQASM 3: {first}{hint}") from None
    by_name = {p.name: p for p in circuit.parameters}
    ordered = {role: _named(role, spec, by_name) for role, spec in (("inputs", inputs), ("weights", weights))}
    unknown = sorted(set(by_name) - {p.name for ps in ordered.values() for p in ps})
    if unknown:
        raise ConversionError(f"parameter(s) {', '.join(unknown[:5])} match neither inputs={inputs!r} "
                              f"nor weights={weights!r}")
    formals = {m.group(1): [f.strip() for f in m.group(2).split(",") if f.strip()] for m in _GATE_DECL.finditer(text)}
    return from_qiskit(circuit, ordered["inputs"], ordered["weights"], readout, meta=meta, _formals=formals)[0]


_GATE_DECL = re.compile(r"^\s*gate\s+([A-Za-z_][\w]*)\s*\(([^)]*)\)", re.MULTILINE)


def _named(role: str, spec, by_name: dict) -> list:
    if not isinstance(spec, str):
        missing = [n for n in spec if n not in by_name]
        if missing:
            raise ConversionError(f"{role}: no parameter named {missing[0]!r} in the circuit")
        return [by_name[n] for n in spec]
    pattern = re.compile(rf"^(?:_{re.escape(spec)}_(\d+)_|{re.escape(spec)}\[(\d+)\])$")
    found = {}
    for name, p in by_name.items():
        m = pattern.match(name)
        if m:
            found[int(m.group(1) or m.group(2))] = p
    if sorted(found) != list(range(len(found))):
        raise ConversionError(f"{role}: parameters of {spec!r} are not numbered 0..{len(found) - 1}")
    return [found[i] for i in range(len(found))]
