"""compvqc.sklearn against scikit-learn's own conventions: check_estimator, GridSearchCV, pipelines,
any label type, and compression of a fitted estimator (its TCD checked by a fresh transpile)."""

import numpy as np
import pytest
from qiskit import qasm3, transpile
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from compvqc.compile.tcd import TCD_SEEDS
from compvqc.compile.backends import resolve_backend
from compvqc.errors import CompressionError
from compvqc.model import Gate
from compvqc.model.qiskit_io import to_qasm3
from compvqc.sklearn import CompressedVQCClassifier, VQCClassifier

SKIPPED = {  # scikit-learn skips these here; nothing else may be skipped or fail
    "check_array_api_input": "needs SCIPY_ARRAY_API and array-api-strict, which compvqc does not install",
    "check_classifier_data_not_an_array": "its pandas variant needs pandas, which compvqc does not install",
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path / "cache"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_check_estimator_passes():
    results = check_estimator(VQCClassifier(epochs=2), on_fail=None)
    assert len(results) > 40
    not_passed = {r["check_name"]: r["status"] for r in results if r["status"] != "passed"}
    assert set(not_passed) <= set(SKIPPED) and set(not_passed.values()) <= {"skipped"}, not_passed


def _iris():
    data = load_iris()
    return data.data, data.target_names[data.target]  # string labels: "setosa", ...


def test_grid_search_over_learning_rates_on_iris():
    X, y = _iris()
    search = GridSearchCV(VQCClassifier(epochs=3), {"lr": [0.02, 0.1]}, cv=2).fit(X, y)
    assert search.best_params_["lr"] in (0.02, 0.1)
    assert set(search.best_estimator_.classes_) == {"setosa", "versicolor", "virginica"}
    assert search.best_estimator_.predict(X[:5]).dtype.kind == "U"
    assert search.best_score_ > 0.5  # three classes: chance is 1/3


def test_pipeline_probabilities_and_features_seen_at_fit():
    X, y = _iris()
    clf = make_pipeline(StandardScaler(), VQCClassifier(epochs=3, random_state=1)).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(axis=1), 1)
    vqc = clf[-1]
    assert vqc.n_features_in_ == 4 and vqc.model_.n_features == 4 and vqc.model_.n_qubits == 4
    wide = VQCClassifier(epochs=1).fit(np.random.default_rng(0).normal(size=(40, 10)), np.arange(40) % 2)
    assert wide.model_.n_features == 12 and wide.model_.n_qubits == 4  # 10 features padded to 3 layers


def test_compress_returns_a_fitted_estimator_whose_tcd_a_fresh_transpile_reproduces():
    X, y = _iris()
    keep = y != "virginica"
    X, y = X[keep], y[keep]
    clf = VQCClassifier(epochs=4, random_state=2).fit(X, y)
    small = clf.compress(X, y, "fake_manila", ratio=0.5)
    assert small is not clf and np.array_equal(small.classes_, clf.classes_)
    report = small.compression_
    assert report["compressed"]["tcd"] < report["vanilla"]["tcd"]
    circuit = qasm3.loads(to_qasm3(small.model_, small.theta_))
    manila = resolve_backend("fake_manila")
    depths = [transpile(circuit, manila, optimization_level=3, seed_transpiler=s).depth() for s in TCD_SEEDS]
    assert min(depths) == report["compressed"]["tcd"]
    assert small.score(X, y) == pytest.approx(np.mean(small.predict(X) == y))
    meta = CompressedVQCClassifier(VQCClassifier(epochs=2), ratio=0.25).fit(X, y)
    assert meta.predict(X[:4]).shape == (4,) and meta.estimator_.compression_["ratio"] == 0.25


def test_compress_refuses_a_weight_one_decision_cannot_set_before_any_work():
    X = np.random.default_rng(0).uniform(size=(30, 2))
    y = np.arange(30) % 2
    clf = VQCClassifier(epochs=1).fit(X, y)
    g = clf.model_.gates[0]
    tripled = type(clf.model_)(clf.model_.n_qubits, 2, (*clf.model_.ops, Gate(g.name, g.wires, g.params, (3.0,))),
                               clf.model_.readout)
    clf2 = VQCClassifier(epochs=1, model=tripled).fit(X, y)
    with pytest.raises(CompressionError, match="powers of two"):
        clf2.compress(X, y, "fake_manila")
