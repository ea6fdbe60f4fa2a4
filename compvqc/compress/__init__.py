"""Compression engine: levels, ReCL, ADMM with masked projection, final retraining, methods,
and choosing the ratio on validation (``select``).

Submodules are imported on use (``from compvqc.compress.admm import ADMM``) so that the
checkpoint layer can read :class:`~compvqc.compress.state.ADMMState` without loading qiskit.
"""
