"""The compression-level LUT: what each gate compiles to, per angle, on one backend.

A LUT is data: for every gate type, the compiled depth at each grid angle (worst case over the
physical sites — qubits or directed edges — of the region it covers), the distribution of the
*generic* depth over random angles, and each grid angle's kind:

* ``prune``   — depth 0 *and* the unitary is the identity up to a global phase (Lemma 3.1;
  both are checked, since a depth-0 result with a non-trivial unitary would be a compiler bug
  and an identity unitary that still costs depth is not a pruning level on this backend);
* ``quant``   — depth below the *smallest* generic depth (Lemma 3.2, with "generic" taken as a
  distribution: an angle is only a quantization level if it beats every random angle);
* ``deep``    — depth above the *largest* generic depth (CRX(π) on fake_manila's edge (0,1):
  11 against 9). Compression never snaps onto these;
* ``generic`` — anything else.

JSON format (``format: compvqc-lut``, ``version: 1``), meant to be scripted against::

    {"format": "compvqc-lut", "version": 1,
     "provenance": {... "sha256": <sha256 of the canonical JSON of {"gates", "blocks"}>},
     "gates": {"rx": {"generic_depth": 5, "generic": {"min": 5, "max": 5, "mode": 5,
                                                      "n": 64, "histogram": {"5": 64}},
                      "sites": [[0], [1], ...],
                      "entries": [{"angle": 0.0, "depth": 0, "kind": "prune",
                                   "site_depths": [0, 0, ...]}, ...]},
               "u3": {... "entries": [{"angles": [θ, φ, λ], ...}]}, ...},
     "blocks": {"1q": {<generic stats of an arbitrary single-qubit unitary>},
                "cx": {<depth of a CX, worst case over the region's directed edges>}}}

Angles are canonical float64 radians ([0, 4π) for rotation angles, [0, 2π) for φ and λ) and are
the *exact* floats the compression engine must write into θ: the compiler sees the float, so
``lookup`` matches bit-for-bit, never within a tolerance. ``generic_depth`` is the mode.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compvqc.errors import CompileError, LUTFileError
from compvqc.fsutil import atomic_write_bytes, read_bytes_bounded
from compvqc.model.gates import GATE_TYPES

FORMAT = "compvqc-lut"
VERSION = 1
KINDS = ("prune", "quant", "generic", "deep")
LEVEL_KINDS = ("prune", "quant")  # the kinds compression may snap onto
MAX_BYTES = 32 << 20


# --- classification --------------------------------------------------------------------------
def is_identity(u: np.ndarray, atol: float = 1e-9) -> bool:
    """True when ``u`` is e^{iα}·I for some α (so ±I, and any other global phase)."""
    u = np.asarray(u, dtype=np.complex128)
    phase = u[0, 0]
    return bool(abs(abs(phase) - 1.0) <= atol and np.allclose(u, phase * np.eye(u.shape[0]), atol=atol, rtol=0.0))


def classify(depth: int, generic_min: int, generic_max: int, identity: bool) -> str:
    """Kind of one grid angle from its (worst-case) depth and the generic distribution."""
    if depth < 0 or generic_min > generic_max:
        raise CompileError(f"bad depths: depth {depth}, generic {generic_min}..{generic_max}")
    if depth == 0:
        if not identity:
            raise CompileError("a gate compiled to nothing but its unitary is not the identity")
        return "prune"
    if depth < generic_min:
        return "quant"
    if depth > generic_max:
        return "deep"
    return "generic"


@dataclass(frozen=True)
class DepthStats:
    """A depth distribution: min, max, mode (ties → the smaller depth) and a histogram."""

    min: int
    max: int
    mode: int
    n: int
    histogram: dict[int, int] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, depths) -> "DepthStats":
        depths = [int(d) for d in depths]
        if not depths:
            raise CompileError("no depths to summarize")
        hist = Counter(depths)
        top = max(hist.values())
        mode = min(d for d, c in hist.items() if c == top)
        return cls(min(depths), max(depths), mode, len(depths), dict(sorted(hist.items())))

    def to_dict(self) -> dict:
        return {"min": self.min, "max": self.max, "mode": self.mode, "n": self.n,
                "histogram": {str(k): v for k, v in sorted(self.histogram.items())}}

    @classmethod
    def from_dict(cls, d: dict) -> "DepthStats":
        hist = {int(k): int(v) for k, v in (d.get("histogram") or {}).items()}
        return cls(int(d["min"]), int(d["max"]), int(d["mode"]), int(d.get("n", sum(hist.values()))), hist)


@dataclass(frozen=True)
class Entry:
    """One grid point: canonical angles (1 or 3), worst-case depth, kind, per-site depths."""

    angles: tuple[float, ...]
    depth: int
    kind: str
    site_depths: tuple[int, ...] = ()

    @property
    def angle(self) -> float:
        return self.angles[0]

    def to_dict(self) -> dict:
        key = {"angle": self.angles[0]} if len(self.angles) == 1 else {"angles": list(self.angles)}
        return {**key, "depth": self.depth, "kind": self.kind, "site_depths": list(self.site_depths)}

    @classmethod
    def from_dict(cls, d: dict) -> "Entry":
        angles = (float(d["angle"]),) if "angle" in d else tuple(float(a) for a in d["angles"])
        kind = str(d["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown entry kind {kind!r}")
        return cls(angles, int(d["depth"]), kind, tuple(int(x) for x in d.get("site_depths", ())))


@dataclass(frozen=True)
class GateTable:
    """All LUT facts about one gate type on the region."""

    name: str
    generic: DepthStats
    entries: tuple[Entry, ...]
    sites: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "_index", {e.angles: e for e in self.entries})

    @property
    def generic_depth(self) -> int:
        return self.generic.mode

    def lookup(self, angles) -> Entry | None:
        """The entry at exactly these canonical angles (bit-identical floats), or None."""
        return self._index.get(tuple(float(a) for a in np.atleast_1d(angles)))

    def depth(self, angles) -> int:
        """Depth at these angles: the entry's if on the grid, else the generic mode."""
        e = self.lookup(angles)
        return self.generic.mode if e is None else e.depth

    def levels(self, kinds=LEVEL_KINDS) -> tuple[Entry, ...]:
        """Entries compression may snap onto (pruning and quantization levels by default)."""
        return tuple(e for e in self.entries if e.kind in kinds)

    def to_dict(self) -> dict:
        return {"generic_depth": self.generic.mode, "generic": self.generic.to_dict(),
                "sites": [list(s) for s in self.sites], "entries": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, name: str, d: dict) -> "GateTable":
        generic = DepthStats.from_dict(d["generic"])
        if int(d.get("generic_depth", generic.mode)) != generic.mode:
            raise ValueError(f"{name}: generic_depth is not the mode of the generic distribution")
        entries = tuple(Entry.from_dict(e) for e in d["entries"])
        n_angles = GATE_TYPES[name].n_params
        for e in entries:
            if len(e.angles) != n_angles:
                raise ValueError(f"{name}: an entry has {len(e.angles)} angle(s), expected {n_angles}")
            if not all(math.isfinite(a) for a in e.angles):
                raise ValueError(f"{name}: non-finite angle")
        return cls(name, generic, entries, tuple(tuple(int(q) for q in s) for s in d.get("sites", ())))


