"""Fast TCD (or other cost) estimate, and each gate's saving *in context*, for inner loops.

Per-gate LUT depths are not additive — the transpiler merges consecutive single-qubit gates —
so the isolated depth overstates what pruning a single-qubit gate saves (fake_manila, 50-gate
MNIST-2 model: pruning all 20 single-qubit gates 196 → 188, all 30 controlled gates → 15). The
estimate models that:

* it is the longest path through the circuit's dependency DAG (nodes: two-qubit gates and
  single-qubit *blocks*; an edge wherever two nodes follow each other on a wire);
* a two-qubit node weighs the LUT depth of its gate at its exact canonical angle (worst case
  over the region's edges; the generic mode off the grid); a pruned one (depth 0) vanishes and
  no longer ties its wires together; a controlled gate whose target block is a phase e^{iα}·I
  (CRX(2π) = Z on the control) is really a single-qubit gate on the control and joins its run;
* each run of single-qubit gates on one wire between two-qubit nodes is *one merged block*:
  bound gates multiply into one 2x2 unitary U, costing 0 if U is a global phase, the RZ depth
  if U is diagonal (a virtual RZ on IBM devices), else min(Σ LUT depths, the depth of an
  arbitrary single-qubit unitary on the backend). Input encoders are unbound Parameters that the
  transpiler cannot fold into U, so each stays a separate term (its rotation's generic depth)
  and splits the run into independently merged bound segments;
* placement (2q, −log ESP and duration, not depth): the per-gate costs are means over the LUT's
  region, but the transpiler puts the model on particular qubits, and when the logical pairs that
  keep a two-qubit gate do not embed in the coupling map (a triangle on a line or a tree) it
  inserts SWAPs. Over every placement of the model's qubits on the region, the estimate adds what
  the best one costs beyond the means: for the additive objectives its readouts, its CX edges (per
  CX on each pair), and one SWAP (3 CX) per hop beyond the first for each pair that keeps a
  two-qubit gate (counted once per pair: the transpiler moves qubits as it goes); for duration
  the SWAPs alone. So removing one entangler of a triangle on fake_lagos saves its SWAPs, and
  freeing the circuit of CX lets it move to the best readouts — effects of gates taken together.
  Depth leaves it out: adding it moved the table2 and hard fronts only within their noise, and
  the recorded fronts stay reproducible (``benchmarks/RESULTS.md``).

Other objectives than depth (``compile.objective``: two-qubit gates, duration, −log ESP) use the
same sweep with their own costs per piece; the additive ones sum where depth takes the max.

:func:`estimate_tcd` evaluates the longest path with a per-wire sweep in circuit order (the ops
are already topologically sorted; equal to ``networkx.dag_longest_path_length`` on
:func:`gate_dag`, which the tests check). :func:`in_context_costs` gives, per gate and per LUT
level, the estimated TCD with only that gate moved to that level and the saving against the
current θ — what ReCL and the ADMM mask scores need.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from compvqc.compile.lut import LEVEL_KINDS, LUT, is_identity
from compvqc.compile.objective import Costs, depth_costs
from compvqc.model.gates import GATE_TYPES, canonicalize_angles, fixed_wires, full_matrix, matrix
from compvqc.model.ops import Encode, Fixed, Gate

_I2 = np.eye(2, dtype=np.complex128)
FIXED_CX = {"cx": 1, "cy": 1, "cz": 1, "ecr": 1, "ch": 1, "swap": 3}  # CX-equivalents of fixed 2q gates
SYMMETRIC = ("cz", "swap")  # the same gate whichever wire comes first; all of FIXED_CX are self-inverse
MAX_PLACEMENTS = 40_320  # 8! — beyond, the placement term is left out (the region is then the model's layout)


@dataclass(frozen=True, eq=False)
class _Element:
    """One instruction of the model's qiskit circuit, reduced to what the estimate needs."""

    wires: tuple[int, ...]
    gate: int | None  # index into model.gates for trainable gates, else None
    cost: float  # fixed cost of non-trainable elements (encoders, fixed gates, amplitude-tree CX)
    cx: int = 0  # two-qubit gates of a non-trainable element (1 for the amplitude-tree CX)
    local: np.ndarray | None = None  # a fixed single-qubit gate: its unitary (it merges into its run)
    involution: str | None = None  # a fixed self-inverse two-qubit gate ("cx", "cz", ...): its name
    diagonal: bool = False  # an input encoder that is diagonal (RZ, P): CZ commutes through it


