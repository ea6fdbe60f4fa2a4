"""LUT builder, classification and file format, checked against direct qiskit transpiles.

Reference depths are DESIGN.md's (qiskit 2.6, FakeManilaV2, optimization_level 3); the
prebuilt LUTs in lut/ must agree with a direct ``transpile`` of each gate on its recorded sites.
"""

import hashlib
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import (CPhaseGate, CRXGate, CRYGate, CRZGate, CU3Gate, PhaseGate, RXGate, RXXGate,
                                    RYGate, RYYGate, RZGate, RZZGate, U3Gate)
from qiskit.quantum_info import Operator

from compvqc.compile import (
    PREBUILT,
    CompileError,
    DepthStats,
    GridSpec,
    LUTFileError,
    build_lut,
    check,
    classify,
    load_lut_file,
    resolve_backend,
    save_lut,
)
from compvqc.compile.cache import prebuilt_path
from compvqc.compile.lut import LUT, is_identity, table_sha256
from tests.conftest import FULL

PI = math.pi
GATES = {"rx": RXGate, "ry": RYGate, "rz": RZGate, "crx": CRXGate, "cry": CRYGate, "crz": CRZGate,
         "u3": U3Gate, "cu3": CU3Gate, "p": PhaseGate, "cp": CPhaseGate, "rzz": RZZGate, "rxx": RXXGate,
         "ryy": RYYGate}
FIRST_EIGHT = ("rx", "ry", "rz", "crx", "cry", "crz", "u3", "cu3")
FIRST_EIGHT_DIGESTS = {  # the shipped tables of the first eight types (and the blocks) before P, CP, RZZ, RXX, RYY
    "fake_fractional": "7a2708a34a20b0f9", "fake_jakarta": "11dba616560c308e", "fake_lagos": "6143da9665c33663",
    "fake_manila": "a425efafcacbb6af", "fake_perth": "cf6599d39b7533a3", "fake_sherbrooke": "8654c0fe4fb7edc8",
    "fake_torino": "14c3d3fe4b195dfb"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path / "cache"))


def direct_depth(backend, name, angles, site, seed=0):
    """What the LUT claims, measured independently: one gate, one transpile."""
    gate = GATES[name](*angles)
    qc = QuantumCircuit(gate.num_qubits)
    qc.append(gate, list(range(gate.num_qubits)))
    out = transpile(qc, backend, optimization_level=3, initial_layout=list(site), seed_transpiler=seed)
    return out.depth()


# --- DESIGN.md reference depths, by direct transpile ------------------------------------------
REFERENCE_1Q = {  # qubit 0
    "rx": {0: 0, PI / 2: 1, PI: 1, 3 * PI / 2: 3, 2 * PI: 0, 5 * PI / 2: 1, 3 * PI: 1, 7 * PI / 2: 3},
    "ry": {0: 0, PI / 2: 3, PI: 2, 3 * PI / 2: 3, 2 * PI: 0},
    "rz": {0: 0, 2 * PI: 0, 4 * PI: 0, PI / 2: 1, PI: 1, 3 * PI / 2: 1, 0.7: 1, 5.1: 1},
}
GENERIC_1Q = {"rx": 5, "ry": 4, "rz": 1}
REFERENCE_2Q = [  # (gate, angle, edge, depth)
    ("crx", 2 * PI, (0, 1), 1), ("crx", PI, (0, 1), 11), ("crx", PI, (1, 0), 7),
    ("crz", PI, (0, 1), 7), ("cry", PI / 2, (0, 1), 7), ("cry", 5 * PI / 2, (0, 1), 9),
]
GENERIC_2Q = {"crx": 9, "crz": 4}  # on edge (0, 1)


def test_reference_depths_single_qubit(manila):
    rng = np.random.default_rng(3)
    for name, table in REFERENCE_1Q.items():
        for angle, depth in table.items():
            assert direct_depth(manila, name, (angle,), (0,)) == depth, (name, angle)
        for angle in rng.uniform(0, 4 * PI, 4):
            assert direct_depth(manila, name, (angle,), (0,)) == GENERIC_1Q[name], (name, angle)


def test_reference_depths_two_qubit(manila):
    for name, angle, edge, depth in REFERENCE_2Q:
        assert direct_depth(manila, name, (angle,), edge) == depth, (name, angle, edge)
    rng = np.random.default_rng(4)
    for name, depth in GENERIC_2Q.items():
        for angle in rng.uniform(0, 4 * PI, 3):
            assert direct_depth(manila, name, (angle,), (0, 1)) == depth


