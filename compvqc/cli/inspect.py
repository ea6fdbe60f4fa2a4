"""``compvqc inspect``: everything in a checkpoint, readable, and what differs on another backend."""

from __future__ import annotations

import json
import math

import numpy as np

from compvqc.cli.main import add_json_flag, emit, help_of

SCHEMA = "compvqc.inspect/1"


def register(sub) -> None:
    p = sub.add_parser("inspect", help=help_of("inspect"),
                       description="Print a checkpoint's content; --json gives every array as a list.")
    p.add_argument("checkpoint", help="a .ckpt file")
    p.add_argument("--against", metavar="BACKEND", default=None,
                   help="compare the stored hardware profile with this backend's (e.g. fake_torino)")
    add_json_flag(p)
    p.set_defaults(func=cmd_inspect)


def _plain(o):
    """JSON-ready copy: arrays → lists, NaN → null."""
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, (np.ndarray, np.generic)):  # a numpy scalar's tolist() is its Python value
        return _plain(o.tolist())
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def checkpoint_document(path, ckpt) -> dict:
    gates = [{"index": i, "type": g.name, "wires": list(g.wires), "params": list(g.params)}
             for i, g in enumerate(ckpt.model.gates)]
    from compvqc.checkpoint.content import SCHEMA as FIELDS

    doc = {"schema": SCHEMA, "file": str(path), "model": ckpt.model.to_dict(), "gates": gates, "admm": {}}
    for f in FIELDS:  # every field of the checkpoint schema, as stored
        if f.kind == "array":  # admm.Z goes to doc["admm"]["Z"]
            a, (owner, _, attr) = ckpt.array(f.name), f.name.rpartition(".")
            (doc[owner] if owner else doc)[attr] = a.astype(int) if a.dtype == bool else a
        elif f.kind in ("document", "scalar"):
            doc[f.name] = getattr(ckpt, f.name)
    doc["optimizer"] = {**ckpt.optimizer, "state": ckpt.optimizer_state}
    return _plain(doc)


def _text(doc: dict, ckpt) -> str:
    m = ckpt.model
    lines = [f"{doc['file']}: compvqc checkpoint v1",
             f"  model     {m.n_qubits} qubits, {m.n_features} features, {len(m.gates)} trainable gates, "
             f"{m.n_params} parameters; encoder {m.meta.get('encoder', '?')}, arch {m.meta.get('arch', '?')} "
             f"(seed {m.meta.get('arch_seed', '?')}); readout {m.readout.kind} {[list(g) for g in m.readout.groups]}",
             f"  stage     {ckpt.run.get('stage', '?')}  epoch {ckpt.run.get('epoch', '-')}  step {ckpt.run.get('step', '-')}",
             f"  shots     {ckpt.shots or 'exact (statevector)'}",
             f"  dataset   {json.dumps(ckpt.dataset) if ckpt.dataset else '-'}",
             f"  optimizer {ckpt.optimizer.get('name', '-')} {json.dumps(ckpt.optimizer.get('config', {}))} "
             f"state {', '.join(f'{k}{list(v.shape)}' for k, v in ckpt.optimizer_state.items()) or '-'}",
             f"  masks     {int(ckpt.prune_mask.sum())} pruned, {int(ckpt.quant_mask.sum())} quantized",
             f"  ADMM      {'-' if ckpt.admm.empty else f'iteration {ckpt.admm.iteration}, rho {ckpt.admm.rho:g}'}",
             f"  mapping   {ckpt.qubit_mapping.tolist() or '-'}",
             f"  gradients {ckpt.gradient_history.shape[0]} steps of history",
             f"  LUT       {json.dumps(ckpt.lut_provenance) if ckpt.lut_provenance else '-'}"]
    hp = ckpt.hardware_profile
    lines += [f"  hardware  {hp.get('backend', '-')} ({hp.get('num_qubits', '-')} qubits, basis "
              f"{', '.join(hp.get('basis_gates', [])) or '-'}; calibrated {hp.get('calibration_date') or '-'})"
              if hp else "  hardware  -",
              f"  metrics   {json.dumps(doc['metrics'])}",
              "  gates     #   type  wires    θ                 θ_original        mask   level"]
    for i, g in enumerate(m.gates):
        th = ", ".join(f"{v:.6g}" for v in g.angles(ckpt.theta))
        th0 = ", ".join(f"{v:.6g}" for v in g.angles(ckpt.theta_original))
        mask = "prune" if ckpt.prune_mask[i] else "quant" if ckpt.quant_mask[i] else "-"
        lvl = ", ".join(f"{v:.6g}" for v in ckpt.levels[i] if math.isfinite(v)) or "-"
        lines.append(f"            {i:<3d} {g.name:<5s} {str(list(g.wires)):<8s} {th:<17s} {th0:<17s} {mask:<6s} {lvl}")
    return "\n".join(lines)


def cmd_inspect(args) -> int:
    from compvqc.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    doc = checkpoint_document(args.checkpoint, ckpt)
    text = _text(doc, ckpt)
    if args.against:
        from compvqc.compile.profile import format_diff, hardware_profile, profile_diff
        from compvqc.compile.backends import resolve_backend

        other = hardware_profile(resolve_backend(args.against))
        if not ckpt.hardware_profile:
            diff = {"from": None, "to": other.get("backend"), "note": "the checkpoint has no hardware profile"}
            text += f"\n(no hardware profile stored; nothing to compare with {args.against})"
        else:
            diff = profile_diff(ckpt.hardware_profile, other)
            text += "\n" + format_diff(diff)
        doc["against"] = _plain(diff)
    emit(args, doc, text)
    return 0
