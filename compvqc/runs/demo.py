"""The download-free end-to-end demo: train, compress for a backend, compare on its noise model."""

from __future__ import annotations

from pathlib import Path

from compvqc.checkpoint import save_checkpoint
from compvqc.compress.methods import CompressConfig
from compvqc.deploy import evaluate
from compvqc.fsutil import check_output
from compvqc.runs.compress import compress_checkpoint, dataset_for
from compvqc.runs.select import check_ratios, select_ratio
from compvqc.runs.train import train_on_dataset, train_summary
from compvqc.train.config import TrainConfig


def run_demo(*, epochs: int = 15, backend: str = "fake_manila", ratios=(0.25, 0.5, 0.75), ratio=None,
             output_dir="demo-output", progress=None) -> tuple[dict, str]:
    """Train digits2, compress it for ``backend`` (at ``ratio``, or the one of ``ratios`` that
    the validation split prefers on the device), deploy both and compare them on its noise
    model; returns the report as a JSON-ready dict and as text."""
    check_ratios([ratio] if ratio is not None else ratios)  # everything checked before training
    config = TrainConfig(dataset="digits2", arch="random50", epochs=epochs, seed=0, batch_size=16)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = check_output(out_dir / "digits2.random50.ckpt", force=True)
    comp_path = check_output(out_dir / f"digits2.random50.{backend}.compvqc.ckpt", force=True)
    quiet = progress
    trained = train_on_dataset(config, progress=quiet)
    save_checkpoint(output, trained.checkpoint())
    payload, text = train_summary(trained, output)
    if ratio is not None:
        compressed, _ = compress_checkpoint(trained.checkpoint(), backend, CompressConfig(ratio=ratio),
                                            progress=quiet)
        how = f"ratio {ratio}"
    else:  # the papers' protocol: the ratio the validation split prefers on the device
        compressed, _ = select_ratio(trained.checkpoint(), backend, ratios, shots=DEMO_SHOTS, seed=0, noise=True,
                                     progress=quiet)
        ratio = compressed.metrics["compression"]["selection"]["ratio"]
        how = f"ratio {ratio}, chosen on validation among {', '.join(repr(r) for r in ratios)}"
    save_checkpoint(comp_path, compressed)
    report = compressed.metrics["compression"]
    van, comp = report["vanilla"], report["compressed"]
    payload["compression"] = {"backend": backend, "method": "compvqc", "ratio": ratio,
                              "vanilla": {"accuracy": van["test_accuracy"], "tcd": van["tcd"]},
                              "compressed": {"accuracy": comp["test_accuracy"], "tcd": comp["tcd"]},
                              "speedup": van["tcd"] / comp["tcd"], "pruned": int(compressed.prune_mask.sum()),
                              "quantized": int(compressed.quant_mask.sum()), "output": str(comp_path)}
    if "selection" in report:
        payload["compression"]["selection"] = report["selection"]
    table = (f"\ncompressed for {backend} (CompVQC, {how}):\n"
             f"              test acc  TCD\n"
             f"  vanilla     {van['test_accuracy']:.4f}    {van['tcd']}\n"
             f"  compressed  {comp['test_accuracy']:.4f}    {comp['tcd']}   "
             f"({van['tcd'] / comp['tcd']:.2f}x shallower; {int(compressed.prune_mask.sum())} gates pruned, "
             f"{int(compressed.quant_mask.sum())} quantized)\n  wrote     {comp_path}")
    if "selection" in report:
        table += "\n  candidates (validation on the noise model / noise-free, TCD): " + "; ".join(
            f"{c['ratio']!r}: {c['backend_val_accuracy']:.3f} / {c['exact_val_accuracy']:.3f}, {c['tcd']}"
            for c in report["selection"]["candidates"])
    evaluation, table_eval = _demo_evaluation(trained.checkpoint(), compressed, backend)
    payload["evaluation"] = evaluation
    return payload, ("compvqc demo: digits2 (scikit-learn's bundled 8x8 digits, 3 vs 6), 50-gate VQC\n"
                     + text + table + table_eval)


DEMO_SHOTS = 1024


def _demo_evaluation(vanilla, compressed, backend) -> tuple[dict, str]:
    """Deploy both models on ``backend`` and compare them on its noise model (Aer, test split)."""
    test = dataset_for(vanilla).test
    rows, out = {}, {"backend": backend, "executor": "aer", "shots": DEMO_SHOTS, "seed": 0, "split": "test",
                     "samples": int(len(test.y))}
    for name, ck in (("vanilla", vanilla), ("compressed", compressed)):
        ev = evaluate(ck.model, ck.theta, test.x, test.y, backend, executor="aer", shots=DEMO_SHOTS, seed=0)
        d = ev.deployment
        rows[name] = (ev, d)
        out[name] = {"accuracy": ev.accuracy, "tcd": d.tcd, "two_qubit_gates": d.two_qubit_gates,
                     "duration": d.duration, "success_probability": d.success_probability,
                     "physical_qubits": list(d.physical_qubits), "seconds": round(ev.seconds, 3)}
    lines = [f"\n\nnoisy evaluation on {backend} (qiskit-aer noise model, {DEMO_SHOTS} shots, "
             f"{out['samples']} test samples):",
             "              noisy acc  TCD   2q gates  duration   success p"]
    for name, (ev, d) in rows.items():
        lines.append(f"  {name:<11s} {ev.accuracy:.4f}     {d.tcd:<5d} {d.two_qubit_gates:<9d} "
                     f"{d.duration * 1e6:6.2f} µs  {d.success_probability:.4f}")
    return out, "\n".join(lines)
