"""In-context versus isolated depth savings: how ReCL's chosen levels and the result differ.

Isolated LUT depths say pruning RX saves 5 layers; in context, consecutive single-qubit gates
merge into one block after compilation, so it may save nothing, while a controlled gate's
saving depends on what surrounds it. This script runs ReCL both ways on one trained model,
counts the gates whose chosen level differs, and compresses both ways (same ratio, seed and
budget) to show what that does to the true TCD and accuracy.

    python benchmarks/incontext.py [--checkpoint benchmarks/runs/mnist2.random50.e30.s0.ckpt] [--ratio 0.5]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from compvqc.checkpoint import load_checkpoint
from compvqc.compile.cache import get_lut
from compvqc.compress.admm import ADMMConfig
from compvqc.compress.levels import candidate_levels
from compvqc.compress.methods import CompressConfig
from compvqc.runs.compress import compress_checkpoint, dataset_for
from compvqc.compress.recl import recl

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parents[1] / "shared" / "datasets"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(ROOT / "runs" / "mnist2.random50.e30.s0.ckpt"))
    p.add_argument("--backend", default="fake_manila")
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--data-dir", default=os.environ.get("COMPVQC_DATA", str(SHARED)))
    args = p.parse_args(argv)
    src = load_checkpoint(args.checkpoint)
    model, theta = src.model, src.theta_original
    data = dataset_for(src, args.data_dir)
    lut = get_lut(args.backend, gates=sorted({g.name for g in model.gates}), model=model)
    levels = candidate_levels(model, lut, ("prune", "quant"))
    ctx = recl(model, theta, lut, levels, data.val.x, data.val.y, context=True)
    iso = recl(model, theta, lut, levels, data.val.x, data.val.y, context=False)
    differ = [i for i, (a, b) in enumerate(zip(ctx, iso)) if (a.level and a.level.angles) != (b.level and b.level.angles)]
    print(f"{args.checkpoint}: ReCL picks a different level for {len(differ)} of {len(model.gates)} gates")
    for i in differ:
        g = model.gates[i]
        a, b = ctx[i].level, iso[i].level
        print(f"  gate {i:2d} {g.name:<4s} {list(g.wires)}: in context {a.kind} {a.angles[0]:.4f} (est. TCD {ctx[i].tcd:.0f})"
              f"  vs isolated {b.kind} {b.angles[0]:.4f} (est. TCD {iso[i].tcd:.0f})")
    for context in (True, False):
        cfg = CompressConfig(ratio=args.ratio, context=context, admm=ADMMConfig(ratio=args.ratio))
        _, res = compress_checkpoint(src, args.backend, cfg, data_dir=args.data_dir, lut=lut, progress=False)
        v, c = res.metrics["vanilla"], res.metrics["compressed"]
        print(f"{'in context' if context else 'isolated  '}: ratio {args.ratio}: TCD {v['tcd']} → {c['tcd']} "
              f"({v['tcd'] / c['tcd']:.2f}x), test accuracy {v['test_accuracy']:.4f} → {c['test_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