@dataclass(frozen=True)
class GateState:
    """A trainable gate's contribution at given angles: its cost, and its local unitary if any."""

    cost: float  # under the estimator's objective (the LUT depth for depth)
    local: np.ndarray | None  # 2x2 unitary on ``wire`` when the gate acts on one wire
    wire: int | None
    vanishes: bool  # compiles to nothing (a pruning level)
    cx: float = 0  # two-qubit gates it compiles to (for the placement term; 0 under depth)


@dataclass(frozen=True)
class LevelCost:
    """Moving one gate to one LUT level: estimated TCD afterwards and the saving."""

    gate: int
    angles: tuple[float, ...]
    kind: str
    lut_depth: int
    tcd: int
    saving: int


class Estimator:
    """Precomputes the model's structure against a LUT; evaluates estimates for any θ.

    ``costs`` (``compile.objective``) says what is estimated: the TCD by default, or the
    two-qubit count, the duration or −log ESP of the compiled circuit."""

    def __init__(self, model, lut: LUT, costs: Costs | None = None):
        from compvqc.model.circuit import VQC
        from compvqc.model.qiskit_io import to_qiskit

        self.model = model
        self.lut = lut
        self.costs = costs or depth_costs(lut)
        self.block_max = self.costs.block
        elements = []
        gates = iter(range(len(model.gates)))
        for op in model.ops:
            if isinstance(op, Gate):
                elements.append(_Element(op.wires, next(gates), 0))
            elif isinstance(op, Encode):  # an input encoder: an unbound rotation, never merged
                elements.append(_Element((op.wire,), None, min(self.costs.fixed.get(op.name, self.block_max),
                                                                self.block_max), diagonal=op.name in ("rz", "p")))
            elif isinstance(op, Fixed):
                elements.append(self._fixed(op))
            else:  # amplitude encoding: its tree of input rotations and CX
                qv = to_qiskit(VQC(model.n_qubits, model.n_features, (op,), model.readout))
                qubit = {q: k for k, q in enumerate(qv.circuit.qubits)}
                for inst in qv.circuit.data:
                    wires = tuple(qubit[q] for q in inst.qubits)
                    elements.append(_Element(wires, None, self.costs.cx, 1) if len(wires) == 2 else
                                    _Element(wires, None, min(self.costs.fixed.get("ry", self.block_max),
                                                              self.block_max)))
        self.elements = tuple(elements)
        self.involutions = any(el.involution for el in elements)
        for g in model.gates:
            lut[g.name]  # fail early, with a clear message, on a gate type the LUT lacks
        self._placements(lut)

    def _fixed(self, op: Fixed) -> _Element:
        """A fixed gate: a single-qubit one joins its wire's merged run with its unitary (a trainable
        type at its angle costs what the LUT says, else a phase costs an RZ and anything else a
        generic single-qubit block); a two-qubit one weighs its CX count (``FIXED_CX``) times a CX,
        or the LUT's cost of its type at that angle, and may cancel with its twin (:meth:`cancelled`)."""
        c, name = self.costs, op.name
        typed = name in GATE_TYPES and name in self.lut.gates
        if fixed_wires(name) == 1:
            u = full_matrix(name, op.angles)
            if is_identity(u):
                return _Element(op.wires, None, 0, 0, u)
            cost = c.value(name, canonicalize_angles(name, op.angles)) if typed else (
                c.diagonal if _is_diagonal(u) else self.block_max)
            return _Element(op.wires, None, cost, 0, u)
        if typed:
            angles = canonicalize_angles(name, op.angles)
            return _Element(op.wires, None, c.value(name, angles), int(round(c.two_qubit_gates(name, angles))))
        k = FIXED_CX.get(name, 2)
        wires = tuple(sorted(op.wires)) if name in SYMMETRIC else op.wires  # one spelling, so equal gates compare equal
        return _Element(wires, None, k * c.cx, k, involution=name if name in FIXED_CX else None)

    # --- placement -------------------------------------------------------------------------
    def _placements(self, lut: LUT) -> None:
        """Per placement of the model's qubits on the LUT's region (when there are at most
        ``MAX_PLACEMENTS``; not for depth): each logical pair's SWAP distance, what one CX on its edge costs
        beyond the region's mean, and what the placed readouts cost beyond theirs."""
        self.pairs = sorted({tuple(sorted(el.wires)) for el in self.elements if len(el.wires) == 2})
        self.pair_index = {p: k for k, p in enumerate(self.pairs)}
        self.swap_distance = None
        qubits, edges = lut.region()
        n, c = self.model.n_qubits, self.costs
        if c.objective == "depth" or not self.pairs or len(qubits) < n or math.perm(len(qubits), n) > MAX_PLACEMENTS:
            return
        g = nx.Graph()
        g.add_nodes_from(qubits)
        g.add_edges_from(edges)
        hops = dict(nx.all_pairs_shortest_path_length(g))
        far = len(qubits)  # a pair split across disconnected parts: worse than any path
        placed = list(itertools.permutations(qubits, n))

        def edge_excess(a, b):
            both = [c.edge[e] for e in ((a, b), (b, a)) if e in c.edge]
            return float(np.mean(both)) - c.cx if both else 0.0

        self.swap_distance = np.array([[max(hops[q[a]].get(q[b], far) - 1, 0) for a, b in self.pairs]
                                       for q in placed], dtype=np.float64)
        self.edge_excess = np.array([[edge_excess(q[a], q[b]) for a, b in self.pairs] for q in placed])
        self.readout_excess = np.array([sum(c.qubit.get(x, c.readout) for x in q) - n * c.readout for q in placed])

    def placement(self, counts) -> float:
        """What the best placement of the qubits adds to the region-mean estimate, given the
        two-qubit gates per logical pair (``counts``, one entry per ``pairs``): for the additive
        objectives its readouts and CX edges against the region's means, plus routing — one SWAP
        (3 CX) per hop beyond the first between a pair's qubits, counted once per pair that keeps a
        two-qubit gate (the transpiler moves qubits as it goes), so zero exactly when those pairs'
        graph embeds in the coupling map; for duration the routing alone (0 under depth)."""
        if self.swap_distance is None:
            return 0
        counts = np.asarray(counts, dtype=np.float64)
        swaps = self.swap_distance @ (counts > 0)
        if self.costs.path:  # duration: the SWAPs only (readouts and edges add along a path, not a sum)
            return float(3 * self.costs.cx * swaps.min())
        total = self.readout_excess + self.edge_excess @ counts + 3 * self.costs.cx * swaps
        return float(total.min())

    def routing(self, active) -> float:
        """:meth:`placement` with one two-qubit gate on each pair of ``active`` (pair indices)."""
        counts = np.zeros(len(self.pairs))
        counts[sorted(active)] = 1
        return self.placement(counts) if len(active) else 0

    # --- per-gate state ---------------------------------------------------------------------
    def gate_state(self, i: int, angles) -> GateState:
        g = self.model.gates[i]
        angles = canonicalize_angles(g.name, angles)
        vanishes = self.lut[g.name].depth(angles) == 0
        cost = self.costs.value(g.name, angles)
        cx = self.costs.two_qubit_gates(g.name, angles)
        u = matrix(g.name, np.array(angles))
        gt = GATE_TYPES[g.name]
        if gt.n_wires == 1:
            return GateState(cost, u, g.wires[0], vanishes and is_identity(u))
        if not gt.controlled:  # RZZ/RXX/RYY: a two-qubit node unless it is the identity
            return GateState(cost, None, None, vanishes and is_identity(u), cx)
        if is_identity(u):  # controlled phase: diag(1, e^{iα}) on the control wire
            local = np.diag([1.0, u[0, 0]]).astype(np.complex128)
            return GateState(cost, local, g.wires[0], vanishes and is_identity(local))
        return GateState(cost, None, None, vanishes, cx)

    def states(self, theta) -> list[GateState]:
        theta = np.asarray(theta, dtype=np.float64)
        return [self.gate_state(i, g.angles(theta)) for i, g in enumerate(self.model.gates)]

    # --- evaluation -------------------------------------------------------------------------
    def _segment_cost(self, total, u: np.ndarray):
        if total == 0 or is_identity(u):
            return 0
        if _is_diagonal(u):
            return min(total, self.costs.diagonal)
        return min(total, self.block_max)

    def cancelled(self, states) -> set[int]:
        """Elements that cancel once the vanishing gates are gone, as the transpiler removes them:
        two equal fixed self-inverse two-qubit gates (CX·CX, SWAP·SWAP, …) with nothing left between
        them on either wire (a stack per wire, so nested pairs cancel from the inside out), and two
        CZ on the same pair with only diagonal operations between them (CZ commutes with those)."""
        n = self.model.n_qubits
        stacks: list[list[int]] = [[] for _ in range(n)]  # adjacency: element index, or -1 (a barrier)
        open_cz: list[dict] = [{} for _ in range(n)]  # per wire, since its last non-diagonal op: pair -> CZ
        out: set[int] = set()
        for k, el in enumerate(self.elements):
            local = states[el.gate].local if el.gate is not None else el.local
            if (el.gate is not None and states[el.gate].vanishes) or (local is not None and is_identity(local)):
                continue
            if el.involution == "cz":
                j = open_cz[el.wires[0]].get(el.wires)
                if j is not None and open_cz[el.wires[1]].get(el.wires) == j:
                    out.update((j, k))
                    for w in el.wires:
                        del open_cz[w][el.wires]
                else:
                    for w in el.wires:
                        open_cz[w][el.wires] = k
                        stacks[w].append(-1)
                continue
            if not (el.diagonal or (local is not None and _is_diagonal(local))):
                for w in el.wires:
                    open_cz[w].clear()
            if el.involution is not None:
                tops = {stacks[w][-1] if stacks[w] else -1 for w in el.wires}
                j = tops.pop() if len(tops) == 1 else -1
                if j >= 0 and self.elements[j].involution == el.involution and self.elements[j].wires == el.wires:
                    out.update((j, k))
                    for w in el.wires:
                        stacks[w].pop()
                    continue
                for w in el.wires:
                    stacks[w].append(k)
                continue
            for w in el.wires:
                stacks[w].append(-1)
        return out

    def cost(self, states):
        """The estimate for the given per-gate states: the longest path (per-wire sweep) for
        depth and duration, the sum over the circuit for 2q and −log ESP; readout included."""
        n, path = self.model.n_qubits, self.costs.path
        time = [0] * n  # when the wire's last two-qubit node ended (path), or everything so far (sum)
        closed = [0] * n  # cost of the run's finished terms (encoders, closed bound segments)
        seg_total = [0] * n  # Σ costs of the open bound segment
        seg_u = [_I2] * n  # its product unitary
        counts = [0] * len(self.pairs)  # two-qubit gates per logical pair

        def flush(w: int):
            return time[w] + closed[w] + self._segment_cost(seg_total[w], seg_u[w])

        def join(wires, cost, cx) -> None:  # a two-qubit node: it starts when both wires are free
            counts[self.pair_index[tuple(sorted(wires))]] += cx
            if path:
                end = max(flush(w) for w in wires) + cost
            else:  # one shared total: what each wire ran since, plus the node
                end = time[wires[0]] + sum(closed[w] + self._segment_cost(seg_total[w], seg_u[w]) for w in wires) + cost
            for w in (wires if path else range(n)):
                time[w] = end
            for w in wires:
                closed[w], seg_total[w], seg_u[w] = 0, 0, _I2

        gone = self.cancelled(states) if self.involutions else ()
        for k, el in enumerate(self.elements):
            if k in gone:
                continue
            if el.gate is None:
                if el.local is not None:  # a fixed single-qubit gate merges like a bound one
                    (w,) = el.wires
                    seg_total[w] += el.cost
                    seg_u[w] = el.local @ seg_u[w]
                    continue
                if len(el.wires) == 1:
                    (w,) = el.wires
                    closed[w] += self._segment_cost(seg_total[w], seg_u[w]) + el.cost
                    seg_total[w], seg_u[w] = 0, _I2
                    continue
                join(el.wires, el.cost, el.cx)
                continue
            s = states[el.gate]
            if s.vanishes:
                continue
            if s.local is not None:
                w = s.wire
                seg_total[w] += s.cost
                seg_u[w] = s.local @ seg_u[w]
                continue
            join(el.wires, s.cost, s.cx)
        if path:
            return max(flush(w) for w in range(n)) + self.costs.readout + self.placement(counts)
        return time[0] + sum(closed[w] + self._segment_cost(seg_total[w], seg_u[w]) for w in range(n)) \
            + n * self.costs.readout + self.placement(counts)

    def moved(self, states, i: int, angles):
        """The estimate with gate i alone moved to ``angles`` (the rest as in ``states``)."""
        states = list(states)
        states[i] = self.gate_state(i, angles)
        return self.cost(states)

    def moved_many(self, states, moves: dict):
        """The estimate with each gate i of ``moves`` moved to ``moves[i]`` (gates sharing a weight)."""
        states = list(states)
        for i, angles in moves.items():
            states[i] = self.gate_state(i, angles)
        return self.cost(states)

    def estimate(self, theta):
        return self.cost(self.states(theta))

    def in_context_costs(self, theta, kinds=LEVEL_KINDS) -> list[list[LevelCost]]:
        """Per gate, per LUT level of ``kinds``: the estimate with only that gate moved there."""
        base_states = self.states(theta)
        base = self.cost(base_states)
        out = []
        for i, g in enumerate(self.model.gates):
            row = []
            for entry in self.lut[g.name].levels(kinds):
                t = self.moved(base_states, i, entry.angles)
                row.append(LevelCost(i, entry.angles, entry.kind, entry.depth, t, base - t))
            out.append(row)
        return out

    # --- the same estimate as an explicit DAG -----------------------------------------------
    def dag(self, theta) -> nx.DiGraph:
        """Dependency DAG: nodes are two-qubit gates and merged single-qubit blocks, weighted."""
        states = self.states(theta)
        n = self.model.n_qubits
        g = nx.DiGraph()
        last = [None] * n  # last two-qubit node per wire
        run: list[list] = [[] for _ in range(n)]  # pending single-qubit terms per wire
        counter = iter(range(10**9))

        def close(w: int):
            """Turn wire w's pending run into one block node (weight = its merged cost)."""
            cost, total, u = 0, 0, _I2
            for kind, value, uu in run[w]:
                if kind == "fixed":
                    cost += self._segment_cost(total, u) + value
                    total, u = 0, _I2
                else:
                    total += value
                    u = uu @ u
            cost += self._segment_cost(total, u)
            run[w] = []
            if cost == 0:
                return last[w]
            node = ("block", w, next(counter))
            g.add_node(node, weight=cost)
            if last[w] is not None:
                g.add_edge(last[w], node)
            return node

        def two_qubit(wires, weight, label, cx):
            preds = [close(w) for w in wires]
            node = (label, wires, next(counter))
            g.add_node(node, weight=weight, cx=cx)
            for p in preds:
                if p is not None:
                    g.add_edge(p, node)
            for w in wires:
                last[w] = node

        gone = self.cancelled(states) if self.involutions else ()
        for k, el in enumerate(self.elements):
            if k in gone:
                continue
            if el.gate is None:
                if el.local is not None:
                    run[el.wires[0]].append(("bound", el.cost, el.local))
                elif len(el.wires) == 1:
                    run[el.wires[0]].append(("fixed", el.cost, None))
                else:
                    two_qubit(el.wires, el.cost, "cx", el.cx)
                continue
            s = states[el.gate]
            if s.vanishes:
                continue
            if s.local is not None:
                run[s.wire].append(("bound", s.cost, s.local))
            else:
                two_qubit(el.wires, s.cost, self.model.gates[el.gate].name, s.cx)
        for w in range(n):
            close(w)
        return g


