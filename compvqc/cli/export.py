"""``compvqc export``: write a checkpoint's circuit as OpenQASM 3 or QPY (logical or deployed)."""

from __future__ import annotations

import sys

from compvqc.cli.main import UsageError, add_json_flag, emit, help_of

SCHEMA = "compvqc.export/1"


def register(sub) -> None:
    p = sub.add_parser("export", help=help_of("export"),
                       description="Write the logical circuit (weights bound, inputs as parameters x, final "
                                   "measurements) or, with --transpiled, the circuit deployed for --backend.")
    p.add_argument("checkpoint")
    p.add_argument("--format", choices=("qasm3", "qiskit-qpy"), default="qasm3")
    p.add_argument("--transpiled", action="store_true", help="export the deployed circuit (needs --backend)")
    p.add_argument("--backend", default=None, help="backend for --transpiled (e.g. fake_manila)")
    p.add_argument("-o", "--output", default=None, help="output file (default: stdout for qasm3)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    add_json_flag(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from compvqc.checkpoint import load_checkpoint
    from compvqc.deploy import deploy, export_circuit, logical_circuit
    from compvqc.fsutil import atomic_write_bytes, check_output

    if args.transpiled != bool(args.backend):
        raise UsageError("compvqc export: --transpiled and --backend go together")
    if args.format == "qiskit-qpy" and args.output is None:
        raise UsageError("compvqc export: qiskit-qpy is binary: give -o FILE")
    if args.json and args.output is None:
        raise UsageError("compvqc export: --json needs -o FILE (stdout carries the JSON)")
    output = None if args.output is None else check_output(args.output, force=args.force)
    ckpt = load_checkpoint(args.checkpoint)
    dep = deploy(ckpt.model, ckpt.theta, args.backend) if args.transpiled else None
    circuit = dep.measured if dep else logical_circuit(ckpt.model, ckpt.theta)
    data = export_circuit(circuit, args.format)
    if output is None:
        sys.stdout.write(data.decode())
        return 0
    atomic_write_bytes(output, data)
    payload = {"schema": SCHEMA, "format": args.format, "transpiled": bool(dep), "backend": dep.backend if dep else None,
               "tcd": dep.tcd if dep else None, "qubits": circuit.num_qubits,
               "parameters": [p.name for p in circuit.parameters], "bytes": len(data), "output": str(output)}
    where = f" for {dep.backend} (TCD {dep.tcd})" if dep else ""
    emit(args, payload, f"wrote {output}: {'deployed' if dep else 'logical'} circuit{where}, {args.format}, "
                        f"{circuit.num_qubits} qubits, {len(payload['parameters'])} input parameters")
    return 0
