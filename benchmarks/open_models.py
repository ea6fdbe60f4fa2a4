"""The circuit library's QNNs through compvqc: import, train, compress for fake_manila, recompress
for fake_torino — one row per (model, import path, dataset).

Models (4 qubits): ``z_feature_map`` + ``real_amplitudes``, ``zz_feature_map`` + ``real_amplitudes``,
``zz_feature_map`` + ``efficient_su2``, angle encoding + ``n_local(['ry', 'rz'], 'cz')``, angle
encoding + a QAOA-like ansatz (RZZ ring then RX layer, twice; each angle its own weight). Each is
imported twice: from the qiskit circuit (``from_qiskit`` with the feature map's and the ansatz's
parameters) and from ``qasm3.dumps`` of it, qiskit's default names (``from_qasm3(inputs="x",
weights="θ")``; the CLI's ``train --circuit``). Datasets: ``digits2-2x2`` (scikit-learn's digits,
3 vs 6, pooled to 4 features) and iris from a CSV this script writes from scikit-learn's bundled
``load_iris`` (3 classes, label column ``species``).

Every command after the import is the CLI's: ``compvqc train`` (the qasm path; the qiskit path
trains through the library and writes the same kind of checkpoint), ``compvqc compress --backend
fake_manila --ratio R``, then ``compvqc compress <that> --backend fake_torino --ratio R`` (which
starts from the recorded original θ). Each TCD printed is checked here by an independent
re-transpile: the circuit ``compvqc export --format qiskit-qpy`` writes, read back by qiskit's
``qpy``, transpiled at level 3 over seeds 0-9, must have the reported minimum depth. The QASM 3
export is re-transpiled too, read back by ``qasm3.loads``; where that depth differs (RZZ, RXX and
RYY are not in ``stdgates.inc``, so qiskit reads them as custom gates, which its transpiler compiles
worse) a note says so.

``--shared``: qiskit's own ``qaoa_ansatz`` (γ shared by every RZZ, β by every RX, each doubled)
after angle encoding, trained 10 epochs on ``digits2-2x2`` through the library and compressed by
``compvqc``, ``compvqc-paper`` and ``prune`` at ratio 0.5 for both devices: one decision per weight
(``compress.groups``), TCD re-measured as above.

    .venv/bin/python benchmarks/open_models.py                  # epochs 15, ratio 0.5
    .venv/bin/python benchmarks/open_models.py --quick          # epochs 2, for a smoke run
    .venv/bin/python benchmarks/open_models.py --shared         # QAOA with shared weights
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
from qiskit import QuantumCircuit, qasm3, transpile
from qiskit.circuit import ParameterVector
from qiskit.circuit import library as qlib

from compvqc.checkpoint import save_checkpoint
from compvqc.compile.backends import resolve_backend
from compvqc.compile.tcd import TCD_SEEDS
from compvqc.data import load_dataset
from compvqc.model.qiskit_io import from_qasm3, from_qiskit
from compvqc.model.readout import Readout, default_readout
from compvqc.runs.train import TrainedModel, run_training
from compvqc.train import TrainConfig
from compvqc.train.loop import evaluate

N = 4
CLI = [sys.executable, "-m", "compvqc"]


def angle_encoding(n):
    x = ParameterVector("x", n)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(x[q], q)
    return qc


def qaoa_like(n, reps=2):
    w = ParameterVector("θ", reps * 2 * n)
    qc, k = QuantumCircuit(n), 0
    for _ in range(reps):
        for q in range(n):
            qc.rzz(w[k], q, (q + 1) % n)
            k += 1
        for q in range(n):
            qc.rx(w[k], q)
            k += 1
    return qc


MODELS = {
    "z_feature_map + real_amplitudes": lambda: (qlib.z_feature_map(N, reps=1), qlib.real_amplitudes(N, reps=2)),
    "zz_feature_map + real_amplitudes": lambda: (qlib.zz_feature_map(N, reps=1), qlib.real_amplitudes(N, reps=2)),
    "zz_feature_map + efficient_su2": lambda: (qlib.zz_feature_map(N, reps=1), qlib.efficient_su2(N, reps=1)),
    "angle + n_local(ry rz, cz)": lambda: (angle_encoding(N), qlib.n_local(N, ["ry", "rz"], "cz", reps=2)),
    "angle + QAOA-like (rzz, rx)": lambda: (angle_encoding(N), qaoa_like(N)),
}


def composed(name):
    fm, ansatz = MODELS[name]()
    qc = QuantumCircuit(N)
    qc.compose(fm, inplace=True)
    qc.compose(ansatz, inplace=True)
    return qc, list(fm.parameters), list(ansatz.parameters)


def iris_csv(path: Path) -> Path:
    from sklearn.datasets import load_iris

    iris = load_iris()
    rows = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    rows += [",".join(f"{v}" for v in x) + f",{iris.target_names[t]}" for x, t in zip(iris.data, iris.target)]
    path.write_text("\n".join(rows) + "\n")
    return path


def cli(*args) -> dict:
    out = subprocess.run([*CLI, *map(str, args), "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def retranspiled_tcd(ckpt: Path, backend, fmt: str = "qiskit-qpy") -> int:
    """The TCD of ``compvqc export``'s circuit, measured by qiskit alone (read back by ``qpy``, which
    keeps every gate class, or by ``qasm3.loads``)."""
    from qiskit import qpy

    target = ckpt.with_suffix(f".{fmt}")
    subprocess.run([*CLI, "export", str(ckpt), "--format", fmt, "-o", str(target), "--force"], capture_output=True,
                   check=True)
    if fmt == "qasm3":
        circuit = qasm3.loads(target.read_text())
    else:
        with target.open("rb") as f:
            (circuit,) = qpy.load(f)
    circuit.remove_final_measurements()  # TCD: the circuit without its final measurements
    return min(transpile(circuit, backend, optimization_level=3, seed_transpiler=s).depth() for s in TCD_SEEDS)


def train_from_qiskit(name, dataset: str, label, epochs: int, lr: float, out: Path):
    """The qiskit path: from_qiskit, then the library's training loop; same checkpoint as the CLI's."""
    qc, inputs, weights = composed(name)
    config = TrainConfig(dataset=dataset, label=label, epochs=epochs, lr=lr)
    data = load_dataset(dataset, label=label)
    model, _ = from_qiskit(qc, inputs, weights, default_readout(N, data.n_classes))
    result = run_training(config, data, model, progress=False)
    metrics = {}
    for split in ("train", "val", "test"):
        s = getattr(data, split)
        metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = evaluate(model, result.theta, s.x, s.y)
    save_checkpoint(out, TrainedModel(config, data, model, result, metrics, 0.0).checkpoint())
    return model


def shared(work: Path) -> None:
    """qiskit's QAOA ansatz, weights shared: compress with each level method, TCD re-measured."""
    from qiskit.circuit.library import qaoa_ansatz
    from qiskit.quantum_info import SparsePauliOp

    from compvqc.compile.cache import get_lut
    from compvqc.compress.groups import units
    from compvqc.compress.methods import CompressConfig
    from compvqc.compress.stages import compress
    from compvqc.model.qiskit_io import to_qiskit

    ansatz = qaoa_ansatz(SparsePauliOp(["ZZII", "IZZI", "IIZZ", "ZIIZ"]), reps=2)
    fm = angle_encoding(N)
    qc = QuantumCircuit(N)
    qc.compose(fm, inplace=True)
    qc.compose(ansatz, inplace=True)
    data = load_dataset("digits2-2x2")
    model, _ = from_qiskit(qc, list(fm.parameters), list(ansatz.parameters), default_readout(N, data.n_classes))
    theta = run_training(TrainConfig(dataset="digits2-2x2", epochs=10, lr=0.05), data, model, progress=False).theta
    print(f"qaoa_ansatz: {len(model.gates)} gates, {model.n_params} weights in units of "
          f"{[len(u) for u in units(model)]}")
    print("| method | backend | vanilla acc | compressed acc | TCD | speedup | weights on a level |")
    print("|---|---|---|---|---|---|---|")
    for method in ("compvqc", "compvqc-paper", "prune"):
        for name, backend in (("fake_manila", resolve_backend("fake_manila")), ("fake_torino", resolve_backend("fake_torino"))):
            r = compress(model, theta, data, backend, get_lut(name, gates=["rx", "rzz"]),
                         CompressConfig(method=method, ratio=0.5))
            v, c = r.metrics["vanilla"], r.metrics["compressed"]
            for th, reported in ((theta, v["tcd"]), (r.theta, c["tcd"])):
                circuit = to_qiskit(model, th).circuit
                assert min(transpile(circuit, backend, optimization_level=3, seed_transpiler=s).depth()
                           for s in TCD_SEEDS) == reported, (method, name)
            on = r.final.prune_mask | r.final.quant_mask
            weights = len({p for i in np.flatnonzero(on) for p in model.gates[i].params})
            print(f"| {method} | {name} | {v['test_accuracy']:.3f} | {c['test_accuracy']:.3f} | {v['tcd']} → {c['tcd']} | "
                  f"{v['tcd'] / c['tcd']:.2f}× | {weights} of {model.n_params} ({int(on.sum())} gates) |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--quick", action="store_true", help="2 epochs")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--shared", action="store_true", help="only the QAOA ansatz with shared weights")
    ap.add_argument("--out", default="benchmarks/runs/open_models", help="folder for rows.jsonl and the checkpoints")
    args = ap.parse_args()
    epochs = 2 if args.quick else args.epochs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="open-models-", dir=out))
    if args.shared:
        shared(work)
        return 0
    csv = iris_csv(work / "iris.csv")
    datasets = {"digits2-2x2": ("digits2-2x2", None), "iris (csv)": (str(csv), "species")}
    backends = {b: resolve_backend(b) for b in ("fake_manila", "fake_torino")}
    rows, notes = [], []
    print(f"# {platform.node()} · {os.cpu_count()} cpus · epochs {epochs} · lr {args.lr} · ratio {args.ratio}")
    print("| model | import | data | vanilla acc | manila acc | manila TCD | speedup | torino acc | torino TCD "
          "| speedup | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mi, name in enumerate(args.models):
        qc, _, _ = composed(name)
        qasm = work / f"m{mi}.qasm"
        qasm.write_text(qasm3.dumps(qc))
        for dname, (dataset, label) in datasets.items():
            models = {}
            for path in ("qiskit", "qasm3"):
                start = time.perf_counter()
                tag = f"m{mi}-{path}-{'iris' if label else 'digits'}"
                trained = work / f"{tag}.ckpt"
                if path == "qiskit":
                    models[path] = train_from_qiskit(name, dataset, label, epochs, args.lr, trained)
                else:
                    source = ["--data", dataset, "--label", label] if label else ["--dataset", dataset]
                    cli("train", *source, "--circuit", qasm, "--epochs", epochs, "--lr", args.lr, "-o", trained,
                        "--force")
                    models[path] = from_qasm3(qasm.read_text(), Readout("basis", ((0,), (1,))), inputs="x",
                                              weights="θ")
                manila, torino = work / f"{tag}.manila.ckpt", work / f"{tag}.torino.ckpt"
                m = cli("compress", trained, "--backend", "fake_manila", "--ratio", args.ratio, "-o", manila, "--force")
                t = cli("compress", manila, "--backend", "fake_torino", "--ratio", args.ratio, "-o", torino, "--force")
                for report, ckpt, backend in ((m, manila, "fake_manila"), (t, torino, "fake_torino")):
                    measured = retranspiled_tcd(ckpt, backends[backend])
                    if measured != report["compressed"]["tcd"]:
                        raise SystemExit(f"{tag} {backend}: reported TCD {report['compressed']['tcd']}, "
                                         f"a fresh transpile gives {measured}")
                    assert retranspiled_tcd(trained, backends[backend]) == report["vanilla"]["tcd"], (tag, backend)
                    naive = retranspiled_tcd(ckpt, backends[backend], "qasm3")
                    if naive != measured:
                        notes.append(f"{tag} {backend}: the QASM 3 export read back by qasm3.loads compiles to "
                                     f"depth {naive}, not {measured}")
                row = {"model": name, "import": path, "data": dname, "epochs": epochs, "ratio": args.ratio,
                       "vanilla_accuracy": m["vanilla"]["accuracy"],
                       **{f"{b}_{k}": r[k] for b, r in (("manila", m), ("torino", t)) for k in ("speedup",)},
                       **{f"{b}_{w}_{k}": r[w][k] for b, r in (("manila", m), ("torino", t))
                          for w in ("vanilla", "compressed") for k in ("accuracy", "tcd", "two_qubit_gates")},
                       "seconds": round(time.perf_counter() - start, 1)}
                rows.append(row)
                print(f"| {name} | {path} | {dname} | {row['vanilla_accuracy']:.3f} | "
                      f"{row['manila_compressed_accuracy']:.3f} | {row['manila_vanilla_tcd']} → "
                      f"{row['manila_compressed_tcd']} | {row['manila_speedup']:.2f}× | "
                      f"{row['torino_compressed_accuracy']:.3f} | {row['torino_vanilla_tcd']} → "
                      f"{row['torino_compressed_tcd']} | {row['torino_speedup']:.2f}× | {row['seconds']} |", flush=True)
            same = models["qiskit"].ops == models["qasm3"].ops
            print(f"<!-- {name}, {dname}: the two imports give {'the same' if same else 'DIFFERENT'} circuit -->")
    with (out / "rows.jsonl").open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    for note in notes:
        print(f"note: {note}")
    speedups = [r[f"{b}_speedup"] for r in rows for b in ("manila", "torino")]
    print(f"\nspeedup: median {np.median(speedups):.2f}×, range {min(speedups):.2f}–{max(speedups):.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
