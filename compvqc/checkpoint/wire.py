"""What parsing an ONNX file would cost, found without parsing it.

protobuf materializes a message's whole tree at once, and its memory is not proportional to
the file: an empty ``NodeProto`` is 2 bytes on the wire but about 160 bytes in Python's upb
message tree and 200 more in the C++ tree ``onnx.checker`` builds; a packed repeated int is 1
byte on the wire and about 38 in the two. A 64 MiB file can therefore cost gigabytes, and
protobuf has no "cost of parsing" API: the only way it measures a file is by parsing it, which
is exactly what must be avoided. Nor does any library walk the wire format against a schema
without building messages, so this module does, by hand, in one bounded pass:

* it knows, from ``onnx/onnx.proto`` (a test compares the table with the installed descriptors),
  which fields of which ONNX message are submessages and which are repeated numbers;
* it counts messages, string/bytes fields and scalar elements (packed varints: the bytes below
  0x80, with numpy; packed fixed-width: length / width; unpacked: one per field), and charges
  each what upb plus the C++ checker were measured to take (``COST_*``, plus the file twice);
* it refuses malformed wire data (bad varints, lengths beyond their message, groups, wire types
  6/7), nesting deeper than ``MAX_DEPTH``, and stops as soon as the estimate passes the caller's
  budget, so the scan itself takes time and memory bounded by that budget.

Unknown fields are skipped as bytes: protobuf keeps them so, unparsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from compvqc.errors import WireError

MAX_DEPTH = 16  # a compvqc file nests 6 deep (Model → Graph → ValueInfo → Type → Tensor → Shape → Dim)

# Bytes per item, measured with protobuf 7.36 (upb) and onnx 1.23 (whose checker parses the file
# again, in C++) in a fresh process per case (peak RSS, 2^20 + 1 items, the worst point of
# repeated-field growth), beyond twice the file size (each parse copies every string):
# up to 492 bytes per message (an empty AttributeProto; TensorProto 460, NodeProto 365,
# StringStringEntryProto 132), 114 per element of a repeated string, 38 per int64 element,
# packed or not. The costs below are those, rounded up with a 10-20% margin.
COST_MESSAGE = 576
COST_STRING = 128
COST_SCALAR = 48

_VARINT = re.compile(rb"[\x80-\xff]{0,9}[\x00-\x7f]")  # skips a varint (its value is not needed)
VARINT, FIXED32, FIXED64 = 0, 4, 8  # repeated numeric fields: their element encoding

_SSE = "StringStringEntryProto"
# message -> {field number: submessage type, or the encoding of a repeated numeric field}.
# Every other field (strings, bytes, singular numbers, enums) is skipped as plain data.
SCHEMA: dict[str, dict[int, str | int]] = {
    "ModelProto": {7: "GraphProto", 8: "OperatorSetIdProto", 14: _SSE, 20: "TrainingInfoProto",
                   25: "FunctionProto", 26: "DeviceConfigurationProto"},
    "GraphProto": {1: "NodeProto", 5: "TensorProto", 11: "ValueInfoProto", 12: "ValueInfoProto",
                   13: "ValueInfoProto", 14: "TensorAnnotation", 15: "SparseTensorProto", 16: _SSE},
    "NodeProto": {5: "AttributeProto", 9: _SSE, 10: "NodeDeviceConfigurationProto"},
    "AttributeProto": {5: "TensorProto", 6: "GraphProto", 7: FIXED32, 8: VARINT, 10: "TensorProto",
                       11: "GraphProto", 14: "TypeProto", 15: "TypeProto", 22: "SparseTensorProto",
                       23: "SparseTensorProto"},
    "TensorProto": {1: VARINT, 3: "TensorProto.Segment", 4: FIXED32, 5: VARINT, 7: VARINT,
                    10: FIXED64, 11: VARINT, 13: _SSE, 16: _SSE},
    "SparseTensorProto": {1: "TensorProto", 2: "TensorProto", 3: VARINT},
    "ValueInfoProto": {2: "TypeProto", 4: _SSE},
    "TypeProto": {1: "TypeProto.Tensor", 4: "TypeProto.Sequence", 5: "TypeProto.Map",
                  7: "TypeProto.Opaque", 8: "TypeProto.SparseTensor", 9: "TypeProto.Optional"},
    "TypeProto.Tensor": {2: "TensorShapeProto"},
    "TypeProto.Sequence": {1: "TypeProto"},
    "TypeProto.Map": {2: "TypeProto"},
    "TypeProto.Optional": {1: "TypeProto"},
    "TypeProto.SparseTensor": {2: "TensorShapeProto"},
    "TensorShapeProto": {1: "TensorShapeProto.Dimension"},
    "TrainingInfoProto": {1: "GraphProto", 2: "GraphProto", 3: _SSE, 4: _SSE},
    "FunctionProto": {7: "NodeProto", 9: "OperatorSetIdProto", 11: "AttributeProto",
                      12: "ValueInfoProto", 14: _SSE},
    "TensorAnnotation": {2: _SSE},
    "NodeDeviceConfigurationProto": {2: "ShardingSpecProto"},
    "ShardingSpecProto": {2: VARINT, 3: "IntIntListEntryProto", 4: "ShardedDimProto"},
    "IntIntListEntryProto": {2: VARINT},
    "ShardedDimProto": {2: "SimpleShardedDimProto"},
    **dict.fromkeys(("TensorProto.Segment", "TypeProto.Opaque", "TensorShapeProto.Dimension", "OperatorSetIdProto",
                     _SSE, "DeviceConfigurationProto", "SimpleShardedDimProto"), {}),  # no submessage, no number
}


@dataclass
class Cost:
    """What a parse of the scanned bytes would build."""

    size: int = 0
    messages: int = 0
    strings: int = 0
    scalars: int = 0

    @property
    def estimate(self) -> int:
        """Bytes of memory the two parses (upb, then the C++ checker) take at most."""
        return 2 * self.size + COST_MESSAGE * self.messages + COST_STRING * self.strings + COST_SCALAR * self.scalars


def scan(data: bytes, budget: int, root: str = "ModelProto") -> Cost:
    """Walk ``data`` as a ``root`` message; raise :class:`WireError` when it is malformed, nests
    deeper than ``MAX_DEPTH`` or its :attr:`Cost.estimate` exceeds ``budget`` (the walk stops
    there, so it never does more than ``budget / COST_SCALAR`` steps)."""
    cost = Cost(size=len(data), messages=1)
    left = budget - cost.estimate
    stack = [(0, len(data), SCHEMA[root])]  # the message being read is the last entry
    u8 = np.frombuffer(data, np.uint8)
    while stack:
        pos, end, fields = stack.pop()
        while pos < end:
            if left < 0:
                raise WireError(f"parsing it would take more than {budget} bytes of memory")
            key = data[pos]  # keys decoded inline: this loop is the scan's cost
            if key < 0x80:
                pos += 1
            elif pos + 1 < end and 0 < data[pos + 1] < 0x80:  # two bytes: fields up to 2047
                key = (key & 0x7F) | data[pos + 1] << 7
                pos += 2
            else:  # longer keys name fields no ONNX message has; an overlong one could name any
                m = _VARINT.match(data, pos, end)
                if m is None or data[m.end() - 1] == 0:
                    raise WireError("a malformed or overlong field key")
                key = (key & 7) | 1 << 40
                pos = m.end()
            if key < 8:
                raise WireError("field number 0")
            wire = key & 7
            if wire == 0:
                m = _VARINT.match(data, pos, end)
                if m is None:
                    raise WireError("a malformed varint")
                pos = m.end()
                cost.scalars += 1
                left -= COST_SCALAR
                continue
            if wire == 2:
                n, pos = _varint(data, pos, end)
                if n > end - pos:
                    raise WireError("a length runs past the end of its message")
                kind = fields.get(key >> 3)
                if isinstance(kind, str):  # a submessage: finish it before the rest of this one
                    if len(stack) >= MAX_DEPTH:  # the stack holds one entry per enclosing message
                        raise WireError(f"messages nested more than {MAX_DEPTH} deep")
                    cost.messages += 1
                    left -= COST_MESSAGE
                    stack.append((pos + n, end, fields))
                    stack.append((pos, pos + n, SCHEMA[kind]))
                    break
                if kind is None:
                    cost.strings += 1
                    left -= COST_STRING
                else:  # packed numbers (charged as one at least, so every step costs)
                    if kind == VARINT:  # one element per byte below 0x80
                        if n and data[pos + n - 1] >= 0x80:
                            raise WireError("a packed varint runs past its field")
                        count = int(np.count_nonzero(u8[pos:pos + n] < 0x80))
                    elif n % kind:
                        raise WireError("a packed field's length is not a multiple of its width")
                    else:
                        count = n // kind
                    cost.scalars += max(count, 1)
                    left -= COST_SCALAR * max(count, 1)
                pos += n
            elif wire == 1 or wire == 5:
                pos += 8 if wire == 1 else 4
                if pos > end:
                    raise WireError("a fixed-width field runs past the end of its message")
                cost.scalars += 1
                left -= COST_SCALAR
            else:
                raise WireError(f"wire type {wire} (groups and undefined types are not ONNX)")
        if left < 0:
            raise WireError(f"parsing it would take more than {budget} bytes of memory")
    return cost


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it (at most 10 bytes, inside ``end``)."""
    if pos < end:
        b = data[pos]
        if b < 0x80:  # the common one-byte case, kept fast
            return b, pos + 1
    value, shift = 0, 0
    for i in range(pos, min(pos + 10, end)):
        b = data[i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            if value >> 64:
                break
            return value, i + 1
        shift += 7
    raise WireError("a malformed varint")
