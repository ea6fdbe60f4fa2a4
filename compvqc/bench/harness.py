"""Run a sweep: vanilla models once per (dataset, seed), then every point, resumable and parallel.

The output directory has one owner (the run lock of :mod:`compvqc.checkpoint.lock`) and this
layout::

    sweep.json              the settings (a rerun with other result-changing settings is refused)
    vanilla/D-sS.ckpt       the vanilla model of dataset D, training seed S (shared by all methods)
    vanilla/D-sS.json       its accuracy and cost measures
    points/<key>.json       one finished point, written atomically the moment it finishes
    points.csv, points.jsonl    every row, tidy, sorted by key (rewritten at the end of a run)

Workers compute and return; only this process writes, so a killed run leaves whole files only,
and a rerun computes just the points whose files are missing. Points run in local processes
(``workers``; 1 runs them in this process) or on a dask.distributed cluster (``scheduler``);
workers receive the vanilla model as bytes, so a cluster needs no shared filesystem. A row
depends only on its point and the sweep's settings, never on which executor or worker ran it
(wall time and host aside).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import platform
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from compvqc.bench.grid import Point, Sweep
from compvqc.checkpoint.container import decode, encode
from compvqc.checkpoint.lock import acquire
from compvqc.compress.admm import ADMMConfig
from compvqc.compress.methods import CompressConfig, get_method
from compvqc.errors import UsageError
from compvqc.fsutil import atomic_write_bytes, remove_stale_temporaries

# The papers' models per dataset (benchmarks/RESULTS.md, Foundation); a sweep's ``train`` overrides.
SETUPS = {
    "mnist2": dict(arch="random50"),
    "fashion2": dict(arch="random22", arch_seed=2, encoder="amplitude"),
    "mnist4": dict(arch="random50", preprocess="standardize"),
    "fashion4": dict(arch="random50", preprocess="standardize"),
    "fashion3": dict(arch="random30", encoder="amplitude"),
    "syn4": dict(arch="random14"),
    "syn16": dict(arch="random22"),
}
FULL_EPOCHS = 30
QUICK_TRAIN = dict(epochs=2, max_train=256)
QUICK_COMPRESS = dict(admm=ADMMConfig(iterations=2, min_steps=20), retrain_epochs=1, retrain_min_steps=20,
                      tcd_seeds=(0, 1))
# Settings that change a row: a rerun in the same directory must have the same.
RESULT_SETTINGS = ("backend", "quick", "noisy", "shots", "train", "compress")
COLUMNS = ("key", "dataset", "backend", "method", "knob_name", "knob", "seed", "val_accuracy", "test_accuracy",
           "noisy_val_accuracy", "noisy_test_accuracy", "tcd", "two_qubit_gates", "duration", "success_probability",
           "speedup", "pruned", "quantized", "vanilla_val_accuracy", "vanilla_test_accuracy",
           "vanilla_noisy_val_accuracy", "vanilla_noisy_test_accuracy", "vanilla_tcd", "seconds", "host", "versions",
           "lut_sha256", "note")


def train_config(sweep: Sweep, dataset: str, seed: int):
    from compvqc.train.config import TrainConfig

    kw = {"epochs": FULL_EPOCHS, **SETUPS.get(dataset, {}), **(QUICK_TRAIN if sweep.quick else {}),
          **sweep.train.get(dataset, {})}
    return TrainConfig(dataset=dataset, seed=seed, **kw)


def compress_config(sweep: Sweep, point: Point) -> CompressConfig:
    """The point's CompressConfig: the library's defaults (shortened by --quick), the sweep's
    ``compress`` overrides, the point's knob."""
    knob = get_method(point.method).knob
    over = dict(sweep.compress)
    kw = {**(QUICK_COMPRESS if sweep.quick else {}), **{k: v for k, v in over.items() if k != "admm"}}
    value = float(point.knob) if point.knob is not None else None
    kw["admm"] = replace(kw.get("admm", ADMMConfig()), **over.get("admm", {}),
                         **({"ratio": value} if knob == "ratio" else {}))
    if "tcd_seeds" in kw:
        kw["tcd_seeds"] = tuple(kw["tcd_seeds"])
    return CompressConfig(method=point.method, ratio=value if knob == "ratio" else 0.5,
                          degree=value if knob == "degree" else None, **kw)


@functools.lru_cache(maxsize=8)
def _dataset(reference_json: str, data_dir):
    from compvqc.data import load_reference

    return load_reference(json.loads(reference_json), data_dir)


