"""µs per ``loss_and_grad`` call on the 50-gate MNIST-2 model at training batch sizes.

    python benchmarks/small_batch.py [CHECKOUT] [--batch 32]

CHECKOUT (default: this one) goes first on ``sys.path``, so alternating runs against another
checkout give paired before/after figures on a shared machine. Prints the min and median of
7 samples, each the mean of 200 back-to-back calls after 50 warm-up calls.
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
    args = ap.parse_args(argv)
    sys.path.insert(0, args.checkout)
    import numpy as np

    from compvqc.model import build_model
    from compvqc.simulate import Simulator

    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    rng = np.random.default_rng(0)
    theta = model.init_params(rng)
    x = rng.uniform(0, np.pi, (args.batch, model.n_features))
    y = rng.integers(0, 2, args.batch)
    sim = Simulator(model)
    for _ in range(50):
        sim.loss_and_grad(theta, x, y)
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(200):
            sim.loss_and_grad(theta, x, y)
        samples.append((time.perf_counter() - start) / 200 * 1e6)
    print(f"batch {args.batch}: min {min(samples):.1f} µs, median {statistics.median(samples):.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
