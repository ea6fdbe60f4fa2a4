"""Tampered checkpoints (documents edited, the file's digest recomputed): every one is either
loaded and fully usable — a resume or a compression runs on it — or refused with one
``CheckpointError`` line. Never an internal error, never a traceback, never a hang."""

import copy
import os
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compvqc.checkpoint import CheckpointManager, load_checkpoint
from compvqc.checkpoint.container import encode
from compvqc.checkpoint.content import Checkpoint
from compvqc.errors import CheckpointError, CompVQCError
from compvqc.fsutil import atomic_write_bytes
from compvqc.runs import TrainConfig, train_on_dataset
from tests.conftest import FULL

CONFIG = TrainConfig(dataset="syn4", arch="random14", epochs=3, n_samples=100, batch_size=8, seed=2)

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([0, 1, 2, 3, -1, 10**9, 10**11]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just([[1, 2], [3, 4]]),
)
ARRAY_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10))

DOCUMENT_PATHS = [
    ("optimizer", "name"), ("optimizer", "config", "lr"), ("optimizer", "config"),
    ("run", "stage"), ("run", "epoch"), ("run", "step_in_epoch"), ("run", "step"), ("run", "history"),
    ("run", "rng"), ("run", "admm_history"), ("run", "admm_prev_theta"),
    ("dataset", "name"), ("dataset", "n_samples"), ("dataset", "val_fraction"), ("dataset", "split_seed"),
    ("dataset", "max_train"), ("dataset", "preprocess"),
    *[("training", "config", k) for k in TrainConfig.__dataclass_fields__],
    ("training", "config"), ("training", "compress"),
    ("hardware_profile", "num_qubits"), ("hardware_profile", "basis_gates"), ("hardware_profile", "backend"),
    ("hardware_profile", "dt"), ("hardware_profile", "qubits"), ("hardware_profile", "edges"),
    ("hardware_profile", "two_qubit_gates"), ("lut_provenance", "sha256"), ("metrics", "vanilla"),
]
ARRAY_PATHS = ["optimizer.count", "optimizer.mu", "optimizer.nu", "admm.rho", "admm.iteration", "admm.Z", "admm.u",
               "admm.prev_theta",
               "shots", "model.n_qubits"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A real mid-run training checkpoint (stage "training", epoch 1), with a hardware profile."""
    run = tmp_path_factory.mktemp("base")
    m = CheckpointManager(run, writer="sync", every_epochs=1)
    stopped = train_on_dataset(TrainConfig(**{**CONFIG.__dict__, "epochs": 1}), manager=m, progress=False)
    m.close()
    ck = load_checkpoint(sorted(run.glob("ckpt-*.ckpt"))[-1])
    from compvqc.compile.profile import hardware_profile
    from compvqc.compile.backends import resolve_backend

    ck.hardware_profile = hardware_profile(resolve_backend("fake_manila"))
    assert ck.run["stage"] == "training" and stopped.result.steps > 0
    return ck


def tampered_bytes(ck: Checkpoint) -> bytes:
    """The file a tamperer would write: our own encoder, with the consistency checks off, so the
    digest over the bytes is right."""
    validate = Checkpoint.validate
    Checkpoint.validate = lambda self: None
    try:
        return encode(ck)
    finally:
        Checkpoint.validate = validate


def set_path(doc: dict, path, value) -> None:
    for key in path[:-1]:
        if not isinstance(doc.get(key), dict):
            doc[key] = {}
        doc = doc[key]
    doc[path[-1]] = value


def apply(ck: Checkpoint, field, value) -> Checkpoint:
    ck = ck.copy()
    if isinstance(field, tuple):
        doc = copy.deepcopy(getattr(ck, field[0]))
        set_path(doc, field[1:], value)
        setattr(ck, field[0], doc)
        return ck
    if field == "shots":
        ck.shots = value
    elif field == "model.n_qubits":
        from compvqc.model import VQC

        d = ck.model.to_dict()
        d["n_qubits"] = value
        ck.model = VQC.from_dict(d)  # may raise: then the tamperer cannot even build it
    elif field in ("admm.Z", "admm.u", "admm.prev_theta"):
        ck.admm = replace(ck.admm, **{field[5:]: np.full(ck.model.n_params, float(value))})
    elif field.startswith("admm."):
        ck.admm = replace(ck.admm, **{field[5:]: value})
    else:  # optimizer state arrays: a value of any dtype, in the stored shape
        name = field.split(".", 1)[1]
        ck.optimizer_state[name] = np.full(np.shape(ck.optimizer_state[name]), value)
    return ck


def check_usable_or_refused(path, tmp_path) -> str:
    """Load, then resume training on it; returns what happened ("refused" or "usable")."""
    try:
        load_checkpoint(path)
    except CheckpointError as e:
        assert "\n" not in str(e), str(e)
        return "refused"
    m = CheckpointManager(path.parent, writer="sync")
    try:
        train_on_dataset(CONFIG, manager=m, resume=True, progress=False)
    except CompVQCError as e:
        assert "\n" not in str(e), str(e)
        return "refused"
    finally:
        m.close()
    return "usable"


@settings(max_examples=int(os.environ.get("COMPVQC_FUZZ_EXAMPLES", 600 if FULL else 60)))
@given(field=st.sampled_from(DOCUMENT_PATHS + ARRAY_PATHS), value=VALUES, array_value=ARRAY_VALUES,
)
def test_tampered_training_checkpoint(base, tmp_path_factory, field, value, array_value):
    v = array_value if (isinstance(field, str) and field != "model.n_qubits" and field != "shots") else value
    try:
        ck = apply(base, field, v)
    except (CompVQCError, ValueError, TypeError, OverflowError):
        return  # the tamperer cannot build that checkpoint with our encoder at all
    try:
        data = tampered_bytes(ck)
    except (CompVQCError, ValueError, TypeError, OverflowError):
        return  # nor serialize it
    run = tmp_path_factory.mktemp("fuzz")
    path = run / "ckpt-000000012.ckpt"
    atomic_write_bytes(path, data)
    check_usable_or_refused(path, run)


@pytest.fixture(scope="module")
def compressed_base(base, tmp_path_factory):
    """A real mid-run compression checkpoint (stage "admm")."""
    from compvqc.runs.compress import compress_checkpoint

    trained = base.copy()
    trained.run = {**trained.run, "stage": "trained"}
    run = tmp_path_factory.mktemp("cbase")
    m = CheckpointManager(run, writer="sync")
    compress_checkpoint(trained, "fake_manila", QUICK, manager=m, progress=False)
    m.close()
    return trained, load_checkpoint(sorted(run.glob("ckpt-*.ckpt"))[0])


def _quick():
    from compvqc.compress.admm import ADMMConfig
    from compvqc.compress.methods import CompressConfig

    return CompressConfig(admm=ADMMConfig(iterations=2, min_steps=10), retrain_epochs=1, retrain_min_steps=10,
                          tcd_seeds=(0,))


QUICK = _quick()


@settings(max_examples=int(os.environ.get("COMPVQC_FUZZ_EXAMPLES", 100 if FULL else 15)))
@given(field=st.sampled_from([("run", "stage"), ("run", "admm_history"), ("run", "admm_prev_theta"),
                              ("training", "compress"), ("lut_provenance", "sha256"), "admm.rho", "admm.iteration",
                              "admm.Z", "optimizer.nu", "optimizer.count"]),
       value=VALUES, array_value=ARRAY_VALUES)
def test_tampered_compression_checkpoint(compressed_base, tmp_path_factory, field, value, array_value):
    from compvqc.runs.compress import compress_checkpoint

    src, ck = compressed_base
    try:
        data = tampered_bytes(apply(ck, field, array_value if isinstance(field, str) else value))
    except (CompVQCError, ValueError, TypeError, OverflowError):
        return
    run = tmp_path_factory.mktemp("cfuzz")
    path = run / "ckpt-000000001.ckpt"
    atomic_write_bytes(path, data)
    try:
        load_checkpoint(path)
    except CheckpointError as e:
        assert "\n" not in str(e)
        return
    m = CheckpointManager(run, writer="sync")
    try:
        compress_checkpoint(src, "fake_manila", QUICK, manager=m, resume=True, progress=False)
    except CompVQCError as e:
        assert "\n" not in str(e), str(e)
    finally:
        m.close()


@pytest.mark.parametrize("field, value", [
    ("optimizer.mu", float("nan")), ("optimizer.nu", float("inf")), ("optimizer.nu", -1.0),
    ("optimizer.count", -5), ("admm.rho", float("nan")), (("run", "epoch"), -3), (("run", "epoch"), "abc"),
    (("run", "step_in_epoch"), 10**9), (("dataset", "n_samples"), 10**11),
    (("training", "config", "n_samples"), 10**11), (("hardware_profile", "basis_gates"), 7),
    (("hardware_profile", "num_qubits"), "five"), (("hardware_profile", "qubits"), {"t1": [1.0]}),
    ("model.n_qubits", 40),
])
def test_the_tampered_files_of_the_reliability_report(base, tmp_path, field, value):
    """Each tampering found by hand (metadata edited, digest recomputed): refused with one line
    when loaded, or — a 40-qubit model is a valid description — by the resume, whose settings
    build another circuit."""
    ck = apply(base, field, value)  # every case above is one a tamperer can build
    path = tmp_path / "ckpt-000000012.ckpt"
    atomic_write_bytes(path, tampered_bytes(ck))
    assert check_usable_or_refused(path, tmp_path) == "refused"


def test_a_node_in_a_foreign_domain_is_one_line(base, tmp_path):
    import onnx

    from compvqc.checkpoint.container import decode

    data = tampered_bytes(base)
    proto = onnx.ModelProto.FromString(data)
    proto.graph.node[1].domain = "com.example"
    body = proto.SerializeToString(deterministic=True)
    import hashlib

    from compvqc.checkpoint.container import _digest_record

    keep = [p for p in proto.metadata_props if p.key != "compvqc.digest"]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    body = proto.SerializeToString(deterministic=True)
    with pytest.raises(CheckpointError) as e:
        decode(body + _digest_record(hashlib.sha256(body).hexdigest()), "f.ckpt")
    assert "\n" not in str(e.value) and "domain" in str(e.value)
