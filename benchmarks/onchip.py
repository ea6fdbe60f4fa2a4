"""On-chip training: accuracy against circuit executions, throughput, and the save policy.

``--part fig6`` (the on-chip paper's Figure 6, simulated): the 50-gate model (``4x4_ryzxy`` +
``random50``, 161 circuits per sample) on MNIST-2 under fake_manila's noise model, 1024 shots,
trained by parameter shift with QC-Train (every gradient), QC-Train-PGP (r=0.5, wa=1, wp=2, both
modes) and freezing (25 % after 2 epochs). After every epoch the validation accuracy is measured
ON the noise model (the same transpiled circuit, 1024 shots) and noise-free; the x axis is the
cumulative number of circuits run. Budget: 256 training samples (batch 32, 8 steps, 41,216
circuits per epoch for QC-Train), 200 validation samples, 8 epochs: the density engine runs
about 2,500 circuits/s here, so each method takes about 2 minutes and the whole figure under 10.

``--part throughput``: circuit executions per second for one parameter-shift step of the same
model (32 samples × 161 circuits, 1024 shots, fake_manila noise): compvqc's density engine and
Aer engine, interleaved repeats, BLAS on one thread (``OMP_NUM_THREADS=1``, as the peers run);
the peers (``benchmarks/onchip_peers.py`` in ``.venv-peers``, its gradient checks skipped) run in
the same invocation when that venv exists, ``--peer-repeats`` timed steps each after a warm-up.

``--part policy``: a run (``digits2-2x2``, ``random12``, 256 shots, 40 epochs, 480 steps) with failures at
exponential times (mean 3 s, injected as crashes from the training callback, then resumed from
the run directory) and 20 % of jobs failing, under every-step, every-epoch and ``auto`` (prior
MTBF 60 s, deliberately wrong) policies: interval chosen, saves made, steps lost per failure.

    .venv/bin/python benchmarks/onchip.py --part fig6 [--quick]
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/onchip.py --part throughput
    .venv/bin/python benchmarks/onchip.py --part policy
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compvqc.data import load_dataset
from compvqc.model import build_model
from compvqc.model.readout import accuracy
from compvqc.onchip import PGP, FlakyRunner, Freeze, LocalRunner, Retry, device_gradient
from compvqc.train import fit
from compvqc.train.optim import Adam

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "datasets"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def noisy_accuracy(grad, theta, x, y, shots=1024, seed=99) -> float:
    angles = grad._angles(theta)
    rows = grad.deployment.values(grad.expanded, x, angles)
    counts = LocalRunner(grad.deployment, "fake_manila", noise=True).submit(rows, shots, seed).result()
    probs = counts / counts.sum(axis=1, keepdims=True)
    return accuracy(probs @ grad.model.readout.weights(grad.model.n_qubits), y)


def fig6(quick: bool) -> None:
    data = load_dataset("mnist2", data_dir=DATA, max_train=64 if quick else 256)
    val = slice(0, 50 if quick else 200)
    xv, yv = data.val.x[val], data.val.y[val]
    model = build_model("4x4_ryzxy", "random50", 2)
    epochs = 2 if quick else 8
    batch = 32
    per_epoch = -(-len(data.train) // batch)
    methods = {
        "QC-Train": {},
        "QC-Train-PGP": {"pgp": PGP(0.5, 1, 2)},
        "QC-Train-PGP (deterministic)": {"pgp": PGP(0.5, 1, 2, "deterministic")},
        "QC-Train + freezing 25%@2": {"freeze": Freeze(0.25, 2)},
    }
    curves = {}
    for name, kw in methods.items():
        grad = device_gradient(model, "fake_manila", shots=1024, seed=0, per_epoch=per_epoch, **kw)
        theta = model.init_params(np.random.default_rng(0))
        points = [(0, noisy_accuracy(grad, theta, xv, yv), accuracy(model.logits(theta, xv), yv))]
        state = None
        t0 = time.perf_counter()
        for epoch in range(epochs):
            res = fit(model, theta, data.train.x, data.train.y, epochs=epoch + 1, seed=0, batch_size=batch,
                      loss_and_grad=grad, opt_state=state, start_epoch=epoch, progress=False, optimizer=Adam(lr=0.05))
            theta, state = res.theta, res.opt_state
            run = grad.journal.tally.bindings_run
            exact = accuracy(model.logits(theta, xv), yv)
            points.append((run, noisy_accuracy(grad, theta, xv, yv), exact))
            print(f"{name:30s} epoch {epoch + 1}: {run:>9,} circuits  val acc noisy {points[-1][1]:.3f}  "
                  f"noise-free {exact:.3f}", flush=True)
        e = grad.executions
        curves[name] = {"points": points, "seconds": time.perf_counter() - t0, "saved_pgp": e.saved_pgp,
                        "saved_freeze": e.saved_freeze, "full": e.full, "run": grad.journal.tally.bindings_run}
    print(json.dumps({"part": "fig6", "machine": machine(), "train": len(data.train), "val": len(yv),
                      "epochs": epochs, "curves": curves}))
    _plot(curves, "onchip_fig6_quick" if quick else "onchip_fig6")


def _plot(curves, stem):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, c in curves.items():
        pts = np.array([(p[0], p[1]) for p in c["points"]])
        ax.plot(pts[:, 0] / 1e3, pts[:, 1], marker="o", label=name)
    ax.set_xlabel("circuits run (thousands)")
    ax.set_ylabel("validation accuracy (fake_manila noise, 1024 shots)")
    ax.set_title("MNIST-2, 50-gate model, parameter shift on the noise model")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = HERE / "figures" / "onchip"
    out.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(out / f"{stem}.{ext}", dpi=120, bbox_inches="tight")
    print(f"wrote {out / stem}.png/.svg")


def throughput(repeats: int, peer_repeats: int) -> None:
    model = build_model("4x4_ryzxy", "random50", 2)
    rng = np.random.default_rng(0)
    theta, x = model.init_params(rng), rng.uniform(0, np.pi, (32, 16))
    y = rng.integers(0, 2, 32)
    grads = {engine: device_gradient(model, "fake_manila", shots=1024, seed=0, per_epoch=1, engine=engine)
             for engine in ("density", "aer")}
    for g in grads.values():
        g(theta, x[:2], y[:2], step=10_000)  # warm-up: program compiled, simulator built
    times = {k: [] for k in grads}
    for r in range(repeats):
        for engine, g in grads.items():
            t = time.perf_counter()
            g(theta, x, y, step=r)
            times[engine].append(time.perf_counter() - t)
    rows = []
    for engine, ts in times.items():
        ex = grads[engine].executions.last
        rows.append({"peer": f"compvqc ({engine} engine)", "executions": ex, "seconds": float(np.median(ts)),
                     "executions_per_second": ex / float(np.median(ts))})
    peers = HERE.parent / ".venv-peers" / "bin" / "python"
    if peers.exists() and (HERE / "onchip_peers.py").exists():
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "spec.json"
            subprocess.run([sys.executable, str(HERE / "onchip_spec.py"), str(spec)], check=True)
            out = subprocess.run([str(peers), str(HERE / "onchip_peers.py"), str(spec), "--no-check",
                                  "--repeats", str(peer_repeats)], check=True, capture_output=True, text=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    base = rows[0]["executions_per_second"]
    for r in rows:
        r["ours_over_it"] = base / r["executions_per_second"]
        print(f"{r['peer']:45s} {r['executions']:>7,} circuits  {r['seconds']:8.3f} s  "
              f"{r['executions_per_second']:>9,.0f}/s  compvqc-density ÷ it: {r['ours_over_it']:.1f}×", flush=True)
    print(json.dumps({"part": "throughput", "machine": machine(), "rows": rows}))


class Crash(Exception):
    pass


def policy() -> None:
    from compvqc.checkpoint import CheckpointManager
    from compvqc.checkpoint.policy import AutoInterval
    from compvqc.runs.train import train_on_dataset
    from compvqc.train import TrainConfig

    config = TrainConfig(dataset="digits2-2x2", arch="random12", encoder="2x2_ryz", epochs=40, max_train=96,
                         batch_size=8, device="fake_manila", shots=256, gradient="parameter-shift")
    rows = []
    for name in ("every step", "every epoch", "auto"):
        rng = np.random.default_rng(7)  # the same failure times for every policy
        with tempfile.TemporaryDirectory() as tmp:
            run_dir, failures, lost, t_start, saves = Path(tmp) / "run", 0, [], time.monotonic(), 0
            intervals = []
            while True:
                deadline = time.monotonic() + rng.exponential(3.0)
                auto = AutoInterval(prior_mtbf=60.0) if name == "auto" else None
                mgr = CheckpointManager(run_dir, every_steps=1 if name == "every step" else None,
                                        every_epochs=1, auto=auto, log=lambda m: None)
                reached = {"step": 0}

                def cb(e):
                    reached["step"] = e.step
                    if e.kind == "step" and time.monotonic() > deadline:
                        raise Crash()

                original_save = mgr.save

                def counting_save(*a, **k):
                    nonlocal saves
                    saves += 1
                    return original_save(*a, **k)

                mgr.save = counting_save
                try:
                    done = train_on_dataset(config, manager=mgr, resume=True, progress=False, callback=cb,
                                            runner_wrap=lambda r: FlakyRunner(r, 0.2, seed=failures),
                                            retry=Retry(base=0.01))
                    mgr.close()
                    break
                except Crash:
                    mgr.close()
                    failures += 1
                    from compvqc.checkpoint import CheckpointManager as M
                    probe = M(run_dir, log=lambda m: None)
                    ck = probe.restore()
                    probe.close()
                    lost.append(reached["step"] - (ck.run["step"] if ck else 0))
                    if auto is not None:
                        intervals.append(mgr.auto.interval(mgr.wall_seconds))
            wall = time.monotonic() - t_start
            policy_record = done.result.save_policy
            rows.append({"policy": name, "failures": failures, "saves": saves, "wall_seconds": wall,
                         "steps_lost_per_failure": float(np.mean(lost)) if lost else 0.0,
                         "interval_seconds": policy_record["interval"] if policy_record else None,
                         "intervals_at_failures": intervals, "replayed": done.result.onchip["executions"]["replayed"]})
            r = rows[-1]
            print(f"{name:12s} failures {failures}  saves {saves:4d}  lost/failure {r['steps_lost_per_failure']:.1f} "
                  f"steps  wall {wall:6.1f} s  interval {r['interval_seconds']}  circuits replayed {r['replayed']:,}",
                  flush=True)
    print(json.dumps({"part": "policy", "machine": machine(), "rows": rows}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("fig6", "throughput", "policy"), required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peer-repeats", type=int, default=1,
                    help="timed steps per peer (qiskit-machine-learning takes ~6 min a step here)")
    args = ap.parse_args()
    if args.part == "fig6":
        fig6(args.quick)
    elif args.part == "throughput":
        throughput(args.repeats, args.peer_repeats)
    else:
        policy()


if __name__ == "__main__":
    main()
