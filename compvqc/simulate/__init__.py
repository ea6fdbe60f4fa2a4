"""Noise-free batched statevector simulation with exact gradients."""

from compvqc.simulate.engine import Simulator

__all__ = ["Simulator"]
