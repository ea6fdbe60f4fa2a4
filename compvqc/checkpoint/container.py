"""The checkpoint container: one ONNX ``ModelProto``, readable by any ONNX tool, loaded safely.

Layout:

* arrays are initializers with their true dtypes (θ float64, masks bool, counters int64);
* the circuit is a chain of graph nodes in the custom operator domain ``ai.compvqc`` (declared
  in ``opset_import``), one node per run of same-type operations — ``x → ZeroState → EncodeRY →
  … → CRX → Readout → logits`` — so an ONNX viewer (Netron) draws the VQC. The nodes are the
  file's only copy of the circuit (the JSON model document holds readout and metadata);
* JSON documents (model description, run state, provenance, metrics) sit in
  ``metadata_props`` under ``compvqc.*`` keys;
* version 2: the file is the deterministic serialization of all that (the *body*), followed
  by one more ``metadata_props`` record, ``compvqc.digest`` = sha256 of the body in hex. A
  deterministic serialization writes fields in field-number order and nothing after field 14
  is set, so the file is exactly what protobuf writes for the model with that entry added (a
  valid ``ModelProto``), and the loader checks the digest on the raw bytes before parsing.
  Version 1 (still read) had ``compvqc.checksum``, over the re-serialized model, instead.

Loading never executes anything (no pickle: arrays come from tensor bytes, documents from JSON)
and never follows external data: files that reference it are rejected. Every field is checked
for size, dtype and shape before use, so truncated, bit-flipped or hostile files end in one
``CheckpointError``. Memory is bounded before protobuf runs, because a parse costs far more
than the file (an empty node: 2 bytes on disk, ~370 in upb's and the checker's C++ trees):

* ``MAX_FILE_BYTES`` = 64 MiB, counted while reading (devices and pipes refused): checkpoints
  of circuits a state-vector simulator can train are kilobytes to a few megabytes (the largest
  architectures, 10 K gates, make ~1 MB), so 64 MiB leaves room and keeps the worst case small;
* the digest (version 2), then :func:`compvqc.checkpoint.wire.scan`, which walks the wire
  format and refuses a file whose two parses would take more than ``PARSE_FACTOR`` (4) × its
  size + ``PARSE_SLACK`` (64 MiB): arrays cost ~2× their bytes, circuit nodes ~4 KB each,
  and the slack admits the largest circuits (8 K nodes: ~34 MB) with room to spare;
* after parsing, counts are checked before anything becomes Python objects: ``MAX_PROPS``
  metadata entries (a file has 12); ``MAX_OPS`` circuit operations (a few bytes each on disk,
  ~300 in the Python circuit); ``MAX_ELEMENTS`` = 2²³ per array (64 MiB of float64, the file
  limit), stored as raw bytes only (a packed int is 1 byte on disk, 8 in numpy); and
  ``MAX_JSON_BYTES`` = 16 MiB per document (a quarter of the file), whose ``json.loads``
  cost, estimated from brackets, quotes and separators (``[],`` is 3 characters and ~76
  bytes), must stay within the same factor and slack. A run history (five numbers per epoch)
  is estimated at ~10× its text (2.8× in fact): histories up to ~10 MB, ~80 K epochs, pass.

So a load takes the file plus at most ``PARSE_FACTOR`` × the file + ``PARSE_SLACK`` (the
worst cases are measured in ``tests/test_checkpoint_loader.py``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import replace

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, TensorProto, helper

from compvqc.checkpoint import wire
from compvqc.checkpoint.content import ARRAYS, DOCUMENTS, FORMAT, VERSION, Checkpoint, CheckpointError
from compvqc.errors import CompVQCError
from compvqc.limits import MAX_DEGREE
from compvqc.model.circuit import VQC
from compvqc.model.ops import AmplitudeEncode, Encode, Fixed

DOMAIN = "ai.compvqc"
ONNX_OPSET = 21
MAX_FILE_BYTES = 64 << 20
MAX_ELEMENTS = 1 << 23  # per array
MAX_JSON_BYTES = 16 << 20  # per document
MAX_JSON_DEPTH = 64
MAX_PROPS = 64
MAX_OPS = 1 << 17  # 1000 layers on 16 qubits need ~96 K
MAX_TERMS = 1 << 16  # encoder polynomial terms in all (zz_feature_map on 16 qubits has 480)
PARSE_FACTOR = 4  # parsing (protobuf twice, or json.loads) may take this many times its input ...
PARSE_SLACK = 64 << 20  # ... plus this
DIGEST_KEY = "compvqc.digest"
DOC_STRING = "compvqc checkpoint: a variational quantum circuit with its training and compression state"

DOCS = ("model", *DOCUMENTS)  # the model's document holds its readout and metadata
# hardware profile arrays stored as initializers (in this order): path -> dtype
HW_ARRAYS = {**{("qubits", k): np.float64 for k in ("t1", "t2", "readout_error", "readout_duration", "gate_error",
                                                      "gate_duration")},
             ("edges", "pairs"): np.int32, ("edges", "error"): np.float64, ("edges", "duration"): np.float64}
ARRAY_DTYPES = {f.name: np.dtype(f.dtype).type for f in ARRAYS}


# --- encode ---------------------------------------------------------------------------------
def encode(ckpt: Checkpoint, *, doc_texts: dict[str, str] | None = None) -> bytes:
    """Serialize a (validated) checkpoint to ONNX bytes that pass ``onnx.checker``.

    ``doc_texts``: documents already encoded by :func:`doc_json` (the process writer's trainer
    side encodes them, so the child writes exactly these texts); others are encoded here.
    """
    ckpt.validate()
    arrays = {f.name: ckpt.array(f.name).astype(f.dtype, copy=False) for f in ARRAYS}
    arrays["levels"] = arrays["levels"][ckpt.masked]  # rows of masked gates only; NaN-padded to 3 angles
    for name, value in ckpt.optimizer_state.items():
        arrays[f"optimizer.{name}"] = np.asarray(value)
    profile = _split_profile(ckpt.hardware_profile, arrays)
    m = ckpt.model
    graph = helper.make_graph(list(_circuit_nodes(m)), "vqc",
                              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", m.n_features])],
                              [helper.make_tensor_value_info("logits", TensorProto.DOUBLE, ["batch", m.n_classes])],
                              initializer=[_tensor(name, v) for name, v in arrays.items()])
    model = helper.make_model(graph, producer_name="compvqc", doc_string=DOC_STRING,
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid(DOMAIN, 1)])
    doc_texts = doc_texts or {}
    for k, v in (("format", FORMAT), ("version", str(VERSION)), ("shots", str(int(ckpt.shots))),
                 ("model", _model_text(m))):
        model.metadata_props.add(key=f"compvqc.{k}", value=v)
    for key in DOCUMENTS:
        doc = profile if key == "hardware_profile" else getattr(ckpt, key)
        model.metadata_props.add(key=f"compvqc.{key}", value=doc_texts[key] if key in doc_texts else doc_json(doc, key))
    _check_structure(model, ckpt.model)
    body = model.SerializeToString(deterministic=True)
    return body + _digest_record(hashlib.sha256(body).hexdigest())


def _digest_record(hexdigest: str, key: str = DIGEST_KEY) -> bytes:
    """The ``metadata_props`` entry ``key`` = ``hexdigest`` as it ends a file: exactly what
    protobuf writes for a ``ModelProto`` holding only that entry (84 bytes for the digest)."""
    entry = onnx.StringStringEntryProto(key=key, value=hexdigest)
    return onnx.ModelProto(metadata_props=[entry]).SerializeToString()


_DIGEST_PREFIX = _digest_record("0" * 64)[:-64]
_V1_PREFIX = _digest_record("0" * 64, "compvqc.checksum")[:-64]  # version 1 ended with its checksum


def _tensor(name: str, value) -> onnx.TensorProto:
    """``numpy_helper.from_array`` for our numeric arrays, without its per-call dtype dispatch
    (this runs for every array of every save; a test checks both give the same proto)."""
    a = np.asarray(value)
    t = TensorProto()
    t.name = name
    try:
        t.data_type = _TENSOR_TYPES[a.dtype.newbyteorder("=")]
    except KeyError:
        raise CheckpointError(f"array {name!r}: dtype {a.dtype} cannot be stored") from None
    t.dims.extend(a.shape)
    t.raw_data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    return t


_TENSOR_TYPES = {np.dtype(t): helper.np_dtype_to_tensor_dtype(np.dtype(t))
                 for t in (np.float64, np.float32, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_,
                           np.uint16, np.uint32, np.uint64, np.complex64, np.complex128, np.float16)}


def json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")


# one encoder for every document: json.dumps with options builds a new one per call, and this
# runs for every document of every save
_DOC_ENCODER = json.JSONEncoder(sort_keys=True, allow_nan=True, default=json_default)


def doc_json(doc, key: str = "document") -> str:
    """A document's text in the file: sorted keys, NaN allowed, numpy values as JSON."""
    try:
        return _DOC_ENCODER.encode(doc)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"the {key} document cannot be stored as JSON ({e})") from None


