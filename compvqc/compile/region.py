"""Which physical qubits a LUT covers.

Two-qubit depths depend on the physical edge and its direction (CRX(π) on fake_manila: 11 on
(0,1), 7 on (1,0)), so a LUT is measured on a *region* and records, per angle, the worst case
over the region's sites. Small devices (≤ 7 qubits) are covered whole. On a large device the
default region is where qiskit itself would put the model: the physical qubits its layout
picks for the model's circuit with the recorded seed (joined along shortest paths if the
layout happens not to be connected), so the LUT describes the qubits the circuit will use.
Without a model, compvqc's reference model (the 50-gate MNIST-2 circuit) stands in; the
prebuilt LUTs use that 4-qubit region.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from compvqc.compile.backends import coupling_edges
from compvqc.errors import CompileError
from compvqc.compile.tcd import OPTIMIZATION_LEVEL

WHOLE_DEVICE_MAX_QUBITS = 7
LAYOUT_SEED = 0
REFERENCE_MODEL = {"encoder": "4x4_ryzxy", "arch": "random50", "n_classes": 2, "arch_seed": 0}


@dataclass(frozen=True)
class Region:
    """Physical qubits, and the undirected pairs among them that the coupling map joins."""

    qubits: tuple[int, ...]
    source: str  # "device" | "user" | "model-layout"
    detail: dict = field(default_factory=dict, compare=False)
    pairs: tuple[tuple[int, int], ...] = ()

    @property
    def directed_edges(self) -> tuple[tuple[int, int], ...]:
        """Every pair in both directions: synthesis differs with the direction of the gate."""
        return tuple(e for a, b in self.pairs for e in ((a, b), (b, a)))

    def describe(self) -> dict:
        return {"qubits": list(self.qubits), "edges": [list(e) for e in self.directed_edges],
                "source": self.source, **self.detail}


def _graph(backend) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(backend.target.num_qubits))
    g.add_edges_from(coupling_edges(backend))
    return g


def make_region(backend, qubits, source: str, detail: dict | None = None) -> Region:
    qubits = tuple(sorted({int(q) for q in qubits}))
    n = backend.target.num_qubits
    if not qubits:
        raise CompileError("a LUT region needs at least one qubit")
    bad = [q for q in qubits if not 0 <= q < n]
    if bad:
        raise CompileError(f"qubit(s) {bad} are not on {getattr(backend, 'name', 'the backend')} (0..{n - 1})")
    g = _graph(backend).subgraph(qubits)
    if len(qubits) > 1 and not nx.is_connected(g):
        raise CompileError(f"qubits {list(qubits)} are not a connected region of the coupling map")
    pairs = tuple(sorted((min(a, b), max(a, b)) for a, b in g.edges))
    return Region(qubits, source, dict(detail or {}), pairs)


def default_region(backend, model=None, *, seed: int = LAYOUT_SEED) -> Region:
    """The whole device if small, else the connected region qiskit's layout picks for the model."""
    n = backend.target.num_qubits
    if n <= WHOLE_DEVICE_MAX_QUBITS:
        return make_region(backend, range(n), "device")
    return layout_region(backend, model, seed=seed)


def layout_region(backend, model=None, *, seed: int = LAYOUT_SEED) -> Region:
    """Physical qubits of qiskit's initial layout for ``model``'s circuit (weights unbound)."""
    from qiskit import transpile

    from compvqc.model import build_model
    from compvqc.model.qiskit_io import to_qiskit

    detail = {"layout_seed": seed, "optimization_level": OPTIMIZATION_LEVEL}
    if model is None:
        model = build_model(**REFERENCE_MODEL)
        detail["model"] = dict(REFERENCE_MODEL)
    else:
        detail["model"] = dict(model.meta)
    # Unbound weights: the layout then sees every gate (a bound zero angle would vanish).
    circuit = to_qiskit(model).circuit
    out = transpile(circuit, backend, optimization_level=OPTIMIZATION_LEVEL, seed_transpiler=seed)
    physical = out.layout.initial_index_layout(filter_ancillas=True)[: circuit.num_qubits]
    return make_region(backend, _connect(_graph(backend), physical), "model-layout", detail)


def _connect(g: nx.Graph, qubits) -> set[int]:
    """``qubits`` plus the shortest paths that join them into one connected set."""
    chosen = set(qubits)
    while not nx.is_connected(g.subgraph(chosen)):
        parts = list(nx.connected_components(g.subgraph(chosen)))
        first, rest = parts[0], set().union(*parts[1:])
        path = min((nx.shortest_path(g, a, b) for a in first for b in rest), key=len)
        chosen.update(path)
    return chosen
