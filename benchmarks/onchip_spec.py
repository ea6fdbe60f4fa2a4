"""Dump the 50-gate on-chip model (``4x4_ryzxy`` + ``random50``, 2 classes) as a JSON spec for
``benchmarks/onchip_peers.py``, which runs in ``.venv-peers`` and must not import compvqc.

    .venv/bin/python benchmarks/onchip_spec.py SPEC.json

Spec: ``n_qubits``, ``n_features``, ``n_params``, ``n_classes``, ``ops`` (in circuit order; each
``{"kind": "encode"|"gate"|"fixed", "name", "wires", "params", "feature", "scales", "offsets",
"angles"}``), ``readout_weights`` (2**n × classes: outcome index s, bit q of s = qubit q, qiskit
order, to logits), and ``shift_rule`` per gate (compvqc's (shift, coefficient) pairs, for
reference: how many circuits compvqc runs per sample).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from compvqc.model import Encode, Fixed, Gate, build_model
from compvqc.model.gates import shift_rule


def spec(encoder: str = "4x4_ryzxy", arch: str = "random50", n_classes: int = 2) -> dict:
    m = build_model(encoder, arch, n_classes)
    ops, circuits = [], 1
    for op in m.ops:
        if isinstance(op, Encode):
            if op.feature is None:
                raise SystemExit(f"polynomial encoder {op} is not supported by the peer spec")
            ops.append({"kind": "encode", "name": op.name, "wires": [op.wire], "feature": op.feature})
        elif isinstance(op, Gate):
            rules = [shift_rule(op.name, j) for j in range(len(op.params))]
            circuits += sum(len(r) for r in rules)
            ops.append({"kind": "gate", "name": op.name, "wires": list(op.wires), "params": list(op.params),
                        "scales": list(op.scales) or [1.0] * len(op.params),
                        "offsets": list(op.offsets) or [0.0] * len(op.params),
                        "shift_rule": [[list(p) for p in r] for r in rules]})
        elif isinstance(op, Fixed):
            ops.append({"kind": "fixed", "name": op.name, "wires": list(op.wires), "angles": list(op.angles)})
        else:
            raise SystemExit(f"unknown op {op!r}")
    return {
        "model": f"{encoder} + {arch}, {n_classes} classes",
        "n_qubits": m.n_qubits, "n_features": m.n_features, "n_params": m.n_params, "n_classes": m.n_classes,
        "ops": ops,
        "readout_kind": m.readout.kind,
        "readout_weights": np.asarray(m.readout.weights(m.n_qubits), dtype=float).tolist(),
        "compvqc_circuits_per_sample": circuits,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="where to write the JSON spec")
    args = ap.parse_args(argv)
    args.out.write_text(json.dumps(spec(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
