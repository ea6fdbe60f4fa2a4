"""``compvqc bench``: sweeps of methods × knobs × seeds, their fronts, statistics and plots."""

from __future__ import annotations

import json
from pathlib import Path

from compvqc.cli.main import add_json_flag, emit, help_of
from compvqc.errors import UsageError

SCHEMA = "compvqc.bench/1"


def register(sub) -> None:
    from compvqc.bench.grid import Sweep
    from compvqc.compress.methods import METHODS

    d = {k: f.default for k, f in Sweep.__dataclass_fields__.items() if k not in ("datasets", "methods", "train")}
    bench = sub.add_parser("bench", help=help_of("bench"),
                           description="Run a sweep of compression methods and report its Pareto fronts.")
    cmds = bench.add_subparsers(dest="bench_command", metavar="SUBCOMMAND", required=True, parser_class=type(bench))
    p = cmds.add_parser("pareto", help="every (method, knob, seed) point, fronts, hypervolumes, operating points")
    p.add_argument("--dataset", required=True, help="dataset name, or several separated by commas")
    p.add_argument("--methods", default="compvqc,prune,quant,zero,snap",
                   help=f"comma-separated, of: {', '.join(METHODS)} (default compvqc,prune,quant,zero,snap)")
    p.add_argument("--ratios", default=":".join(("0.3", "0.8", "0.1")),
                   help="ratio range a:b:step (both ends included) or a,b,c (default 0.3:0.8:0.1)")
    p.add_argument("--degrees", default="0.9:0.99:0.03", help="approximation degrees of qiskit-approx (default 0.9:0.99:0.03)")
    p.add_argument("--seeds", type=int, default=d["seeds"], help=f"training seeds 0..N-1 (default {d['seeds']})")
    p.add_argument("--backend", default=d["backend"], help=f"(default {d['backend']})")
    p.add_argument("--quick", action="store_true", help="little data and short training: the size CI runs")
    p.add_argument("--noisy", action="store_true", help="also accuracy on the backend's noise model; "
                                                        "the budget then applies to it")
    p.add_argument("--shots", type=int, default=d["shots"], help=f"shots of --noisy (default {d['shots']})")
    _run_args(p, d["budget"])
    p.set_defaults(func=cmd_pareto)

    from compvqc.bench.suites import SUITES

    p = cmds.add_parser("suite", help="a named suite of the papers' results, as a Markdown table",
                        description="Run a named suite: " + "; ".join(f"{s.name}: {s.help}" for s in SUITES.values()))
    p.add_argument("name", choices=list(SUITES), metavar="NAME", help=", ".join(SUITES))
    p.add_argument("--quick", action="store_true", help="2 seeds, one ratio, little data (the size CI runs)")
    p.add_argument("--no-bqskit", action="store_true", help="leave the bqskit baseline out (minutes a point)")
    _run_args(p, d["budget"])
    p.set_defaults(func=cmd_suite)


def _run_args(p, budget: float) -> None:
    """The flags every bench command shares: the budget, where points run, the data, the output."""
    p.add_argument("--budget", type=float, default=budget,
                   help=f"points of validation accuracy an operating point may give up (default {budget})")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: the CPU count)")
    p.add_argument("--scheduler", default=None, help="a dask.distributed scheduler address (tcp://HOST:8786)")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default $COMPVQC_DATA)")
    p.add_argument("-o", "--output", required=True, help="results directory (resumed if it holds the same sweep)")
    add_json_flag(p)


def _workers(args) -> int:
    import os

    if args.scheduler is not None and args.workers is not None:
        raise UsageError("--workers is for local runs; a dask cluster has its own workers")
    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if not 1 <= workers <= 256:
        raise UsageError("--workers must be in 1..256")
    if not 0 <= args.budget <= 100:
        raise UsageError("--budget must be in [0, 100] points")
    return workers


def cmd_pareto(args) -> int:
    from compvqc.bench.grid import Sweep, knob_values

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    datasets = tuple(x.strip() for x in args.dataset.split(",") if x.strip())
    workers = _workers(args)
    if not 1 <= args.shots <= 10**8:
        raise UsageError("--shots must be in 1..10^8")
    sweep = Sweep(datasets=datasets, methods=methods, ratios=knob_values(args.ratios, "--ratios"),
                  degrees=knob_values(args.degrees, "--degrees"), seeds=args.seeds, backend=args.backend,
                  quick=args.quick, noisy=args.noisy, shots=args.shots, budget=args.budget)
    from compvqc.bench.fronts import summarize
    from compvqc.bench.harness import run_sweep
    from compvqc.bench.plots import plot_sweep
    from compvqc.compile.backends import resolve_backend
    from compvqc.fsutil import atomic_write_bytes

    resolve_backend(args.backend)  # a bad name fails before any work
    out = Path(args.output)
    rows = run_sweep(sweep, out, workers=workers, scheduler=args.scheduler, data_dir=args.data_dir,
                     progress=None if not args.json else False)
    summary = summarize(rows, sweep.budget, sweep.noisy)
    atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=1, sort_keys=True) + "\n").encode())
    figures = [str(p) for p in plot_sweep(rows, out / "figures")]
    lines = [f"{len(rows)} points in {out} (points.csv, points.jsonl, summary.json, figures/)",
             f"operating points (validation drop ≤ {sweep.budget} points{', noisy' if sweep.noisy else ''}):"]
    for op in summary["operating_points"]:
        lines.append(f"  {op['dataset']:10s} {op['method']:18s} " + (
            "none within the budget" if op["knob"] is None and op["speedup"] is None else
            f"knob {op['knob'] or '-':6s} speedup {op['speedup']:.2f}x  val drop {op['val_drop']:+.2f}  "
            f"test drop {op['test_drop']:+.2f}"))
    lines.append("hypervolume (mean over seeds): " + ", ".join(
        f"{h['method']} {h['mean']:.4f}" for h in summary["hypervolume"]))
    emit(args, {"schema": SCHEMA, "output": str(out), "points": len(rows), **summary, "figures": figures},
         "\n".join(lines))
    return 0


def cmd_suite(args) -> int:
    from compvqc.bench.suites import run_suite

    workers = _workers(args)
    path, rows = run_suite(args.name, args.output, quick=args.quick, budget=args.budget, workers=workers,
                           scheduler=args.scheduler, data_dir=args.data_dir, progress=None if not args.json else False,
                           bqskit=not args.no_bqskit)
    emit(args, {"schema": SCHEMA, "suite": args.name, "output": str(path),
                "points": {label: len(r) for label, r in rows.items()}, "table": path.read_text()},
         path.read_text() + f"\nwrote {path}")
    return 0
