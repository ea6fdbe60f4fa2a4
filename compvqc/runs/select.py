"""Choosing the compression ratio on validation data, on the device: CompVQC's protocol.

The model is compressed for the backend at every candidate ratio, each candidate is scored on the
*validation* split on that backend — shot-based under the backend's noise model by default (what
the deployed model will meet), or noise-free — and the best is kept:

1. the highest validation accuracy on the backend;
2. ties (a few hundred validation samples and shot noise make them common) go to the higher
   noise-free validation accuracy,
3. then to the larger ratio (more gates on a level: the shallower circuit).

The test split is never looked at. ``benchmarks/deploy.py`` uses this rule for its vanilla vs
CompVQC comparison, so the benchmark and ``compvqc compress --ratios`` choose alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable


from compvqc.checkpoint import Checkpoint, CheckpointManager
from compvqc.compress.methods import CompressConfig, CompressionError, get_method
from compvqc.compress.recl import accuracy
from compvqc.runs.compress import compress_checkpoint, dataset_for

RULE = "max validation accuracy on the backend; ties: noise-free validation accuracy, then the larger ratio"


@dataclass(frozen=True)
class Candidate:
    """One compression ratio tried, and how it scored on the validation split."""

    ratio: float
    backend_val_accuracy: float  # the score: on the backend's noise model with shots (noise-free if noise=False)
    exact_val_accuracy: float  # noise-free, exact
    tcd: int  # true transpiled depth of the compressed model
    checkpoint: Checkpoint

    def key(self) -> tuple[float, float, float]:
        return (self.backend_val_accuracy, self.exact_val_accuracy, self.ratio)

    def to_dict(self) -> dict:
        return {"ratio": self.ratio, "backend_val_accuracy": self.backend_val_accuracy,
                "exact_val_accuracy": self.exact_val_accuracy, "tcd": self.tcd}


def best(candidates: list[Candidate]) -> Candidate:
    """The candidate the rule picks (see the module docstring)."""
    if not candidates:
        raise CompressionError("no candidate ratios to choose from")
    return max(candidates, key=Candidate.key)


def check_ratios(ratios, config: CompressConfig | None = None) -> list[float]:
    """The candidate ratios as floats, or one ``CompressionError``: none, repeated, out of
    [0, 1], or a method without a ratio. Cheap: callers run it before any long work."""
    config = config or CompressConfig()
    if get_method(config.method).knob != "ratio":
        raise CompressionError(f"{config.method} has no ratio to choose")
    ratios = [float(r) for r in ratios]
    if not ratios:
        raise CompressionError("no candidate ratios to choose from")
    if len(set(ratios)) != len(ratios):
        raise CompressionError(f"candidate ratios repeat: {ratios}")
    for r in ratios:
        replace(config, ratio=r)  # validates the ratio
    return ratios


def select_ratio(src: Checkpoint, backend, ratios, config: CompressConfig | None = None, *, shots: int = 1024,
                 seed: int = 0, noise: bool = True, data_dir=None, no_rebuild: bool = False,
                 warm_start_masks: bool = False,
                 manager_for: Callable[[float], CheckpointManager | None] | None = None, resume: bool = False,
                 progress=None) -> tuple[Checkpoint, list[Candidate]]:
    """Compress ``src`` for ``backend`` at each of ``ratios``; return the chosen checkpoint and
    every candidate (in the order of ``ratios``).

    ``config`` gives everything but the ratio (default ``CompressConfig()``); ``shots``, ``seed``
    (Aer's ``seed_simulator``) and ``noise`` are those of the validation runs. ``manager_for(r)``
    may give each ratio its own checkpoint manager (a run directory per ratio, resumable). The
    chosen checkpoint records the selection in ``metrics["compression"]["selection"]``.
    """
    from compvqc.deploy import evaluate

    config = config or CompressConfig()
    ratios = check_ratios(ratios, config)
    data = dataset_for(src, data_dir)
    candidates = []
    for r in ratios:
        manager = manager_for(r) if manager_for else None
        try:
            comp, result = compress_checkpoint(src, backend, replace(config, ratio=r), data_dir=data_dir,
                                               manager=manager, resume=resume, warm_start_masks=warm_start_masks,
                                               no_rebuild=no_rebuild, progress=progress)
        finally:
            if manager is not None:
                manager.close()
        exact = accuracy(comp.model, comp.theta, data.val.x, data.val.y)
        on_backend = exact if not noise else evaluate(comp.model, comp.theta, data.val.x, data.val.y, backend,
                                                      shots=shots, seed=seed).accuracy
        candidates.append(Candidate(r, float(on_backend), exact, int(result.metrics["compressed"]["tcd"]), comp))
    chosen = best(candidates)
    out = chosen.checkpoint
    compression = dict(out.metrics.get("compression", {}))
    compression["selection"] = {"rule": RULE, "ratio": chosen.ratio, "shots": shots if noise else 0,
                                "noise": noise, "seed": seed, "candidates": [c.to_dict() for c in candidates]}
    return replace(out, metrics={**out.metrics, "compression": compression}), candidates
