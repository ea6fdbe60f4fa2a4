"""Hardware profile: the backend facts a QNN's behaviour depends on, read from its ``Target``.

HotStorage'25 §4.1 lists what to keep: single- and two-qubit gate errors, T1/T2, SPAM
(readout) errors, gate and measurement durations. We add basis gates, the coupling map and the
calibration date, so a checkpoint moved to another device can say what changed
(``profile_diff``). Per-qubit and per-edge numbers are arrays (stored as checkpoint
initializers, NaN where the target does not say); the rest is JSON.
"""

from __future__ import annotations

import datetime as _dt
import math

import numpy as np

# Which physical single-qubit gate stands for "the" 1q error/duration: the first present.
ONE_QUBIT_GATES = ("sx", "x", "rx", "u", "u2", "u3")
TWO_QUBIT_GATES = ("cx", "ecr", "cz", "rzz", "iswap", "cr")


def _props(target, gate: str, qargs):
    try:
        return target[gate][qargs]
    except KeyError:
        return None


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def hardware_profile(backend) -> dict:
    """Profile of a qiskit ``BackendV2`` (its ``Target`` plus name, version, calibration date)."""
    target = backend.target
    n = target.num_qubits
    ops = set(target.operation_names)
    one_q = next((g for g in ONE_QUBIT_GATES if g in ops), None)
    t1, t2, ro_err, ro_dur, g_err, g_dur = (np.full(n, np.nan) for _ in range(6))
    for q in range(n):
        qp = target.qubit_properties[q] if target.qubit_properties else None
        if qp is not None:
            t1[q], t2[q] = _num(qp.t1), _num(qp.t2)
        m = _props(target, "measure", (q,))
        if m is not None:
            ro_err[q], ro_dur[q] = _num(m.error), _num(m.duration)
        if one_q is not None:
            g = _props(target, one_q, (q,))
            if g is not None:
                g_err[q], g_dur[q] = _num(g.error), _num(g.duration)
    pairs, e_err, e_dur, e_gate = [], [], [], []
    for gate in TWO_QUBIT_GATES:
        if gate not in ops:
            continue
        for qargs, p in sorted(target[gate].items(), key=lambda kv: kv[0] or ()):
            if qargs is None or len(qargs) != 2:
                continue
            pairs.append(list(qargs))
            e_err.append(_num(p.error if p else None))
            e_dur.append(_num(p.duration if p else None))
            e_gate.append(gate)
    try:
        stamp = getattr(backend.properties(), "last_update_date", None)
        date = stamp.isoformat() if isinstance(stamp, _dt.datetime) else (str(stamp) if stamp else None)
    except Exception:  # noqa: BLE001 - many backends have no properties(); the date is optional
        date = None
    return {
        "backend": getattr(backend, "name", None),
        "backend_version": str(getattr(backend, "backend_version", "") or ""),
        "num_qubits": n,
        "basis_gates": sorted(o for o in ops if o not in ("for_loop", "if_else", "while_loop", "switch_case")),
        "one_qubit_gate": one_q,
        "two_qubit_gates": e_gate,
        "dt": target.dt,
        "calibration_date": date,
        "qubits": {"t1": t1, "t2": t2, "readout_error": ro_err, "readout_duration": ro_dur,
                   "gate_error": g_err, "gate_duration": g_dur},
        "edges": {"pairs": np.array(pairs, dtype=np.int64).reshape(-1, 2), "error": np.array(e_err),
                  "duration": np.array(e_dur)},
    }


# The profile's JSON part: key -> the types it may have (what ``hardware_profile`` writes).
_PROFILE_TYPES = {
    "backend": (str, type(None)), "backend_version": (str,), "num_qubits": (int,),
    "basis_gates": (list,), "one_qubit_gate": (str, type(None)), "two_qubit_gates": (list,),
    "dt": (int, float, type(None)), "calibration_date": (str, type(None)), "qubits": (dict,), "edges": (dict,),
}
MAX_DEVICE_QUBITS = 1_000_000


