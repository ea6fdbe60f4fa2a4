"""``compvqc train`` and ``compvqc demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from compvqc.cli.main import UsageError, add_json_flag, emit

SCHEMA_TRAIN = "compvqc.train/1"
SCHEMA_DEMO = "compvqc.demo/1"


def register(sub) -> None:
    p = sub.add_parser("train", help="train a VQC on a dataset and write the model file",
                       description="Train a VQC on a dataset with the exact-gradient simulator.")
    add_train_args(p)
    p.add_argument("-o", "--output", required=True, help="checkpoint file to write (ONNX container, .ckpt)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_checkpoint_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("demo", help="the download-free end-to-end demo (digits2)",
                       description="Train the 50-gate model on scikit-learn's bundled digits (3 vs 6).")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--backend", default="fake_manila", help="device to compress for (default fake_manila)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 0.75], metavar="R",
                   help="candidate ratios, one chosen on the validation split on the backend's noise model "
                        "(default 0.25 0.5 0.75)")
    g.add_argument("--ratio", type=float, default=None, help="a fixed compression ratio instead")
    p.add_argument("--output-dir", default="demo-output")
    add_json_flag(p)
    p.set_defaults(func=cmd_demo)


def add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run checkpoints")
    g.add_argument("--checkpoint-dir", default=None, help="run directory for periodic checkpoints")
    g.add_argument("--resume", action="store_true", help="continue from the newest valid checkpoint in --checkpoint-dir")
    g.add_argument("--save-every-steps", type=int, default=None, help="also save every N optimizer steps")
    g.add_argument("--save-every-epochs", type=int, default=1, help="save every N epochs (default 1)")
    g.add_argument("--save-every-seconds", type=float, default=None,
                   help="also save when S seconds passed since the last save (for very fast steps)")
    g.add_argument("--keep-last", type=int, default=3, help="checkpoints kept in the run directory (default 3)")


def manager_args(args) -> None:
    """Check the run-directory flags (cheap; before any work)."""
    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir")
    if args.checkpoint_dir is not None and not args.checkpoint_dir:
        raise UsageError("--checkpoint-dir is empty")
    for flag in ("save_every_steps", "save_every_epochs", "keep_last"):
        v = getattr(args, flag)
        if v is not None and not 1 <= v <= 1 << 40:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.save_every_seconds is not None and not 0 < args.save_every_seconds < float("inf"):
        raise UsageError("--save-every-seconds must be positive")


def make_manager(args):
    """The CheckpointManager the flags ask for (it locks the run directory), or None."""
    manager_args(args)
    if not args.checkpoint_dir:
        return None
    from compvqc.checkpoint import CheckpointManager

    return CheckpointManager(args.checkpoint_dir, keep_last=args.keep_last, best_metric="val_accuracy",
                             every_steps=args.save_every_steps, every_epochs=args.save_every_epochs,
                             every_seconds=args.save_every_seconds)


def add_train_args(p: argparse.ArgumentParser, dataset_required: bool = True) -> None:
    from compvqc.data import DATASETS

    p.add_argument("--dataset", required=dataset_required, choices=sorted(DATASETS), metavar="NAME",
                   help=f"one of: {', '.join(DATASETS)}")
    p.add_argument("--arch", default="random50", help="random<N> | blocks<L> | u3cu3_<L> | reupload<L> (default random50)")
    p.add_argument("--arch-seed", type=int, default=0, help="seed of the random architecture (default 0)")
    p.add_argument("--encoder", default=None, help="4x4_ryzxy | 2x2_ryz | amplitude (default: the dataset's)")
    p.add_argument("--gates", default=None, help="gate set of random<N>, comma-separated (default rx,ry,rz,crx,cry,crz)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--seed", type=int, default=0, help="training seed: initial weights and batch order (default 0)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--preprocess", choices=("scale", "standardize"), default="scale",
                   help="images: scale to [0, π] or standardize (default scale)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--n-samples", type=int, default=1000, help="size of syn4/syn16 (default 1000)")
    p.add_argument("--max-train", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default $COMPVQC_DATA)")
    p.add_argument("--backend", default=None,
                   help="target device (e.g. fake_manila): its hardware profile is stored in the checkpoint")


def _config_from_args(args):
    """The run's TrainConfig, validated (bounds, finite numbers) before anything is loaded."""
    from compvqc.train import TrainConfig

    gate_set = tuple(g.strip() for g in args.gates.split(",")) if args.gates else None
    kw = {} if gate_set is None else {"gate_set": gate_set}
    return TrainConfig(
        dataset=args.dataset, arch=args.arch, arch_seed=args.arch_seed, encoder=args.encoder,
        epochs=args.epochs, seed=args.seed, batch_size=args.batch_size, optimizer=args.optimizer,
        lr=args.lr, preprocess=args.preprocess, val_fraction=args.val_fraction,
        split_seed=args.split_seed, n_samples=args.n_samples, max_train=args.max_train, **kw,
    )