@dataclass(frozen=True)
class LUT:
    """A compression-level LUT for one backend region (see the module docstring)."""

    provenance: dict
    gates: dict[str, GateTable]
    blocks: dict[str, DepthStats]

    def __getitem__(self, name: str) -> GateTable:
        try:
            return self.gates[name]
        except KeyError:
            raise CompileError(f"the LUT for {self.backend} has no {name!r} table "
                               f"(it has: {', '.join(self.gates)})") from None

    def __contains__(self, name: str) -> bool:
        return name in self.gates

    @property
    def backend(self) -> str:
        return str(self.provenance.get("backend", "?"))

    @property
    def sha256(self) -> str:
        return table_sha256(self.table_dict())

    def region(self) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
        """(physical qubits, directed edges) the LUT was measured on."""
        region = self.provenance.get("region") or {}
        qubits = tuple(int(q) for q in region.get("qubits", ()))
        edges = tuple(tuple(int(q) for q in e) for e in region.get("edges", ()))
        if not qubits:  # an older LUT: the sites its tables were measured on
            qubits = tuple(sorted({q for t in self.gates.values() for s in t.sites for q in s}))
            edges = tuple(sorted({tuple(s) for t in self.gates.values() for s in t.sites if len(s) == 2}))
        return qubits, edges

    @property
    def single_qubit_block(self) -> int:
        """Depth bound of one merged run of single-qubit gates: an arbitrary 1q unitary's max."""
        return self.blocks["1q"].max

    def table_dict(self) -> dict:
        return {"gates": {k: v.to_dict() for k, v in self.gates.items()},
                "blocks": {k: v.to_dict() for k, v in self.blocks.items()}}

    def to_dict(self) -> dict:
        table = self.table_dict()
        prov = {**self.provenance, "sha256": table_sha256(table)}
        return {"format": FORMAT, "version": VERSION, "provenance": prov, **table}

    def to_json(self) -> str:
        """JSON text, one entry per line: diffable, and floats written exactly (repr)."""
        doc = self.to_dict()
        out = ["{", f' "format": {json.dumps(FORMAT)},', f' "version": {VERSION},',
               f' "provenance": {json.dumps(doc["provenance"], sort_keys=True, allow_nan=False)},',
               ' "gates": {']
        names = list(doc["gates"])
        for i, name in enumerate(names):
            g = dict(doc["gates"][name])
            entries = g.pop("entries")
            head = json.dumps(g, allow_nan=False)[:-1]
            lines = ",\n".join("   " + json.dumps(e, allow_nan=False) for e in entries)
            tail = "," if i < len(names) - 1 else ""
            out.append(f"  {json.dumps(name)}: {head}, \"entries\": [\n{lines}\n  ]}}{tail}")
        out += [" },", f' "blocks": {json.dumps(doc["blocks"], allow_nan=False)}', "}"]
        return "\n".join(out) + "\n"

    @classmethod
    def from_dict(cls, doc: dict, *, source: str = "LUT") -> "LUT":
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise LUTFileError(f"{source}: not a compvqc LUT")
        if doc.get("version") != VERSION:
            raise LUTFileError(f"{source}: unsupported LUT version {doc.get('version')!r}")
        try:
            prov = dict(doc["provenance"])
            table = {"gates": doc["gates"], "blocks": doc["blocks"]}
            if table_sha256(table) != prov.get("sha256"):
                raise LUTFileError(f"{source}: sha256 mismatch (the table was modified or is corrupt)")
            gates = {}
            for name, g in doc["gates"].items():
                if name not in GATE_TYPES:
                    raise ValueError(f"unknown gate type {name!r}")
                gates[name] = GateTable.from_dict(name, g)
            blocks = {k: DepthStats.from_dict(v) for k, v in doc["blocks"].items()}
            if "1q" not in blocks:
                raise ValueError("missing the 1q block")
        except LUTFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise LUTFileError(f"{source}: malformed LUT ({type(e).__name__}: {e})") from None
        return cls(prov, gates, blocks)


def table_sha256(table: dict) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of ``{"gates", "blocks"}``."""
    blob = json.dumps(table, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return hashlib.sha256(blob).hexdigest()


def save_lut(path, lut: LUT) -> Path:
    return atomic_write_bytes(path, lut.to_json().encode())


def load_lut_file(path) -> LUT:
    """Read and verify a LUT file; any problem is one :class:`LUTFileError` line."""
    path = Path(path)
    raw = read_bytes_bounded(path, MAX_BYTES, LUTFileError, "LUT")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise LUTFileError(f"{path}: not a readable LUT file ({type(e).__name__})") from None
    return LUT.from_dict(doc, source=str(path))
