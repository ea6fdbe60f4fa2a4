"""Deployment stage (CompVQC Stage 3): transpile for a backend, cost it, run it, score it.

model → simulate → train → compile → compress → **deploy**:

* :mod:`~compvqc.deploy.transpile` — deploy once: noise-aware layout, TCD, qubit mapping;
* :mod:`~compvqc.deploy.executors` — exact / Aer / qiskit-ibm-runtime Sampler, one job per batch;
* :mod:`~compvqc.deploy.density` — batched noisy density matrices under Aer's noise model;
* :mod:`~compvqc.deploy.counts` — outcomes as (B, 2^n) arrays in the model's bit order;
* :mod:`~compvqc.deploy.evaluate` — accuracy on a split from those outcomes;
* :mod:`~compvqc.deploy.export` — OpenQASM 3 / QPY of the logical or deployed circuit.
"""

from compvqc.errors import DeployError
from compvqc.deploy.evaluate import Evaluation, evaluate, pick_samples
from compvqc.deploy.executors import ENGINES, EXECUTORS, aer_engine, require_transpiled, run_aer, run_primitives
from compvqc.deploy.export import FORMATS, export_circuit, logical_circuit
from compvqc.deploy.transpile import Deployment, deploy, with_deployment

__all__ = [
    "ENGINES", "EXECUTORS", "FORMATS", "aer_engine", "Deployment", "DeployError", "Evaluation", "deploy",
    "evaluate", "export_circuit", "logical_circuit", "pick_samples", "require_transpiled", "run_aer",
    "run_primitives", "with_deployment",
]
