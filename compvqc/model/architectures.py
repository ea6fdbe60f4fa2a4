"""Trainable architectures: seeded random layers and repeated fixed blocks.

The architecture seed picks gate types and wires; it is separate from the training seed
(initial weights, batch order) so runs that compare training seeds share one circuit and one
vanilla TCD.

Names (``arch`` strings):

* ``random<N>`` — N gates drawn uniformly from the gate set (default RX RY RZ CRX CRY CRZ, the
  papers'), each on a uniformly drawn wire or ordered (control, target) pair, as TorchQuantum's
  ``RandomLayer`` builds the papers' 50/38/30/22/14-gate models;
* ``blocks<L>`` — L repetitions of an RX, RY, RZ layer on every wire then a CRX ring
  (i → i+1 mod n);
* ``u3cu3_<L>`` — L repetitions of a U3 layer then a CU3 ring (three-angle gates);
* ``reupload<L>`` — L repetitions of (encoder, ``blocks1``): data re-uploading, so encoders sit
  between trainable layers.
"""

from __future__ import annotations

import itertools
import re

import numpy as np

from compvqc.errors import ModelError
from compvqc.limits import MAX_GATES, MAX_LAYERS
from compvqc.model.gates import GATE_TYPES, gate_type
from compvqc.model.ops import Gate

PAPER_GATE_SET = ("rx", "ry", "rz", "crx", "cry", "crz")
ARCH_PATTERN = re.compile(r"^(random|blocks|u3cu3_|reupload)(\d{1,9})$")


def parse_arch(arch: str) -> tuple[str, int]:
    m = ARCH_PATTERN.match(arch) if isinstance(arch, str) else None
    if not m or int(m.group(2)) < 1:
        raise ModelError(f"unknown architecture {arch!r} (use random<N>, blocks<L>, u3cu3_<L> or reupload<L>)")
    kind, size = m.group(1).rstrip("_"), int(m.group(2))
    limit = MAX_GATES if kind == "random" else MAX_LAYERS
    if size > limit:
        raise ModelError(f"architecture {arch!r}: at most {limit} {'gates' if kind == 'random' else 'layers'}")
    return kind, size


def check_arch(arch: str, gate_set=PAPER_GATE_SET) -> None:
    """Refuse an architecture name or gate set before anything is built (one ModelError)."""
    parse_arch(arch)
    if isinstance(gate_set, str) or not gate_set:
        raise ModelError("the gate set must be a non-empty list of gate names")
    for name in gate_set:
        gate_type(name)


def random_gates(n_qubits: int, n_gates: int, rng: np.random.Generator, gate_set=PAPER_GATE_SET,
                 counter=None) -> list[Gate]:
    gate_set = tuple(gate_set)
    for name in gate_set:
        gate_type(name)
    usable = [g for g in gate_set if GATE_TYPES[g].n_wires <= n_qubits]
    if not usable:
        raise ModelError(f"no gate of {gate_set} fits on {n_qubits} qubit(s)")
    counter = counter or itertools.count()  # consecutive parameter indices
    gates = []
    for _ in range(n_gates):
        name = usable[int(rng.integers(len(usable)))]
        gt = GATE_TYPES[name]
        wires = tuple(int(w) for w in rng.choice(n_qubits, size=gt.n_wires, replace=False))
        gates.append(Gate(name, wires, tuple(itertools.islice(counter, gt.n_params))))
    return gates


def block_gates(n_qubits: int, layers: int, kind: str = "rxyz_crx", counter=None) -> list[Gate]:
    counter = counter or itertools.count()
    singles, ring = (("rx", "ry", "rz"), "crx") if kind == "rxyz_crx" else (("u3",), "cu3")
    gates = []
    for _ in range(layers):
        for name in singles:
            for w in range(n_qubits):
                gates.append(Gate(name, (w,), tuple(itertools.islice(counter, GATE_TYPES[name].n_params))))
        if n_qubits >= 2:
            pairs = [(w, (w + 1) % n_qubits) for w in range(n_qubits if n_qubits > 2 else 1)]
            for c, t in pairs:
                gates.append(Gate(ring, (c, t), tuple(itertools.islice(counter, GATE_TYPES[ring].n_params))))
    return gates
