"""Noise-free batched statevector simulation with exact gradients."""

from compvqc.simulate.engine import Simulator, gate_matrices

__all__ = ["Simulator", "gate_matrices"]
