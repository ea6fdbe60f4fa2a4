"""scikit-learn's estimator interface: fit a VQC like any classifier, then compress it for a backend.

* :class:`VQCClassifier` — ``fit``/``predict``/``predict_proba``/``score``, any label type in
  ``classes_``; its encoder is built from the number of features seen at ``fit`` (angle encoding
  on ``min(d, max_qubits)`` wires, features zero-padded to whole layers, each min-max scaled to
  [0, π] on the training data unless ``scale=False``), or pass your own ``model`` (a VQC, e.g.
  from ``from_qiskit``). ``compress(X, y, backend, ratio=...)`` returns a new fitted estimator
  with the compressed weights and ``compression_`` (accuracies, TCD and cost measures before and
  after).
* :class:`CompressedVQCClassifier` — a meta-estimator whose ``fit`` fits a copy of its
  ``estimator`` and compresses it on the same data, so ``GridSearchCV`` and pipelines can search
  over compression settings too.

Both follow scikit-learn's conventions (``check_estimator`` runs in the tests), so suites written
for scikit-learn, such as XanaduAI's qml-benchmarks, run them unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from compvqc.model import VQC, build_model

AXES = "yzx"  # layer k of the default encoder rotates about AXES[k % 3]


class _Modest:
    """A few epochs of a small circuit are not a strong learner: scikit-learn's score checks relax."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class VQCClassifier(_Modest, ClassifierMixin, BaseEstimator):
    """A variational quantum classifier trained by compvqc's simulator (exact adjoint gradients).

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = VQCClassifier(epochs=2).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    def __init__(self, arch: str = "blocks2", *, epochs: int = 20, batch_size: int = 32, lr: float = 0.05,
                 optimizer: str = "adam", random_state: int = 0, arch_seed: int = 0, max_qubits: int = 4,
                 scale: bool = True, model: VQC | None = None):
        self.arch = arch
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.random_state = random_state
        self.arch_seed = arch_seed
        self.max_qubits = max_qubits
        self.scale = scale
        self.model = model

    # --- fitting ------------------------------------------------------------------------------
    def fit(self, X, y):
        from compvqc.train.loop import fit
        from compvqc.train.optim import make_optimizer

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs samples of at least two classes, got {len(self.classes_)} class")
        self.model_ = self._model(X.shape[1], len(self.classes_))
        if self.scale:
            self.low_ = X.min(axis=0)
            span = X.max(axis=0) - self.low_
            self.span_ = np.where(span > 0, span, 1.0)
        rng = np.random.default_rng(self.random_state)
        result = fit(self.model_, self.model_.init_params(rng), self._angles(X), labels.astype(np.int64),
                     epochs=self.epochs, seed=self.random_state, batch_size=self.batch_size,
                     optimizer=make_optimizer(self.optimizer, self.lr), progress=False)
        self.theta_ = result.theta
        return self

    def _model(self, n_features: int, n_classes: int) -> VQC:
        if self.model is not None:
            if self.model.n_features != n_features or self.model.n_classes != n_classes:
                raise ValueError(f"the model takes {self.model.n_features} features and {self.model.n_classes} "
                                 f"classes; the data has {n_features} and {n_classes}")
            return self.model
        wires = max(1, min(n_features, self.max_qubits), math.ceil(math.log2(n_classes)))
        layers = -(-n_features // wires)
        encoder = f"{wires}x{layers}_r{''.join(AXES[k % 3] for k in range(layers))}"
        return build_model(encoder, self.arch, n_classes, arch_seed=self.arch_seed)

    def _angles(self, X) -> np.ndarray:
        """Scaled features, zero-padded to the encoder's width."""
        x = (X - self.low_) / self.span_ * np.pi if self.scale else np.asarray(X, dtype=np.float64)
        pad = self.model_.n_features - x.shape[1]
        return np.hstack([x, np.zeros((len(x), pad))]) if pad > 0 else x

    # --- prediction ---------------------------------------------------------------------------
    def decision_logits(self, X) -> np.ndarray:
        """The readout's class logits, (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.logits(self.theta_, self._angles(X))

    def predict_proba(self, X) -> np.ndarray:
        """Softmax of the logits: the probabilities the training loss models."""
        z = self.decision_logits(X)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        logits = self.decision_logits(X)
        return self.classes_[np.argmax(logits, axis=1)]

    # --- compression --------------------------------------------------------------------------
    def compress(self, X, y, backend, *, ratio: float = 0.5, method: str = "compvqc", objective: str = "depth",
                 val_fraction: float = 0.2, progress: bool = False) -> "VQCClassifier":
        """A new fitted estimator: this one's model compressed for ``backend`` on (X, y) — ADMM and
        retraining on a training part, levels chosen on a validation part of ``val_fraction`` —
        with ``compression_`` holding the vanilla and compressed accuracies, TCD and cost measures."""
        from compvqc.compile.cache import get_lut
        from compvqc.compress.methods import CompressConfig, check_compressible
        from compvqc.compress.stages import compress
        from compvqc.data.registry import Dataset, Split

        check_is_fitted(self)
        X, y = validate_data(self, X, y, reset=False)
        known = {c: i for i, c in enumerate(self.classes_.tolist())}
        unknown = sorted({c for c in np.asarray(y).tolist() if c not in known}, key=str)
        if unknown:
            raise ValueError(f"labels {unknown[:5]} were not seen at fit")
        config = CompressConfig(method=method, ratio=ratio, objective=objective, seed=self.random_state)
        check_compressible(self.model_, method)
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        labels = np.array([known[c] for c in np.asarray(y).tolist()], dtype=np.int64)
        order = np.random.default_rng(self.random_state).permutation(len(labels))
        k = max(1, int(round(val_fraction * len(labels))))
        if k >= len(labels):
            raise ValueError(f"{len(labels)} samples leave no training part at val_fraction {val_fraction}")
        x = self._angles(X)
        val, train = Split(x[order[:k]], labels[order[:k]]), Split(x[order[k:]], labels[order[k:]])
        data = Dataset("sklearn", train, val, val, len(self.classes_), "")
        lut = get_lut(backend, gates=sorted({g.name for g in self.model_.gates}), model=self.model_,
                      progress=progress)
        result = compress(self.model_, self.theta_, data, backend, lut, config, progress=progress)
        out = clone(self)
        for name, value in vars(self).items():
            if name.endswith("_"):
                setattr(out, name, value)
        out.theta_ = result.theta
        out.compression_ = {"backend": backend if isinstance(backend, str) else backend.name, "method": method,
                            "ratio": ratio, **result.metrics}
        return out


class CompressedVQCClassifier(_Modest, ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` (default :class:`VQCClassifier`), then compress it for ``backend``."""

    def __init__(self, estimator=None, *, backend: str = "fake_manila", ratio: float = 0.5, method: str = "compvqc",
                 objective: str = "depth", val_fraction: float = 0.2):
        self.estimator = estimator
        self.backend = backend
        self.ratio = ratio
        self.method = method
        self.objective = objective
        self.val_fraction = val_fraction

    def fit(self, X, y):
        fitted = clone(self.estimator if self.estimator is not None else VQCClassifier()).fit(X, y)
        self.estimator_ = fitted.compress(X, y, self.backend, ratio=self.ratio, method=self.method,
                                          objective=self.objective, val_fraction=self.val_fraction)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)
