"""What compression minimizes: the compiled depth (TCD), or another cost of the compiled circuit.

* ``depth``    — TCD, the default (the LUT's depths);
* ``2q``       — the number of two-qubit gates;
* ``duration`` — the ASAP-scheduled duration, measurements included, in seconds;
* ``esp``      — −log of the estimated success probability (``compile.cost``): Σ −log(1 − ε)
  over the gates and readouts, so lower is better and it adds up over the circuit like 2q.

Depth and duration are longest paths through the circuit; 2q and −log ESP are sums. The
in-context estimate (``compile.estimate``) needs, per gate type and LUT level, what the gate
costs in the chosen measure. For depth that is the LUT. For the others it is measured the way
the LUT is built — each level, and random "generic" angles, compiled alone on every site of the
LUT's region with the same transpiler settings — and averaged over the sites (the estimate
ranks choices; the report always measures a fresh transpile of the whole circuit). Per physical
qubit and edge the table also keeps the readout's and one CX's cost: the estimate places the
model's qubits where they cost least, as qiskit's noise-aware layout does (fake_lagos' readout
errors run from 1.7% to 46%, so *where* a circuit lands decides most of its ESP). The table
is cached beside the LUTs as JSON, keyed by the LUT's sha256 and the Target's digest.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from compvqc.compile.lut import LEVEL_KINDS, LUT
from compvqc.errors import CompileError

OBJECTIVES = ("depth", "2q", "duration", "esp")
PATH = {"depth": True, "2q": False, "duration": True, "esp": False}
GENERIC_SAMPLES = 8
GENERIC_SEED = 20261202
_RZ_ANGLE = 0.7  # any angle: RZ is one virtual gate whatever it is


def check_objective(name) -> str:
    if name not in OBJECTIVES:
        raise CompileError(f"unknown objective {name!r} (known: {', '.join(OBJECTIVES)})")
    return name


@dataclass(frozen=True)
class Costs:
    """One objective's cost of every piece the estimate is built from (lower is better)."""

    objective: str
    levels: dict  # gate type → {canonical angles: cost} over its LUT levels
    generic: dict  # gate type → cost at a random angle
    fixed: dict  # gate type → cost of an input encoder's (unbound) rotation
    block: float  # an arbitrary single-qubit unitary (one merged run)
    diagonal: float  # a diagonal single-qubit unitary (an RZ)
    cx: float  # a fixed CX (amplitude encoders)
    readout: float  # per measured qubit (−log fidelity, or the measurement's duration)
    two_qubit: dict = field(default_factory=dict)  # gate type → {angles: two-qubit gates it compiles to}
    two_qubit_generic: dict = field(default_factory=dict)  # gate type → two-qubit gates at a random angle
    edge: dict = field(default_factory=dict)  # directed edge → cost of one CX there
    qubit: dict = field(default_factory=dict)  # physical qubit → cost of its readout

    @property
    def path(self) -> bool:
        return PATH[self.objective]

    def value(self, name: str, angles) -> float:
        return self.levels.get(name, {}).get(tuple(float(a) for a in angles), self.generic[name])

    def two_qubit_gates(self, name: str, angles) -> float:
        """Two-qubit gates the gate compiles to (0 where the table does not say: depth)."""
        return self.two_qubit.get(name, {}).get(tuple(float(a) for a in angles), self.two_qubit_generic.get(name, 0))


def depth_costs(lut: LUT) -> Costs:
    """Depth: the LUT itself."""
    levels = {n: {e.angles: e.depth for e in t.entries} for n, t in lut.gates.items()}
    generic = {n: t.generic.mode for n, t in lut.gates.items()}
    rz = lut["rz"].generic.mode if "rz" in lut else 1
    cx = lut.blocks["cx"].max if "cx" in lut.blocks else 1
    fixed = {n: t.generic.max for n, t in lut.gates.items()}
    return Costs("depth", levels, generic, fixed, lut.single_qubit_block, rz, cx, 0)


def costs_for(objective: str, lut: LUT, backend=None) -> Costs:
    """The cost table of ``objective`` on the LUT's backend (measured and cached unless depth)."""
    if check_objective(objective) == "depth":
        return depth_costs(lut)
    measures = _measures(lut, backend)
    key = {"2q": 0, "duration": 1, "esp": 2}[objective]
    pick = lambda m: float(m[key])  # noqa: E731
    generic = {n: pick(m) for n, m in measures["generic"].items()}
    count = lambda m: float(m[0])  # noqa: E731 - two-qubit gates, whatever the objective
    return Costs(objective, {n: {a: pick(m) for a, m in row.items()} for n, row in measures["levels"].items()},
                 generic, generic, pick(measures["block"]),
                 pick(measures["diagonal"]), pick(measures["cx"]), pick(measures["readout"]),
                 {n: {a: count(m) for a, m in row.items()} for n, row in measures["levels"].items()},
                 {n: count(m) for n, m in measures["generic"].items()},
                 {e: pick(m) for e, m in measures["edge"].items()}, {q: pick(m) for q, m in measures["qubit"].items()})