def _model_text(model: VQC) -> str:
    """The model's JSON document without its operations (the graph nodes are the circuit)."""
    return doc_json({**_model_doc(model), "meta": model.meta}, "model")


@functools.lru_cache(maxsize=16)
def _model_doc(model: VQC) -> dict:
    """``to_dict`` without ops and meta: cached by value (equality ignores meta, so meta is added
    per call — it may differ between equal models, or change in place)."""
    doc = model.to_dict()
    del doc["ops"], doc["meta"]
    return doc


_CHECKED: set = set()


def _check_structure(model: onnx.ModelProto, structure) -> None:
    """``onnx.checker.check_model``, once per structure.

    The checker's verdict depends on the graph, the opsets and each initializer's name, dtype
    and shape — not on the values nor on the metadata text — so a training run, which saves one
    structure many times, pays for it once.
    """
    key = (structure,  # the VQC the (cached) circuit nodes were built from
           tuple((t.name, t.data_type, tuple(t.dims)) for t in model.graph.initializer),
           tuple((o.domain, o.version) for o in model.opset_import), tuple(p.key for p in model.metadata_props))
    if key not in _CHECKED:
        onnx.checker.check_model(model)
        _CHECKED.add(key)


def _split_profile(profile: dict, arrays: dict) -> dict:
    """Move the profile's numeric arrays into ``arrays``; return the JSON part."""
    rest = json.loads(json.dumps(profile, default=json_default)) if profile else {}
    for (group, key), dtype in HW_ARRAYS.items():
        if group in rest and key in rest[group]:
            arrays[f"hardware.{group}.{key}"] = np.asarray(profile[group][key], dtype=dtype)
            del rest[group][key]
    return rest


