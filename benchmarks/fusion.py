"""How many qubits a fused group should span: forward + gradient time per ``FUSE_QUBITS``.

    python benchmarks/fusion.py [--qubits 6,8,10,12,14] [--k 0,2,3,4,5] [--rounds 5] [--batch 256]
    python benchmarks/fusion.py --partitions [--qubits ...] [--k 5] [--seeds 6]

The circuits are the simulator benchmark's larger cases (``{n}x2_ryz`` encoder + 12.5 random paper
gates per qubit, batch 256). k = 0 is the gate-by-gate path. Every k runs in the same process,
interleaved round by round, so the ratios against k = 0 hold on a shared machine; min and median
of the rounds, gradients checked equal to k = 0's. ``--partitions`` times nothing: it prints the
modelled cost (``fused.cost``) of both partitions ``fused.groups`` chooses between, per seed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulator import make_case, scaling_model  # noqa: E402

from compvqc.simulate import Simulator, engine  # noqa: E402
from compvqc.simulate.fused import cost, from_front, groups, in_order, wires_of  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", default="6,8,10,12,14")
    ap.add_argument("--k", default="0,2,3,4,5")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--partitions", action="store_true", help="print both partitions' modelled cost, time nothing")
    ap.add_argument("--seeds", type=int, default=6, help="circuits per size for --partitions")
    args = ap.parse_args(argv)
    ks = [int(v) for v in args.k.split(",")]
    if args.partitions:
        return partitions([int(v) for v in args.qubits.split(",")], ks, args.seeds)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| qubits | gates | k | groups | gates per group | gradient min / median (ms) | vs k = 0 (median) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(v) for v in args.qubits.split(",")):
        case = make_case("", scaling_model(n, int(n * 12.5)), args.batch)
        sims, times = {}, {k: [] for k in ks}
        for k in ks:
            engine.FUSE_QUBITS = k
            sims[k] = Simulator(case.model)
            sims[k].loss_and_grad(case.theta, case.x, case.y)  # plan and warm up
        engine.FUSE_QUBITS = ks[0]
        reference = sims[ks[0]].loss_and_grad(case.theta, case.x, case.y)[1]
        for _ in range(args.rounds):
            for k in ks:
                engine.FUSE_QUBITS = k
                t = time.perf_counter()
                _, grad = sims[k].loss_and_grad(case.theta, case.x, case.y)
                times[k].append(time.perf_counter() - t)
                assert np.allclose(grad, reference, atol=1e-10), (n, k)
        prims = sims[ks[0]].segments[-1].prims
        base = statistics.median(times[0]) if 0 in times else None
        for k in ks:
            n_groups = len(groups(prims, min(k, n - 1))) if k else len(prims)  # as the engine runs it
            med = statistics.median(times[k])
            ratio = f"{base / med:.2f}×" if base else "—"
            print(f"| {n} | {len(prims)} | {k} | {n_groups} | {len(prims) / n_groups:.1f} | "
                  f"{min(times[k]) * 1e3:,.1f} / {med * 1e3:,.1f} | {ratio} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


def partitions(sizes, ks, seeds) -> int:
    """Cost (Σ 2^k + PASS_COST per group) of the circuit-order and dependency-front partitions."""
    print("| qubits | k | in circuit order, per seed | from the front, per seed | front / order (mean) |")
    print("|---:|---:|---|---|---:|")
    for n in sizes:
        for k in ks:
            pairs = []
            for seed in range(seeds):
                block = Simulator(scaling_model(n, int(n * 12.5), seed=seed)).segments[-1]
                wires = [wires_of(p) for p in block.prims]
                pairs.append(tuple(cost(part(wires, min(k, n - 1))) for part in (in_order, from_front)))
            mean = sum(b / a for a, b in pairs) / len(pairs)
            print(f"| {n} | {k} | {', '.join(str(a) for a, _ in pairs)} | {', '.join(str(b) for _, b in pairs)} | {mean:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
