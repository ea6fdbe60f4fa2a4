"""True TCD: the depth of the whole circuit after qiskit's transpiler.

TCD (transpiled circuit depth) as DESIGN.md defines it:

* the *whole* circuit, transpiled for the backend with ``optimization_level=3`` (per-gate LUT
  depths are not additive: single-qubit runs merge, 2-qubit blocks are re-synthesized);
* input-encoding angles left as unbound qiskit Parameters, so the figure does not depend on
  the input sample; trained weights bound (canonicalized — the compiler sees the float);
* final measurements excluded (the circuit is built without them);
* layout and routing are stochastic, so TCD is the *minimum* over a fixed, recorded list of
  ``seed_transpiler`` values: two runs give the same number, and the seed that achieved it
  is reported so anyone can re-transpile and get that exact circuit.

Every *reported* figure uses this; inner loops may use :mod:`compvqc.compile.estimate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.compile.backends import backend_name, resolve_backend
from compvqc.errors import CompileError

TCD_SEEDS = tuple(range(10))
"""The recorded ``seed_transpiler`` list (10 seeds: FakeSherbrooke spreads 349–436 over them)."""
OPTIMIZATION_LEVEL = 3
"""The transpiler setting of every depth compvqc reports or measures (LUTs, TCD, deployment)."""


@dataclass(frozen=True)
class TCDResult:
    """The minimum depth, the seed that gave it, and the depth for every seed tried."""

    depth: int
    seed: int
    depths: dict[int, int]
    backend: str
    optimization_level: int = OPTIMIZATION_LEVEL

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(self.depths)

    def to_dict(self) -> dict:
        return {"tcd": self.depth, "seed": self.seed, "depths": {str(k): v for k, v in self.depths.items()},
                "seeds": list(self.depths), "backend": self.backend, "optimization_level": self.optimization_level}


def tcd_circuit(model, theta):
    """The qiskit circuit whose depth is the TCD: weights bound, inputs unbound, no measure."""
    from compvqc.model.qiskit_io import to_qiskit

    return to_qiskit(model, None if theta is None else np.asarray(theta, dtype=np.float64)).circuit


def transpile_over_seeds(circuit, backend, seeds=TCD_SEEDS, **options) -> dict:
    """``circuit`` transpiled for ``backend`` once per ``seed_transpiler`` in ``seeds`` (the one
    place that loops over them), at ``OPTIMIZATION_LEVEL``, with any other transpile ``options``."""
    from qiskit import transpile

    backend = resolve_backend(backend)
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise CompileError("TCD needs at least one seed_transpiler value")
    if len(set(seeds)) != len(seeds):
        raise CompileError("the TCD seed list repeats a seed")
    if circuit.num_qubits > backend.target.num_qubits:
        raise CompileError(f"the circuit needs {circuit.num_qubits} qubits, {backend_name(backend)} has "
                           f"{backend.target.num_qubits}")
    return {s: transpile(circuit, backend, optimization_level=OPTIMIZATION_LEVEL, seed_transpiler=s, **options)
            for s in seeds}


def depth(compiled) -> int:
    """The TCD of one compiled circuit: its depth without final measurements."""
    return int(compiled.remove_final_measurements(inplace=False).depth())


def circuit_tcd(circuit, backend, seeds=TCD_SEEDS) -> TCDResult:
    """True TCD of a qiskit circuit: minimum transpiled depth over ``seeds``."""
    backend = resolve_backend(backend)
    depths = {s: depth(c) for s, c in transpile_over_seeds(circuit, backend, seeds).items()}
    best = min(depths.values())
    seed = next(s for s in depths if depths[s] == best)  # the first seed reaching the minimum
    return TCDResult(best, seed, depths, backend_name(backend))


def true_tcd(model, theta, backend, seeds=TCD_SEEDS) -> TCDResult:
    """True TCD of a VQC with weights ``theta`` on ``backend`` (see the module docstring)."""
    return circuit_tcd(tcd_circuit(model, theta), backend, seeds)