def _kind(op) -> str:
    if isinstance(op, AmplitudeEncode):
        return "AmplitudeEncode"
    if isinstance(op, Encode):
        return f"Encode{'' if op.feature is not None else 'Poly'}{op.name.upper()}"
    return f"Fixed{op.name.upper()}" if isinstance(op, Fixed) else op.name.upper()


def _runs(ops):
    """Consecutive operations of the same kind and gate type, as (op_type, [ops])."""
    runs: list[tuple[str, list]] = []
    for op in ops:
        kind = _kind(op)
        if runs and runs[-1][0] == kind and kind != "AmplitudeEncode":
            runs[-1][1].append(op)
        else:
            runs.append((kind, [op]))
    return runs


def _float_text(values) -> str:
    """Float64 attributes as text (ONNX's float attributes are float32): exact reprs, space-separated."""
    return " ".join(repr(float(v)) for v in values)


def _node(kind: str, ops: list, state: str, out: str):
    if kind.startswith("EncodePoly"):
        terms = [t for o in ops for t in o.terms]
        return helper.make_node(kind, [state, "x"], [out], domain=DOMAIN, count=len(ops), wires=[o.wire for o in ops],
                                term_counts=[len(o.terms) for o in ops], term_sizes=[len(fs) for _, fs in terms],
                                features=[f for _, fs in terms for f in fs], coefs=_float_text(c for c, _ in terms))
    if kind.startswith("Encode"):
        return helper.make_node(kind, [state, "x"], [out], domain=DOMAIN, count=len(ops),
                                wires=[o.wire for o in ops], features=[o.feature for o in ops])
    if kind.startswith("Fixed"):
        extra = {"angles": _float_text(a for o in ops for a in o.angles)} if ops[0].angles else {}
        return helper.make_node(kind, [state], [out], domain=DOMAIN, count=len(ops),
                                wires=[w for o in ops for w in o.wires], **extra)
    extra = {}
    if not all(o.plain for o in ops):  # every gate's, so the lists line up with ``params``
        extra = {"scales": _float_text(v for o in ops for v in (o.scales or (1.0,) * len(o.params))),
                 "offsets": _float_text(v for o in ops for v in (o.offsets or (0.0,) * len(o.params)))}
    return helper.make_node(kind, [state, "theta"], [out], domain=DOMAIN, count=len(ops),
                            wires=[w for o in ops for w in o.wires], params=[i for o in ops for i in o.params], **extra)


