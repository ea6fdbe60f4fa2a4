"""LUT cache: lookup order, provenance checks, rebuild with a warning or refuse (no_rebuild)."""

import json
import warnings

import pytest

from compvqc.compile import LUTFileError, LUTStale, StaleLUTWarning, get_lut, load_lut, resolve_backend
from compvqc.compile import cache as cache_mod
from compvqc.compile.lut import load_lut_file


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _tiny(**kw):
    """One gate type on one qubit: a LUT that builds in a fraction of a second."""
    return get_lut("fake_manila", gates=("rx",), qubits=(0,), progress=False, workers=1, **kw)


def _edit(path, **prov):
    doc = json.loads(path.read_text())
    doc["provenance"].update(prov)  # provenance is outside the table's sha256
    path.write_text(json.dumps(doc))


def test_cache_dir_follows_the_environment(cache, monkeypatch):
    assert cache_mod.cache_dir() == cache
    monkeypatch.delenv("COMPVQC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert str(cache_mod.cache_dir()) == "/somewhere/compvqc"


def test_build_once_then_reuse(cache):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a first build is not a stale rebuild: no warning
        lut = _tiny()
    path = cache / "lut" / "fake_manila.q0.json"
    assert path.is_file() and lut.provenance["region"]["qubits"] == [0]
    mtime = path.stat().st_mtime_ns
    again = _tiny(no_rebuild=True)
    assert again.sha256 == lut.sha256 and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("field,value,reason", [
    ("qiskit_version", "0.46.0", "qiskit 0.46.0"),
    ("target_sha256", "0" * 64, "Target"),
])
def test_stale_lut_is_rebuilt_with_a_warning_or_refused(cache, field, value, reason):
    lut = _tiny()
    path = cache / "lut" / "fake_manila.q0.json"
    _edit(path, **{field: value})
    with pytest.raises(LUTStale, match=reason):
        _tiny(no_rebuild=True)
    with pytest.warns(StaleLUTWarning, match=reason):
        rebuilt = _tiny()
    assert rebuilt.sha256 == lut.sha256  # same qiskit, same Target: the same table
    assert load_lut_file(path).provenance[field] != value


def test_missing_lut_is_refused_with_no_rebuild():
    with pytest.raises(LUTStale, match="compvqc lut build --backend fake_manila"):
        get_lut("fake_manila", qubits=(0, 1), no_rebuild=True)


def test_prebuilt_lut_is_used_without_building(cache):
    lut = get_lut("fake_manila", no_rebuild=True)
    assert lut.provenance["region"]["qubits"] == [0, 1, 2, 3, 4]
    assert not (cache / "lut").exists()
    assert load_lut("fake_manila", no_rebuild=True).sha256 == lut.sha256


def test_large_backend_default_region_matches_the_prebuilt_one():
    backend = resolve_backend("fake_sherbrooke")
    lut = get_lut(backend, no_rebuild=True)  # region recomputed from qiskit's layout, then found
    assert len(lut.provenance["region"]["qubits"]) == 4
    assert lut.provenance["region"]["source"] == "model-layout"


def test_a_gate_set_the_cache_lacks_is_added_not_swapped(cache):
    _tiny()
    both = get_lut("fake_manila", gates=("rz",), qubits=(0,), progress=False, workers=1)
    assert set(both.gates) == {"rx", "rz"}


def test_corrupt_cache_file_is_an_error_not_a_silent_rebuild(cache):
    _tiny()
    path = cache / "lut" / "fake_manila.q0.json"
    path.write_text(path.read_text()[:100])
    with pytest.raises(LUTFileError):
        _tiny()
    with pytest.raises(LUTFileError, match="not found"):
        load_lut(str(cache / "nope.json"))


def test_changed_calibration_makes_the_prebuilt_lut_stale():
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from compvqc.compile import target_digest

    backend = FakeManilaV2()  # a private instance: the shared one stays untouched
    before = target_digest(backend.target)
    backend.target["cx"][(0, 1)].error *= 2.0
    assert target_digest(backend.target) != before
    with pytest.raises(LUTStale, match="Target"):
        get_lut(backend, no_rebuild=True)
