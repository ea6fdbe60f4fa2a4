"""``compvqc train`` and ``compvqc demo``."""

from __future__ import annotations

import argparse

from compvqc.cli.main import UsageError, add_json_flag, emit, help_of

SCHEMA_TRAIN = "compvqc.train/1"
SCHEMA_DEMO = "compvqc.demo/1"


def register(sub) -> None:
    p = sub.add_parser("train", help=help_of("train"),
                       description="Train a VQC on a dataset: with the exact-gradient simulator, or on a "
                                   "backend with shots (--backend B --shots N: parameter shift, on-chip).")
    add_train_args(p)
    add_onchip_args(p)
    p.add_argument("-o", "--output", required=True, help="checkpoint file to write (ONNX container, .ckpt)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_checkpoint_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("demo", help=help_of("demo"),
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
    g.add_argument("--save-policy", choices=("fixed", "auto"), default="fixed",
                   help="fixed: the --save-every-* intervals (default); auto: every √(2·save cost·MTBF) seconds, "
                        "from the measured save cost and the run's observed failures (Young/Daly)")
    g.add_argument("--mtbf-prior", type=float, default=None, metavar="SECONDS",
                   help="auto policy: the mean time between failures assumed until failures are seen (default 3600)")


def add_onchip_args(p: argparse.ArgumentParser) -> None:
    from compvqc.train.selection import PGP_MODES

    g = p.add_argument_group("on-chip training (with --backend and --shots)")
    g.add_argument("--shots", type=int, default=None,
                   help="train ON --backend: parameter-shift gradients from N shots per circuit (0: exact "
                        "distributions, with --noise-free only)")
    g.add_argument("--noise-free", dest="noise", action="store_false",
                   help="without the backend's noise model (fake backends)")
    g.add_argument("--engine", default="auto", help="auto | density | aer: how a fake backend's circuits are "
                                                   "simulated (default auto: the density engine up to 8 qubits)")
    g.add_argument("--pgp", default=None, metavar="r=R,wa=N,wp=N",
                   help="probabilistic gradient pruning: prune a fraction r in wp of every wa+wp steps")
    g.add_argument("--pgp-mode", choices=PGP_MODES, default="probabilistic",
                   help="draw kept parameters ∝ accumulated |gradient| (default) or keep the largest")
    g.add_argument("--freeze", default=None, metavar="F@E",
                   help="freeze the fraction F of parameters with the smallest recent gradients after E epochs")
    g.add_argument("--retry-backoff", type=float, default=1.0, metavar="SECONDS",
                   help="first wait before retrying a failed job; doubles per retry, 6 retries (default 1)")
    g.add_argument("--inject-failures", type=float, default=None, help=argparse.SUPPRESS)  # tests, benchmarks


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
    if args.save_policy == "auto" and not args.checkpoint_dir:
        raise UsageError("--save-policy auto needs --checkpoint-dir")
    if args.mtbf_prior is not None and (args.save_policy != "auto" or not 0 < args.mtbf_prior < float("inf")):
        raise UsageError("--mtbf-prior takes a positive number of seconds, with --save-policy auto")


def add_train_args(p: argparse.ArgumentParser) -> None:
    from compvqc.data import DATASETS
    from compvqc.data.preprocess import MODES
    from compvqc.train.config import TrainConfig
    from compvqc.train.gradients import GRADIENTS
    from compvqc.train.optim import OPTIMIZERS

    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="NAME", help=f"one of: {', '.join(DATASETS)}")
    source.add_argument("--data", metavar="FILE", help="your own .npz (x, y, or x_train, y_train, x_test, y_test) "
                        "or .csv file (feature columns and a label column)")
    p.add_argument("--label", default=None, help="the .csv file's label column, by header name (default: the last)")
    d = {k: f.default for k, f in TrainConfig.__dataclass_fields__.items()}  # the library's defaults
    p.add_argument("--circuit", default=None, metavar="FILE.qasm",
                   help="your own OpenQASM 3 circuit as the model (instead of --encoder and --arch)")
    p.add_argument("--inputs", dest="circuit_inputs", default=d["circuit_inputs"],
                   help=f"--circuit's input parameter vector (x[i], qiskit's _x_i_) (default {d['circuit_inputs']})")
    p.add_argument("--weights", dest="circuit_weights", default=d["circuit_weights"],
                   help=f"--circuit's trainable parameter vector (default {d['circuit_weights']}; "
                        "compvqc export writes w)")
    p.add_argument("--arch", default=d["arch"],
                   help=f"random<N> | blocks<L> | u3cu3_<L> | reupload<L> (default {d['arch']})")
    p.add_argument("--arch-seed", type=int, default=d["arch_seed"], help=f"seed of the random architecture (default {d['arch_seed']})")
    p.add_argument("--encoder", default=None, help="4x4_ryzxy | 2x2_ryz | amplitude (default: the dataset's)")
    p.add_argument("--gates", default=None, help=f"gate set of random<N>, comma-separated (default {','.join(d['gate_set'])})")
    p.add_argument("--epochs", type=int, default=d["epochs"], help=f"training epochs (default {d['epochs']})")
    p.add_argument("--seed", type=int, default=d["seed"], help=f"training seed: initial weights and batch order (default {d['seed']})")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help=f"(default {d['batch_size']})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d["optimizer"])
    p.add_argument("--lr", type=float, default=d["lr"], help=f"(default {d['lr']})")
    p.add_argument("--gradient", choices=list(GRADIENTS), default=None,
                   help="; ".join(f"{r.name}: {r.help}" for r in GRADIENTS.values())
                        + f" (default {d['gradient']}; parameter-shift with --shots)")
    p.add_argument("--preprocess", choices=MODES, default=d["preprocess"],
                   help=f"images: scale to [0, π] or standardize (default {d['preprocess']})")
    p.add_argument("--val-fraction", type=float, default=d["val_fraction"], help=f"(default {d['val_fraction']})")
    p.add_argument("--split-seed", type=int, default=d["split_seed"], help=f"(default {d['split_seed']})")
    p.add_argument("--n-samples", type=int, default=d["n_samples"], help=f"size of syn4/syn16 (default {d['n_samples']})")
    p.add_argument("--max-train", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default $COMPVQC_DATA)")
    p.add_argument("--backend", default=None,
                   help="target device (e.g. fake_manila): its hardware profile is stored in the checkpoint")


