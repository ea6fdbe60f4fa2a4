"""The ONNX checkpoint container: content, validation, hostile and corrupt files."""

import json
import os
import pickle  # noqa: S403 - only to craft a hostile file; the library never imports pickle
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compvqc.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from compvqc.checkpoint.container import decode, encode
from tests.checkpoint_helpers import assert_same, full_checkpoint


@pytest.fixture(scope="module")
def ckpt():
    return full_checkpoint()


@pytest.fixture(scope="module")
def blob(ckpt):
    return encode(ckpt)


def test_round_trip_every_field(ckpt, tmp_path):
    path = save_checkpoint(tmp_path / "m.ckpt", ckpt)
    onnx.checker.check_model(onnx.load(str(path), load_external_data=False))
    back = load_checkpoint(path)
    assert_same(ckpt, back)
    assert back.theta.dtype == np.float64 and back.prune_mask.dtype == bool


def test_container_is_onnx_with_circuit_nodes(blob, ckpt):
    proto = onnx.ModelProto.FromString(blob)
    domains = {o.domain: o.version for o in proto.opset_import}
    assert domains.get("ai.compvqc") == 1
    ops = [n.op_type for n in proto.graph.node]
    assert ops[0] == "ZeroState" and ops[-1] == "Readout"
    flat = []  # one node per run of same-type operations
    for o in ckpt.model.ops:
        kind = f"Encode{o.name.upper()}" if not hasattr(o, "params") else o.name.upper()
        if not flat or flat[-1] != kind:
            flat.append(kind)
    assert ops[1:-1] == flat
    assert "ops" not in json.loads(next(p.value for p in proto.metadata_props if p.key == "compvqc.model"))
    tensors = {t.name: t.data_type for t in proto.graph.initializer}
    assert tensors["theta"] == onnx.TensorProto.DOUBLE and tensors["prune_mask"] == onnx.TensorProto.BOOL
    keys = {p.key for p in proto.metadata_props}
    assert {"compvqc.format", "compvqc.version", "compvqc.digest", "compvqc.model"} <= keys
    assert "compvqc.checksum" not in keys  # version 1's; version 2 ends with compvqc.digest


def test_saving_is_deterministic(ckpt):
    assert encode(ckpt) == encode(ckpt)


def _tamper(blob, fn) -> bytes:
    proto = onnx.ModelProto.FromString(blob)
    fn(proto)
    return proto.SerializeToString()


def _resign(proto):
    """Give a tampered file a valid version-2 digest (so the loader's later checks are reached)."""
    import hashlib

    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in ("compvqc.checksum", "compvqc.digest")]
    del proto.metadata_props[:]
    for k, v in keep:
        proto.metadata_props.add(key=k, value=v)
    proto.metadata_props.add(key="compvqc.digest", value=hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest())


def _set_signed(key, value):
    return lambda proto: (_set_prop(proto, key, value), _resign(proto))


def _set_prop(proto, key, value):
    for p in proto.metadata_props:
        if p.key == key:
            p.value = value


def _external(proto):
    t = next(t for t in proto.graph.initializer if t.name == "theta")
    t.data_location = onnx.TensorProto.EXTERNAL
    t.raw_data = b""
    e = t.external_data.add()
    e.key, e.value = "location", "/etc/passwd"
    _resign(proto)


def _huge_dims(proto):
    t = next(t for t in proto.graph.initializer if t.name == "gradient_history")
    t.dims[0] = 1 << 40
    _resign(proto)


def _wrong_dtype(proto):
    t = next(t for t in proto.graph.initializer if t.name == "theta")
    arr = onnx.numpy_helper.to_array(t).astype(np.float32)
    t.CopyFrom(onnx.numpy_helper.from_array(arr, "theta"))
    _resign(proto)


def _deep_json(proto):
    _set_prop(proto, "compvqc.metrics", "[" * 100000 + "]" * 100000)
    _resign(proto)


def _bad_mask_length(proto):
    t = next(t for t in proto.graph.initializer if t.name == "prune_mask")
    t.CopyFrom(onnx.numpy_helper.from_array(np.zeros(99, bool), "prune_mask"))
    _resign(proto)


def _level_off_period(proto):
    t = next(t for t in proto.graph.initializer if t.name == "levels")
    arr = onnx.numpy_helper.to_array(t).copy()
    arr[0, 0] = 20.0  # beyond [0, 4π)
    t.CopyFrom(onnx.numpy_helper.from_array(arr, "levels"))
    _resign(proto)