@functools.lru_cache(maxsize=16)
def _circuit_nodes(model: VQC):
    """The circuit as graph nodes: one node per run of same-type operations (a layer in a viewer),
    flattened wires/params/features as attributes; cached: a training run saves one model many times."""
    nodes = []
    state = "s0"
    runs = _runs(model.ops)
    if not (runs and runs[0][0] == "AmplitudeEncode"):
        nodes.append(helper.make_node("ZeroState", ["x"], [state], domain=DOMAIN, n_qubits=model.n_qubits))
    for k, (kind, ops) in enumerate(runs, start=1):
        out = f"s{k}"
        if kind == "AmplitudeEncode":
            nodes.append(helper.make_node(kind, ["x"], [out], domain=DOMAIN, n_qubits=model.n_qubits,
                                          n_features=ops[0].n_features))
        else:
            nodes.append(_node(kind, ops, state, out))
        state = out
    r = model.readout
    shape = {} if r.kind == "pauli" else {"group_sizes": [len(g) for g in r.groups],
                                           "indices": [i for g in r.groups for i in g]}
    nodes.append(helper.make_node("Readout", [state], ["logits"], domain=DOMAIN, kind=r.kind, **shape))
    return tuple(nodes)


def _floats(attrs: dict, key: str, count: int, kind: str) -> list[float]:
    text = attrs.get(key, b"")
    if not isinstance(text, bytes):
        raise CheckpointError(f"node {kind} attribute {key} must be text")
    if len(text) > 32 * count + 1:
        raise CheckpointError(f"node {kind} attribute {key} is too long")
    try:
        values = [float(v) for v in text.decode("ascii").split()]
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"node {kind} attribute {key} is not a list of numbers") from None
    if len(values) != count:
        raise CheckpointError(f"node {kind} attributes do not match its count")
    return values


