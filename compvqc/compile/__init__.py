"""Compiler stage: compression-level LUTs per backend, and transpiled circuit depth (TCD).

qiskit enters the pipeline here (model → simulate → train → **compile** → compress → deploy):

* :mod:`~compvqc.compile.backends` — backend names → ``BackendV2``, Target digest;
* :mod:`~compvqc.compile.grid`, :mod:`~compvqc.compile.region` — which angles, which qubits;
* :mod:`~compvqc.compile.build` — compile every gate over its grid (the LUT builder);
* :mod:`~compvqc.compile.lut` — the LUT as data: classification, JSON, sha256;
* :mod:`~compvqc.compile.cache` — find a valid LUT (cache, prebuilt) or rebuild a stale one;
* :mod:`~compvqc.compile.tcd` — true TCD (whole circuit, min over recorded seeds);
* :mod:`~compvqc.compile.cost` — two-qubit gates, scheduled duration, estimated success probability;
* :mod:`~compvqc.compile.estimate` — fast TCD estimate and per-gate savings in context.
"""

from compvqc.compile.backends import PREBUILT, backend_names, resolve_backend, target_digest
from compvqc.compile.build import ALL_GATES, build_lut
from compvqc.compile.cache import StaleLUTWarning, cache_dir, check, get_lut, load_lut
from compvqc.errors import BackendNotFound, CompileError, LUTFileError, LUTStale
from compvqc.compile.estimate import Estimator, LevelCost, estimate_tcd, gate_dag, in_context_costs
from compvqc.compile.grid import GridSpec
from compvqc.compile.lut import LUT, DepthStats, Entry, GateTable, classify, load_lut_file, save_lut
from compvqc.compile.region import Region, default_region, make_region
from compvqc.compile.tcd import TCD_SEEDS, TCDResult, circuit_tcd, true_tcd

__all__ = [
    "ALL_GATES", "PREBUILT", "TCD_SEEDS",
    "BackendNotFound", "CompileError", "LUTFileError", "LUTStale", "StaleLUTWarning",
    "DepthStats", "Entry", "Estimator", "GateTable", "GridSpec", "LUT", "LevelCost", "Region", "TCDResult",
    "backend_names", "build_lut", "cache_dir", "check", "circuit_tcd", "classify", "default_region",
    "estimate_tcd", "gate_dag", "get_lut", "in_context_costs", "load_lut", "load_lut_file", "make_region",
    "resolve_backend", "save_lut", "target_digest", "true_tcd",
]
