"""Building a LUT: compile each gate over its angle grid on every site of a region.

Levels are found by *compiling*, never by assumption: for each gate type and each physical
site (a qubit, or a directed edge for controlled gates) one batched ``transpile`` call —
optimization_level 3, fixed ``seed_transpiler``, ``initial_layout`` pinned to the site —
compiles the grid angles and the random "generic" angles together. A grid angle's depth is the
worst case over the region's sites, and the generic distribution is taken over the worst-case
depths of the random angles, so "quantization level" means "shallower than any random angle,
wherever in the region the gate lands".
"""

from __future__ import annotations

import datetime as _dt
import multiprocessing as mp
import os
import time
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from compvqc.compile.backends import backend_name, backend_version, basis_gates, resolve_backend, target_digest
from compvqc.errors import CompileError
from compvqc.compile.grid import GridSpec
from compvqc.compile.lut import LUT, DepthStats, Entry, GateTable, classify, is_identity
from compvqc.compile.region import Region, default_region, make_region
from compvqc.compile.tcd import OPTIMIZATION_LEVEL
from compvqc.limits import MAX_WORKERS
from compvqc.model.gates import GATE_TYPES, canonicalize_angles

ALL_GATES = ("rx", "ry", "rz", "crx", "cry", "crz", "u3", "cu3", "p", "cp", "rzz", "rxx", "ryy")
SEED_TRANSPILER = 0


def _pkg_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def qiskit_version() -> str:
    import qiskit

    return qiskit.__version__


def gate_circuit(name: str, angles):
    """A 1- or 2-qubit circuit holding one gate (control first), angles canonicalized."""
    from qiskit import QuantumCircuit

    from compvqc.model.qiskit_io import QISKIT_GATES

    gt = GATE_TYPES[name]
    qc = QuantumCircuit(gt.n_wires)
    qc.append(QISKIT_GATES[name](*canonicalize_angles(name, angles)), list(range(gt.n_wires)))
    return qc


def compile_depths(circuits, backend, site, *, seed: int = SEED_TRANSPILER) -> list[int]:
    """Depths of ``circuits`` compiled onto physical ``site`` — one batched transpile call.

    Checks that the transpiler kept every gate on the site (with a pinned initial layout it
    should; if not, the LUT would describe other qubits than it claims).
    """
    from qiskit import transpile

    outs = transpile(list(circuits), backend, optimization_level=OPTIMIZATION_LEVEL,
                     initial_layout=list(site), seed_transpiler=seed)  # a list in, a list out
    allowed = set(site)
    depths = []
    for out in outs:
        used = {out.find_bit(q).index for inst in out.data for q in inst.qubits}
        if not used <= allowed:
            raise CompileError(f"the transpiler moved a gate off site {tuple(site)} onto {sorted(used)}")
        depths.append(int(out.depth()))
    return depths


def _unitary(name: str, angles) -> np.ndarray:
    from qiskit.quantum_info import Operator

    return Operator(gate_circuit(name, angles)).data


def _sites(name: str, region: Region) -> tuple[tuple[int, ...], ...]:
    if GATE_TYPES[name].n_wires == 2:
        if not region.pairs:
            raise CompileError(f"{name} needs a two-qubit edge, region {list(region.qubits)} has none")
        return region.directed_edges
    return tuple((q,) for q in region.qubits)


def _circuits(name: str, angle_list):
    if name == "cx":
        from qiskit import QuantumCircuit

        qc = QuantumCircuit(2)
        qc.cx(0, 1)
        return [qc]
    return [gate_circuit(name, a) for a in angle_list]


def _task(spec) -> list[int]:
    """One (gate, angles, site) batch — module level so a worker process can run it."""
    backend, name, angle_list, site = spec
    return compile_depths(_circuits(name, angle_list), resolve_backend(backend), site)


def _child_init() -> None:
    # What qiskit's own parallel_map does: keep qiskit's Rust code single-threaded in a forked
    # worker (a thread pool inherited through fork would deadlock).
    os.environ["QISKIT_IN_PARALLEL"] = "TRUE"


def default_workers(backend) -> int:
    """Worker processes for a build: one per CPU (at most 4) where fork exists and the backend
    can be re-resolved by name in the worker; else 1 (run in this process)."""
    if "fork" not in mp.get_all_start_methods() or os.environ.get("QISKIT_IN_PARALLEL") == "TRUE":
        return 1
    try:
        resolve_backend(backend_name(backend))
    except CompileError:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 4))


