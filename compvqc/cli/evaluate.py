"""``compvqc evaluate``: deploy a checkpoint's model on a backend and measure it there."""

from __future__ import annotations

from pathlib import Path

from compvqc.cli.main import UsageError, add_json_flag, emit, help_of
from compvqc.limits import MAX_SHOTS

SCHEMA = "compvqc.evaluate/1"


def register(sub) -> None:
    from compvqc.deploy.executors import ENGINES, EXECUTORS

    p = sub.add_parser("evaluate", help=help_of("evaluate"),
                       description="Transpile the checkpoint's model once for the backend (noise-aware layout, "
                                   "recorded seeds), bind every sample of a split into one job, and report "
                                   "accuracy, TCD, two-qubit gates, scheduled duration and estimated success "
                                   "probability. ibm_* backends use the saved qiskit-ibm-runtime account.")
    p.add_argument("checkpoint", help="a .ckpt written by compvqc train or compress")
    p.add_argument("--backend", required=True, help="e.g. fake_lagos, fake_manila, or ibm_<device> (saved account)")
    p.add_argument("--executor", choices=list(EXECUTORS), default="aer",
                   help="; ".join(f"{e.name}: {e.help}" for e in EXECUTORS.values()))
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="aer executor: compvqc's batched density matrices under Aer's noise model (density; "
                        "auto = up to 8 active qubits) or Aer's own job (aer)")
    p.add_argument("--shots", type=int, default=1024, help="shots per sample (default 1024; 0 = exact, noise-free only)")
    p.add_argument("--no-noise", action="store_true", help="ideal simulation of the transpiled circuit")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--samples", type=int, default=None, help="evaluate N samples of the split (drawn with --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed_simulator and sample draw (default 0)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's IDX files (default $COMPVQC_DATA)")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="where the model's own data file is now, if it moved (default: the recorded path)")
    p.add_argument("--save-mapping", action="store_true",
                   help="write the checkpoint with the chosen qubit mapping and deployment record to -o")
    p.add_argument("-o", "--output", default=None, help="output .ckpt for --save-mapping (never the input)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --output")
    add_json_flag(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from compvqc.checkpoint import load_checkpoint, save_checkpoint
    from compvqc.compile.backends import resolve_backend
    from compvqc.runs.compress import dataset_for
    from compvqc.deploy import evaluate, pick_samples, with_deployment
    from compvqc.fsutil import check_output

    if not 0 <= args.shots <= MAX_SHOTS:
        raise UsageError(f"compvqc evaluate: --shots must be in 0..{MAX_SHOTS}")
    if args.seed < 0:
        raise UsageError("compvqc evaluate: --seed must be ≥ 0")
    if args.samples is not None and args.samples < 1:
        raise UsageError("compvqc evaluate: --samples must be at least 1")
    if args.output is not None and not args.save_mapping:
        raise UsageError("compvqc evaluate: -o/--output is for --save-mapping")
    src = Path(args.checkpoint)
    output = None
    if args.save_mapping:
        if args.output is None:
            raise UsageError("compvqc evaluate: --save-mapping needs -o/--output (the input is never overwritten)")
        if args.output and Path(args.output).resolve() == src.resolve():
            raise UsageError("compvqc evaluate: -o must differ from the input checkpoint")
        output = check_output(args.output, force=args.force)
    ckpt = load_checkpoint(src)
    backend = resolve_backend(args.backend)
    data = dataset_for(ckpt, args.data_dir, args.data)
    split = getattr(data, args.split)
    idx = pick_samples(len(split.y), args.samples, args.seed)
    ev = evaluate(ckpt.model, ckpt.theta, split.x[idx], split.y[idx], backend, executor=args.executor,
                  shots=args.shots, noise=not args.no_noise, seed=args.seed, engine=args.engine)
    dep = ev.deployment
    payload = {
        "schema": SCHEMA, "checkpoint": str(src), "backend": dep.backend, "executor": ev.executor,
        "engine": ev.engine or None, "split": args.split, "accuracy": ev.accuracy, "tcd": dep.tcd,
        "two_qubit_gates": dep.two_qubit_gates,
        "duration": dep.duration, "success_probability": dep.success_probability, "shots": ev.shots,
        "noise": ev.noise, "samples": ev.samples, "seconds": round(ev.seconds, 3), "seed_simulator": ev.seed,
        "seed_transpiler": dep.seed_transpiler, "physical_qubits": list(dep.physical_qubits),
        "measured_qubits": list(dep.measured_qubits), "output": str(output) if output else None,
        "data_file": data.reference.get("path"),
    }
    if output is not None:
        save_checkpoint(output, with_deployment(ckpt, dep, backend, shots=ev.shots))
    noise = "noisy" if ev.noise else "noise-free"
    shots = f"{ev.shots} shots" if ev.shots else "exact"
    engine = f" [{ev.engine}]" if ev.engine else ""
    lines = [f"evaluated {src} on {dep.backend} ({ev.executor}{engine}, {noise}, {shots}, seed {ev.seed})",
             f"  accuracy     {ev.accuracy:.4f} on {ev.samples} {args.split} samples ({ev.seconds:.2f} s)"
             + (f" of {payload['data_file']}" if payload["data_file"] else ""),
             f"  TCD          {dep.tcd} (seed_transpiler {dep.seed_transpiler})",
             f"  2q gates     {dep.two_qubit_gates}",
             f"  duration     {dep.duration * 1e6:.2f} µs (scheduled, with readout)",
             f"  success p    {dep.success_probability:.4f} (product of gate and readout fidelities)",
             f"  qubits       {list(dep.physical_qubits)} (read out on {list(dep.measured_qubits)})"]
    if output is not None:
        lines.append(f"  wrote        {output}")
    emit(args, payload, "\n".join(lines))
    return 0
