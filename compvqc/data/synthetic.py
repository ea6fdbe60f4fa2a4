"""Syn-Dataset-4 / Syn-Dataset-16 (CompVQC paper §4.1), with the distributions fixed.

The paper leaves D1 and D2 open; we fix D1 = N(1.0, 0.5²), D2 = N(2.0, 0.5²) per feature, in
radians. Class 0 draws its first half of the features from D1 and the second from D2, class 1
the other way round; classes are balanced. The paper's 100 samples leave 10 to test, too few to
resolve 1%, so the size is a parameter (default 1000).
"""

from __future__ import annotations

import numpy as np

from compvqc.errors import DatasetError
from compvqc.limits import MAX_SAMPLES

D1 = (1.0, 0.5)
D2 = (2.0, 0.5)


def make_synthetic(n_features: int, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n_features < 2 or n_features % 2:
        raise DatasetError("synthetic data needs an even number of features ≥ 2")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or not 2 <= n_samples <= MAX_SAMPLES:
        raise DatasetError(f"synthetic data needs an integer number of samples in 2..{MAX_SAMPLES}, got {n_samples!r}")
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % 2
    rng.shuffle(y)
    half = n_features // 2
    first = np.where(y[:, None] == 0, rng.normal(*D1, (n_samples, half)), rng.normal(*D2, (n_samples, half)))
    second = np.where(y[:, None] == 0, rng.normal(*D2, (n_samples, half)), rng.normal(*D1, (n_samples, half)))
    return np.concatenate([first, second], axis=1), y
