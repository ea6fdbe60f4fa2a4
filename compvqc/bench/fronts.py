"""Pareto fronts, hypervolumes, paired intervals and operating points over a sweep's rows.

Accuracy is maximized and TCD minimized. A method's hypervolume on one vanilla model is the
area its points dominate inside the box [0, vanilla TCD] × [0, accuracy], divided by the vanilla
TCD (so it is an accuracy-like number in [0, 1]; points at or beyond the vanilla TCD add
nothing). Methods are compared seed by seed — same seeds, same vanilla models — by a paired
t-interval of the hypervolume difference: with 5 seeds a bootstrap has only 126 distinct
resamples, too few for a 95% interval. The operating point is chosen on validation only (the
test split reports, it never chooses).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict


def front(points) -> list[tuple[float, float]]:
    """The non-dominated (tcd, accuracy) pairs, by increasing TCD (and so increasing accuracy)."""
    best: list[tuple[float, float]] = []
    for tcd, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not best or acc > best[-1][1]:  # the first of equal TCDs has the highest accuracy
            best.append((tcd, acc))
    return best


def hypervolume(points, ref_tcd: float) -> float:
    """Area dominated by ``points`` (tcd, accuracy) above accuracy 0 and below ``ref_tcd``, / ref_tcd."""
    pts = [(t, a) for t, a in front(points) if t < ref_tcd and a > 0]
    area = 0.0
    for i, (t, a) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref_tcd
        area += (nxt - t) * a
    return area / ref_tcd


def paired_interval(diffs, level: float = 0.95) -> dict:
    """Mean of paired differences and its t-interval (None bounds with fewer than 2 pairs)."""
    from scipy import stats

    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else math.nan
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": n}
    half = stats.t.ppf(0.5 + level / 2, n - 1) * statistics.stdev(diffs) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def hypervolumes(rows, accuracy: str = "test_accuracy") -> dict:
    """{(dataset, method): {seed: hypervolume}} (vanilla's own point included in every front)."""
    by = defaultdict(list)
    for r in rows:
        by[r["dataset"], r["method"], r["seed"]].append(r)
    out: dict = defaultdict(dict)
    for (d, m, s), rs in sorted(by.items()):
        ref = rs[0]["vanilla_tcd"]
        pts = [(r["tcd"], r[accuracy]) for r in rs] + [(ref, rs[0][f"vanilla_{accuracy}"])]
        out[d, m][s] = hypervolume(pts, ref)
    return dict(out)


def comparisons(hv: dict, level: float = 0.95) -> list[dict]:
    """Every ordered pair of methods on a dataset: the paired interval of HV(a) − HV(b)."""
    out = []
    for (d, a), ha in sorted(hv.items()):
        for (d2, b), hb in sorted(hv.items()):
            if d2 != d or a == b:
                continue
            seeds = sorted(set(ha) & set(hb))
            ci = paired_interval([ha[s] - hb[s] for s in seeds], level)
            wins = bool(ci["low"] is not None and ci["low"] > 0)
            out.append({"dataset": d, "method": a, "versus": b, **ci, "better": wins})
    return out


def operating_points(rows, budget: float, noisy: bool = False) -> list[dict]:
    """Per (dataset, method): the knob with the largest mean speedup whose mean validation drop
    (points of accuracy against the vanilla model; on the device with ``noisy``) is within
    ``budget``; None fields when no knob qualifies."""
    key = "noisy_val_accuracy" if noisy else "val_accuracy"
    by = defaultdict(list)
    for r in rows:
        by[r["dataset"], r["method"], r["knob"]].append(r)
    cands = defaultdict(list)
    for (d, m, k), rs in by.items():
        drops = [100 * (r[f"vanilla_{key}"] - r[key]) for r in rs if r[key] is not None]
        if not drops or len(drops) < len(rs):
            continue
        cands[d, m].append({
            "knob": k, "val_drop": statistics.fmean(drops),
            "test_drop": statistics.fmean(100 * (r["vanilla_test_accuracy"] - r["test_accuracy"]) for r in rs),
            "speedup": statistics.fmean(r["speedup"] for r in rs), "tcd": statistics.fmean(r["tcd"] for r in rs),
            "seeds": len(rs)})
    out = []
    for (d, m) in sorted({(r["dataset"], r["method"]) for r in rows}):
        ok = [c for c in cands.get((d, m), []) if c["val_drop"] <= budget]
        best = max(ok, key=lambda c: (c["speedup"], -c["val_drop"]), default=None)
        out.append({"dataset": d, "method": m, "budget": budget, "noisy": noisy,
                    **(best or {"knob": None, "val_drop": None, "test_drop": None, "speedup": None, "tcd": None})})
    return out


def summarize(rows, budget: float, noisy: bool = False) -> dict:
    hv = hypervolumes(rows)
    return {
        "hypervolume": [{"dataset": d, "method": m, "seeds": {str(s): v for s, v in sorted(per.items())},
                         "mean": statistics.fmean(per.values())} for (d, m), per in sorted(hv.items())],
        "comparisons": comparisons(hv),
        "operating_points": operating_points(rows, budget, noisy),
    }
