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

from __future__ import annotations

import importlib

# name -> submodule; imported on first use, so a module that needs one piece (the checkpoint
# validation's check_profile, a LUT file) does not load networkx and the whole stage
_EXPORTS = {
    **dict.fromkeys(("PREBUILT", "backend_names", "resolve_backend", "target_digest"), "backends"),
    **dict.fromkeys(("ALL_GATES", "build_lut"), "build"),
    **dict.fromkeys(("StaleLUTWarning", "cache_dir", "check", "get_lut", "load_lut"), "cache"),
    **dict.fromkeys(("Estimator", "LevelCost", "estimate_tcd", "gate_dag", "in_context_costs"), "estimate"),
    "GridSpec": "grid",
    **dict.fromkeys(("LUT", "DepthStats", "Entry", "GateTable", "classify", "load_lut_file", "save_lut"), "lut"),
    **dict.fromkeys(("Region", "default_region", "make_region"), "region"),
    **dict.fromkeys(("TCD_SEEDS", "TCDResult", "circuit_tcd", "true_tcd"), "tcd"),
}
_ERRORS = ("BackendNotFound", "CompileError", "LUTFileError", "LUTStale")

__all__ = [*_EXPORTS, *_ERRORS]


def __getattr__(name: str):
    if name in _ERRORS:
        value = getattr(importlib.import_module("compvqc.errors"), name)
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f"compvqc.compile.{_EXPORTS[name]}"), name)
    else:
        raise AttributeError(f"module 'compvqc.compile' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
