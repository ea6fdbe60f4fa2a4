"""Checkpoint size, save/load time, and the asynchronous writer's overhead on training.

1. Size and save/load time of (a) the HotStorage'25 §4.3 example — 100 qubits, 20 layers,
   3 rotations per qubit (6,000 parameters), Adam state, a full-connectivity hardware profile
   (100 qubits, 4,950 edges) — against the paper's 186.8 KB estimate, with a per-component
   breakdown; (b) our 50-gate MNIST-2 model.
2. Overhead of checkpointing on one MNIST-2 training epoch of the 50-gate model (10.8k training
   samples, batch 128): no checkpoints vs. an asynchronous save every epoch vs. every 10 steps
   (and a synchronous save every 10 steps, for contrast), each repeated, interleaved, median.

    python benchmarks/checkpoint.py [--repeats 5] [--data-dir ../shared/datasets] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from compvqc.checkpoint import Checkpoint, CheckpointManager, load_checkpoint, save_checkpoint
from compvqc.checkpoint.container import encode
from compvqc.model import VQC, Gate, Readout, build_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
PAPER_ESTIMATE_KB = 186.8


def hotstorage_checkpoint() -> Checkpoint:
    q, layers = 100, 20
    ops, p = [], 0
    for _ in range(layers):
        for name in ("rx", "ry", "rz"):
            for w in range(q):
                ops.append(Gate(name, (w,), (p,)))
                p += 1
    model = VQC(q, 0, tuple(ops), Readout("pauli_z", (tuple(range(50)), tuple(range(50, 100)))))
    rng = np.random.default_rng(0)
    pairs = np.array([(i, j) for i in range(q) for j in range(i + 1, q)], dtype=np.int64)
    profile = {
        "backend": "synthetic-full-connectivity",
        "num_qubits": q,
        "basis_gates": ["cx", "rz", "sx", "x"],
        "qubits": {"t1": rng.uniform(5e-5, 3e-4, q), "t2": rng.uniform(5e-5, 3e-4, q),
                   "readout_error": rng.uniform(0.005, 0.05, q), "gate_error": rng.uniform(1e-4, 1e-3, q)},
        "edges": {"pairs": pairs, "error": rng.uniform(0.003, 0.03, len(pairs))},
    }
    return Checkpoint(model, rng.uniform(-np.pi, np.pi, p), optimizer={"name": "adam", "config": {"lr": 0.01}},
                      optimizer_state={"count": np.array(100), "mu": rng.normal(size=p), "nu": rng.random(p)},
                      hardware_profile=profile, shots=1000)


def mnist2_checkpoint() -> Checkpoint:
    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    rng = np.random.default_rng(0)
    theta = model.init_params(rng)
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from compvqc.checkpoint.profile import hardware_profile

    return Checkpoint(model, theta, optimizer={"name": "adam", "config": {"lr": 0.01}},
                      optimizer_state={"count": np.array(100), "mu": rng.normal(size=50), "nu": rng.random(50)},
                      hardware_profile=hardware_profile(FakeManilaV2()), shots=1024)


def breakdown(blob: bytes) -> dict:
    proto = onnx.ModelProto.FromString(blob)
    parts: dict[str, int] = {}
    for t in proto.graph.initializer:
        group = ("parameters θ" if t.name == "theta" else "optimizer state" if t.name.startswith("optimizer.")
                 else "hardware profile (arrays)" if t.name.startswith("hardware.") else f"compvqc extras: {t.name}")
        parts[group] = parts.get(group, 0) + t.ByteSize()
    parts["circuit graph nodes"] = sum(n.ByteSize() for n in proto.graph.node) + sum(v.ByteSize() for v in proto.graph.value_info)
    for p in proto.metadata_props:
        key = "hardware profile (json)" if p.key == "compvqc.hardware_profile" else "model description (json)" \
            if p.key == "compvqc.model" else "other metadata"
        parts[key] = parts.get(key, 0) + len(p.key) + len(p.value)
    return {k: round(v / 1000, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}


def time_io(ckpt: Checkpoint, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.ckpt"
        saves, loads = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            save_checkpoint(path, ckpt)
            saves.append(time.perf_counter() - t)
            t = time.perf_counter()
            load_checkpoint(path)
            loads.append(time.perf_counter() - t)
        size = path.stat().st_size
    return {"bytes": size, "kb": round(size / 1000, 1), "save_ms_min": round(min(saves) * 1e3, 2),
            "save_ms_median": round(statistics.median(saves) * 1e3, 2), "load_ms_min": round(min(loads) * 1e3, 2),
            "load_ms_median": round(statistics.median(loads) * 1e3, 2)}


def overhead(repeats: int, data_dir, epochs: int = 5) -> dict:
    from compvqc.data import load_dataset
    from compvqc.train import TrainConfig
    from compvqc.train.pipeline import run_training

    # Several epochs per run: an asynchronous save overlaps the next epoch, so a 1-epoch run
    # would expose the last save's whole latency; per-epoch figures divide by the epoch count.
    config = TrainConfig(dataset="mnist2", arch="random50", epochs=epochs, batch_size=128, seed=0)
    data = load_dataset("mnist2", data_dir=data_dir)
    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    modes = {
        "none": None,
        "async every epoch": dict(every_epochs=1, every_steps=None, asynchronous=True),
        "async every 10 steps": dict(every_epochs=1, every_steps=10, asynchronous=True),
        "sync every 10 steps": dict(every_epochs=1, every_steps=10, asynchronous=False),
    }
    times: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}  # process CPU time, all threads
    run_training(config, data, model, progress=False)  # warm-up
    for _ in range(repeats):
        for mode, kw in modes.items():
            with tempfile.TemporaryDirectory() as d:
                manager = None if kw is None else CheckpointManager(d, keep_last=3, log=lambda s: None, **kw)
                t, c = time.perf_counter(), time.process_time()
                run_training(config, data, model, progress=False, manager=manager)
                if manager is not None:
                    manager.close()  # includes waiting for the last write
                times[mode].append(time.perf_counter() - t)
                cpu[mode].append(time.process_time() - c)
    base = statistics.median(times["none"])
    steps = -(-len(data.train) // config.batch_size)
    out = {"epoch_steps": steps, "train_samples": len(data.train), "repeats": repeats, "epochs_per_run": epochs,
           "rows": []}
    for mode, ts in times.items():
        med = statistics.median(ts)
        out["rows"].append({"mode": mode, "epoch_s_median": round(med / epochs, 4),
                            "epoch_s_min": round(min(ts) / epochs, 4), "overhead_pct": round(100 * (med / base - 1), 2),
                            "overhead_pct_min": round(100 * (min(ts) / min(times["none"]) - 1), 2),
                            "cpu_overhead_pct": round(100 * (statistics.median(cpu[mode]) / statistics.median(cpu["none"]) - 1), 2)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--data-dir", default=os.environ.get("COMPVQC_DATA", str(SHARED)))
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "python": platform.python_version()}
    hs = hotstorage_checkpoint()
    result["hotstorage_example"] = {**time_io(hs, args.repeats), "paper_estimate_kb": PAPER_ESTIMATE_KB,
                                    "breakdown_kb": breakdown(encode(hs))}
    m2 = mnist2_checkpoint()
    result["mnist2_50_gates"] = {**time_io(m2, max(args.repeats, 20)), "breakdown_kb": breakdown(encode(m2))}
    if not args.skip_overhead:
        result["training_overhead"] = overhead(args.repeats, args.data_dir)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    for name in ("hotstorage_example", "mnist2_50_gates"):
        r = result[name]
        extra = f" (paper's estimate {PAPER_ESTIMATE_KB} KB)" if name == "hotstorage_example" else ""
        print(f"{name}: {r['kb']} KB{extra}; save {r['save_ms_median']} ms (min {r['save_ms_min']}), "
              f"load {r['load_ms_median']} ms (min {r['load_ms_min']})")
        for k, v in r["breakdown_kb"].items():
            print(f"    {v:>8} KB  {k}")
    if "training_overhead" in result:
        o = result["training_overhead"]
        print(f"training overhead, MNIST-2 50 gates, {o['epochs_per_run']} epochs of {o['epoch_steps']} steps "
              f"(batch 128) per run, median of {o['repeats']} runs (time per epoch):")
        for r in o["rows"]:
            print(f"    {r['mode']:<22s} {r['epoch_s_median']:.3f} s  wall overhead {r['overhead_pct']:+.2f}% (median), "
                  f"{r['overhead_pct_min']:+.2f}% (min); CPU overhead {r['cpu_overhead_pct']:+.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