def _config_from_args(args):
    """The run's TrainConfig, validated (bounds, finite numbers) before anything is loaded: every
    field is the flag of the same name, but ``gate_set`` (``--gates``, omitted: the default)."""
    from compvqc.train import TrainConfig

    kw = {"gate_set": tuple(g.strip() for g in args.gates.split(","))} if args.gates else {}
    onchip = args.shots is not None
    if onchip and not args.backend:
        raise UsageError("compvqc train: --shots trains on a device: name it with --backend")
    if not onchip and (args.pgp or args.freeze or not args.noise or args.inject_failures is not None):
        raise UsageError("compvqc train: --pgp, --freeze and --noise-free are for on-chip training (--shots)")
    if args.gradient is None:  # on a device, parameter shift is the rule that runs there
        args.gradient = "parameter-shift" if onchip else TrainConfig.gradient
    args.device = args.backend if onchip else None
    args.shots = args.shots or 0
    if not 0 < args.retry_backoff < float("inf") or (args.inject_failures is not None
                                                     and not 0 <= args.inject_failures < 1):
        raise UsageError("compvqc train: --retry-backoff must be positive")
    return TrainConfig(**{k: getattr(args, k) for k in TrainConfig.__dataclass_fields__ if k != "gate_set"}, **kw)


def cmd_train(args) -> int:
    from compvqc.checkpoint import CheckpointManager, save_checkpoint
    from compvqc.fsutil import check_output
    from compvqc.runs.train import train_on_dataset, train_summary

    from compvqc.data import DATASETS
    from compvqc.data.user import is_user_file

    if args.data is not None:
        if not is_user_file(args.data):
            raise UsageError(f"compvqc train: --data takes a .npz or .csv file, got {args.data!r}")
        args.dataset = args.data
    elif args.dataset not in DATASETS and not is_user_file(args.dataset):
        raise UsageError(f"compvqc train: unknown dataset {args.dataset!r} (known: {', '.join(DATASETS)}; "
                         "your own file goes in --data)")
    output = check_output(args.output, force=args.force)
    config = _config_from_args(args)
    manager_args(args)
    profile = None
    if args.backend:
        from compvqc.compile.profile import hardware_profile
        from compvqc.compile.backends import resolve_backend

        profile = hardware_profile(resolve_backend(args.backend))
    auto = None
    if args.save_policy == "auto":
        from compvqc.checkpoint.policy import DEFAULT_PRIOR_MTBF, AutoInterval

        auto = AutoInterval(prior_mtbf=args.mtbf_prior or DEFAULT_PRIOR_MTBF)
    manager = CheckpointManager(args.checkpoint_dir, keep_last=args.keep_last, best_metric="val_accuracy",
                                every_steps=args.save_every_steps, every_epochs=args.save_every_epochs,
                                every_seconds=args.save_every_seconds, auto=auto) if args.checkpoint_dir else None
    onchip = {}
    if config.device is not None:
        from compvqc.onchip import FlakyRunner, Retry

        onchip["retry"] = Retry(base=args.retry_backoff)
        if args.inject_failures is not None:
            onchip["runner_wrap"] = lambda runner: FlakyRunner(runner, args.inject_failures, seed=config.seed)
    try:
        trained = train_on_dataset(config, data_dir=args.data_dir, progress=None if not args.json else False,
                                   manager=manager, resume=args.resume, **onchip)
    finally:
        if manager is not None:
            manager.close()
    ckpt = trained.checkpoint()
    if profile is not None:
        ckpt.hardware_profile = profile
    save_checkpoint(output, ckpt)
    payload, text = train_summary(trained, output)
    emit(args, {"schema": SCHEMA_TRAIN, **payload}, text)
    return 0


def cmd_demo(args) -> int:
    """Train digits2, compress it for a backend, compare both on its noise model."""
    from compvqc.runs.demo import run_demo

    payload, text = run_demo(epochs=args.epochs, backend=args.backend, ratios=args.ratios, ratio=args.ratio,
                             output_dir=args.output_dir, progress=None if not args.json else False)
    emit(args, {"schema": SCHEMA_DEMO, **payload}, text)
    return 0