def _train_summary(trained, output: Path) -> tuple[dict, str]:
    c, m = trained.config, trained.metrics
    payload = {
        "schema": SCHEMA_TRAIN,
        "dataset": c.dataset,
        "arch": c.arch,
        "arch_seed": c.arch_seed,
        "encoder": trained.model.meta.get("encoder"),
        "epochs": c.epochs,
        "seed": c.seed,
        "n_gates": len(trained.model.gates),
        "n_params": trained.model.n_params,
        "train_accuracy": m["train_accuracy"],
        "val_accuracy": m["val_accuracy"],
        "test_accuracy": m["test_accuracy"],
        "loss": m["train_loss"],
        "output": str(output),
        "resumed_from": trained.result.resumed_from,
        "seconds": round(trained.seconds, 3),
    }
    text = (
        f"trained {c.dataset} {c.arch} (arch seed {c.arch_seed}, seed {c.seed}, {c.epochs} epochs, "
        f"{payload['n_gates']} gates) in {trained.seconds:.1f} s\n"
        f"  accuracy  train {m['train_accuracy']:.4f}  val {m['val_accuracy']:.4f}  test {m['test_accuracy']:.4f}\n"
        f"  loss      {m['train_loss']:.4f}\n"
        + (f"  resumed   from step {trained.result.resumed_from}\n" if trained.result.resumed_from is not None else "")
        + f"  wrote     {output}"
    )
    return payload, text


def cmd_train(args) -> int:
    from compvqc.checkpoint import save_checkpoint
    from compvqc.fsutil import check_output
    from compvqc.train import train_on_dataset

    output = check_output(args.output, force=args.force)
    config = _config_from_args(args)
    manager_args(args)
    profile = None
    if getattr(args, "backend", None):
        from compvqc.checkpoint.profile import hardware_profile
        from compvqc.compile.backends import resolve_backend

        profile = hardware_profile(resolve_backend(args.backend))
    manager = make_manager(args)
    try:
        trained = train_on_dataset(config, data_dir=args.data_dir, progress=None if not args.json else False,
                                   manager=manager, resume=args.resume)
    finally:
        if manager is not None:
            manager.close()
    ckpt = trained.checkpoint()
    if profile is not None:
        ckpt.hardware_profile = profile
    save_checkpoint(output, ckpt)
    payload, text = _train_summary(trained, output)
    emit(args, payload, text)
    return 0


