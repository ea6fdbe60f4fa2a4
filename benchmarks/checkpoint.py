"""Checkpoint size, save/load time, and the asynchronous writer's overhead on training.

1. Size and save/load time of (a) the HotStorage'25 §4.3 example — 100 qubits, 20 layers,
   3 rotations per qubit (6,000 parameters), Adam state, a full-connectivity hardware profile
   (100 qubits, 4,950 edges) — against the paper's 186.8 KB estimate, with a per-component
   breakdown; (b) our 50-gate MNIST-2 model.
2. Overhead of checkpointing on MNIST-2 training epochs of the 50-gate model (10.8k training
   samples, batch 128): no checkpoints vs. saving every epoch and every 10 steps through the
   manager's default writer (a child process), a background thread, and synchronously, all
   interleaved in each repeat; with an A/A pair (two runs without checkpoints) and storage
   probes (``PROBE``: what any writer in another process costs on this machine).

    python benchmarks/checkpoint.py [--repeats 15] [--data-dir ../shared/datasets] [--dir D] [--modes ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
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

    from compvqc.compile.profile import hardware_profile

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


class TimedManager(CheckpointManager):
    """Records the trainer's own time inside each ``save`` (what checkpointing costs the caller)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.save_seconds: list[float] = []

    def save(self, *a, **kw):
        t = time.perf_counter()
        path = super().save(*a, **kw)
        self.save_seconds.append(time.perf_counter() - t)
        return path


# What the *storage* costs training, apart from any writer: at each save point the trainer sends
# one byte to a child that does only the file system's part of a durable save of the 50-gate
# checkpoint (write 8.6 KB, fsync, close — no encoding, no rename, no pointers), the same
# without fsync, or nothing.
PROBE = (
    "import os, sys\n"
    "blob, fsync, write = os.urandom(8600), sys.argv[1] == 'fsync', sys.argv[1] != 'nothing'\n"
    "path = os.path.join(sys.argv[2], 'probe')\n"
    "while os.read(0, 1):\n"
    "    if not write:\n"
    "        continue\n"
    "    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n"
    "    os.write(fd, blob)\n"
    "    if fsync:\n"
    "        os.fsync(fd)\n"
    "    os.close(fd)\n"
)


class ProbeManager(TimedManager):
    """Saves nothing: signals the ``PROBE`` child at every save point (see above)."""

    def __init__(self, directory, *, probe: str, **kw):
        super().__init__(directory, writer="sync", **kw)
        self._probe = subprocess.Popen([sys.executable, "-c", PROBE, probe, str(directory)], stdin=subprocess.PIPE)

    def save(self, ckpt, *, step, metric=None, wait=False):
        t = time.perf_counter()
        os.write(self._probe.stdin.fileno(), b"s")
        self.save_seconds.append(time.perf_counter() - t)
        return self.path_for(step)

    def close(self):
        self._probe.stdin.close()
        self._probe.wait()
        super().close()


MODES = {
    "none": None,
    "none, again": None,  # an A/A pair: how far two identical runs differ on this machine
    "process, every epoch": dict(every_steps=None, writer="process"),
    "process, every 10 steps": dict(every_steps=10, writer="process"),
    "thread, every epoch": dict(every_steps=None, writer="thread"),
    "thread, every 10 steps": dict(every_steps=10, writer="thread"),
    "sync, every 10 steps": dict(every_steps=10, writer="sync"),
    "probe nothing, every 10 steps": dict(every_steps=10, probe="nothing"),
    "probe write, every 10 steps": dict(every_steps=10, probe="write"),
    "probe fsync, every epoch": dict(every_steps=None, probe="fsync"),
    "probe fsync, every 10 steps": dict(every_steps=10, probe="fsync"),
}