def _ops_from_graph(graph: onnx.GraphProto) -> list:
    """Rebuild the operation list from the circuit nodes, checking every length before a list
    is made (at most ``MAX_OPS`` operations in all)."""
    from compvqc.model.gates import FIXED_GATES, GATE_TYPES, fixed_wires
    from compvqc.model.ops import Gate

    if len(graph.node) > MAX_OPS + 2:
        raise CheckpointError(f"more than {MAX_OPS} circuit operations")
    ops: list = []
    n_terms = 0  # encoder polynomial terms so far (bounded apart: MAX_OPS counts operations)
    for node in graph.node:
        if node.domain != DOMAIN:
            raise CheckpointError(f"node {node.op_type!r} outside the {DOMAIN} domain")
        kind = node.op_type
        attrs = _node_attributes(node)
        if kind in ("ZeroState", "Readout"):
            continue
        if kind == "AmplitudeEncode":
            ops.append(AmplitudeEncode(int(attrs["n_features"])))
            continue
        count = int(attrs["count"])
        if not 0 < count <= MAX_OPS - len(ops):
            raise CheckpointError(f"node {kind} has an invalid count (at most {MAX_OPS} operations in all)")
        wires = attrs["wires"]
        if kind.startswith("EncodePoly"):
            counts, sizes, features = attrs["term_counts"], attrs["term_sizes"], attrs["features"]
            n_terms += len(sizes)
            if n_terms > MAX_TERMS or any(not 0 <= v <= MAX_DEGREE for v in sizes):
                raise CheckpointError(f"more than {MAX_TERMS} encoder terms, or a term of degree over {MAX_DEGREE}")
            if len(wires) != count or len(counts) != count or sum(counts) != len(sizes) or sum(sizes) != len(features):
                raise CheckpointError(f"node {kind} attributes do not match its count")
            coefs = _floats(attrs, "coefs", len(sizes), kind)
            t = f = 0
            for w, c in zip(wires, counts):
                terms = []
                for _ in range(c):
                    terms.append((coefs[t], tuple(int(v) for v in features[f:f + sizes[t]])))
                    f += sizes[t]
                    t += 1
                ops.append(Encode(kind[10:].lower(), int(w), None, tuple(terms)))
            continue
        if kind.startswith("Encode"):
            features = attrs["features"]
            if len(wires) != count or len(features) != count:
                raise CheckpointError(f"node {kind} attributes do not match its count")
            ops.extend(Encode(kind[6:].lower(), int(w), int(f)) for w, f in zip(wires, features))
            continue
        if kind.startswith("Fixed"):
            name = kind[5:].lower()
            if name not in FIXED_GATES and name not in GATE_TYPES:
                raise CheckpointError(f"unknown circuit node {kind!r}")
            n_w, n_a = fixed_wires(name), GATE_TYPES[name].n_params if name in GATE_TYPES else 0
            if len(wires) != count * n_w:
                raise CheckpointError(f"node {kind} attributes do not match its count")
            angles = _floats(attrs, "angles", count * n_a, kind)
            ops.extend(Fixed(name, tuple(int(w) for w in wires[i * n_w:(i + 1) * n_w]),
                             tuple(angles[i * n_a:(i + 1) * n_a])) for i in range(count))
            continue
        gt = GATE_TYPES.get(kind.lower())
        if gt is None:
            raise CheckpointError(f"unknown circuit node {kind!r}")
        params = attrs["params"]
        if len(wires) != count * gt.n_wires or len(params) != count * gt.n_params:
            raise CheckpointError(f"node {kind} attributes do not match its count")
        wires, params, k = list(wires), list(params), gt.n_params
        scales = _floats(attrs, "scales", len(params), kind) if "scales" in attrs else [1.0] * len(params)
        offsets = _floats(attrs, "offsets", len(params), kind) if "offsets" in attrs else [0.0] * len(params)
        for i in range(count):
            ops.append(Gate(gt.name, tuple(int(w) for w in wires[i * gt.n_wires:(i + 1) * gt.n_wires]),
                            tuple(int(p) for p in params[i * k:(i + 1) * k]), tuple(scales[i * k:(i + 1) * k]),
                            tuple(offsets[i * k:(i + 1) * k])))
    return ops


def _node_attributes(node) -> dict:
    """A node's attributes by name: ints as ``int``, lists of ints as protobuf's own (unconverted)
    container, strings as ``bytes``; the circuit uses no other type."""
    if len(node.attribute) > 8:
        raise CheckpointError(f"node {node.op_type!r} has too many attributes")
    attrs = {}
    for a in node.attribute:
        if a.type not in _ATTRIBUTE_FIELDS:
            raise CheckpointError(f"node {node.op_type!r} attribute {a.name!r} has an unexpected type")
        attrs[a.name] = getattr(a, _ATTRIBUTE_FIELDS[a.type])
    return attrs


_ATTRIBUTE_FIELDS = {AttributeProto.INT: "i", AttributeProto.INTS: "ints", AttributeProto.STRING: "s"}


# --- decode ---------------------------------------------------------------------------------
def decode(data: bytes, source: str = "checkpoint") -> Checkpoint:
    """Parse and fully validate checkpoint bytes; any problem raises one CheckpointError naming ``source``."""
    try:
        return _decode(data)
    except CompVQCError as e:  # our own checks, or e.g. a ModelError from the embedded description
        raise CheckpointError(f"{source}: {e}") from None
    except (DecodeError, RecursionError, ValueError, TypeError, KeyError, IndexError, OverflowError,
            UnicodeDecodeError, onnx.checker.ValidationError, MemoryError) as e:
        raise CheckpointError(f"{source}: corrupt checkpoint ({type(e).__name__}: {str(e)[:120]})") from None