@pytest.mark.parametrize("make,match", [
    (lambda b: b"", "empty"),
    (lambda b: b[: len(b) // 2], ""),
    (lambda b: b"not an onnx file at all \x00\xff" * 10, ""),
    (lambda b: _tamper(b, _set_signed("compvqc.version", "3")), "version"),
    (lambda b: _tamper(b, _set_signed("compvqc.format", "other")), "not a compvqc"),
    (lambda b: _tamper(b, lambda p: _set_prop(p, "compvqc.shots", "5")), "checksum"),
    (lambda b: _tamper(b, _external), "external"),
    (lambda b: _tamper(b, _huge_dims), ""),
    (lambda b: _tamper(b, _wrong_dtype), "dtype"),
    (lambda b: _tamper(b, _deep_json), "nested"),
    (lambda b: _tamper(b, _bad_mask_length), "mask"),
    (lambda b: _tamper(b, _level_off_period), "period"),
    (lambda b: onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [])).SerializeToString(), "not a compvqc"),
])
def test_bad_files_raise_one_checkpoint_error(blob, make, match):
    with pytest.raises(CheckpointError, match=match or None):
        decode(make(blob), "f.ckpt")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fuzzed_files_load_identically_or_raise_checkpoint_error(data):
    blob = _BLOB
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    b = bytearray(blob)
    pos = data.draw(st.integers(0, len(b) - 1))
    if kind == "flip":
        b[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        del b[pos:]
    elif kind == "insert":
        b[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    else:
        chunk = data.draw(st.binary(min_size=1, max_size=16))
        b[pos : pos + len(chunk)] = chunk
    try:
        back = decode(bytes(b), "fuzz.ckpt")
    except CheckpointError:
        return
    assert_same(_CKPT, back)


_CKPT = full_checkpoint(with_profile=False)
_BLOB = encode(_CKPT)


def test_pickle_payload_never_executes(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps(Evil())
    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(payload)
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    # Inside a valid container too: a pickle in a metadata field and as raw tensor bytes.
    proto = onnx.ModelProto.FromString(_BLOB)
    _set_prop(proto, "compvqc.metrics", payload.decode("latin-1"))
    proto.graph.initializer.add().CopyFrom(onnx.helper.make_tensor("optimizer.evil", onnx.TensorProto.DOUBLE, [len(payload) // 8],
                                                                   payload[: len(payload) // 8 * 8], raw=True))
    _resign(proto)
    (tmp_path / "evil2.ckpt").write_bytes(proto.SerializeToString())
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil2.ckpt")
    assert not marker.exists()


def test_cross_field_validation():
    good = full_checkpoint(with_profile=False)
    good.validate()
    bad = full_checkpoint(with_profile=False)
    bad.quant_mask[0] = True  # gate 0 is already pruned
    with pytest.raises(CheckpointError, match="both"):
        bad.validate()
    bad = full_checkpoint(with_profile=False)
    bad.run["stage"] = "compressed"  # final: masked θ must equal the level exactly
    with pytest.raises(CheckpointError, match="level"):
        bad.validate()
    bad = full_checkpoint(with_profile=False)
    bad.qubit_mapping = np.array([1, 1])
    with pytest.raises(CheckpointError, match="mapping"):
        bad.validate()


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


def test_crash_while_saving_leaves_a_loadable_file(tmp_path):
    """A child saves in a loop and is SIGKILLed at arbitrary points: the file always loads."""
    path = tmp_path / "live.ckpt"
    save_checkpoint(path, _CKPT)
    script = textwrap.dedent(f"""
        import numpy as np, sys
        sys.path.insert(0, {str(os.getcwd())!r})
        from tests.checkpoint_helpers import full_checkpoint
        from compvqc.checkpoint import save_checkpoint
        c = full_checkpoint(with_profile=False)
        print("ready", flush=True)
        i = 0
        while True:
            c.theta = c.theta + 1e-3
            c.gradient_history = np.random.default_rng(i).normal(size=(200 + i % 50, c.model.n_params))
            save_checkpoint({str(path)!r}, c)
            i += 1
    """)
    rng = np.random.default_rng(0)
    for _ in range(4):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        import time

        time.sleep(float(rng.uniform(0.05, 0.4)))
        child.kill()
        child.wait()
        back = load_checkpoint(path)  # the old or the new one, never torn
        assert back.model == _CKPT.model
        leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        for p in leftovers:  # a killed writer may leave its temp file, never a torn target
            p.unlink()


def test_atomic_write_uses_the_usual_file_mode(tmp_path):
    from compvqc.fsutil import atomic_write_bytes

    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(["<f8", ">f8", "<f4", "<i8", ">i4", "<i2", "|i1", "|u1", "|b1", "<u8", "<c16"]),
       shape=st.lists(st.integers(0, 4), max_size=3), seed=st.integers(0, 2**16))
def test_fast_tensor_matches_onnx_from_array(dtype, shape, seed):
    from onnx import numpy_helper

    from compvqc.checkpoint.container import _tensor

    a = (np.random.default_rng(seed).normal(size=shape) * 50).astype(dtype)
    little = a.astype(a.dtype.newbyteorder("<"))  # onnx's helper refuses big-endian input
    assert _tensor("x", a) == numpy_helper.from_array(little, "x")


def test_one_schema_drives_the_file_the_writer_and_inspect(tmp_path, capsys):
    """Every field of ``content.SCHEMA`` is stored, travels through the writer process, and is
    shown by ``inspect``: the table is the one list of fields (a new field is a row there)."""
    import json

    import onnx

    from compvqc.checkpoint import ProcessWriter, save_checkpoint
    from compvqc.checkpoint.content import ARRAYS, DOCUMENTS, SCHEMA
    from compvqc.cli.main import main
    from tests.checkpoint_helpers import assert_same, full_checkpoint

    ck = full_checkpoint()
    path = save_checkpoint(tmp_path / "a.ckpt", ck)
    proto = onnx.load(str(path))
    stored = {t.name for t in proto.graph.initializer}
    assert {f.name for f in ARRAYS} <= stored
    assert {f"compvqc.{d}" for d in DOCUMENTS} <= {p.key for p in proto.metadata_props}
    with ProcessWriter() as w:
        w.submit(tmp_path / "b.ckpt", ck)
    assert (tmp_path / "b.ckpt").read_bytes() == path.read_bytes()
    assert_same(load_checkpoint(tmp_path / "b.ckpt"), ck)
    assert main(["inspect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["optimizer"]["state"]) == set(ck.optimizer_state)
    for f in SCHEMA:
        if f.kind not in ("model", "arrays"):
            owner, _, attr = f.name.rpartition(".")
            assert attr in (doc[owner] if owner else doc), f.name


def test_validation_iterates_the_schema():
    """Every array row's shape and finiteness, as the schema states them, is what ``validate``
    enforces: a wrong shape or a NaN in any of them is refused naming that field."""
    from dataclasses import replace

    from compvqc.checkpoint.content import ARRAYS
    from tests.checkpoint_helpers import full_checkpoint

    ck = full_checkpoint(with_profile=False)
    ck.validate()

    def with_array(name, value):
        owner, _, attr = name.rpartition(".")
        return replace(ck, admm=replace(ck.admm, **{attr: value})) if owner else replace(ck, **{attr: value})

    for f in ARRAYS:
        a = ck.array(f.name)
        for wrong in (np.zeros((2, 2, 2)), np.zeros(tuple(n + 1 for n in a.shape)) if a.ndim and a.size else None):
            if wrong is not None:
                with pytest.raises(CheckpointError, match=f"^{f.name} has shape"):
                    with_array(f.name, wrong.astype(a.dtype)).validate()
        if f.finite and a.size:
            bad = a.astype(np.float64).copy()
            bad.reshape(-1)[0] = np.nan
            with pytest.raises(CheckpointError, match=f"^{f.name} has non-finite"):
                with_array(f.name, bad if bad.ndim else float(bad)).validate()


def _open_model_blob():
    from compvqc.checkpoint import Checkpoint
    from compvqc.model import VQC, Encode, Fixed, Gate, Readout

    ops = (Encode("p", 0, None, ((2.0, (0, 1)), (1.5, ()))), Fixed("rx", (1,), (0.25,)), Fixed("cz", (0, 1)),
           Gate("rzz", (0, 1), (0,), (2.0,)))
    model = VQC(2, 2, ops, Readout("pauli", (), (((1.0, "ZI"),), ((-0.5, "IZ"),))))
    return model, encode(Checkpoint(model=model, theta=np.array([0.3])))


def _node(proto, prefix):
    return next(n for n in proto.graph.node if n.op_type.startswith(prefix))


def _float_text_as_ints(prefix, key):
    def fn(proto):
        node = _node(proto, prefix)
        a = next(a for a in node.attribute if a.name == key)
        node.attribute.remove(a)
        node.attribute.append(onnx.helper.make_attribute(key, [1]))
        _resign(proto)
    return fn


def _many_terms(proto):
    """One encoder with more terms than the loader admits: a few bytes a term on disk."""
    from compvqc.checkpoint.container import MAX_TERMS

    node = _node(proto, "EncodePoly")
    n = MAX_TERMS + 1
    for a in list(node.attribute):
        if a.name in ("term_counts", "term_sizes", "features", "coefs"):
            node.attribute.remove(a)
    node.attribute.extend([onnx.helper.make_attribute("term_counts", [n]),
                           onnx.helper.make_attribute("term_sizes", [1] + [0] * (n - 1)),
                           onnx.helper.make_attribute("features", [0]),
                           onnx.helper.make_attribute("coefs", "1 " + "0 " * (n - 1))])
    _resign(proto)


def test_open_model_nodes_round_trip_and_refuse_hostile_attributes():
    model, blob = _open_model_blob()
    assert decode(blob).model == model
    for make in (_float_text_as_ints("EncodePoly", "coefs"), _float_text_as_ints("FixedRX", "angles"),
                 _float_text_as_ints("RZZ", "scales"), _many_terms):
        with pytest.raises(CheckpointError) as e:
            decode(_tamper(blob, make))
        assert "\n" not in str(e.value)