def overhead(repeats: int, data_dir, epochs: int = 10, directory=None, modes=tuple(MODES)) -> dict:
    """Steady-state cost of checkpointing on training, every mode interleaved in each repeat.

    The writer is started (and, for the process writer, its child has imported) before the
    clock starts: that one-time start-up is reported separately, as is the wait in ``close``
    for the last save. Overheads are per-repeat ratios to the same repeat's "none" run
    (median over repeats, and the ratio of minima), since the shared machine drifts by ±10%.
    """
    from compvqc.data import load_dataset
    from compvqc.train import TrainConfig
    from compvqc.runs.train import run_training

    config = TrainConfig(dataset="mnist2", arch="random50", epochs=epochs, batch_size=128, seed=0)
    data = load_dataset("mnist2", data_dir=data_dir)
    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    modes = ["none", *(m for m in modes if m != "none")]  # the baseline of every ratio
    times = {m: [] for m in modes}
    cpu = {m: [] for m in modes}  # the training thread's CPU time: blind to being descheduled
    in_save = {m: [] for m in modes}  # caller's seconds inside save() per run
    saves = {m: 0 for m in modes}
    startup, closing = {m: [] for m in modes}, {m: [] for m in modes}
    run_training(config, data, model, progress=False)  # warm-up
    order = list(modes)
    for r in range(repeats):
        for mode in order[r % len(order):] + order[: r % len(order)]:  # rotate to spread drift
            kw = MODES[mode]
            with tempfile.TemporaryDirectory(dir=directory) as d:
                manager = None
                if kw is not None:
                    t = time.perf_counter()
                    kind = ProbeManager if "probe" in kw else TimedManager
                    manager = kind(d, keep_last=3, every_epochs=1, log=lambda s: None, **kw)
                    manager.flush()
                    startup[mode].append(time.perf_counter() - t)
                t, c = time.perf_counter(), time.thread_time()
                run_training(config, data, model, progress=False, manager=manager)
                times[mode].append(time.perf_counter() - t)
                cpu[mode].append(time.thread_time() - c)
                if manager is not None:
                    t = time.perf_counter()
                    manager.close()
                    closing[mode].append(time.perf_counter() - t)
                    in_save[mode].append(sum(manager.save_seconds))
                    saves[mode] = len(manager.save_seconds)
    base = times["none"]
    steps = -(-len(data.train) // config.batch_size)
    out = {"epoch_steps": steps, "train_samples": len(data.train), "repeats": repeats, "epochs_per_run": epochs,
           "rows": []}
    for mode, ts in times.items():
        row = {"mode": mode, "epoch_ms_median": round(1e3 * statistics.median(ts) / epochs, 2),
               "epoch_ms_min": round(1e3 * min(ts) / epochs, 2),
               "overhead_pct_median": round(100 * statistics.median(t / b - 1 for t, b in zip(ts, base)), 2),
               "overhead_pct_quartiles": [round(100 * q, 2) for q in _quartiles([t / b - 1 for t, b in zip(ts, base)])],
               "overhead_pct_of_min": round(100 * (min(ts) / min(base) - 1), 2),
               "cpu_overhead_pct_median": round(100 * statistics.median(
                   c / b - 1 for c, b in zip(cpu[mode], cpu["none"])), 2),
               "cpu_overhead_pct_quartiles": [round(100 * q, 2) for q in _quartiles(
                   [c / b - 1 for c, b in zip(cpu[mode], cpu["none"])])]}
        if saves[mode]:
            row.update({
                "saves_per_run": saves[mode],
                "in_save_ms_per_save": round(1e3 * statistics.median(in_save[mode]) / saves[mode], 3),
                "in_save_pct": round(100 * statistics.median(s / b for s, b in zip(in_save[mode], base)), 2),
                "startup_ms": round(1e3 * statistics.median(startup[mode]), 1),
                "close_ms": round(1e3 * statistics.median(closing[mode]), 1),
            })
        out["rows"].append(row)
    return out


def _quartiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--data-dir", default=os.environ.get("COMPVQC_DATA", str(SHARED)))
    p.add_argument("--dir", default=None, help="where the run directories go (default: the system temporary directory)")
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
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
        result["training_overhead"] = overhead(args.repeats, args.data_dir, directory=args.dir, modes=args.modes)
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
              f"(batch 128) per run, {o['repeats']} interleaved repeats:")
        for r in o["rows"]:
            line = (f"    {r['mode']:<24s} {r['epoch_ms_median']:6.1f} ms/epoch  wall overhead "
                    f"{r['overhead_pct_median']:+6.2f}% (median of paired ratios; quartiles {r['overhead_pct_quartiles'][0]:+.1f}%, "
                    f"{r['overhead_pct_quartiles'][1]:+.1f}%), {r['overhead_pct_of_min']:+6.2f}% (of minima); training thread's "
                    f"CPU time {r['cpu_overhead_pct_median']:+.2f}% [{r['cpu_overhead_pct_quartiles'][0]:+.1f}%, "
                    f"{r['cpu_overhead_pct_quartiles'][1]:+.1f}%]")
            if "saves_per_run" in r:
                line += (f"; in save() {r['in_save_ms_per_save']:.3f} ms x {r['saves_per_run']} = {r['in_save_pct']:.2f}%"
                         f"; start-up {r['startup_ms']:.0f} ms, close {r['close_ms']:.1f} ms (once per run)")
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