def test_the_compiler_sees_the_float(manila):
    assert direct_depth(manila, "rx", (PI / 2 + 1e-9,), (0,)) == 5
    assert direct_depth(manila, "cry", (PI / 2 + 4 * PI,), (0, 1)) == 9  # why angles are canonicalized


def test_prebuilt_manila_lut_reproduces_the_reference(manila_lut):
    def entry(name, angle):
        e = manila_lut[name].lookup((angle,))
        assert e is not None, (name, angle)
        return e

    for name, table in REFERENCE_1Q.items():
        for angle, depth in table.items():
            if angle in (0.7, 5.1, 4 * PI):
                continue
            assert entry(name, angle).depth == depth
        assert manila_lut[name].generic_depth == GENERIC_1Q[name]
    assert [entry("rx", a).kind for a in (0, PI / 2, PI, 3 * PI / 2, 2 * PI)] == ["prune", "quant", "quant", "quant", "prune"]
    crx = manila_lut["crx"]
    sites = list(crx.sites)
    pi_entry = crx.lookup((PI,))
    assert pi_entry.site_depths[sites.index((0, 1))] == 11 and pi_entry.site_depths[sites.index((1, 0))] == 7
    assert pi_entry.depth == 11 and pi_entry.kind == "deep"  # worst case over the region
    assert crx.lookup((2 * PI,)).depth == 1 and crx.lookup((2 * PI,)).kind == "quant"  # not prunable
    assert crx.generic_depth == 9 and manila_lut["crz"].generic_depth == 4
    assert manila_lut["crz"].lookup((PI,)).kind == "deep"


# --- every LUT entry agrees with a direct transpile ---------------------------------------------
def _sample(table, rng, k):
    special = [e for e in table.entries if e.kind != "generic"]
    others = [e for e in table.entries if e.kind == "generic"]
    pick = list(rng.choice(len(special), size=min(k, len(special)), replace=False)) if special else []
    out = [special[i] for i in pick]
    if others:
        out.append(others[int(rng.integers(len(others)))])
    return out


@pytest.mark.parametrize("name", ["fake_manila", "fake_fractional"])
def test_lut_entries_match_direct_transpiles(name):
    backend = resolve_backend(name)
    lut = load_lut_file(prebuilt_path(name))
    rng = np.random.default_rng(11)
    checked = 0
    for gate, table in lut.gates.items():
        for e in _sample(table, rng, 3 if gate in ("u3", "cu3") else 4):
            depths = [direct_depth(backend, gate, e.angles, site) for site in table.sites]
            assert depths == list(e.site_depths), (gate, e.angles)
            assert e.depth == max(depths)
            checked += 1
    assert checked >= 25


@pytest.mark.slow
@pytest.mark.parametrize("name", PREBUILT)
def test_every_entry_of_every_prebuilt_lut_matches_direct_transpiles(name):
    """Every entry on every recorded site (COMPVQC_FULL=1); CI checks the first site per gate.

    Exact, except at a few angles where qiskit's two-qubit synthesis ties and the floating point of
    the CPU breaks the tie: on fake_fractional, crx(5π/2) on (0, 1) compiled to depth 7 on the
    machine that built the table, where CI passed, and to 6 on a 2-core AMD EPYC, with the same
    qiskit 2.6.2 and the same Target (crx(8.2467) on (1, 0): 9 against 7). Such entries may differ on a site, at most
    two per table and site, and never in their worst case over the sites, which is what
    compression reads (checked when every site is transpiled).
    """
    backend = resolve_backend(name)
    lut = load_lut_file(prebuilt_path(name))
    for gate, table in lut.gates.items():
        measured = []
        for site_index, site in enumerate(table.sites if FULL else table.sites[:1]):
            circuits = []
            for e in table.entries:
                g = GATES[gate](*e.angles)
                qc = QuantumCircuit(g.num_qubits)
                qc.append(g, list(range(g.num_qubits)))
                circuits.append(qc)
            outs = transpile(circuits, backend, optimization_level=3, initial_layout=list(site), seed_transpiler=0)
            got = [o.depth() for o in outs]
            measured.append(got)
            recorded = [e.site_depths[site_index] for e in table.entries]
            off = [(e.angles, r, d) for e, r, d in zip(table.entries, recorded, got) if r != d]
            assert len(off) <= 2, (gate, site, off)
        if FULL:
            assert [max(col) for col in zip(*measured)] == [e.depth for e in table.entries], gate