def _decode(data: bytes) -> Checkpoint:
    if not data:
        raise CheckpointError("empty file")
    if len(data) > MAX_FILE_BYTES:
        raise CheckpointError(f"more than {MAX_FILE_BYTES} bytes, the limit of a checkpoint")
    digested = _check_digest(data)
    try:
        wire.scan(data, PARSE_FACTOR * len(data) + PARSE_SLACK)
    except wire.WireError as e:
        raise CheckpointError(f"not a loadable ONNX file ({e})") from None
    try:
        proto = onnx.ModelProto.FromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types on garbage
        raise CheckpointError(f"not an ONNX file ({type(e).__name__})") from None
    if len(proto.metadata_props) > MAX_PROPS:
        raise CheckpointError(f"more than {MAX_PROPS} metadata entries")
    props = {}
    for p in proto.metadata_props:
        if p.key in props:
            raise CheckpointError(f"duplicate metadata key {p.key!r}")
        props[p.key] = p.value
    if props.get("compvqc.format") != FORMAT:
        raise CheckpointError("not a compvqc checkpoint")
    version = props.get("compvqc.version")
    if version == str(VERSION):
        if not digested:
            raise CheckpointError("digest missing (the file is corrupt or was modified)")
    elif version == "1":
        _check_v1_checksum(proto, props)
    else:
        raise CheckpointError(f"unsupported checkpoint version {version!r} (this compvqc reads 1 and {VERSION})")
    _reject_external(proto.graph)
    onnx.checker.check_model(data)
    arrays = _arrays(proto.graph)
    ops = _ops_from_graph(proto.graph)
    del proto  # its copy of the file's strings goes before json.loads takes its share
    docs = _documents(props)
    # the description without ops, then the ops: no per-op dicts (~900 bytes a gate, not ~300)
    model = replace(VQC.from_dict({**docs["model"], "ops": []}), ops=tuple(ops))
    shots = props.get("compvqc.shots", "")
    if not shots.isdigit() or len(shots) > 12:
        raise CheckpointError("shots must be a non-negative integer")
    profile = dict(docs["hardware_profile"] or {})
    for group, key in HW_ARRAYS:
        if f"hardware.{group}.{key}" in arrays:
            profile.setdefault(group, {})[key] = arrays.pop(f"hardware.{group}.{key}")
    missing = {f.name for f in ARRAYS if f.required} - set(arrays)
    if missing:
        raise CheckpointError(f"missing arrays {sorted(missing)}")
    for f in ARRAYS:  # a file written before an optional array existed gets its empty default
        arrays.setdefault(f.name, np.zeros(0, f.dtype))
    for name in ("prune_mask", "quant_mask"):
        if arrays[name].shape != (len(model.gates),):
            raise CheckpointError(f"{name} has shape {arrays[name].shape}, the model has {len(model.gates)} gates")
    arrays["levels"] = _expand_levels(arrays["levels"], arrays["prune_mask"] | arrays["quant_mask"])
    documents = {name: profile if name == "hardware_profile" else docs[name] for name in DOCUMENTS}
    ckpt = Checkpoint.from_parts(model, arrays, documents, int(shots))
    ckpt.validate()
    ckpt.check_documents()
    return ckpt


def _check_digest(data: bytes) -> bool:
    """Before any parsing: ``True`` if ``data`` ends with a ``compvqc.digest`` record (version 2)
    that matches the bytes before it, ``False`` if it ends with a version-1 ``compvqc.checksum``
    record (checked after parsing, as version 1 defines it); anything else is refused here."""
    n = len(_DIGEST_PREFIX) + 64
    if data[-n:-64] == _DIGEST_PREFIX:
        if hashlib.sha256(memoryview(data)[:-n]).hexdigest().encode() != data[-64:]:
            raise CheckpointError("checksum mismatch (the file is corrupt or was modified)")
        return True
    if data[-len(_V1_PREFIX) - 64:-64] == _V1_PREFIX:
        return False
    raise CheckpointError("not a compvqc checkpoint, or a corrupt one (it ends with no digest)")


def _check_v1_checksum(proto: onnx.ModelProto, props: dict) -> None:
    """Version 1: ``compvqc.checksum`` is the sha256 of the model re-serialized without it
    (removed from ``proto`` in place: a copy would double the memory)."""
    checksum = props.get("compvqc.checksum")
    if not checksum:
        raise CheckpointError("checksum missing")
    entries = proto.metadata_props
    del entries[[p.key for p in entries].index("compvqc.checksum")]
    if hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest() != checksum:
        raise CheckpointError("checksum mismatch (the file is corrupt or was modified)")


def _expand_levels(rows: np.ndarray, masked: np.ndarray) -> np.ndarray:
    if masked.ndim != 1 or rows.shape != (int(masked.sum()), 3):
        raise CheckpointError(f"levels have shape {rows.shape}, the masks need ({int(masked.sum())}, 3)")
    full = np.full((masked.size, 3), np.nan)
    full[masked] = rows
    return full


