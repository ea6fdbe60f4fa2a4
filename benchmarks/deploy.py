"""Deployment benchmark (issue 8): noisy-evaluation throughput, and vanilla vs CompVQC on noisy devices.

Part 1 — throughput at 1024 shots on fake_manila, same run, same once-transpiled circuit.
Per-sample loops (bind one sample, one run each): ``AerSimulator.from_backend`` with its
default method (``automatic``, which picks ``density_matrix`` for these few-qubit circuits —
the metadata is printed), with ``method="density_matrix"`` explicitly, and compvqc's density
engine one binding per call. Batched: one Aer job with all bindings (engine ``aer``), Aer's
``SamplerV2`` with one pub, compvqc's ``aer`` executor as it runs by default (engine ``auto`` →
the batched density engine, :mod:`compvqc.deploy.density`), and qiskit-ibm-runtime's
``executor_sampler.Sampler`` (local on the fake backend). Each with Aer's default threading and
with ``max_parallel_threads=1`` (the machine is 2 shared cores).

``--part crossover``: the density engine against one Aer job as the active qubits grow
(fake_kolkata, ``{w}x2_ryz`` models) — the measurement behind ``density.MAX_ACTIVE_QUBITS``.

Part 2 — Syn-Dataset-4 (random14, 2x2_ryz) and Syn-Dataset-16 (random22, 4x4_ryzxy), 5
training seeds on one architecture (arch seed 0), on the noise models of fake_lagos, fake_perth
and fake_jakarta, 1024 shots, qiskit-aer's noise model through the ``aer`` executor. A thin
caller of the harness (``compvqc.bench``, one protocol, one code path): per device one sweep of
the vanilla model and ``compvqc-paper`` (the method these rows were recorded with) at every
ratio of ``--ratios`` in
``benchmarks/runs/deploy/<device>-n<samples>-r<ratios>/``, resumable like any sweep. For each
(dataset, seed, device) the CompVQC ratio is the one with the best noisy *validation* accuracy
(ties → the better noise-free validation accuracy, then the larger ratio); a secondary rule
beside it admits only ratios whose deployed TCD is below the vanilla's (with none, the vanilla
itself). The harness's own ``table5`` suite is the same comparison with its operating-point rule.
``--first-seed 5`` reports seeds 5-9 (the sweep then holds seeds 0-9).

    .venv/bin/python benchmarks/deploy.py                      # both parts, full protocol
    .venv/bin/python benchmarks/deploy.py --part throughput
    .venv/bin/python benchmarks/deploy.py --part crossover
    .venv/bin/python benchmarks/deploy.py --part compare --seeds 1 --backends fake_lagos --n-samples 200  # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from compvqc.bench.grid import Sweep
from compvqc.bench.harness import run_sweep
from compvqc.compile.backends import resolve_backend
from compvqc.deploy import deploy, evaluate
from runlog import append_row

ROOT = Path(__file__).resolve().parent
RUNS = ROOT / "runs"
SETUPS = {"syn4": dict(arch="random14", encoder="2x2_ryz"), "syn16": dict(arch="random22", encoder="4x4_ryzxy")}
BACKENDS = ("fake_lagos", "fake_perth", "fake_jakarta")
SHOTS = 1024


# ---------------------------------------------------------------- part 1: throughput
def _rate(n: int, fn) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def throughput(samples: int, shots: int) -> dict:
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2 as AerSampler
    from qiskit_ibm_runtime.executor_sampler import Sampler

    from compvqc.data import load_dataset
    from compvqc.deploy import density, run_aer
    from compvqc.model import build_model

    backend = resolve_backend("fake_manila")
    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)  # the 50-gate MNIST-2 model
    theta = np.random.default_rng(0).uniform(-np.pi, np.pi, model.n_params)
    x = load_dataset("syn16").test.x[:samples]
    dep = deploy(model, theta, backend)
    values = dep.values(model, x)
    params = dep.parameters
    y = np.zeros(len(x), int)
    out = {"samples": len(x), "shots": shots, "tcd": dep.tcd, "gates": len(model.gates), "load": os.getloadavg()[0]}
    for label, opts in (("default threads", {}), ("1 thread", {"max_parallel_threads": 1})):
        d = {}
        for method in ("automatic", "density_matrix"):  # per-sample loops on Aer: default method, then explicit DM
            sim = AerSimulator.from_backend(backend, method=method, **opts)
            warm = sim.run(dep.measured.assign_parameters(dict(zip(params, values[0]))), shots=shots).result()
            d[f"aer_method_{method}"] = warm.results[0].metadata.get("method")  # what Aer actually ran

            def loop(sim=sim):
                for row in values:
                    sim.run(dep.measured.assign_parameters(dict(zip(params, row))), shots=shots,
                            seed_simulator=1).result()

            d[f"loop_{method}"] = _rate(len(values), loop)
        # compvqc's density engine, one binding per call (like-for-like loop); first call compiles
        density._PROGRAMS.clear()
        density._CHANNELS.clear()  # cold: the noise model's errors are converted again
        t = time.perf_counter()
        run_aer(dep, values[:1], backend, shots=shots, noise=True, seed=1, options=opts, engine="density")
        d["density_compile_s"] = time.perf_counter() - t
        d["loop_density"] = _rate(len(values), lambda: [run_aer(dep, values[i:i + 1], backend, shots=shots, noise=True,
                                                                 seed=1, options=opts, engine="density")
                                                         for i in range(len(values))])
        # batched: one Aer job with all bindings (engine "aer"), and the density engine (engine "auto")
        evaluate(model, theta, x[:1], y[:1], backend, shots=shots, deployment=dep, options=opts, engine="aer")
        d["batched_aer"] = _rate(len(values), lambda: evaluate(model, theta, x, y, backend, shots=shots, seed=1,
                                                               deployment=dep, options=opts, engine="aer"))
        ev = evaluate(model, theta, x, y, backend, shots=shots, seed=1, deployment=dep, options=opts)
        d["engine_auto"] = ev.engine
        d["batched_density"] = _rate(len(values), lambda: evaluate(model, theta, x, y, backend, shots=shots, seed=1,
                                                                   deployment=dep, options=opts))
        sampler = AerSampler.from_backend(backend, seed=1)
        if opts:
            sampler.options.backend_options.update(opts)
        d["aer_sampler"] = _rate(len(values), lambda: sampler.run([(dep.measured, values)], shots=shots).result())
        d["speedup"] = d["batched_density"] / d["loop_automatic"]  # the ratio (Aer's default loop)
        d["speedup_vs_dm_loop"] = d["batched_density"] / d["loop_density_matrix"]
        d["speedup_vs_density_loop"] = d["batched_density"] / d["loop_density"]  # like-for-like
        d["speedup_aer_job"] = d["batched_aer"] / d["loop_automatic"]  # Aer's own batching
        # cold: the batch's first evaluation also pays the one-off compilation of the noisy program
        d["batched_density_cold"] = len(values) / (len(values) / d["batched_density"] + d["density_compile_s"])
        d["speedup_cold"] = d["batched_density_cold"] / d["loop_automatic"]
        out[label] = d
    runtime = Sampler(mode=backend)
    runtime.options.simulator.seed_simulator = 1
    out["runtime_sampler"] = _rate(len(values), lambda: runtime.run([(dep.measured, values)], shots=shots).result())
    out["load_after"] = os.getloadavg()[0]
    return out


def print_throughput(r: dict) -> None:
    print(f"\nnoisy evaluation throughput, fake_manila, {r['shots']} shots, {r['samples']} samples, "
          f"{r['gates']}-gate model (TCD {r['tcd']}), load {r['load']:.1f}→{r['load_after']:.1f}")
    print("| Aer threads | loop: Aer default method | loop: Aer density_matrix | loop: compvqc density | "
          "batch: one Aer job | batch: Aer SamplerV2 | batch: compvqc density (`aer` executor) | "
          "batch density / Aer-default loop | / Aer-DM loop | / density loop | Aer job / Aer loop |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label in ("default threads", "1 thread"):
        d = r[label]
        print(f"| {label} | {d['loop_automatic']:.1f}/s ({d['aer_method_automatic']}) | {d['loop_density_matrix']:.1f}/s | "
              f"{d['loop_density']:.0f}/s | {d['batched_aer']:.1f}/s | {d['aer_sampler']:.1f}/s | "
              f"{d['batched_density']:.0f}/s | {d['speedup']:.0f}× | {d['speedup_vs_dm_loop']:.0f}× | "
              f"{d['speedup_vs_density_loop']:.1f}× | {d['speedup_aer_job']:.1f}× |")
    print("density engine: one-off compilation (noise insertion + superoperators, cold caches) "
          + ", ".join(f"{r[k]['density_compile_s']:.2f} s" for k in ("default threads", "1 thread"))
          + "; batch including it: " + ", ".join(f"{r[k]['batched_density_cold']:.0f}/s = {r[k]['speedup_cold']:.1f}× "
                                                  "the Aer-default loop" for k in ("default threads", "1 thread"))
          + f"; engine chosen by `auto`: {r['1 thread']['engine_auto']}")
    print(f"qiskit-ibm-runtime executor_sampler.Sampler (local, default threads): {r['runtime_sampler']:.1f}/s")


def crossover(backend_name: str, widths, samples: int, shots: int) -> list[dict]:
    """Density engine vs one Aer job against the number of active qubits (the engine's bound)."""
    from qiskit_aer import AerSimulator

    from compvqc.deploy import density
    from compvqc.model import build_model

    backend = resolve_backend(backend_name)
    rows = []
    for w in widths:
        model = build_model(f"{w}x2_ryz", "random50", 2, arch_seed=0)
        theta = np.random.default_rng(0).uniform(-np.pi, np.pi, model.n_params)
        x = np.random.default_rng(1).uniform(0, np.pi, (samples, model.n_features))
        dep = deploy(model, theta, backend, seeds=(0, 1, 2))
        values = dep.values(model, x)
        sim = AerSimulator.from_backend(backend, max_parallel_threads=1)
        t = time.perf_counter()
        program = density.compile_program(dep.measured, sim.options.noise_model, dep.parameters, max_qubits=99)
        compile_s = time.perf_counter() - t
        dm = _rate(samples, lambda: density.sample_counts(density.probabilities(program, values), shots, 1))
        binds = [{p: values[:, j].tolist() for j, p in enumerate(dep.parameters)}]
        res = []
        aer = _rate(samples, lambda: res.append(sim.run(dep.measured, parameter_binds=binds, shots=shots,
                                                        seed_simulator=1).result()))
        row = {"backend": backend_name, "active": program.n, "tcd": dep.tcd, "compile_s": compile_s, "density": dm,
               "aer": aer, "aer_method": res[0].results[0].metadata.get("method")}
        print(f"| {row['active']} | {row['tcd']} | {dm:.1f}/s | {aer:.1f}/s ({row['aer_method']}) | "
              f"{dm / aer:.1f}× | {compile_s:.2f} s |", flush=True)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- part 2: vanilla vs CompVQC
def compare(datasets, backends, seeds: int, ratios, n_samples: int, workers: int) -> list[dict]:
    """The harness's rows: per device one sweep of vanilla and CompVQC at every ratio, trained and
    compressed as the library does, scored noisy and noise-free (seeds ``0 .. seeds-1``)."""
    rows = []
    for be in backends:
        sweep = Sweep(datasets=tuple(datasets), methods=("vanilla", "compvqc-paper"), ratios=tuple(str(r) for r in ratios),
                      seeds=seeds, backend=be, noisy=True, shots=SHOTS,
                      train={d: {**SETUPS[d], "n_samples": n_samples} for d in datasets})
        rows += run_sweep(sweep, RUNS / "deploy" / f"{be}-n{n_samples}-r{'_'.join(map(str, ratios))}", workers=workers)
    return rows


def chosen(rows, shallower: bool = False) -> dict:
    """Per (dataset, seed, device): (vanilla row, CompVQC row at the ratio with the best noisy
    validation accuracy; ties → noise-free validation → larger ratio). ``shallower``: only ratios
    whose TCD is below the vanilla's are eligible, and with none the vanilla itself."""
    out = {}
    for r in rows:
        if r["method"] == "vanilla":
            key = (r["dataset"], r["seed"], r["backend"])
            cands = [c for c in rows if c["method"] == "compvqc-paper" and (c["dataset"], c["seed"], c["backend"]) == key
                     and (not shallower or c["tcd"] < r["tcd"])]
            best = max(cands, key=lambda c: (c["noisy_val_accuracy"], c["val_accuracy"], float(c["knob"])),
                       default=r)
            out[key] = (r, best)
    return out


def print_table(rows, seeds, n_test: int, shallower: bool = False) -> None:
    picks = {k: v for k, v in chosen(rows, shallower).items() if k[1] in seeds}
    mean, sd = statistics.fmean, (lambda a: statistics.stdev(a) if len(a) > 1 else 0.0)
    print("\n| dataset | device | seeds | vanilla noisy acc | CompVQC noisy acc | noise-free (van / comp) | "
          "TCD (van → comp) | speedup | 2q gates | duration µs | success p | ratios chosen | "
          "difference (test samples per seed) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for ds, be in sorted({(k[0], k[2]) for k in picks}, key=lambda k: (k[0], BACKENDS.index(k[1]))):
        pairs = [picks[k] for k in sorted(picks) if k[0] == ds and k[2] == be]
        v = {f: [a[f] for a, _ in pairs] for f in pairs[0][0]}
        c = {f: [b[f] for _, b in pairs] for f in pairs[0][1]}
        diff = [round((b - a) * n_test) for a, b in zip(v["noisy_test_accuracy"], c["noisy_test_accuracy"])]
        print(f"| {ds} | {be} | {len(pairs)} | {mean(v['noisy_test_accuracy']):.3f} ± {sd(v['noisy_test_accuracy']):.3f} | "
              f"{mean(c['noisy_test_accuracy']):.3f} ± {sd(c['noisy_test_accuracy']):.3f} | "
              f"{mean(v['test_accuracy']):.3f} / {mean(c['test_accuracy']):.3f} | "
              f"{mean(v['tcd']):.1f} → {mean(c['tcd']):.1f} | {mean(a / b for a, b in zip(v['tcd'], c['tcd'])):.2f}× | "
              f"{mean(v['two_qubit_gates']):.1f} → {mean(c['two_qubit_gates']):.1f} | "
              f"{mean(v['duration']) * 1e6:.2f} → {mean(c['duration']) * 1e6:.2f} | "
              f"{mean(v['success_probability']):.3f} → {mean(c['success_probability']):.3f} | "
              f"{', '.join(b['knob'] or '0' for _, b in pairs)} | {', '.join(f'{d:+d}' for d in diff)} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("all", "throughput", "crossover", "compare"), default="all")
    p.add_argument("--samples", type=int, default=64, help="throughput batch (default 64)")
    p.add_argument("--datasets", nargs="+", default=list(SETUPS))
    p.add_argument("--backends", nargs="+", default=list(BACKENDS))
    p.add_argument("--seeds", type=int, default=5, help="how many training seeds (default 5)")
    p.add_argument("--first-seed", type=int, default=0, help="the first training seed (default 0)")
    p.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    p.add_argument("--n-samples", type=int, default=1000,
                   help="synthetic dataset size (test = 10%%, val = 10%% of the rest; default 1000)")
    p.add_argument("--workers", type=int, default=2, help="harness worker processes (default 2)")
    args = p.parse_args(argv)
    RUNS.mkdir(parents=True, exist_ok=True)
    import qiskit
    import qiskit_aer

    print(f"python {platform.python_version()}, qiskit {qiskit.__version__}, qiskit-aer {qiskit_aer.__version__}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    if args.part in ("all", "throughput"):
        r = throughput(args.samples, SHOTS)
        append_row(RUNS / "deploy_throughput.jsonl", r)
        print_throughput(r)
    if args.part == "crossover":
        print(f"\ndensity engine vs one Aer job, fake_kolkata noise, {SHOTS} shots, 32 bindings, {{w}}x2_ryz + random50")
        print("| active qubits | TCD | density engine | one Aer job (1 thread) | ratio | engine compile |")
        print("|---|---|---|---|---|---|")
        for row in crossover("fake_kolkata", range(4, 10), 32, SHOTS):
            append_row(RUNS / "deploy_crossover.jsonl", row)
    if args.part in ("all", "compare"):
        rows = compare(args.datasets, args.backends, args.first_seed + args.seeds, args.ratios, args.n_samples,
                       args.workers)
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        print_table(rows, seeds, args.n_samples // 10)  # the synthetic sets carve 10% test first
        print("\nsecondary rule: only candidates shallower than the vanilla (none: the vanilla, ratio 0)")
        print_table(rows, seeds, args.n_samples // 10, shallower=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
