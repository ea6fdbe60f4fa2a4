"""Export a model's circuit: the logical one (inputs as parameters ``x``) or the deployed one.

Formats: ``qasm3`` (OpenQASM 3 text, qiskit's exporter) and ``qiskit-qpy`` (qiskit's own
versioned binary circuit format — a documented serialization, not pickle). The deployed
circuit carries the final measurements on the physical qubits of the final layout.
"""

from __future__ import annotations

import io

from compvqc.errors import DeployError

FORMATS = ("qasm3", "qiskit-qpy")


def export_circuit(circuit, fmt: str) -> bytes:
    """Serialized ``circuit`` in ``fmt`` (bytes: UTF-8 text for qasm3)."""
    if fmt == "qasm3":
        from qiskit import qasm3

        return qasm3.dumps(circuit).encode()
    if fmt == "qiskit-qpy":
        from qiskit import qpy

        buf = io.BytesIO()
        qpy.dump(circuit, buf)
        return buf.getvalue()
    raise DeployError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")


def logical_circuit(model, theta):
    """The model's circuit with bound weights, unbound inputs ``x`` and final measurements."""
    from compvqc.model.qiskit_io import to_qiskit

    return to_qiskit(model, theta, measure=True).circuit