def _run(specs, workers: int, bar) -> list[list[int]]:
    """Run the batches, in order, on ``workers`` processes; each finished batch ticks ``bar``."""
    if workers <= 1 or len(specs) < 2:
        out = []
        for spec in specs:
            out.append(_task(spec))
            bar.update(1)
        return out
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                             initializer=_child_init) as pool:
        futures = [pool.submit(_task, spec) for spec in specs]
        for fut in futures:
            fut.add_done_callback(lambda _f: bar.update(1))
        return [f.result() for f in futures]


def _gate_table(name: str, region: Region, grid_angles, per_site) -> GateTable:
    """Worst case over sites, generic distribution of the random angles, kind of each grid angle."""
    depths = np.array(per_site, dtype=np.int64)  # (sites, angles)
    worst = depths.max(axis=0)
    generic = DepthStats.of(worst[len(grid_angles):])
    entries = []
    for k, angles in enumerate(grid_angles):
        d = int(worst[k])
        kind = classify(d, generic.min, generic.max, is_identity(_unitary(name, angles)))
        entries.append(Entry(canonicalize_angles(name, angles), d, kind, tuple(int(x) for x in depths[:, k])))
    return GateTable(name, generic, tuple(entries), _sites(name, region))


def build_lut(backend, gates=ALL_GATES, *, qubits=None, region: Region | None = None, model=None,
              grid: GridSpec | None = None, progress: bool | None = None, workers: int | None = None) -> LUT:
    """Build the compression-level LUT of ``gates`` on ``backend``.

    ``qubits`` pins the region (it must be connected); otherwise :func:`default_region` picks it
    (whole device up to 7 qubits, else qiskit's layout of ``model`` or of the reference model).
    ``progress``: a tqdm bar (None → only on a terminal, False → never). ``workers``: processes
    (None → :func:`default_workers`); the table does not depend on it.
    """
    from tqdm.auto import tqdm

    backend = resolve_backend(backend)
    grid = grid or GridSpec()
    gates = tuple(dict.fromkeys(gates))
    unknown = [g for g in gates if g not in GATE_TYPES]
    if unknown:
        raise CompileError(f"unknown gate type(s) {unknown} (known: {' '.join(GATE_TYPES)})")
    if not gates:
        raise CompileError("no gate types to build")
    if region is None:
        region = (make_region(backend, qubits, "user") if qubits is not None
                  else default_region(backend, model))
    start = time.perf_counter()
    if workers is None:
        workers = default_workers(backend)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise CompileError(f"workers must be an integer in 1..{MAX_WORKERS}, got {workers!r}")
    # Workers re-resolve the backend by name (cheap, and nothing big crosses the process gap).
    target = backend_name(backend) if workers > 1 else backend
    # One batch per (gate type, site): grid and random angles compiled in one transpile call.
    specs, layout = [], []
    for g in gates:
        grid_angles, random_angles = grid.grid(g), grid.random_angles(g)
        sites = _sites(g, region)
        layout.append((g, grid_angles, len(sites)))
        specs += [(target, g, grid_angles + random_angles, site) for site in sites]
    if "u3" not in gates:  # the merged single-qubit block needs random U3s
        u3_random = grid.random_angles("u3")
        specs += [(target, "u3", u3_random, (q,)) for q in region.qubits]
    specs += [(target, "cx", None, site) for site in region.directed_edges]
    with tqdm(total=len(specs), desc=f"LUT {backend_name(backend)}", unit="batch",
              disable=None if progress is None else not progress, leave=False) as bar:
        results = _run(specs, workers, bar)
    tables, k = {}, 0
    for g, grid_angles, n_sites in layout:
        tables[g] = _gate_table(g, region, grid_angles, results[k : k + n_sites])
        k += n_sites
    if "u3" in tables:
        blocks = {"1q": tables["u3"].generic}
    else:
        blocks = {"1q": DepthStats.of(np.array(results[k : k + len(region.qubits)]).max(axis=0))}
        k += len(region.qubits)
    if region.directed_edges:
        blocks["cx"] = DepthStats.of([d for r in results[k:] for d in r])
    seconds = time.perf_counter() - start
    provenance = {
        "backend": backend_name(backend),
        "backend_version": backend_version(backend),
        "num_qubits": int(backend.target.num_qubits),
        "basis_gates": basis_gates(backend),
        "target_sha256": target_digest(backend.target),
        "qiskit_version": qiskit_version(),
        "qiskit_ibm_runtime_version": _pkg_version("qiskit-ibm-runtime"),
        "compvqc_version": _pkg_version("compvqc"),
        "optimization_level": OPTIMIZATION_LEVEL,
        "seed_transpiler": SEED_TRANSPILER,
        "layout": "initial_layout pinned to each site; depth = worst case over the region's sites",
        "region": region.describe(),
        "grid": grid.describe(),
        "gates": list(gates),
        "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 3),
        "transpile_calls": len(specs),
        "workers": workers,
    }
    return LUT(provenance, tables, blocks)
