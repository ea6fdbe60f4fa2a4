"""Every operation of a VQC as *primitives*: one 2x2 matrix on a target wire, perhaps controlled.

The kernels, the folded blocks and the adjoint sweep only know that one shape, so every other
gate is written in it once, here, exactly (global phase included; the tests compare each
lowering with qiskit's ``Operator``):

* RZZ(θ) = CX · RZ_b(θ) · CX; RXX and RYY are RZZ between basis changes (H, and S·H);
* SWAP = three CX; ECR = RZX(π/4) · X_a · RZX(−π/4) with RZX = H_b · RZZ · H_b;
* fixed gates are constant matrices; a trainable type at a numeric angle is its lowering with
  constant matrices.

A trainable primitive keeps *slots* (θ index, scale, offset) per angle, so a gate's derivative
is its primitive's, and a weight shared by several gates collects the derivative of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.model import gates as facts
from compvqc.model.ops import Encode, Fixed, Gate

Slot = tuple[int, float, float]  # (θ index, scale, offset): angle = scale · θ[index] + offset


@dataclass(frozen=True, eq=False)
class Prim:
    """A 2x2 ``kind`` on ``target`` (when ``control`` is 1): a rotation 'rx'/'ry'/'rz', a phase
    'p' or 'u3' over ``slots``; a constant ``matrix`` ('const'); or an input encoder ``encode``."""

    target: int
    control: int | None
    kind: str
    slots: tuple[Slot, ...] = ()
    matrix: np.ndarray | None = None
    encode: Encode | None = None


def _const(target, control, m) -> Prim:
    return Prim(target, control, "const", matrix=np.asarray(m, dtype=np.complex128))


_H = facts.FIXED_1Q["h"]
_SH = facts.FIXED_1Q["s"] @ _H  # S·H maps Z to Y: V Z V† = Y
_CHANGE = {"rzz": (facts.FIXED_1Q["id"], facts.FIXED_1Q["id"]), "rxx": (_H, _H), "ryy": (_SH.conj().T, _SH)}


def _pair(name: str, a: int, b: int, rz: Prim) -> list[Prim]:
    """exp(−iθ P⊗P/2) on (a, b): into the Z basis, CX · RZ_b · CX, back."""
    into, back = _CHANGE[name]
    change = name != "rzz"
    out = [_const(a, None, into), _const(b, None, into)] if change else []
    out += [_const(b, a, facts.PAULI["x"]), rz, _const(b, a, facts.PAULI["x"])]
    return out + ([_const(a, None, back), _const(b, None, back)] if change else [])


def _trainable(name: str, wires, slots, values=None) -> list[Prim]:
    """A gate type on ``wires``; with ``values`` (numeric angles) every primitive is constant."""
    gt = facts.gate_type(name)
    target, control = wires[-1], wires[0] if gt.controlled else None
    if gt.n_wires == 2 and not gt.controlled:
        rz = (Prim(wires[1], None, "rz", slots) if values is None
              else _const(wires[1], None, facts.matrix("rz", values)))
        return _pair(name, wires[0], wires[1], rz)
    if values is not None:
        return [_const(target, control, facts.matrix(name, values))]
    return [Prim(target, control, gt.base, slots)]


def lower(op) -> list[Prim]:
    """The primitives of one operation, in circuit order."""
    if isinstance(op, Gate):
        scales = op.scales or (1.0,) * len(op.params)
        offsets = op.offsets or (0.0,) * len(op.params)
        return _trainable(op.name, op.wires, tuple(zip(op.params, scales, offsets)))
    if isinstance(op, Encode):
        return [Prim(op.wire, None, op.name, encode=op)]
    if isinstance(op, Fixed):
        return _fixed(op)
    raise TypeError(f"not a lowerable operation: {op!r}")


def _fixed(op: Fixed) -> list[Prim]:
    name, w = op.name, op.wires
    if name in facts.GATE_TYPES:
        return _trainable(name, w, (), op.angles)
    if name == "id":
        return []
    if name in facts.FIXED_1Q:
        return [_const(w[0], None, facts.FIXED_1Q[name])]
    if name in facts.FIXED_CONTROLLED:
        return [_const(w[1], w[0], facts.FIXED_1Q[facts.FIXED_CONTROLLED[name]])]
    x = facts.PAULI["x"]
    if name == "swap":
        return [_const(w[1], w[0], x), _const(w[0], w[1], x), _const(w[1], w[0], x)]
    if name == "ecr":
        def rzx(angle):
            return [_const(w[1], None, _H), *_pair("rzz", w[0], w[1], _const(w[1], None, facts.matrix("rz", [angle]))),
                    _const(w[1], None, _H)]
        return [*rzx(np.pi / 4), _const(w[0], None, x), *rzx(-np.pi / 4)]
    raise TypeError(f"no lowering for fixed gate {name!r}")
