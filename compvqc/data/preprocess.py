"""Image preprocessing as in the papers: center-crop 28×28 → 24×24, 6×6 average-pool to 4×4.

Then either ``scale`` (pixels in [0, 1] times π: angles in [0, π]) or ``standardize``
((x - 0.1307) / 0.3081, the MNIST statistics the on-chip paper's pipeline uses). Both maps are
affine per pixel, so applying them after pooling equals applying them before.
"""

from __future__ import annotations

import numpy as np

from compvqc.errors import DatasetError

MODES = ("scale", "standardize")
MEAN, STD = 0.1307, 0.3081


def pool(images: np.ndarray, crop: int, out: int) -> np.ndarray:
    """Center-crop square images to ``crop`` and average-pool to out×out; returns (N, out²) in [0, 1]."""
    n, h, w = images.shape
    top, left = (h - crop) // 2, (w - crop) // 2
    x = images[:, top : top + crop, left : left + crop].astype(np.float64)
    k = crop // out
    x = x.reshape(n, out, k, out, k).mean(axis=(2, 4))
    return x.reshape(n, out * out)


def scale_features(x01: np.ndarray, mode: str) -> np.ndarray:
    if mode == "scale":
        return x01 * np.pi
    if mode == "standardize":
        return (x01 - MEAN) / STD
    raise DatasetError(f"unknown preprocessing {mode!r} (use {' or '.join(MODES)})")