def _costs(model, theta, backend, seeds, sweep: Sweep, data, seed: int) -> dict:
    """TCD and the other cost measures of one deployment, and noisy accuracy on it if asked."""
    from compvqc.deploy import deploy, evaluate

    dep = deploy(model, theta, backend, seeds)
    out = {"tcd": dep.tcd, "two_qubit_gates": dep.two_qubit_gates, "duration": dep.duration,
           "success_probability": dep.success_probability}
    if sweep.noisy:
        for split in ("val", "test"):
            s = getattr(data, split)
            out[f"noisy_{split}_accuracy"] = evaluate(model, theta, s.x, s.y, backend, shots=sweep.shots, seed=seed,
                                                      deployment=dep).accuracy
    return out


def train_vanilla(sweep_dict: dict, dataset: str, seed: int, data_dir=None) -> tuple[bytes, dict]:
    """A worker task: the vanilla model of (dataset, seed) as checkpoint bytes, and its metrics."""
    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.tcd import TCD_SEEDS
    from compvqc.runs.train import train_on_dataset

    sweep = Sweep.from_dict(sweep_dict)
    trained = train_on_dataset(train_config(sweep, dataset, seed), data_dir=data_dir, progress=False)
    seeds = QUICK_COMPRESS["tcd_seeds"] if sweep.quick else TCD_SEEDS
    metrics = {"val_accuracy": trained.metrics["val_accuracy"], "test_accuracy": trained.metrics["test_accuracy"],
               **_costs(trained.model, trained.result.theta, resolve_backend(sweep.backend), seeds, sweep,
                        trained.dataset, seed)}
    return encode(trained.checkpoint()), metrics


def run_point(sweep_dict: dict, point: tuple, vanilla_bytes: bytes, vanilla: dict, data_dir=None) -> dict:
    """A worker task: compress one vanilla model at one point; the point's tidy row."""
    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.cache import get_lut
    from compvqc.compress.stages import compress

    start = time.perf_counter()
    sweep, point = Sweep.from_dict(sweep_dict), Point(*point)
    src = decode(vanilla_bytes, f"vanilla model {point.dataset} seed {point.seed}")
    model, theta = src.model, src.theta_original
    data = _dataset(json.dumps(src.dataset, sort_keys=True), data_dir)
    backend = resolve_backend(sweep.backend)
    lut = get_lut(backend, gates=sorted({g.name for g in model.gates}), model=model, progress=False)
    config = compress_config(sweep, point)
    result = compress(model, theta, data, backend, lut, config, progress=False,
                      vanilla_metrics={k: vanilla[k] for k in ("val_accuracy", "test_accuracy", "tcd")},
                      tcd=False)  # the deployment below measures it, once
    comp = result.metrics["compressed"]
    row = {k: comp.get(k) for k in ("val_accuracy", "test_accuracy", "tcd", "two_qubit_gates", "duration",
                                    "success_probability", "note")}
    if get_method(point.method).run is None:  # the model itself was compressed: deploy it (its TCD, costs)
        row.update(_costs(model, result.theta, backend, config.tcd_seeds, sweep, data, point.seed))
    final = result.final
    row.update(
        key=point.key, dataset=point.dataset, backend=sweep.backend, method=point.method,
        knob_name=get_method(point.method).knob, knob=point.knob, seed=point.seed,
        speedup=vanilla["tcd"] / row["tcd"] if row["tcd"] else None,
        pruned=int(final.prune_mask.sum()) if final else 0, quantized=int(final.quant_mask.sum()) if final else 0,
        vanilla_val_accuracy=vanilla["val_accuracy"], vanilla_test_accuracy=vanilla["test_accuracy"],
        vanilla_noisy_val_accuracy=vanilla.get("noisy_val_accuracy"),
        vanilla_noisy_test_accuracy=vanilla.get("noisy_test_accuracy"), vanilla_tcd=vanilla["tcd"],
        seconds=round(time.perf_counter() - start, 2), host=platform.node(), versions=versions(),
        lut_sha256=lut.sha256,
    )
    return {c: row.get(c) for c in COLUMNS}


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    out = {}
    for name in ("compvqc", "qiskit", "qiskit-aer", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def record(out: Path, point: Point, row: dict) -> None:
    """A finished point, written at once (atomically): what a rerun will not compute again."""
    _write_json(point_file(out, point), row)


def point_file(out: Path, point: Point) -> Path:
    safe = point.key.replace("|", "__")
    return out / "points" / f"{safe}.json"


def _write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, sort_keys=True, indent=1) + "\n").encode())


