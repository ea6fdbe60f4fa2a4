"""µs per ``loss_and_grad`` call on the 50-gate MNIST-2 model at training batch sizes.

    python benchmarks/small_batch.py [CHECKOUT] [--batch 32] [--case NAME] [--calls 200] [--warmup 50]

CHECKOUT (default: this one) goes first on ``sys.path``, so alternating runs against another
checkout give paired before/after figures on a shared machine. Prints the min and median of
7 samples, each the mean of ``--calls`` back-to-back calls after ``--warmup`` calls.
``--case`` times one of ``benchmarks/simulator.py``'s cases instead (e.g. q12, at its own batch):
the case is defined by this checkout's script, so both sides of a pair run the same circuit, and
CHECKOUT's compvqc must provide what that script imports.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--case", default=None, help="a case of benchmarks/simulator.py (its own model and batch)")
    ap.add_argument("--calls", type=int, default=200, help="back-to-back calls per sample")
    ap.add_argument("--warmup", type=int, default=50)
    args = ap.parse_args(argv)
    sys.path.insert(0, args.checkout)
    import numpy as np

    from compvqc.model import build_model
    from compvqc.simulate import Simulator

    if args.case is None:
        model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
        rng = np.random.default_rng(0)
        theta = model.init_params(rng)
        x = rng.uniform(0, np.pi, (args.batch, model.n_features))
        y = rng.integers(0, 2, args.batch)
        label = f"batch {args.batch}"
    else:
        from simulator import CASES

        case = CASES[args.case]()
        model, theta, x, y, label = case.model, case.theta, case.x, case.y, f"{args.case}, batch {len(case.x)}"
    sim = Simulator(model)
    for _ in range(args.warmup):
        sim.loss_and_grad(theta, x, y)
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(args.calls):
            sim.loss_and_grad(theta, x, y)
        samples.append((time.perf_counter() - start) / args.calls * 1e6)
    print(f"{label}: min {min(samples):,.1f} µs, median {statistics.median(samples):,.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
