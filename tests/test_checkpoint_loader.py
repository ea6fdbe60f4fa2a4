"""The checkpoint loader's bounds: what it reads, the version-2 digest checked before parsing,
the wire-format pre-scan, and peak memory over a corpus of worst-case files."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest

from compvqc.checkpoint import CheckpointError, container, load_checkpoint, save_checkpoint
from compvqc.checkpoint import wire
from compvqc.checkpoint.container import decode, encode
from tests.checkpoint_helpers import assert_same, full_checkpoint

DATA = Path(__file__).with_name("data")
ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(call) -> str:
    with pytest.raises(CheckpointError) as info:
        call()
    msg = str(info.value)
    assert msg and "\n" not in msg and "internal error" not in msg
    return msg


# --- what is read ---------------------------------------------------------------------------
def test_devices_directories_and_missing_files_are_one_line_each(tmp_path):
    assert "/dev/zero: not a regular file" in _one_line_error(lambda: load_checkpoint("/dev/zero"))
    assert "is a directory" in _one_line_error(lambda: load_checkpoint(tmp_path))
    assert "file not found" in _one_line_error(lambda: load_checkpoint(tmp_path / "nope.ckpt"))


def test_a_fifo_is_refused_promptly(tmp_path):
    fifo = tmp_path / "pipe.ckpt"
    os.mkfifo(fifo)
    out = []
    t = threading.Thread(target=lambda: out.append(_one_line_error(lambda: load_checkpoint(fifo))), daemon=True)
    t.start()
    t.join(10)  # a blocking open would wait forever for a writer
    assert not t.is_alive(), "loading a FIFO blocked"
    assert out and "not a regular file" in out[0]


def test_inspect_dev_zero_is_one_stderr_line(capsys):
    from compvqc.cli.main import main

    assert main(["inspect", "/dev/zero"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/dev/zero: not a regular file" in err


def test_the_read_is_bounded_by_bytes_read_not_st_size(tmp_path):
    from compvqc.fsutil import read_bytes_bounded

    path = tmp_path / "f"
    path.write_bytes(b"x" * 101)
    assert read_bytes_bounded(path, 101, CheckpointError) == b"x" * 101
    msg = _one_line_error(lambda: read_bytes_bounded(path, 100, CheckpointError, "checkpoint"))
    assert msg == f"{path}: more than 100 bytes, the limit of a checkpoint"
    assert read_bytes_bounded("/proc/self/stat", 1 << 20, CheckpointError)  # st_size 0, yet it has bytes
    big = tmp_path / "big.ckpt"
    with open(big, "wb") as f:
        f.truncate(container.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    assert "more than 67108864 bytes" in _one_line_error(lambda: load_checkpoint(big))


# --- versions ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ckpt():
    return full_checkpoint()


def test_version_1_files_still_load(ckpt):
    assert_same(load_checkpoint(DATA / "v1-full.ckpt"), ckpt)
    trained = load_checkpoint(DATA / "v1-trained.ckpt")
    assert (trained.shots, len(trained.model.gates), trained.model.n_params) == (0, 14, 14)
    assert trained.run["stage"] == "trained" and trained.run["epoch"] == 2


def test_version_2_fixture_loads_and_is_what_save_writes_today(ckpt, tmp_path):
    fixture = (DATA / "v2-full.ckpt").read_bytes()
    assert_same(load_checkpoint(DATA / "v2-full.ckpt"), ckpt)
    # a change of the format (or of full_checkpoint) shows here: then add a fixture, keep this one
    assert save_checkpoint(tmp_path / "m.ckpt", ckpt).read_bytes() == fixture


def test_new_files_are_version_2_valid_onnx_ending_with_the_digest(ckpt, tmp_path):
    path = save_checkpoint(tmp_path / "m.ckpt", ckpt)
    data = path.read_bytes()
    onnx.checker.check_model(onnx.load(str(path)))
    proto = onnx.ModelProto.FromString(data)
    assert proto.SerializeToString(deterministic=True) == data  # exactly what protobuf writes
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["compvqc.version"] == "2" and "compvqc.checksum" not in props
    assert proto.metadata_props[-1].key == "compvqc.digest"
    record = container._digest_record(props["compvqc.digest"])
    assert data.endswith(record) and props["compvqc.digest"] == hashlib.sha256(data[: -len(record)]).hexdigest()


def test_a_flipped_byte_anywhere_is_refused_before_parsing(ckpt, monkeypatch):
    blob = encode(ckpt)
    calls = []
    real = onnx.ModelProto.FromString
    monkeypatch.setattr(onnx.ModelProto, "FromString", lambda b: calls.append(1) or real(b))
    monkeypatch.setattr(wire, "scan", lambda *a: calls.append(2))
    for pos in range(len(blob)):
        bad = bytearray(blob)
        bad[pos] ^= 0x20 if pos % 2 else 0x01
        msg = _one_line_error(lambda bad=bytes(bad): decode(bad, "f.ckpt"))
        assert "corrupt" in msg, (pos, msg)
    assert not calls
    decode(blob, "f.ckpt")
    assert calls == [2, 1]  # the patches do see a load that gets that far


def test_version_2_without_a_verified_digest_is_refused(ckpt):
    proto = onnx.ModelProto.FromString(encode(ckpt))
    del proto.metadata_props[-1]  # the digest; sign it the version-1 way instead
    proto.metadata_props.add(key="compvqc.checksum", value=hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest())
    assert "digest missing" in _one_line_error(lambda: decode(proto.SerializeToString(), "f.ckpt"))


def test_version_1_tampering_is_still_caught_after_parsing():
    proto = onnx.ModelProto.FromString((DATA / "v1-full.ckpt").read_bytes())
    next(p for p in proto.metadata_props if p.key == "compvqc.shots").value = "5"
    assert "checksum mismatch" in _one_line_error(lambda: decode(proto.SerializeToString(), "f.ckpt"))


# --- the wire scan ----------------------------------------------------------------------------
def test_the_scan_knows_every_submessage_and_repeated_number_of_the_installed_onnx():
    from google.protobuf.descriptor import FieldDescriptor as F

    widths = {F.TYPE_FLOAT: wire.FIXED32, F.TYPE_FIXED32: wire.FIXED32, F.TYPE_SFIXED32: wire.FIXED32,
              F.TYPE_DOUBLE: wire.FIXED64, F.TYPE_FIXED64: wire.FIXED64, F.TYPE_SFIXED64: wire.FIXED64}
    found, todo = {}, [onnx.ModelProto.DESCRIPTOR]
    while todo:
        d = todo.pop()
        name = d.full_name.removeprefix("onnx.")
        if name in found:
            continue
        found[name] = {}
        for f in d.fields:
            if f.type == F.TYPE_MESSAGE:
                found[name][f.number] = f.message_type.full_name.removeprefix("onnx.")
                todo.append(f.message_type)
            elif f.is_repeated and f.type not in (F.TYPE_STRING, F.TYPE_BYTES):
                found[name][f.number] = widths.get(f.type, wire.VARINT)
    assert found == wire.SCHEMA


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@pytest.mark.parametrize("data,match", [
    (b"\x08", "varint"),  # a key without its value
    (b"\x08" + b"\xff" * 11, "varint"),
    (_ld(7, b"")[:-1] + b"\x05", "past the end"),  # graph of 5 bytes, none there
    (b"\x0b\x0c", "wire type 3"),  # a group
    (b"\x0f", "wire type 7"),
    (b"\x00\x00", "field number 0"),
    (b"\x88\x00\x01", "overlong"),  # field 1 spelled in two bytes
    (_ld(7, _ld(1, _ld(5, _ld(8, b"\x81"))))[:], "packed varint"),
    (_ld(7, _ld(5, _ld(4, b"\0\0\0"))), "multiple of its width"),
])
def test_malformed_wire_data_is_refused(data, match):
    with pytest.raises(wire.WireError, match=match):
        wire.scan(data, 1 << 30)


def test_the_scan_counts_what_a_parse_builds():
    node = _ld(4, b"RX") + _ld(5, _ld(1, b"wires") + b"\xa0\x01\x07" + b"\x40\x01" * 5 + _ld(8, b"\x01\x02\x83\x01"))
    cost = wire.scan(_ld(7, _ld(1, node) * 3 + _ld(5, _ld(9, b"\0" * 800))) + _ld(14, b""), 1 << 30)
    # model, graph, 3 nodes, 3 attributes, 1 tensor, 1 metadata entry
    assert (cost.messages, cost.strings, cost.scalars) == (10, 3 * 2 + 1, 3 * (1 + 5 + 3))
    legit = wire.scan((DATA / "v2-full.ckpt").read_bytes(), 1 << 30)
    assert legit.estimate < container.PARSE_SLACK  # kilobytes: far inside the budget


def test_nesting_is_bounded():
    # TypeProto → sequence_type → elem_type → ...: two levels of nesting per step
    at_limit = _deep(wire.MAX_DEPTH // 2, _sequence_level)  # its last TypeProto is MAX_DEPTH deep
    wire.scan(at_limit, 1 << 30, root="TypeProto")
    with pytest.raises(wire.WireError, match="nested more than 16 deep"):
        wire.scan(_deep(wire.MAX_DEPTH // 2, _sequence_level, b"\x22\x00"), 1 << 30, root="TypeProto")


def test_the_budget_stops_the_scan():
    with pytest.raises(wire.WireError, match="more than 1000000 bytes"):
        wire.scan(_ld(7, b"\x0a\x00" * 10_000_000), 1_000_000)


@pytest.mark.parametrize("arch", ["random10000", "reupload1000"])
def test_the_largest_circuits_the_builder_makes_load_with_room_to_spare(arch):
    from compvqc.checkpoint import Checkpoint
    from compvqc.model import build_model

    model = build_model("4x4_ryzxy", arch, 2, arch_seed=0)  # ~8 K nodes: the costliest per byte
    data = encode(Checkpoint(model, np.zeros(model.n_params)))
    budget = container.PARSE_FACTOR * len(data) + container.PARSE_SLACK
    assert wire.scan(data, budget).estimate < budget / 1.5
    assert decode(data).model == model


def test_a_long_run_history_loads():
    c = full_checkpoint(with_profile=False)
    rng = np.random.default_rng(0)
    c.run = {**c.run, "history": [{"epoch": i, "loss": float(rng.random()), "step": 6 * i, "val_accuracy": float(rng.random()),
                                   "val_loss": float(rng.random())} for i in range(75_000)]}  # ~10 MB of JSON
    assert decode(encode(c)).run == c.run


# --- peak memory over a corpus of worst-case files ----------------------------------------------
# Each file carries a valid digest, so it passes the digest and meets the pre-scan (or the checks
# after parsing); each is loaded in a fresh interpreter that reports its peak RSS.
RSS_FACTOR, RSS_SLACK = 6, 64 << 20  # the bound: 6 × the file + 64 MiB
HOSTILE_BYTES = 32 << 20
BUDGET = container.PARSE_FACTOR * HOSTILE_BYTES + container.PARSE_SLACK


def _seal(body: bytes) -> bytes:
    return body + container._digest_record(hashlib.sha256(body).hexdigest())


def _base() -> onnx.ModelProto:
    """A valid small checkpoint's model, without its digest."""
    proto = onnx.ModelProto.FromString(encode(full_checkpoint(with_profile=False)))
    del proto.metadata_props[-1]
    return proto