def _claim(out: Path, sweep: Sweep):
    """Lock the directory and check that what it holds was made with the same settings."""
    out.mkdir(parents=True, exist_ok=True)
    lock = acquire(out)
    mine = {k: sweep.to_dict()[k] for k in RESULT_SETTINGS}
    stored = out / "sweep.json"
    if stored.exists():
        old = json.loads(stored.read_text())
        fresh = Sweep(datasets=sweep.datasets, methods=sweep.methods).to_dict()  # a setting added later: its default
        differ = sorted(k for k in RESULT_SETTINGS if old.get("settings", {}).get(k, fresh[k]) != mine[k])
        if differ:
            if lock is not None:
                lock.release()
            raise UsageError(f"{out} holds a sweep with other settings ({', '.join(differ)}); use another directory")
    _write_json(stored, {"settings": mine, "sweep": sweep.to_dict()})
    (out / "vanilla").mkdir(exist_ok=True)
    (out / "points").mkdir(exist_ok=True)
    for p in sweep.points():  # what a killed run was writing
        remove_stale_temporaries(point_file(out, p))
    for d, s in {(p.dataset, p.seed) for p in sweep.points()}:
        for ext in ("ckpt", "json"):
            remove_stale_temporaries(out / "vanilla" / f"{d}-s{s}.{ext}")
    return lock


def _call(task):
    fn, job = task
    return job, fn(*job)


class _Local:
    """``workers`` processes (spawned: qiskit's threads and fork do not mix), or this process."""

    def __init__(self, workers: int):
        self.pool = None
        if workers > 1:
            import multiprocessing
            import sys

            # A pool stopped by a signal leaves its semaphores to multiprocessing's resource
            # tracker, which would print a warning after our one line; the tracker takes its
            # warning options from ours.
            if "ignore:resource_tracker:UserWarning" not in sys.warnoptions:
                sys.warnoptions.append("ignore:resource_tracker:UserWarning")
            self.pool = multiprocessing.get_context("spawn").Pool(workers)

    def map(self, fn, jobs):
        """Yield (job, result) as each finishes."""
        if self.pool is None:
            return (_call((fn, job)) for job in jobs)
        return self.pool.imap_unordered(_call, [(fn, job) for job in jobs])

    def close(self, ok: bool) -> None:
        """Wait for idle workers to leave, or stop busy ones at once (an error, a signal)."""
        if self.pool is not None:
            (self.pool.close if ok else self.pool.terminate)()
            self.pool.join()


class _Dask:
    """The points as tasks on a dask.distributed cluster (a ``Client`` or a scheduler address)."""

    def __init__(self, scheduler):
        from distributed import Client

        self.own = not isinstance(scheduler, Client)
        self.client = Client(scheduler) if self.own else scheduler
        self.futures: list = []

    def map(self, fn, jobs):
        from distributed import as_completed

        futures = {self.client.submit(_call, (fn, job), pure=False): job for job in jobs}
        self.futures = list(futures)
        return (f.result() for f in as_completed(self.futures))

    def close(self, ok: bool) -> None:
        if not ok:
            self.client.cancel(self.futures)
        if self.own:
            self.client.close()


def run_sweep(sweep: Sweep, out, *, workers: int = 1, scheduler=None, data_dir=None, progress=None) -> list[dict]:
    """Every point of ``sweep`` into ``out`` (see the module docstring); returns the rows, by key."""
    from tqdm.auto import tqdm

    out = Path(out)
    lock = _claim(out, sweep)
    executor = _Dask(scheduler) if scheduler is not None else _Local(workers)
    sd, ok = sweep.to_dict(), False
    try:
        vanilla = {}
        todo = []
        for d, s in sorted({(p.dataset, p.seed) for p in sweep.points()}):
            ck, js = out / "vanilla" / f"{d}-s{s}.ckpt", out / "vanilla" / f"{d}-s{s}.json"
            if ck.exists() and js.exists():
                vanilla[d, s] = (ck.read_bytes(), json.loads(js.read_text()))
            else:
                todo.append((sd, d, s, data_dir))
        for (_, d, s, _), (blob, metrics) in executor.map(train_vanilla, todo):
            atomic_write_bytes(out / "vanilla" / f"{d}-s{s}.ckpt", blob)
            _write_json(out / "vanilla" / f"{d}-s{s}.json", metrics)  # written last: marks the pair done
            vanilla[d, s] = (blob, metrics)
        points = [p for p in sweep.points() if not point_file(out, p).exists()]
        jobs = [(sd, (p.dataset, p.seed, p.method, p.knob), *vanilla[p.dataset, p.seed], data_dir) for p in points]
        bar = tqdm(total=len(sweep.points()), initial=len(sweep.points()) - len(points), unit="point", desc="bench",
                   disable=(None if progress is None else not progress), leave=False)
        for job, row in executor.map(run_point, jobs):
            record(out, Point(*job[1]), row)
            bar.update(1)
        bar.close()
        ok = True
    finally:
        executor.close(ok)
        if lock is not None:
            lock.release()
    rows = sorted((json.loads(point_file(out, p).read_text()) for p in sweep.points()), key=lambda r: r["key"])
    write_tables(out, rows)
    return rows


def write_tables(out: Path, rows: list[dict]) -> None:
    """points.csv (one column per field; versions as JSON) and points.jsonl."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in r.items()})
    atomic_write_bytes(out / "points.csv", buf.getvalue().encode())
    atomic_write_bytes(out / "points.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())