def check_profile(p: dict) -> None:
    """A stored profile has the types and shapes ``hardware_profile`` writes (one CheckpointError);
    ``inspect --against`` and the deployment read it."""
    from compvqc.errors import CheckpointError

    def bad(what):
        raise CheckpointError(f"hardware profile: {what}")

    for key, types in _PROFILE_TYPES.items():
        if key in p and (not isinstance(p[key], types) or isinstance(p[key], bool)):
            bad(f"{key} has type {type(p[key]).__name__}")
    n = p.get("num_qubits", 0)
    if not 0 <= n <= MAX_DEVICE_QUBITS:
        bad(f"num_qubits {n} out of range")
    for key in ("basis_gates", "two_qubit_gates"):
        if not all(isinstance(g, str) for g in p.get(key, [])):
            bad(f"{key} must be gate names")
    for key, v in p.get("qubits", {}).items():
        a = np.asarray(v)
        if a.dtype.kind not in "fiu" or a.shape != (n,):
            bad(f"qubits.{key} must be {n} numbers")
    edges = p.get("edges", {})
    pairs = np.asarray(edges.get("pairs", np.zeros((0, 2), np.int64)))
    if pairs.dtype.kind not in "iu" or pairs.ndim != 2 or pairs.shape[1] != 2 or (pairs.size and (
            pairs.min() < 0 or pairs.max() >= n)):
        bad("edges.pairs must be pairs of the device's qubits")
    for key, v in edges.items():
        a = np.asarray(v)
        if key != "pairs" and (a.dtype.kind not in "fiu" or a.shape != (len(pairs),)):
            bad(f"edges.{key} must be one number per edge")
    if len(p.get("two_qubit_gates", [])) not in (0, len(pairs)):
        bad("two_qubit_gates must name one gate per edge")


def _median(values) -> float | None:
    """Median of the finite values (None if there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


SUMMARY = (
    ("T1 (s)", "qubits", "t1"), ("T2 (s)", "qubits", "t2"), ("readout error", "qubits", "readout_error"),
    ("1q gate error", "qubits", "gate_error"), ("1q gate duration (s)", "qubits", "gate_duration"),
    ("2q gate error", "edges", "error"), ("2q gate duration (s)", "edges", "duration"),
    ("measurement duration (s)", "qubits", "readout_duration"),
)


def profile_diff(a: dict, b: dict) -> dict:
    """What differs between two profiles: medians and their deltas, basis gates, size, edges."""
    rows = []
    for label, group, key in SUMMARY:
        sa, sb = _median(a.get(group, {}).get(key, [])), _median(b.get(group, {}).get(key, []))
        delta = None if sa is None or sb is None else sb - sa
        ratio = None if sa in (None, 0) or sb is None else sb / sa
        rows.append({"quantity": label, "from": sa, "to": sb, "delta": delta, "ratio": ratio})
    ga, gb = set(a.get("basis_gates", [])), set(b.get("basis_gates", []))
    ea = {tuple(p) for p in np.asarray(a.get("edges", {}).get("pairs", []), dtype=np.int64).reshape(-1, 2).tolist()}
    eb = {tuple(p) for p in np.asarray(b.get("edges", {}).get("pairs", []), dtype=np.int64).reshape(-1, 2).tolist()}
    return {
        "from": a.get("backend"),
        "to": b.get("backend"),
        "num_qubits": {"from": a.get("num_qubits"), "to": b.get("num_qubits")},
        "basis_gates": {"only_from": sorted(ga - gb), "only_to": sorted(gb - ga), "common": sorted(ga & gb)},
        "edges": {"from": len(ea), "to": len(eb), "common": len(ea & eb)},
        "calibration_date": {"from": a.get("calibration_date"), "to": b.get("calibration_date")},
        "quantities": rows,
    }


def format_diff(d: dict) -> str:
    def f(x):
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"

    lines = [f"hardware profile: {d['from']} → {d['to']}",
             f"  qubits      {d['num_qubits']['from']} → {d['num_qubits']['to']}",
             f"  basis gates only in {d['from']}: {', '.join(d['basis_gates']['only_from']) or '-'}; "
             f"only in {d['to']}: {', '.join(d['basis_gates']['only_to']) or '-'}",
             f"  coupling    {d['edges']['from']} → {d['edges']['to']} directed edges ({d['edges']['common']} in common)",
             f"  calibrated  {d['calibration_date']['from'] or '-'} → {d['calibration_date']['to'] or '-'}",
             "  median                       from        to          delta       ratio"]
    for r in d["quantities"]:
        lines.append(f"  {r['quantity']:<28s} {f(r['from']):<11s} {f(r['to']):<11s} {f(r['delta']):<11s} {f(r['ratio'])}")
    return "\n".join(lines)
