"""``compvqc compress``: compress a checkpoint's model for a backend (or recompress for another)."""

from __future__ import annotations

import argparse
from pathlib import Path

from compvqc.cli.main import UsageError, add_json_flag, emit, help_of
from compvqc.limits import MAX_SHOTS

SCHEMA = "compvqc.compress/1"


def register(sub) -> None:
    from compvqc.compress.admm import ADMMConfig
    from compvqc.compile.objective import OBJECTIVES
    from compvqc.compress.methods import DEFAULT_BUDGET, METHODS, CompressConfig

    p = sub.add_parser("compress", help=help_of("compress"),
                       description="Compress a checkpoint's VQC for a backend: ReCL + ADMM (or a baseline), "
                                   "masked retraining, true TCD. Always starts from the original parameters.")
    p.add_argument("checkpoint", help="a .ckpt written by compvqc train (or compress)")
    p.add_argument("--backend", required=True, help="e.g. fake_manila, fake_torino")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ratio", type=float, default=None,
                   help=f"fraction of gates put on a level (default {CompressConfig().ratio})")
    g.add_argument("--degree", type=float, default=None, help="approximation degree (qiskit-approx only)")
    g.add_argument("--ratios", type=float, nargs="+", default=None, metavar="R",
                   help="compress at each ratio and keep the best on the validation split on the backend")
    p.add_argument("--noisy", action="store_true",
                   help="judge --ratios / --budget on the backend's noise model with shots, not noise-free")
    p.add_argument("--no-noise", action="store_true", help=argparse.SUPPRESS)  # the default since --noisy
    p.add_argument("--shots", type=int, default=None, help="shots of the --noisy validation runs (default 1024)")
    p.add_argument("--budget", type=float, default=None,
                   help="points of validation accuracy --ratios may give up against the vanilla model: the "
                        f"cheapest candidate whose paired 95%% upper bound of the drop is within it (default {DEFAULT_BUDGET}); "
                        "alone, without --ratio or --ratios: search ratios 0.05-0.95 for the cheapest within it")
    p.add_argument("--objective", choices=OBJECTIVES, default=CompressConfig().objective,
                   help="what to minimize: depth (TCD), 2q (two-qubit gates), duration, esp (estimated success "
                        "probability, maximized) (default %(default)s)")
    p.add_argument("--method", choices=list(METHODS), default="compvqc", metavar="NAME",
                   help="; ".join(f"{m.name}: {m.help}" for m in METHODS.values()) + " (default compvqc)")
    a, c = ADMMConfig(), CompressConfig()  # the library's defaults, stated once there
    p.add_argument("--alpha", type=float, default=a.alpha, help=f"mask score weight of the distance (default {a.alpha})")
    p.add_argument("--rho", type=float, default=a.rho, help=f"initial ADMM penalty (default {a.rho})")
    p.add_argument("--rho-growth", type=float, default=a.rho_growth, help=f"ρ multiplier per iteration (default {a.rho_growth})")
    p.add_argument("--iters", type=int, default=a.iterations, help=f"ADMM iterations R (default {a.iterations})")
    p.add_argument("--zeta", type=float, default=a.zeta, help=f"stopping threshold ζ (default {a.zeta})")
    p.add_argument("--admm-epochs", type=int, default=a.epochs, help=f"Adam epochs per θ-step (default {a.epochs})")
    p.add_argument("--lr", type=float, default=a.lr, help=f"Adam learning rate of the θ-steps (default {a.lr})")
    p.add_argument("--retrain-epochs", type=int, default=c.retrain_epochs,
                   help=f"masked retraining epochs (default {c.retrain_epochs})")
    p.add_argument("--batch-size", type=int, default=c.batch_size, help=f"(default {c.batch_size})")
    p.add_argument("--seed", type=int, default=c.seed, help="batch-order seed of ADMM and retraining")
    p.add_argument("--isolated", action="store_true", help="score depth savings with isolated LUT depths, not in context")
    p.add_argument("--warm-start-masks", action="store_true", help="start ADMM from the checkpoint's masks")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's IDX files (default $COMPVQC_DATA)")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="where the model's own data file is now, if it moved (default: the recorded path)")
    p.add_argument("--no-rebuild", action="store_true", help="refuse to rebuild a stale or missing LUT")
    p.add_argument("--checkpoint-dir", default=None, help="run directory: save every ADMM iteration, resume with "
                   "--resume (with --ratios, one subdirectory ratio-R per ratio)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("-o", "--output", default=None, help="output .ckpt (default: <input>.<backend>.<method>.ckpt)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    add_json_flag(p)
    p.set_defaults(func=cmd_compress)


def cmd_compress(args) -> int:
    from compvqc.checkpoint import CheckpointManager, load_checkpoint, save_checkpoint
    from compvqc.compile.backends import backend_name, resolve_backend
    from compvqc.compress.admm import ADMMConfig
    from compvqc.compress.methods import DEFAULT_BUDGET, METHODS, CompressConfig
    from compvqc.runs.compress import compress_checkpoint
    from compvqc.runs.select import check_ratios, select_ratio
    from compvqc.fsutil import check_output

    method = METHODS[args.method]
    if method.knob == "degree" and args.degree is None:
        raise UsageError(f"compvqc compress: {method.name} takes --degree (e.g. 0.99), not --ratio")
    if method.knob != "degree" and args.degree is not None:
        raise UsageError(f"compvqc compress: --degree is for {', '.join(m.name for m in METHODS.values() if m.knob == 'degree')}")
    if method.knob != "ratio" and args.ratios:
        raise UsageError(f"compvqc compress: {args.method} has no ratio to choose (--ratios)")
    search = args.budget is not None and not args.ratios and args.ratio is None
    if search and method.knob != "ratio":
        raise UsageError(f"compvqc compress: {args.method} has no ratio to search (--budget alone)")
    judged = args.noisy or args.no_noise or args.shots is not None or args.budget is not None
    if judged and not (args.ratios or search):
        raise UsageError("compvqc compress: --noisy, --shots and --budget go with --ratios or --budget alone, "
                         "not --ratio")
    if args.noisy and args.no_noise:
        raise UsageError("compvqc compress: --noisy and --no-noise contradict each other")
    budget = DEFAULT_BUDGET if args.budget is None else args.budget
    if not 0 <= budget <= 100:
        raise UsageError("compvqc compress: --budget must be in [0, 100] points")
    shots = 1024 if args.shots is None else args.shots
    if args.resume and not args.checkpoint_dir:
        raise UsageError("compvqc compress: --resume needs --checkpoint-dir")
    if not 1 <= shots <= MAX_SHOTS:
        raise UsageError(f"compvqc compress: --shots must be in 1..{MAX_SHOTS}")
    if args.shots is not None and not args.noisy:
        raise UsageError("compvqc compress: --shots is for --noisy validation runs")
    if args.checkpoint_dir is not None and not args.checkpoint_dir:
        raise UsageError("compvqc compress: --checkpoint-dir is empty")
    ratio = None if method.knob == "degree" else (CompressConfig().ratio if args.ratio is None else args.ratio)
    # every setting checked before the checkpoint, the backend or the data are loaded
    admm = ADMMConfig(ratio=ratio if ratio is not None else 0.0, alpha=args.alpha, rho=args.rho,
                      rho_growth=args.rho_growth, iterations=args.iters, zeta=args.zeta, epochs=args.admm_epochs,
                      lr=args.lr)
    config = CompressConfig(method=args.method, ratio=ratio, degree=args.degree, admm=admm,
                            retrain_epochs=args.retrain_epochs, batch_size=args.batch_size, seed=args.seed,
                            context=not args.isolated, objective=args.objective)
    if args.ratios:
        check_ratios(args.ratios, config)  # all of them before the first compression starts
    backend = resolve_backend(args.backend)
    name = backend_name(backend)
    src_path = Path(args.checkpoint)
    src = load_checkpoint(src_path)
    default = src_path.with_name(f"{src_path.name.removesuffix('.ckpt')}.{name}.{args.method}.ckpt")
    output = check_output(default if args.output is None else args.output, force=args.force)
    progress = None if not args.json else False
    selection = None
    if args.ratios or search:
        def manager_for(r):
            # repr: the shortest text that is this float, so two ratios never share a directory
            return CheckpointManager(Path(args.checkpoint_dir) / f"ratio-{r!r}", keep_last=3) if args.checkpoint_dir \
                else None

        out, _ = select_ratio(src, backend, args.ratios or None, config, shots=shots, seed=args.seed,
                              noise=args.noisy, budget=budget, data_dir=args.data_dir, data_file=args.data,
                              no_rebuild=args.no_rebuild,
                              warm_start_masks=args.warm_start_masks, manager_for=manager_for, resume=args.resume,
                              progress=progress)
        selection = out.metrics["compression"]["selection"]
        ratio = selection["ratio"]
    else:
        manager = CheckpointManager(args.checkpoint_dir, keep_last=3) if args.checkpoint_dir else None
        try:
            out, _ = compress_checkpoint(src, backend, config, data_dir=args.data_dir, data_file=args.data, manager=manager,
                                         resume=args.resume, warm_start_masks=args.warm_start_masks,
                                         no_rebuild=args.no_rebuild, progress=progress)
        finally:
            if manager is not None:
                manager.close()
    save_checkpoint(output, out)
    report = out.metrics["compression"]
    van, comp, history = report["vanilla"], report["compressed"], out.run.get("admm_history", [])
    speedup = van["tcd"] / comp["tcd"] if comp["tcd"] else None
    measures = ("two_qubit_gates", "duration", "success_probability")
    payload = {
        "schema": SCHEMA, "backend": name, "method": args.method, "ratio": ratio, "degree": args.degree,
        "objective": args.objective,
        **{k: {"accuracy": r["test_accuracy"], "val_accuracy": r["val_accuracy"], "tcd": r["tcd"],
               **{m: r.get(m) for m in measures}} for k, r in (("vanilla", van), ("compressed", comp))},
        "speedup": speedup, "pruned": int(out.prune_mask.sum()), "quantized": int(out.quant_mask.sum()),
        "gates": len(out.model.gates), "admm": history,
        "seconds": {k: round(v, 3) for k, v in report.get("seconds", {}).items()}, "output": str(output),
        "data_file": out.dataset.get("path"),
    }

    def row(label, r):
        cost = "" if r.get("two_qubit_gates") is None else (
            f"  {r['two_qubit_gates']:<4d}{r['duration'] * 1e6:>8.2f}  {r['success_probability']:.4f}")
        return f"  {label:<11} {r['val_accuracy']:.4f}    {r['test_accuracy']:.4f}    {r['tcd']:<4d}{cost}"

    knob = f"degree {args.degree}" if ratio is None else f"ratio {ratio}"
    used = f" on {payload['data_file']}" if payload["data_file"] else ""
    lines = [f"compressed {src_path}{used} for {name} with {args.method} ({knob}, objective {args.objective})",
             "              val acc   test acc  TCD" + ("   2q  µs        ESP" if comp.get("two_qubit_gates") is not None
                                                      else ""),
             row("vanilla", van), row("compressed", comp),
             f"  speedup {speedup:.2f}x; {payload['pruned']} of {payload['gates']} gates pruned, "
             f"{payload['quantized']} quantized" if speedup else "  speedup -"]
    if selection is not None:
        payload["selection"] = selection
        where = "noise-free" if not selection["noise"] else f"on {name}'s noise model, {selection['shots']} shots"
        within = "" if selection["within_budget"] else " (none within the budget: the smallest bound)"
        how = "searched for" if selection.get("searched") else "chosen"
        lines.append(f"  ratio {how} on validation ({where}): the cheapest ({args.objective}) whose drop bound is within "
                     f"{selection['budget']} points{within}")
        lines.append("         ratio  val acc   noise-free  drop (95% bound)  TCD")
        for c in selection["candidates"]:
            mark = "  <- chosen" if c["ratio"] == ratio else ""
            lines.append(f"         {c['ratio']!r:<6} {c['backend_val_accuracy']:.4f}    {c['exact_val_accuracy']:.4f}      "
                         f"{c['drop']:+.2f} ({c['drop_upper']:+.2f})    {c['tcd']}{mark}")
    if history:
        lines.append("  ADMM   it  rho      primal    dual      masked")
        lines += [f"         {h['iteration']:<3d} {h['rho']:<8.3g} {h['primal_residual']:<9.4f} "
                  f"{h['dual_residual']:<9.4f} {h['masked']}" for h in history]
    lines.append(f"  wrote {output}")
    emit(args, payload, "\n".join(lines))
    return 0