def cmd_demo(args) -> int:
    """Train digits2, then compress it for fake_manila and print the before/after table."""
    from compvqc.checkpoint import save_checkpoint
    from compvqc.compress.methods import CompressConfig
    from compvqc.compress.pipeline import compress_checkpoint
    from compvqc.compress.select import check_ratios, select_ratio
    from compvqc.train import TrainConfig, train_on_dataset

    check_ratios([args.ratio] if args.ratio is not None else args.ratios)  # before training, not after
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quiet = None if not args.json else False
    config = TrainConfig(dataset="digits2", arch="random50", epochs=args.epochs, seed=0, batch_size=16)
    trained = train_on_dataset(config, progress=quiet)
    output = out_dir / "digits2.random50.ckpt"
    save_checkpoint(output, trained.checkpoint())
    payload, text = _train_summary(trained, output)
    payload["schema"] = SCHEMA_DEMO
    if args.ratio is not None:
        compressed, _ = compress_checkpoint(trained.checkpoint(), args.backend, CompressConfig(ratio=args.ratio),
                                            progress=quiet)
        ratio, how = args.ratio, f"ratio {args.ratio}"
    else:  # the papers' protocol: the ratio the validation split prefers on the device
        compressed, _ = select_ratio(trained.checkpoint(), args.backend, args.ratios, shots=DEMO_SHOTS, seed=0,
                                     progress=quiet)
        ratio = compressed.metrics["compression"]["selection"]["ratio"]
        how = f"ratio {ratio}, chosen on validation among {', '.join(repr(r) for r in args.ratios)}"
    comp_path = out_dir / f"digits2.random50.{args.backend}.compvqc.ckpt"
    save_checkpoint(comp_path, compressed)
    report = compressed.metrics["compression"]
    van, comp = report["vanilla"], report["compressed"]
    payload["compression"] = {"backend": args.backend, "method": "compvqc", "ratio": ratio,
                              "vanilla": {"accuracy": van["test_accuracy"], "tcd": van["tcd"]},
                              "compressed": {"accuracy": comp["test_accuracy"], "tcd": comp["tcd"]},
                              "speedup": van["tcd"] / comp["tcd"], "pruned": int(compressed.prune_mask.sum()),
                              "quantized": int(compressed.quant_mask.sum()), "output": str(comp_path)}
    if "selection" in report:
        payload["compression"]["selection"] = report["selection"]
    table = (f"\ncompressed for {args.backend} (CompVQC, {how}):\n"
             f"              test acc  TCD\n"
             f"  vanilla     {van['test_accuracy']:.4f}    {van['tcd']}\n"
             f"  compressed  {comp['test_accuracy']:.4f}    {comp['tcd']}   "
             f"({van['tcd'] / comp['tcd']:.2f}x shallower; {int(compressed.prune_mask.sum())} gates pruned, "
             f"{int(compressed.quant_mask.sum())} quantized)\n  wrote     {comp_path}")
    if "selection" in report:
        table += "\n  candidates (validation on the noise model / noise-free, TCD): " + "; ".join(
            f"{c['ratio']!r}: {c['backend_val_accuracy']:.3f} / {c['exact_val_accuracy']:.3f}, {c['tcd']}"
            for c in report["selection"]["candidates"])
    evaluation, table_eval = _demo_evaluation(trained.checkpoint(), compressed, args.backend)
    payload["evaluation"] = evaluation
    emit(args, payload, "compvqc demo: digits2 (scikit-learn's bundled 8x8 digits, 3 vs 6), 50-gate VQC\n"
         + text + table + table_eval)
    return 0


DEMO_SHOTS = 1024


def _demo_evaluation(vanilla, compressed, backend) -> tuple[dict, str]:
    """Deploy both models on ``backend`` and compare them on its noise model (Aer, test split)."""
    from compvqc.compress.pipeline import dataset_for
    from compvqc.deploy import evaluate

    test = dataset_for(vanilla).test
    rows, out = {}, {"backend": backend, "executor": "aer", "shots": DEMO_SHOTS, "seed": 0, "split": "test",
                     "samples": int(len(test.y))}
    for name, ck in (("vanilla", vanilla), ("compressed", compressed)):
        ev = evaluate(ck.model, ck.theta, test.x, test.y, backend, executor="aer", shots=DEMO_SHOTS, seed=0)
        d = ev.deployment
        rows[name] = (ev, d)
        out[name] = {"accuracy": ev.accuracy, "tcd": d.tcd, "two_qubit_gates": d.two_qubit_gates,
                     "duration": d.duration, "success_probability": d.success_probability,
                     "physical_qubits": list(d.physical_qubits), "seconds": round(ev.seconds, 3)}
    lines = [f"\n\nnoisy evaluation on {backend} (qiskit-aer noise model, {DEMO_SHOTS} shots, "
             f"{out['samples']} test samples):",
             "              noisy acc  TCD   2q gates  duration   success p"]
    for name, (ev, d) in rows.items():
        lines.append(f"  {name:<11s} {ev.accuracy:.4f}     {d.tcd:<5d} {d.two_qubit_gates:<9d} "
                     f"{d.duration * 1e6:6.2f} µs  {d.success_probability:.4f}")
    return out, "\n".join(lines)