# --- classification --------------------------------------------------------------------------
@pytest.mark.parametrize("name", PREBUILT)
def test_prune_entries_are_identity_and_kinds_follow_the_generic_range(name):
    lut = load_lut_file(prebuilt_path(name))
    for gate, table in lut.gates.items():
        g = table.generic
        assert g.min <= g.mode <= g.max and table.generic_depth == g.mode
        for e in table.entries:
            u = Operator(GATES[gate](*e.angles)).data
            if e.kind == "prune":
                assert e.depth == 0 and is_identity(u)
                phase = u[0, 0]
                assert np.allclose(u, phase * np.eye(len(u)), atol=1e-9)
            elif e.kind == "quant":
                assert 0 < e.depth < g.min
            elif e.kind == "deep":
                assert e.depth > g.max
            else:
                assert g.min <= e.depth <= g.max
            assert e.depth == max(e.site_depths)


def test_fractional_rx_has_no_quantization_levels():
    lut = load_lut_file(prebuilt_path("fake_fractional"))
    rx = lut["rx"]
    assert rx.generic.min == rx.generic.max == 1  # one native RX gate at any angle
    assert {e.kind for e in rx.entries} == {"prune", "generic"}
    assert [e.angle for e in rx.levels()] == [0.0, 2 * PI]
    assert not rx.levels(("quant",))


@given(depth=st.integers(0, 40), lo=st.integers(1, 20), width=st.integers(0, 10), identity=st.booleans())
def test_classify_properties(depth, lo, width, identity):
    hi = lo + width
    if depth == 0 and not identity:
        with pytest.raises(CompileError):
            classify(depth, lo, hi, identity)
        return
    kind = classify(depth, lo, hi, identity)
    assert kind == {True: "prune"}.get(depth == 0, kind)
    if kind == "quant":
        assert 0 < depth < lo
    elif kind == "deep":
        assert depth > hi
    elif kind == "generic":
        assert lo <= depth <= hi
    # monotone: a deeper angle is never a "better" level
    order = ["prune", "quant", "generic", "deep"]
    if depth > 0:
        assert order.index(classify(depth + 1, lo, hi, identity)) >= order.index(kind)


@given(st.lists(st.integers(0, 30), min_size=1, max_size=50))
def test_depth_stats(depths):
    s = DepthStats.of(depths)
    assert s.min == min(depths) and s.max == max(depths) and s.n == len(depths)
    assert sum(s.histogram.values()) == len(depths)
    assert s.histogram[s.mode] == max(s.histogram.values())
    assert DepthStats.from_dict(json.loads(json.dumps(s.to_dict()))) == s


@given(st.floats(-math.pi, math.pi), st.floats(0.01, 2 * math.pi - 0.01))
def test_is_identity_up_to_global_phase(alpha, beta):
    assert is_identity(np.exp(1j * alpha) * np.eye(2))
    assert is_identity(-np.eye(4))
    assert not is_identity(np.exp(1j * alpha) * np.diag([1, np.exp(1j * beta)]))  # a relative phase


# --- building and the file format --------------------------------------------------------------
@pytest.fixture(scope="module")
def small_lut():
    """A quick LUT: three gate types on two qubits of fake_manila, 16 random angles."""
    return build_lut("fake_manila", ("rx", "crz", "u3"), qubits=(0, 1), grid=GridSpec(generic_samples=16),
                     progress=False, workers=1)


def test_build_records_provenance(small_lut, manila):
    import qiskit

    p = small_lut.provenance
    assert p["backend"] == "fake_manila" and p["qiskit_version"] == qiskit.__version__
    assert p["optimization_level"] == 3 and p["seed_transpiler"] == 0
    assert p["region"]["qubits"] == [0, 1] and p["region"]["edges"] == [[0, 1], [1, 0]]
    assert p["basis_gates"] == ["cx", "id", "rz", "sx", "x"]
    assert p["grid"]["rotation_steps"] == 8 and p["grid"]["generic_samples"] == 16
    assert p["build_seconds"] > 0 and p["built_at"]
    assert check(small_lut, manila).fresh
    assert len(small_lut["rx"].entries) == 32 and len(small_lut["u3"].entries) == 8 * 4 * 4
    # the grid holds every multiple of π/8 as the exact float k·π/8
    assert [e.angle for e in small_lut["rx"].entries] == [k * PI / 8 for k in range(32)]
    assert small_lut.single_qubit_block == small_lut["u3"].generic.max