def _hdr(number: int, length: int) -> bytes:
    return _varint(number << 3 | 2) + _varint(length)


def _with_graph_extra(extra: bytes, pad_to: int = 0) -> bytes:
    """The base checkpoint with raw fields appended to its graph, padded to ``pad_to`` bytes
    with a model ``doc_string`` (a string costs a parse its bytes, nothing more)."""
    proto = _base()
    graph = proto.graph.SerializeToString(deterministic=True) + extra
    proto.ClearField("graph")
    size = len(proto.SerializeToString()) + len(_ld(7, graph)) + 84 + 8
    if pad_to > size:
        proto.doc_string = "p" * (pad_to - size)
    return _seal(proto.SerializeToString(deterministic=True) + _ld(7, graph))


def _under(cost: int, item: bytes, make) -> bytes:
    """As many ``item`` (each charged ``cost`` by the scan) as keep a HOSTILE_BYTES file's
    estimate at 97% of its budget: the most a file can make a parse take."""
    return make(item * (int((BUDGET - wire.Cost(size=HOSTILE_BYTES).estimate) * 0.97) // cost))


def _deep(levels: int, level, inner: bytes = b"") -> bytes:
    """``levels`` nested messages in linear time: ``level(n)`` is the header bytes of one level
    around ``n`` bytes of content."""
    sizes, n = [], len(inner)
    for _ in range(levels):
        sizes.append(n)
        n += len(level(n))
    return b"".join(level(k) for k in reversed(sizes)) + inner


def _graph_level(n: int) -> bytes:
    """Inside a GraphProto: node → attribute → g, a GraphProto of ``n`` bytes."""
    attr = len(_hdr(6, n)) + n
    node = len(_hdr(5, attr)) + attr
    return _hdr(1, node) + _hdr(5, attr) + _hdr(6, n)


def _sequence_level(n: int) -> bytes:
    """Inside a TypeProto: sequence_type → elem_type, a TypeProto of ``n`` bytes."""
    seq = len(_hdr(1, n)) + n
    return _hdr(4, seq) + _hdr(1, n)


def _cap_valid() -> bytes:
    """A valid checkpoint just under the size cap: a long gradient history (one raw tensor)."""
    c = full_checkpoint(with_profile=False)
    rows = (container.MAX_FILE_BYTES - (64 << 10)) // (8 * c.model.n_params)
    c.gradient_history = np.random.default_rng(0).normal(size=(rows, c.model.n_params))
    return encode(c)


def _node_attr(payload: bytes) -> bytes:
    """A circuit node whose ``wires`` attribute holds ``payload`` (its INTS, as raw fields)."""
    return _ld(1, _ld(1, b"s0") + _ld(1, b"theta") + _ld(2, b"sx") + _ld(4, b"CRX") + _ld(7, b"ai.compvqc")
               + _ld(5, _ld(1, b"count") + b"\xa0\x01\x02\x18\x01") + _ld(5, _ld(1, b"wires") + b"\xa0\x01\x07" + payload))


def _json_doc(kind: str) -> bytes:
    proto = _base()
    if kind == "over":
        text = '{"a": [' + "[]," * ((container.MAX_JSON_BYTES - 64) // 3) + "[]]}"
    else:  # unique keys (the costliest JSON per estimated byte), as many as the budget allows
        t = container.MAX_JSON_BYTES
        n = int(((container.PARSE_FACTOR - 1) * t + container.PARSE_SLACK) * 0.97) // (144 + 56)
        entries = ",".join('"%07x":0' % i for i in range(n))
        text = '{"pad": "' + "x" * (t - len(entries) - 64) + '", ' + entries + "}"
    next(p for p in proto.metadata_props if p.key == "compvqc.metrics").value = text
    return _seal(proto.SerializeToString(deterministic=True))


def _ops_bomb() -> bytes:
    """As many operations as the loader allows: the first encoder run grows to fill MAX_OPS."""
    proto = _base()
    n = container.MAX_OPS - len(full_checkpoint(with_profile=False).model.ops)
    node = next(nd for nd in proto.graph.node if nd.op_type.startswith("Encode"))
    attrs = {a.name: a for a in node.attribute}
    attrs["count"].i += n
    attrs["wires"].ints.extend(i % 2 for i in range(n))
    attrs["features"].ints.extend(i % 4 for i in range(n))
    return _seal(proto.SerializeToString(deterministic=True))


CORPUS = {
    "cap: valid, one 64 MiB raw tensor": _cap_valid,
    "deep: attribute graphs 1000 deep": lambda: _with_graph_extra(_deep(1000, _graph_level)),
    "deep: type sequences 100 K deep": lambda: _with_graph_extra(
        _ld(11, _ld(1, b"x") + _ld(2, _deep(100_000, _sequence_level)))),
    "nodes: 16 M empty": lambda: _with_graph_extra(b"\x0a\x00" * (HOSTILE_BYTES // 2)),
    "nodes: empty, at the budget": lambda: _under(wire.COST_MESSAGE, b"\x0a\x00",
                                                  lambda x: _with_graph_extra(x, HOSTILE_BYTES)),
    "metadata: 16 M empty entries": lambda: _seal(_base().SerializeToString(deterministic=True)
                                                  + b"\x72\x00" * (HOSTILE_BYTES // 2)),
    "metadata: entries at the budget": lambda: _under(
        wire.COST_MESSAGE + wire.COST_STRING, b"\x72\x02\x0a\x00",
        lambda x: _seal(_with_graph_extra(b"", HOSTILE_BYTES)[:-84] + x)),
    "unpacked ints: 16 M": lambda: _with_graph_extra(_node_attr(b"\x40\x01" * (HOSTILE_BYTES // 2))),
    "unpacked ints: at the budget": lambda: _under(wire.COST_SCALAR, b"\x40\x01",
                                                   lambda x: _with_graph_extra(_node_attr(x), HOSTILE_BYTES)),
    "packed varints: 32 M": lambda: _with_graph_extra(_node_attr(_ld(8, b"\x01" * HOSTILE_BYTES))),
    "packed varints: at the budget": lambda: _under(wire.COST_SCALAR, b"\x01",
                                                    lambda x: _with_graph_extra(_node_attr(_ld(8, x)), HOSTILE_BYTES)),
    "json: 16 MiB of empty lists": lambda: _json_doc("over"),
    "json: unique keys at the budget": lambda: _json_doc("under"),
    "ops: MAX_OPS encoders": _ops_bomb,
}

# Peak RSS is the child's VmHWM, the high-water mark of its own address space. Its ru_maxrss is
# not: Linux carries the parent's high-water mark through fork and exec, so a child of a pytest
# worker holding a 64 MiB corpus file would report the worker's size.
_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from compvqc.checkpoint import CheckpointError, load_checkpoint

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

    load_checkpoint(sys.argv[1])  # every import and first-call cache done before the baseline
    base = status("VmRSS")  # now, not the peak so far: the delta can only overstate the load
    t = time.perf_counter()
    try:
        load_checkpoint(sys.argv[2])
        result = "loaded"
    except CheckpointError as e:
        result = "CheckpointError: " + str(e)
    print(json.dumps({"base": base, "peak": status("VmHWM"), "seconds": time.perf_counter() - t,
                      "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "result": result}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("name", list(CORPUS))
def test_peak_memory_of_a_load_is_bounded(name, tmp_path):
    path = tmp_path / "hostile.ckpt"
    path.write_bytes(CORPUS[name]())
    size = path.stat().st_size
    assert size <= container.MAX_FILE_BYTES
    if "at the budget" in name and not name.startswith("json"):  # it does probe the limit
        budget = container.PARSE_FACTOR * size + container.PARSE_SLACK
        assert 0.9 * budget < wire.scan(path.read_bytes(), 1 << 40).estimate <= budget
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(DATA / "v2-full.ckpt"), str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    delta = out["peak"] - out["base"]
    print(f"{name}: {size >> 20} MiB, peak RSS +{delta / (1 << 20):.0f} MiB, {out['seconds']:.2f} s, {out['result'][:100]}")
    assert out["result"] == "loaded" or (out["result"].startswith("CheckpointError: ") and "\n" not in out["result"])
    assert "internal error" not in out["result"]
    assert delta <= RSS_FACTOR * size + RSS_SLACK, (name, size, delta)
