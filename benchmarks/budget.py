"""``compvqc compress --budget`` over the harness's seeds, and ``--objective esp`` against depth.

Both parts run the user-facing search (``compvqc.runs.select.select_ratio`` with no ratios: the
deepest — cheapest by the objective — compression whose noise-free validation drop bound is
within the budget) on the vanilla models the harness's suites trained, so every row is what
``compvqc compress <vanilla>.ckpt --backend B --budget X [--objective O]`` prints.

``--part budget``: MNIST-2, Fashion-MNIST-2 (table2) and MNIST-4, Fashion-MNIST-4 (hard) on
fake_manila, seeds 0-4: ratios tried, ratio kept, speedup, the noise-free validation drop (mean
and its paired 95% bound, what the budget judges), the test drop beside it, and the wall time.

``--part objective``: Syn-16 (table4) and MNIST-2 (table2) on fake_lagos and fake_jakarta,
seeds 0-4; per model the search with ``--objective depth`` and with ``--objective esp`` in the
same run, each result deployed and evaluated on the test split under the backend's noise model
(1024 shots, qiskit-aer's noise model through the ``aer`` executor, the same seed for every
model): noisy test accuracy, McNemar's exact test of each against the vanilla model and of esp
against depth (paired per test sample), and the ESP, TCD and two-qubit count of the deployed
circuit.

Rows are appended to ``benchmarks/runs/budget/<part>.jsonl`` as they finish (a rerun skips
them). The vanilla models come from ``compvqc bench suite table2|hard|table4``; run those first.

    .venv/bin/python benchmarks/budget.py --part budget
    .venv/bin/python benchmarks/budget.py --part objective
    .venv/bin/python benchmarks/budget.py --part objective --seeds 1 --datasets syn16 --backends fake_lagos  # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from compvqc.checkpoint import load_checkpoint
from compvqc.compress.methods import CompressConfig
from compvqc.runs.select import select_ratio
from runlog import append_row, read_rows

ROOT = Path(__file__).resolve().parent
SUITES = ROOT / "runs" / "suites"
OUT = ROOT / "runs" / "budget"
VANILLA = {"mnist2": "table2", "fashion2": "table2", "mnist4": "hard", "fashion4": "hard", "syn16": "table4"}
SHOTS = 1024


def vanilla_path(dataset: str, seed: int) -> Path:
    path = SUITES / VANILLA[dataset] / "main" / "vanilla" / f"{dataset}-s{seed}.ckpt"
    if not path.exists():
        sys.exit(f"budget.py: {path} is missing; run `compvqc bench suite {VANILLA[dataset]} -o "
                 f"{SUITES / VANILLA[dataset]}` first")
    return path


def search(src, backend, budget: float, objective: str, data_dir):
    t = time.perf_counter()
    chosen, cands = select_ratio(src, backend, None, CompressConfig(objective=objective), budget=budget,
                                 data_dir=data_dir, progress=False)
    return chosen, cands, time.perf_counter() - t


def part_budget(args) -> None:
    from compvqc.runs.compress import dataset_for
    from compvqc.runs.select import drop_bound

    log = OUT / f"budget-{args.budget}.jsonl"
    done = read_rows(log, lambda r: (r["dataset"], r["seed"]))
    for d in args.datasets:
        for s in range(args.seeds):
            if (d, s) in done:
                continue
            src = load_checkpoint(vanilla_path(d, s))
            chosen, cands, seconds = search(src, "fake_manila", args.budget, "depth", args.data_dir)
            data = dataset_for(src, args.data_dir)
            sel = chosen.metrics["compression"]["selection"]
            van, comp = chosen.metrics["compression"]["vanilla"], chosen.metrics["compression"]["compressed"]
            hits = lambda ck, split: ck.model.predict(ck.theta, split.x) == split.y  # noqa: E731
            val_drop, val_upper = drop_bound(src.model.predict(src.theta_original, data.val.x) == data.val.y,
                                             hits(chosen, data.val))
            row = {"dataset": d, "seed": s, "budget": args.budget, "tried": [c.ratio for c in cands],
                   "ratio": sel["ratio"], "within": sel["within_budget"], "speedup": van["tcd"] / comp["tcd"],
                   "val_drop": val_drop, "val_drop_upper": val_upper,
                   "test_drop": 100 * (van["test_accuracy"] - comp["test_accuracy"]), "seconds": round(seconds, 1),
                   "host": platform.node(), "load": os.getloadavg()[0]}
            append_row(log, row)
            done[d, s] = row
            print(row, flush=True)
    print("\n| dataset | seed | ratios tried | kept | speedup | val drop (95% bound) | test drop | wall |\n"
          "|---|---|---|---|---|---|---|---|")
    for d in args.datasets:
        rows = [done[d, s] for s in range(args.seeds) if (d, s) in done]
        for r in rows:
            print(f"| {d} | {r['seed']} | {', '.join(map(str, r['tried']))} | {r['ratio']} | {r['speedup']:.2f}× | "
                  f"{r['val_drop']:+.2f} ({r['val_drop_upper']:+.2f}) | {r['test_drop']:+.2f} | {r['seconds']} s |")
        if rows:
            print(f"| {d} | mean | | | {statistics.fmean(r['speedup'] for r in rows):.2f}× | "
                  f"{statistics.fmean(r['val_drop'] for r in rows):+.2f} | "
                  f"{statistics.fmean(r['test_drop'] for r in rows):+.2f} | "
                  f"{statistics.fmean(r['seconds'] for r in rows):.1f} s |")


def mcnemar(a, b) -> float:
    """Exact two-sided McNemar p-value of paired correctness vectors a, b."""
    from scipy import stats

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n01, n10 = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return 1.0 if n01 + n10 == 0 else float(stats.binomtest(n01, n01 + n10, 0.5).pvalue)


def part_objective(args) -> None:
    from compvqc.deploy import deploy, evaluate
    from compvqc.runs.compress import dataset_for

    log = OUT / "objective.jsonl"
    done = read_rows(log, lambda r: (r["dataset"], r["backend"], r["seed"]))
    for d in args.datasets:
        for b in args.backends:
            for s in range(args.seeds):
                if (d, b, s) in done:
                    continue
                src = load_checkpoint(vanilla_path(d, s))
                data = dataset_for(src, args.data_dir)
                x, y = data.test.x, data.test.y

                def measured(model, theta):
                    dep = deploy(model, theta, b)
                    run = evaluate(model, theta, x, y, b, shots=SHOTS, seed=s, deployment=dep)
                    return run.predictions == y, {"noisy_test_accuracy": run.accuracy, "tcd": dep.tcd,
                                                  "two_qubit_gates": dep.two_qubit_gates,
                                                  "success_probability": dep.success_probability}

                v_hits, vanilla = measured(src.model, src.theta_original)
                row = {"dataset": d, "backend": b, "seed": s, "shots": SHOTS, "vanilla": vanilla, "host": platform.node()}
                hits = {}
                for objective in ("depth", "esp"):
                    chosen, _, seconds = search(src, b, args.budget, objective, args.data_dir)
                    hits[objective], m = measured(chosen.model, chosen.theta)
                    row[objective] = {**m, "ratio": chosen.metrics["compression"]["selection"]["ratio"],
                                      "test_accuracy": chosen.metrics["compression"]["compressed"]["test_accuracy"],
                                      "mcnemar_vs_vanilla": mcnemar(v_hits, hits[objective]),
                                      "seconds": round(seconds, 1)}
                row["mcnemar_esp_vs_depth"] = mcnemar(hits["depth"], hits["esp"])
                append_row(log, row)
                done[d, b, s] = row
                print(row, flush=True)
    print("\n| dataset | backend | seed | vanilla: noisy acc / ESP / TCD | depth: ratio, noisy acc (McNemar p) / ESP / TCD "
          "| esp: ratio, noisy acc (McNemar p) / ESP / TCD | esp vs depth p |\n|---|---|---|---|---|---|---|")
    for d in args.datasets:
        for b in args.backends:
            rows = [done[d, b, s] for s in range(args.seeds) if (d, b, s) in done]
            for r in rows:
                v = r["vanilla"]
                cells = [f"{r[o]['ratio']}, {r[o]['noisy_test_accuracy']:.4f} ({r[o]['mcnemar_vs_vanilla']:.2g}) / "
                         f"{r[o]['success_probability']:.3f} / {r[o]['tcd']}" for o in ("depth", "esp")]
                print(f"| {d} | {b} | {r['seed']} | {v['noisy_test_accuracy']:.4f} / {v['success_probability']:.3f} / "
                      f"{v['tcd']} | {cells[0]} | {cells[1]} | {r['mcnemar_esp_vs_depth']:.2g} |")
            if rows:
                mean = lambda f: statistics.fmean(f(r) for r in rows)  # noqa: E731
                cells = [f"{mean(lambda r: r[o]['noisy_test_accuracy']):.4f} / "
                         f"{mean(lambda r: r[o]['success_probability']):.3f} / {mean(lambda r: r[o]['tcd']):.1f}"
                         for o in ("depth", "esp")]
                print(f"| {d} | {b} | mean | {mean(lambda r: r['vanilla']['noisy_test_accuracy']):.4f} / "
                      f"{mean(lambda r: r['vanilla']['success_probability']):.3f} / "
                      f"{mean(lambda r: r['vanilla']['tcd']):.1f} | {cells[0]} | {cells[1]} | |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("budget", "objective"), required=True)
    p.add_argument("--datasets", nargs="+", default=None)
    p.add_argument("--backends", nargs="+", default=["fake_lagos", "fake_jakarta"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=float, default=None, help="points (default: 0.9 for budget, 1.0 for objective)")
    p.add_argument("--data-dir", default=os.environ.get("COMPVQC_DATA", str(ROOT.parents[1] / "shared" / "datasets")))
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.part == "budget":
        args = replace_ns(args, datasets=args.datasets or ["mnist2", "fashion2", "mnist4", "fashion4"],
                          budget=0.9 if args.budget is None else args.budget)
        part_budget(args)
    else:
        args = replace_ns(args, datasets=args.datasets or ["syn16", "mnist2"],
                          budget=1.0 if args.budget is None else args.budget)
        part_objective(args)


def replace_ns(ns, **kw):
    return argparse.Namespace(**{**vars(ns), **kw})


if __name__ == "__main__":
    main()
