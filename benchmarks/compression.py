"""Compression methods against our own vanilla, in one run (issue: compression engine).

Resumable: every finished row is appended to ``benchmarks/runs/compression.jsonl`` and skipped
when the script runs again; vanilla models are trained once per (dataset, seed) and cached as
checkpoints in ``benchmarks/runs/``.

Protocol (DESIGN.md): one architecture (fixed arch seed), 5 training seeds, fake_manila. For each
method and ratio: drop = mean over seeds of vanilla − compressed *test* accuracy, speedup = mean
over seeds of vanilla TCD / compressed TCD. The reported operating point of a method is the ratio
with the largest speedup whose mean *validation* drop stays within the budget (test is never used
to choose). Also: the entanglement-free reference (every controlled gate pruned, the rest
retrained) and ReCL with isolated vs in-context depths.

    python benchmarks/compression.py --datasets mnist2 --seeds 5            # full
    python benchmarks/compression.py --datasets mnist2 --seeds 1 --ratios 0.5 --epochs 3   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from compvqc.checkpoint import load_checkpoint, save_checkpoint
from runlog import append_row, read_rows
from compvqc.compress.admm import ADMMConfig
from compvqc.compress.methods import CompressConfig
from compvqc.runs.compress import compress_checkpoint
from compvqc.runs import TrainConfig, train_on_dataset

ROOT = Path(__file__).resolve().parent
RUNS = ROOT / "runs"
SHARED = ROOT.parents[1] / "shared" / "datasets"
SETUPS = {  # dataset: (train config kwargs, validation-drop budget in points)
    "mnist2": (dict(arch="random50", epochs=30), 0.91),
    "fashion2": (dict(arch="random22", arch_seed=2, encoder="amplitude", epochs=30), 0.5),
    # The same task with the angle encoder: its depth does not dominate the TCD.
    "fashion2-angle": (dict(dataset="fashion2", arch="random22", arch_seed=2, encoder="4x4_ryzxy",
                            preprocess="standardize", epochs=30), 0.5),
}
METHODS = ("compvqc", "prune", "quant", "zero", "snap")


def vanilla(dataset: str, seed: int, epochs, data_dir) -> Path:
    kwargs, _ = SETUPS[dataset]
    kwargs = dict(kwargs, **({"epochs": epochs} if epochs else {}))
    path = RUNS / f"{dataset}.{kwargs['arch']}.e{kwargs['epochs']}.s{seed}.ckpt"
    if not path.exists():
        kwargs.setdefault("dataset", dataset)
        t = train_on_dataset(TrainConfig(seed=seed, **kwargs), data_dir=data_dir, progress=False)
        save_checkpoint(path, t.checkpoint())
    return path


def done_rows(out: Path) -> dict:
    return read_rows(out, lambda r: r["key"])


def entanglement_free(src, backend, data_dir, retrain_epochs):
    """Prune every controlled gate (angle 0 is a pruning level everywhere), retrain the rest."""
    from compvqc.compile.cache import get_lut
    from compvqc.compile.tcd import true_tcd
    from compvqc.compress.admm import finalize
    from compvqc.compress.stages import evaluate_splits, retrain
    from compvqc.runs.compress import dataset_for

    model, theta = src.model, src.theta_original
    lut = get_lut(backend, gates=sorted({g.name for g in model.gates}), model=model)
    mask = np.array([g.type.controlled for g in model.gates])
    targets = [lut[g.name].lookup((0.0,) * len(g.params)) for g in model.gates]
    final = finalize(model, theta, mask, targets)
    data = dataset_for(src, data_dir)
    cfg = CompressConfig(retrain_epochs=retrain_epochs)
    out = retrain(model, final, data, cfg, targets)
    ev = evaluate_splits(model, out, data)
    return {**ev, "tcd": true_tcd(model, out, backend).depth}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="mnist2")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--ratios", default="0.3,0.4,0.5,0.6,0.7,0.8")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=None, help="vanilla training epochs (default 30)")
    p.add_argument("--backend", default="fake_manila")
    p.add_argument("--alpha", type=float, default=0.5, help="ADMM mask weight of the distance (rows tagged @a<α> unless 0.5)")
    p.add_argument("--data-dir", default=os.environ.get("COMPVQC_DATA", str(SHARED)))
    p.add_argument("--out", default=str(RUNS / "compression.jsonl"))
    args = p.parse_args(argv)
    RUNS.mkdir(exist_ok=True)
    out = Path(args.out)
    rows = done_rows(out)
    for dataset in args.datasets.split(","):
        for seed in range(args.seeds):
            src_path = vanilla(dataset, seed, args.epochs, args.data_dir)
            src = load_checkpoint(src_path)
            jobs = [("entanglement-free", None)] * (args.alpha == 0.5) + [(m, float(r)) for m in args.methods.split(",")
                                                    for r in args.ratios.split(",")]
            for method, ratio in jobs:
                tag = method if args.alpha == 0.5 or method not in ("compvqc", "prune", "quant") else f"{method}@a{args.alpha}"
                key = f"{dataset}|{src_path.name}|{args.backend}|{tag}|{ratio}"
                if key in rows:
                    continue
                t = time.perf_counter()
                if method == "entanglement-free":
                    comp = entanglement_free(src, args.backend, args.data_dir, 3)
                    van = None
                else:
                    cfg = CompressConfig(method=method, ratio=ratio, admm=ADMMConfig(ratio=ratio, alpha=args.alpha))
                    ck, res = compress_checkpoint(src, args.backend, cfg, data_dir=args.data_dir, progress=False)
                    van, comp = res.metrics["vanilla"], res.metrics["compressed"]
                row = {"key": key, "dataset": dataset, "seed": seed, "backend": args.backend, "method": tag,
                       "ratio": ratio, "vanilla": van, "compressed": comp, "seconds": round(time.perf_counter() - t, 1)}
                append_row(out, row)
                rows[key] = row
                print(f"{dataset} seed {seed} {method} {ratio}: test {comp['test_accuracy']:.4f} tcd {comp['tcd']}"
                      + (f" (vanilla {van['test_accuracy']:.4f} / {van['tcd']})" if van else ""), flush=True)
    summarize(rows)
    return 0


def summarize(rows: dict) -> None:
    by: dict = {}
    for r in rows.values():
        by.setdefault((r["dataset"], r["method"], r["ratio"]), []).append(r)
    vanilla_by_seed = {(r["dataset"], r["seed"]): r["vanilla"] for r in rows.values() if r["vanilla"]}
    print("\n| dataset | method | ratio | seeds | val drop (pts) | test drop (pts) | speedup | TCD |")
    print("|---|---|---|---|---|---|---|---|")
    best: dict = {}
    for (dataset, method, ratio), rs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        vs = [vanilla_by_seed.get((dataset, r["seed"])) for r in rs]
        if any(v is None for v in vs):
            continue
        val_drop = statistics.fmean(100 * (v["val_accuracy"] - r["compressed"]["val_accuracy"]) for v, r in zip(vs, rs))
        test_drop = statistics.fmean(100 * (v["test_accuracy"] - r["compressed"]["test_accuracy"]) for v, r in zip(vs, rs))
        speed = statistics.fmean(v["tcd"] / r["compressed"]["tcd"] for v, r in zip(vs, rs))
        tcd = statistics.fmean(r["compressed"]["tcd"] for r in rs)
        print(f"| {dataset} | {method} | {ratio if ratio is not None else '-'} | {len(rs)} | {val_drop:+.2f} | "
              f"{test_drop:+.2f} | {speed:.2f}x | {tcd:.1f} |")
        budget = SETUPS[dataset][1]
        if ratio is not None and val_drop <= budget and (best.get((dataset, method)) is None
                                                         or speed > best[(dataset, method)][0]):
            best[(dataset, method)] = (speed, ratio, test_drop, val_drop)
    print("\nOperating points (ratio chosen on validation within the budget):")
    for (dataset, method), (speed, ratio, test_drop, val_drop) in sorted(best.items()):
        print(f"  {dataset} {method}: ratio {ratio} → {speed:.2f}x, test drop {test_drop:+.2f} pts "
              f"(val {val_drop:+.2f}, budget {SETUPS[dataset][1]})")


if __name__ == "__main__":
    sys.exit(main())