def _measures(lut: LUT, backend) -> dict:
    """(2q, duration, −log ESP) of each piece: from memory, the cache, or measured now (on
    ``backend``, or the backend the LUT names). The key is the LUT's table and the Target it
    was built for (a LUT is refused for a changed Target, ``compile.cache``)."""
    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.cache import cache_dir
    from compvqc.fsutil import atomic_write_bytes

    target = str(lut.provenance.get("target_sha256", "none"))
    path = cache_dir() / "measures" / f"{lut.backend}.{lut.sha256[:16]}.{target[:16]}.json"
    if path in _MEMO:
        return _MEMO[path]
    try:
        out = _decode(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        out = _measure(lut, resolve_backend(backend if backend is not None else lut.backend))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(_encode(out)).encode())
    _MEMO[path] = out
    return out


_MEMO: dict = {}


def _encode(m: dict) -> dict:
    return {**m, "levels": {n: [[list(a), v] for a, v in row.items()] for n, row in m["levels"].items()},
            "edge": [[list(e), v] for e, v in m["edge"].items()], "qubit": [[q, v] for q, v in m["qubit"].items()]}


def _decode(d: dict) -> dict:
    return {**d, "levels": {n: {tuple(float(x) for x in a): tuple(v) for a, v in row}
                            for n, row in d["levels"].items()},
            "edge": {tuple(int(q) for q in e): tuple(v) for e, v in d["edge"]},
            "qubit": {int(q): tuple(v) for q, v in d["qubit"]}}


def _measure(lut: LUT, backend) -> dict:
    from qiskit import QuantumCircuit, transpile

    from compvqc.compile.build import SEED_TRANSPILER, gate_circuit
    from compvqc.compile.cost import scheduled_duration, success_probability, two_qubit_gates
    from compvqc.compile.tcd import OPTIMIZATION_LEVEL
    from compvqc.model.gates import GATE_TYPES

    target = backend.target
    qubits, edges = lut.region()
    rng = np.random.default_rng(GENERIC_SEED)

    def on_sites(circuits, sites) -> np.ndarray:
        """(2q, duration, −log ESP) of each circuit compiled alone, averaged over ``sites``."""
        rows = []
        for site in sites:
            outs = transpile(list(circuits), backend, optimization_level=OPTIMIZATION_LEVEL,
                             initial_layout=list(site), seed_transpiler=SEED_TRANSPILER)
            rows.append([(two_qubit_gates(c), scheduled_duration(c, target),
                          -math.log(max(success_probability(c, target), 1e-300))) for c in outs])
        if not rows:
            raise CompileError(f"the LUT for {lut.backend} records no sites to measure on")
        return np.mean(np.array(rows, dtype=float), axis=0)

    levels, generic = {}, {}
    for name, table in lut.gates.items():
        gt = GATE_TYPES[name]
        entries = table.levels(LEVEL_KINDS)
        randoms = [rng.uniform(0, 4 * np.pi, gt.n_params) for _ in range(GENERIC_SAMPLES)]
        sites = edges if gt.n_wires == 2 else tuple((q,) for q in qubits)
        m = on_sites([gate_circuit(name, e.angles) for e in entries] + [gate_circuit(name, a) for a in randoms], sites)
        levels[name] = {e.angles: tuple(m[k]) for k, e in enumerate(entries)}
        generic[name] = tuple(m[len(entries):].mean(axis=0))
    ones = tuple((q,) for q in qubits)
    block = on_sites([gate_circuit("u3", rng.uniform(0, 4 * np.pi, 3)) for _ in range(GENERIC_SAMPLES)], ones)
    diagonal = on_sites([gate_circuit("rz", (_RZ_ANGLE,))], ones)[0]
    cx = QuantumCircuit(2)
    cx.cx(0, 1)
    per_edge = {e: tuple(on_sites([cx], [e])[0]) for e in edges}
    cx_cost = np.mean(list(per_edge.values()), axis=0) if edges else np.zeros(3)

    def read(q):
        p = target["measure"].get((q,)) if "measure" in target.operation_names else None
        error = min(getattr(p, "error", None) or 0.0, 1 - 1e-12)
        return (0.0, float(getattr(p, "duration", None) or 0.0), -math.log1p(-error))

    per_qubit = {q: read(q) for q in qubits}
    return {"levels": levels, "generic": generic, "block": tuple(block.mean(axis=0)), "diagonal": tuple(diagonal),
            "cx": tuple(cx_cost), "readout": tuple(np.mean(list(per_qubit.values()), axis=0)),
            "edge": per_edge, "qubit": per_qubit}


def deployed_cost(objective: str, measures: dict) -> float:
    """The chosen objective of a measured deployment (``tcd``, ``two_qubit_gates``, ``duration``,
    ``success_probability``), as a cost: lower is better."""
    key = {"depth": "tcd", "2q": "two_qubit_gates", "duration": "duration", "esp": "success_probability"}
    v = float(measures[key[check_objective(objective)]])
    return -math.log(max(v, 1e-300)) if objective == "esp" else v