def test_json_round_trip_and_sha256(small_lut, tmp_path):
    path = save_lut(tmp_path / "l.json", small_lut)
    text = path.read_text()
    doc = json.loads(text)
    assert doc["format"] == "compvqc-lut" and doc["version"] == 1
    rx = doc["gates"]["rx"]
    assert rx["generic_depth"] == rx["generic"]["mode"] and {"min", "max", "mode"} <= set(rx["generic"])
    assert rx["entries"][4] == {"angle": PI / 2, "depth": 1, "kind": "quant", "site_depths": [1, 1]}
    assert len(doc["gates"]["u3"]["entries"][0]["angles"]) == 3
    canonical = json.dumps({"gates": doc["gates"], "blocks": doc["blocks"]}, sort_keys=True, separators=(",", ":"))
    assert doc["provenance"]["sha256"] == hashlib.sha256(canonical.encode()).hexdigest() == small_lut.sha256
    back = load_lut_file(path)
    assert back.to_json() == text and back.gates == small_lut.gates
    assert table_sha256(back.table_dict()) == small_lut.sha256


def test_tampered_or_corrupt_files_are_one_line_errors(small_lut, tmp_path):
    doc = small_lut.to_dict()
    doc["gates"]["rx"]["entries"][1]["depth"] = 1
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(LUTFileError, match="sha256"):
        load_lut_file(bad)
    for content in ("{not json", json.dumps({"format": "other"}), json.dumps({**small_lut.to_dict(), "version": 9})):
        bad.write_text(content)
        with pytest.raises(LUTFileError) as info:
            load_lut_file(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(LUTFileError, match="not found"):
        load_lut_file(tmp_path / "missing.json")
    with pytest.raises(CompileError, match="no 'cry' table"):
        small_lut["cry"]


def test_parallel_build_is_identical(small_lut):
    again = build_lut("fake_manila", ("rx", "crz", "u3"), qubits=(0, 1), grid=GridSpec(generic_samples=16),
                      progress=False, workers=2)
    assert again.sha256 == small_lut.sha256


def test_finer_grid_contains_the_coarse_floats():
    coarse, fine = GridSpec().grid("cry"), GridSpec(rotation_steps=32).grid("cry")
    assert set(coarse) <= set(fine) and len(fine) == 128
    with pytest.raises(CompileError):
        GridSpec(rotation_steps=12)


def test_prebuilt_luts_are_fresh_and_regions_recorded():
    for name in PREBUILT:
        backend = resolve_backend(name)
        lut = load_lut_file(prebuilt_path(name))
        c = check(lut, backend)
        assert c.fits and c.fresh, (name, c.reasons)
        region = lut.provenance["region"]
        expected = 4 if backend.target.num_qubits > 7 else backend.target.num_qubits
        assert len(region["qubits"]) == expected
        assert set(lut.gates) == set(GATES)
        assert isinstance(LUT.from_dict(lut.to_dict()), LUT)


@pytest.mark.parametrize("name", PREBUILT)
def test_adding_gate_types_left_the_shipped_tables_unchanged(name):
    d = json.loads(prebuilt_path(name).read_text())
    blob = json.dumps({"gates": {g: d["gates"][g] for g in FIRST_EIGHT}, "blocks": d["blocks"]}, sort_keys=True)
    assert hashlib.sha256(blob.encode()).hexdigest()[:16] == FIRST_EIGHT_DIGESTS[name]


@pytest.mark.parametrize("name", ["fake_manila", "fake_torino", "fake_sherbrooke"])  # cx, cz and ecr devices
def test_new_gate_types_match_direct_transpiles(name):
    backend = resolve_backend(name)
    lut = load_lut_file(prebuilt_path(name))
    rng = np.random.default_rng(5)
    for gate in ("p", "cp", "rzz", "rxx", "ryy"):
        table = lut[gate]
        for e in _sample(table, rng, 4):
            depths = [direct_depth(backend, gate, e.angles, site) for site in table.sites]
            assert depths == list(e.site_depths), (gate, e.angles)
    rzz = lut["rzz"]  # RZZ(π) is Z⊗Z up to phase: two virtual RZ, so a quantization level
    assert rzz.lookup((PI,)).kind == "quant" and rzz.lookup((0.0,)).kind == "prune"
    assert lut["p"].lookup((0.0,)).kind == "prune" and len(lut["p"].entries) == 16  # [0, 2π) on π/8
