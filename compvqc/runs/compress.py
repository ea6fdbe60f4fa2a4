"""Checkpoint in, compressed checkpoint out: what ``compvqc compress`` runs.

Compression always starts from the checkpoint's *original* θ (carried over bit-identical), so
compressing a fake_manila model for fake_torino redoes the work from the trained model, not from
the manila-compressed one; the old masks can warm-start ADMM. The output records the new
backend's hardware profile and LUT provenance.
"""

from __future__ import annotations

import numpy as np

from compvqc.checkpoint import Checkpoint, CheckpointError, CheckpointManager
from compvqc.compile.profile import hardware_profile
from compvqc.compile.backends import resolve_backend
from compvqc.compile.cache import get_lut
from compvqc.compress.methods import CompressConfig, CompressionResult, compress
from compvqc.compress.state import ADMMState
from compvqc.data import load_dataset
from compvqc.errors import CompVQCError


def dataset_for(ckpt: Checkpoint, data_dir=None):
    ref = ckpt.dataset or {}
    if "name" not in ref:
        raise CompVQCError("the checkpoint names no dataset; compression needs its validation split")
    kw = {k: ref[k] for k in ("preprocess", "val_fraction", "split_seed", "n_samples", "max_train") if k in ref}
    return load_dataset(ref["name"], data_dir=data_dir, **kw)


def _masks(targets, mask):
    n = len(targets)
    prune, quant, levels = np.zeros(n, bool), np.zeros(n, bool), np.full((n, 3), np.nan)
    for i in np.flatnonzero(mask):
        t = targets[i]
        (prune if t.kind == "prune" else quant)[i] = True
        levels[i, : len(t.angles)] = t.angles
    return prune, quant, levels


def _check_resumable(manager, config: CompressConfig, provenance: dict, src: Checkpoint) -> None:
    """Refuse to resume a run directory whose saved run had other settings, LUT or model."""
    saved = manager.restore()
    if saved is None:
        return
    differ = []
    stored = (saved.training or {}).get("compress", {})
    mine = config.to_dict()
    differ += sorted(k for k in set(mine) | set(stored) if stored.get(k) != mine.get(k))
    if saved.lut_provenance.get("sha256") != provenance.get("sha256"):
        differ.append("LUT (backend or its calibration)")
    if saved.model != src.model or not np.array_equal(saved.theta_original, src.theta_original):
        differ.append("model or its trained parameters")
    if saved.run.get("stage") not in ("admm", "retrain"):
        raise CheckpointError(f"{manager.directory}: not a compression run (stage {saved.run.get('stage')!r})")
    if differ:
        raise CheckpointError(f"{manager.directory}: the saved run used different settings ({', '.join(differ)})")


def compress_checkpoint(src: Checkpoint, backend, config: CompressConfig, *, data_dir=None, lut=None,
                        manager: CheckpointManager | None = None, resume: bool = False, warm_start_masks: bool = False,
                        no_rebuild: bool = False, progress=None) -> tuple[Checkpoint, CompressionResult]:
    backend = resolve_backend(backend)
    model = src.model
    theta0 = src.theta_original.copy()
    data = dataset_for(src, data_dir)
    if lut is None:
        lut = get_lut(backend, gates=sorted({g.name for g in model.gates}), model=model, no_rebuild=no_rebuild,
                      progress=progress)
    profile = hardware_profile(backend)
    provenance = {**lut.provenance, "sha256": lut.sha256}
    training = {**(src.training or {}), "compress": config.to_dict()}

    def make(stage, theta, state, mask, targets, opt_state, history, extra=None):
        prune, quant, levels = _masks(targets, mask)
        run = {"stage": stage, "method": config.method, "admm_history": history, **(extra or {})}
        return Checkpoint(model=model, theta=theta, theta_original=theta0, prune_mask=prune, quant_mask=quant,
                          levels=levels, optimizer={"name": "adam", "config": {"lr": config.admm.lr}},
                          optimizer_state=opt_state._asdict(), admm=state, run=run, shots=src.shots,
                          hardware_profile=profile, lut_provenance=provenance, dataset=src.dataset,
                          training=training, metrics=dict(src.metrics))

    if manager is not None and resume:
        _check_resumable(manager, config, provenance, src)
    warm = (src.prune_mask | src.quant_mask) if warm_start_masks else None
    result = compress(model, theta0, data, backend, lut, config, manager=manager, resume=resume, warm_masks=warm,
                      progress=progress, on_checkpoint=make)
    final = result.final
    n = len(model.gates)
    out = Checkpoint(
        model=model,
        theta=result.theta,
        theta_original=theta0,
        prune_mask=final.prune_mask if final else np.zeros(n, bool),
        quant_mask=final.quant_mask if final else np.zeros(n, bool),
        levels=final.levels if final else None,
        optimizer={"name": "adam", "config": {"lr": config.retrain_lr}},
        admm=result.admm_state if result.admm_state is not None else ADMMState(),
        run={"stage": "compressed", "method": config.method, "admm_history": result.history},
        shots=src.shots,
        hardware_profile=profile,
        lut_provenance=provenance,
        dataset=src.dataset,
        training=training,
        metrics={**src.metrics, "compression": {**result.metrics, "backend": provenance.get("backend"),
                                                "method": config.method, "seconds": result.seconds}},
    )
    return out, result
