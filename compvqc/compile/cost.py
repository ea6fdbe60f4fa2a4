"""Cost measures of a transpiled circuit beyond its depth, read from the backend's ``Target``.

* **two-qubit gates** — the instructions acting on two qubits (the dominant error source);
* **scheduled duration** — the circuit scheduled as soon as possible with the Target's
  per-instruction durations (qiskit's ``QuantumCircuit.estimate_duration``), final
  measurements included, in seconds;
* **estimated success probability** — ESP = Π_g (1 − ε_g) · Π_m (1 − ε_m), the product of the
  fidelities of every gate g and every readout m along the circuit, with ε the Target's error
  for that instruction on those physical qubits (virtual RZ has ε = 0). It ignores idling
  decoherence and crosstalk, so it ranks circuits rather than predicting accuracy.
"""

from __future__ import annotations

import math

from compvqc.errors import CompileError

_SKIP = {"barrier", "delay"}


def measured(circuit, n: int):
    """``circuit`` (transpiled) with logical qubit i measured into classical bit i, on the
    physical qubit that holds it at the end (the final layout, routing permutation included)."""
    from qiskit import ClassicalRegister

    layout = circuit.layout
    final = layout.final_index_layout(filter_ancillas=True) if layout else list(range(n))
    out = circuit.copy()
    creg = ClassicalRegister(n, "c")
    out.add_register(creg)
    for i, q in enumerate(final):
        out.measure(int(q), creg[i])
    return out


def cost_measures(circuit, n: int, target) -> dict:
    """The three measures of a transpiled ``n``-qubit circuit, measurements appended."""
    with_readout = measured(circuit, n)
    return {"two_qubit_gates": two_qubit_gates(circuit), "duration": scheduled_duration(with_readout, target),
            "success_probability": success_probability(with_readout, target)}


def best_compilation(circuit, n: int, backend, seeds) -> dict:
    """``circuit`` transpiled once per seed: of the seeds reaching the minimum depth (the TCD), the
    one with the highest ESP (ties: the first seed). Returns ``seed``, ``depths`` (per seed),
    ``circuit`` (transpiled, no measurements), ``measured`` (with them) and its cost measures —
    what ``deploy`` ships and what a compression report states."""
    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.tcd import transpile_over_seeds

    backend = resolve_backend(backend)
    candidates = transpile_over_seeds(circuit, backend, seeds)
    depths = {s: int(c.depth()) for s, c in candidates.items()}
    tcd = min(depths.values())
    best = None
    for s in candidates:
        if depths[s] == tcd:
            read_out = measured(candidates[s], n)
            esp = success_probability(read_out, backend.target)
            if best is None or esp > best[1]:
                best = (s, esp, read_out)
    seed, esp, read_out = best
    compiled = candidates[seed]
    return {"seed": seed, "depths": depths, "circuit": compiled, "measured": read_out, "tcd": tcd,
            "two_qubit_gates": two_qubit_gates(compiled), "duration": scheduled_duration(read_out, backend.target),
            "success_probability": esp}


def two_qubit_gates(circuit) -> int:
    return sum(1 for inst in circuit.data if inst.operation.num_qubits == 2 and inst.operation.name not in _SKIP)


def scheduled_duration(circuit, target) -> float:
    """ASAP-scheduled duration of ``circuit`` in seconds from the Target's durations."""
    try:
        return float(circuit.estimate_duration(target, unit="s"))
    except Exception as e:  # noqa: BLE001 - qiskit raises several types for missing durations
        raise CompileError(f"cannot schedule the circuit with the backend's durations: {e}") from None


def success_probability(circuit, target) -> float:
    """Π (1 − error) over every instruction of ``circuit`` on its physical qubits."""
    index = {q: i for i, q in enumerate(circuit.qubits)}
    log_p = 0.0
    for inst in circuit.data:
        name = inst.operation.name
        if name in _SKIP:
            continue
        qargs = tuple(index[q] for q in inst.qubits)
        props = target[name].get(qargs) if name in target.operation_names else None
        error = getattr(props, "error", None) if props is not None else None
        if error:
            if error >= 1.0:
                return 0.0
            log_p += math.log1p(-float(error))
    return math.exp(log_p)
