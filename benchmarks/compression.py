"""Compression methods against our own vanilla: the Compression table, run by the harness.

A thin caller of ``compvqc.bench`` (one protocol, one code path): each setup below is one sweep
(``Sweep`` with this table's training settings and ADMM mask weight α) in
``benchmarks/runs/compression/<setup>-a<α>/``, resumable like any sweep; vanilla models are
trained once per (dataset, seed) and shared by every method.

Protocol (DESIGN.md): one architecture (fixed arch seed), 5 training seeds, fake_manila. For each
method and ratio: drop = mean over seeds of vanilla − compressed accuracy, speedup = mean over
seeds of vanilla TCD / compressed TCD. The reported operating point of a method is the ratio with
the largest speedup whose mean *validation* drop stays within the setup's budget (test is never
used to choose). ``entanglement-free`` (every controlled gate pruned, the rest retrained) is a
registered method, added to every sweep with α = 0.5.

    python benchmarks/compression.py --datasets mnist2 --seeds 5            # full
    python benchmarks/compression.py --datasets mnist2 --seeds 1 --ratios 0.5 --epochs 3   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from compvqc.bench.fronts import operating_points
from compvqc.bench.grid import Sweep, knob_values
from compvqc.bench.harness import run_sweep

ROOT = Path(__file__).resolve().parent
RUNS = ROOT / "runs" / "compression"
SHARED = ROOT.parents[1] / "shared" / "datasets"
SETUPS = {  # setup: (dataset, train config overrides, validation-drop budget in points)
    "mnist2": ("mnist2", dict(arch="random50"), 0.91),
    "fashion2": ("fashion2", dict(arch="random22", arch_seed=2, encoder="amplitude"), 0.5),
    # The same task with the angle encoder: its depth does not dominate the TCD.
    "fashion2-angle": ("fashion2", dict(arch="random22", arch_seed=2, encoder="4x4_ryzxy", preprocess="standardize"),
                       0.5),
}
METHODS = ("compvqc", "compvqc-paper", "prune", "quant", "zero", "snap")
TAGGED = ("compvqc-paper", "prune", "quant")  # the methods α changes (compvqc's mask is chosen before ADMM)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="mnist2", help=f"setups, of: {', '.join(SETUPS)}")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--ratios", default="0.3,0.4,0.5,0.6,0.7,0.8")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30, help="vanilla training epochs (default 30)")
    p.add_argument("--backend", default="fake_manila")
    p.add_argument("--alpha", type=float, default=0.5, help="ADMM mask weight of the distance (rows tagged @a<α> unless 0.5)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("COMPVQC_DATA", str(SHARED)))
    args = p.parse_args(argv)
    methods = tuple(args.methods.split(",")) + (("entanglement-free",) if args.alpha == 0.5 else ())
    for setup in args.datasets.split(","):
        dataset, train, budget = SETUPS[setup]
        sweep = Sweep(datasets=(dataset,), methods=methods, ratios=knob_values(args.ratios), seeds=args.seeds,
                      backend=args.backend, train={dataset: {**train, "epochs": args.epochs}},
                      compress={"admm": {"alpha": args.alpha}}, budget=budget)
        rows = run_sweep(sweep, RUNS / f"{setup}-a{args.alpha}", workers=args.workers, data_dir=args.data_dir)
        for r in rows:
            if args.alpha != 0.5 and r["method"] in TAGGED:
                r["method"] = f"{r['method']}@a{args.alpha}"
            r["dataset"] = setup
        summarize(rows, budget)
    return 0


def summarize(rows: list, budget: float) -> None:
    by: dict = {}
    for r in rows:
        by.setdefault((r["dataset"], r["method"], r["knob"]), []).append(r)
    print("\n| dataset | method | ratio | seeds | val drop (pts) | test drop (pts) | speedup | TCD |")
    print("|---|---|---|---|---|---|---|---|")
    for (dataset, method, knob), rs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1], float(kv[0][2] or 0))):
        val = statistics.fmean(100 * (r["vanilla_val_accuracy"] - r["val_accuracy"]) for r in rs)
        test = statistics.fmean(100 * (r["vanilla_test_accuracy"] - r["test_accuracy"]) for r in rs)
        print(f"| {dataset} | {method} | {knob or '-'} | {len(rs)} | {val:+.2f} | {test:+.2f} | "
              f"{statistics.fmean(r['speedup'] for r in rs):.2f}x | {statistics.fmean(r['tcd'] for r in rs):.1f} |")
    print("\nOperating points (ratio chosen on validation within the budget):")
    for op in operating_points([r for r in rows if r["knob"] is not None], budget):
        if op["knob"] is not None:
            print(f"  {op['dataset']} {op['method']}: ratio {op['knob']} → {op['speedup']:.2f}x, test drop "
                  f"{op['test_drop']:+.2f} pts (val {op['val_drop']:+.2f}, budget {budget})")


if __name__ == "__main__":
    sys.exit(main())
