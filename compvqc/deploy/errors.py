"""Errors of the deployment stage, under :class:`compvqc.errors.CompVQCError`::

    CompVQCError
    └── DeployError    a deployment or evaluation that cannot be done as asked (an executor
                       handed an untranspiled circuit, noise switched off on real hardware,
                       an unknown export format, ...)
"""

from __future__ import annotations

from compvqc.errors import CompVQCError


class DeployError(CompVQCError):
    """The deployment stage cannot do what was asked."""
