"""Checkpoint in, compressed checkpoint out: what ``compvqc compress`` runs.

Compression always starts from the checkpoint's *original* θ (carried over bit-identical), so
compressing a fake_manila model for fake_torino redoes the work from the trained model, not from
the manila-compressed one; the old masks can warm-start ADMM. The output records the new
backend's hardware profile and LUT provenance.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compvqc.checkpoint import Checkpoint, CheckpointError, CheckpointManager
from compvqc.compile.profile import hardware_profile
from compvqc.compile.backends import resolve_backend
from compvqc.compile.cache import get_lut
from compvqc.compress.methods import CompressConfig, check_compressible
from compvqc.compress.stages import STAGES, CompressionResult, RunRecord, compress
from compvqc.train.optim import Adam
from compvqc.data import load_reference
from compvqc.errors import CompVQCError


RETRAIN_STEPS = 10_000  # retraining checkpoints are numbered after the ADMM iterations


def dataset_for(ckpt: Checkpoint, data_dir=None, data_file=None):
    """The checkpoint's dataset, rebuilt from its recorded reference (``data.load_reference``;
    ``data_file``: where a user's data file is now, if it moved)."""
    ref = ckpt.dataset or {}
    if "name" not in ref:
        raise CompVQCError("the checkpoint names no dataset; compression needs its validation split")
    return load_reference(ref, data_dir, data_file)


def record_of(ck: Checkpoint) -> RunRecord:
    """The compression run record a checkpoint of stage ``admm`` or ``retrain`` holds."""
    state = ck.admm
    if not state.prev_theta.size and ck.run.get("admm_prev_theta") is not None:  # files before 2026-12-01
        state = replace(state, prev_theta=np.asarray(ck.run["admm_prev_theta"], dtype=np.float64))
    mask = state.mask if state.mask.size else ck.masked
    return RunRecord(ck.run["stage"], ck.theta.copy(), mask, state, Adam.state_from_dict(ck.optimizer_state),
                     tuple(ck.run.get("admm_history", [])), int(ck.run.get("epoch", 0)))


def _masks(targets, mask):
    n = len(targets)
    prune, quant, levels = np.zeros(n, bool), np.zeros(n, bool), np.full((n, 3), np.nan)
    for i in np.flatnonzero(mask):
        t = targets[i]
        (prune if t.kind == "prune" else quant)[i] = True
        levels[i, : len(t.angles)] = t.angles
    return prune, quant, levels


def run_checkpoint(template: Checkpoint, rec: RunRecord, targets, lr: float, stage: str | None = None,
                   **changes) -> Checkpoint:
    """``template`` (model, θ₀, provenance, ...) carrying the run record ``rec``."""
    prune, quant, levels = _masks(targets, rec.mask)
    run = {"stage": stage or rec.stage, "method": (template.training.get("compress") or {}).get("method"),
           "admm_history": list(rec.history), **({"epoch": rec.epoch} if rec.stage == "retrain" else {})}
    return replace(template, theta=rec.theta, prune_mask=prune, quant_mask=quant, levels=levels,
                   optimizer={"name": "adam", "config": {"lr": lr}}, admm=rec.admm, run=run,
                   optimizer_state=rec.opt_state._asdict() if rec.opt_state is not None else {}, **changes)


def _check_resumable(saved: Checkpoint, directory, config: CompressConfig, provenance: dict, src: Checkpoint) -> None:
    """Refuse to resume a run directory whose saved run had other settings, LUT or model."""
    differ = []
    stored = (saved.training or {}).get("compress")
    stored = CompressConfig.from_dict(stored).to_dict() if stored else {}  # older files: today's defaults
    mine = config.to_dict()
    differ += sorted(k for k in set(mine) | set(stored) if stored.get(k) != mine.get(k))
    if saved.lut_provenance.get("sha256") != provenance.get("sha256"):
        differ.append("LUT (backend or its calibration)")
    if saved.model != src.model or not np.array_equal(saved.theta_original, src.theta_original):
        differ.append("model or its trained parameters")
    if saved.run.get("stage") not in STAGES:
        raise CheckpointError(f"{directory}: not a compression run (stage {saved.run.get('stage')!r})")
    if differ:
        raise CheckpointError(f"{directory}: the saved run used different settings ({', '.join(differ)})")


def _moved(ref: dict, data) -> dict:
    """The source's dataset reference, with a user's file at the path it was read from now."""
    if (ref or {}).get("name") == "file" and data.reference.get("path"):
        return {**ref, "path": data.reference["path"]}
    return ref


def compress_checkpoint(src: Checkpoint, backend, config: CompressConfig, *, data_dir=None, data_file=None, lut=None,
                        manager: CheckpointManager | None = None, resume: bool = False, warm_start_masks: bool = False,
                        no_rebuild: bool = False, progress=None,
                        vanilla_metrics: dict | None = None, data=None) -> tuple[Checkpoint, CompressionResult]:
    """``vanilla_metrics`` (the vanilla model's measured accuracies and costs on this backend) and
    ``data`` (its dataset, ``dataset_for``) when the caller has them: a ratio search compresses
    one model many times."""
    backend = resolve_backend(backend)
    model = src.model
    check_compressible(model, config.method)
    data = dataset_for(src, data_dir, data_file) if data is None else data
    if lut is None:
        lut = get_lut(backend, gates=sorted({g.name for g in model.gates}), model=model, no_rebuild=no_rebuild,
                      progress=progress)
    provenance = {**lut.provenance, "sha256": lut.sha256}
    template = Checkpoint(model=model, theta=src.theta_original.copy(), theta_original=src.theta_original.copy(),
                          shots=src.shots, hardware_profile=hardware_profile(backend), lut_provenance=provenance,
                          dataset=_moved(src.dataset, data), training={**(src.training or {}), "compress": config.to_dict()},
                          metrics=dict(src.metrics))
    restored = None
    if manager is not None and resume:
        saved = manager.restore()
        if saved is not None:
            _check_resumable(saved, manager.directory, config, provenance, src)
            restored = record_of(saved)

    def persist(rec: RunRecord, targets) -> None:
        if manager is not None:
            step = rec.admm.iteration if rec.stage == "admm" else RETRAIN_STEPS + rec.epoch
            lr = config.admm.lr if rec.stage == "admm" else config.retrain_lr
            manager.save(run_checkpoint(template, rec, targets, lr), step=step)

    result = compress(model, template.theta, data, backend, lut, config, restored=restored, persist=persist,
                      warm_mask=src.masked if warm_start_masks else None, progress=progress,
                      vanilla_metrics=vanilla_metrics)
    done = result.record or RunRecord("done", result.theta, np.zeros(len(model.gates), bool))
    metrics = {**src.metrics, "compression": {**result.metrics, "backend": provenance.get("backend"),
                                              "method": config.method, "seconds": result.seconds}}
    out = run_checkpoint(template, done, result.targets, config.retrain_lr, stage="compressed", metrics=metrics)
    return out, result