def _is_diagonal(u: np.ndarray) -> bool:
    return abs(u[0, 1]) < 1e-12 and abs(u[1, 0]) < 1e-12


def dag_longest_path(model, theta, lut: LUT) -> int:
    """The estimate computed with networkx on :func:`gate_dag` (slower; same number).

    networkx weighs edges, the DAG its nodes: each node's weight goes onto its in-edges, and a
    virtual source adds an edge into every node."""
    g = gate_dag(model, theta, lut)
    h = nx.DiGraph()
    h.add_nodes_from(g.nodes)
    h.add_node("source")
    for node, data in g.nodes(data=True):
        h.add_edge("source", node, weight=data["weight"])
    for a, b in g.edges:
        h.add_edge(a, b, weight=g.nodes[b]["weight"])
    return int(nx.dag_longest_path_length(h, weight="weight")) if len(h) > 1 else 0


def gate_dag(model, theta, lut: LUT) -> nx.DiGraph:
    """The estimate's dependency DAG (node attribute ``weight``)."""
    return Estimator(model, lut).dag(theta)


def estimate_tcd(model, theta, lut: LUT) -> int:
    """Fast TCD estimate of ``model`` with weights ``theta`` on the LUT's backend."""
    return Estimator(model, lut).estimate(theta)


def in_context_costs(model, theta, lut: LUT, kinds=LEVEL_KINDS) -> list[list[LevelCost]]:
    """Per gate and LUT level: estimated TCD with that gate alone moved there, and the saving."""
    return Estimator(model, lut).in_context_costs(theta, kinds)