def _reject_external(graph: onnx.GraphProto) -> None:
    for t in graph.initializer:
        if t.data_location == TensorProto.EXTERNAL or len(t.external_data):
            raise CheckpointError(f"array {t.name!r} references external data (refused)")
    if len(graph.sparse_initializer):
        raise CheckpointError("sparse initializers are not part of the format")


def _documents(props: dict) -> dict:
    """The JSON documents, once what ``json.loads`` would allocate for them is bounded."""
    texts = {}
    for key in DOCS:
        text = texts[key] = props.get(f"compvqc.{key}")
        if text is None:
            raise CheckpointError(f"metadata compvqc.{key} missing")
        if len(text) > MAX_JSON_BYTES:
            raise CheckpointError(f"metadata compvqc.{key} too large")
    budget = PARSE_FACTOR * sum(len(t) for t in texts.values()) + PARSE_SLACK
    if sum(map(_json_cost, texts.values())) > budget:
        raise CheckpointError(f"the JSON documents would take more than {budget} bytes of memory")
    return {key: _json(text, key) for key, text in texts.items()}


def _json_cost(text: str) -> int:
    """More than ``json.loads(text)`` allocates, from its characters alone (CPython 3.11, peak
    RSS on worst cases, plus 10-20%): 96 bytes per ``[`` (a list, over-allocated as it grows),
    200 per ``{`` (a dict), 56 per comma (a value: a float and its slot), 144 per colon (an
    entry of a growing dict, just resized, and its key's string), 28 per quote not owed to a key (a
    string value: ~50 bytes and its characters), and the characters, 4 bytes each unless ASCII."""
    colons = text.count(":")
    return ((1 if text.isascii() else 4) * len(text) + 96 * text.count("[") + 200 * text.count("{")
            + 56 * text.count(",") + 144 * colons + 28 * max(0, text.count('"') - 2 * colons))


def _json(text: str, key: str):
    depth = 0
    for ch in text:  # bound nesting before json recurses
        if ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise CheckpointError(f"metadata compvqc.{key} nested too deeply")
        elif ch in "]}":
            depth -= 1
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise CheckpointError(f"metadata compvqc.{key} must be a JSON object")
    return doc


_DTYPES = {TensorProto.DOUBLE: np.float64, TensorProto.INT64: np.int64, TensorProto.INT32: np.int32,
           TensorProto.BOOL: np.bool_}
_TYPED_DATA = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")


def _arrays(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    out = {}
    for t in graph.initializer:
        if t.name in out:
            raise CheckpointError(f"array {t.name!r} appears twice")
        dtype = _DTYPES.get(t.data_type)
        if dtype is None:
            raise CheckpointError(f"array {t.name!r} has unsupported dtype {t.data_type}")
        hardware = t.name.startswith("hardware.")
        expected = ARRAY_DTYPES.get(t.name) or (HW_ARRAYS.get(tuple(t.name.split(".")[1:])) if hardware else None)
        if expected is None and not t.name.startswith("optimizer."):  # optimizer state: any numeric dtype
            raise CheckpointError(f"unknown array {t.name!r}")
        if expected is not None and dtype is not expected:
            raise CheckpointError(f"array {t.name!r} has dtype {np.dtype(dtype)}, expected {np.dtype(expected)}")
        if any(d < 0 for d in t.dims) or len(t.dims) > 4:
            raise CheckpointError(f"array {t.name!r} has invalid dims {list(t.dims)}")
        count = math.prod(t.dims)  # exact: numpy's int64 product could wrap around
        if count > MAX_ELEMENTS:
            raise CheckpointError(f"array {t.name!r} declares {count} elements (limit {MAX_ELEMENTS})")
        if any(len(getattr(t, f)) for f in _TYPED_DATA):  # 1 byte on disk could be 8 in numpy
            raise CheckpointError(f"array {t.name!r} is not stored as raw data")
        raw = t.raw_data
        if len(raw) != count * np.dtype(dtype).itemsize:
            raise CheckpointError(f"array {t.name!r} holds {len(raw)} bytes for {count} elements")
        arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(tuple(t.dims))
        out[t.name] = np.array(arr, dtype=dtype, copy=True)
    return out
