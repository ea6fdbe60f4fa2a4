"""The sweep's figures as PNG and SVG (matplotlib, no display needed).

* ``pareto-D``: accuracy against TCD on dataset D, every point, each method's front over its
  per-knob means, the vanilla model and the entanglement-free reference marked (the paper's Fig. 5);
* ``ratio-D``: accuracy × speedup against the ratio for the ratio methods (the paper's Fig. 7).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from compvqc.bench.fronts import front
from compvqc.fsutil import atomic_write_bytes


def _means(rows):
    """{(dataset, method): [(knob, mean tcd, mean test accuracy, mean accuracy × speedup)]}."""
    by = defaultdict(list)
    for r in rows:
        by[r["dataset"], r["method"], r["knob"]].append(r)
    out = defaultdict(list)
    for (d, m, k), rs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]))):
        out[d, m].append((k, statistics.fmean(r["tcd"] for r in rs), statistics.fmean(r["test_accuracy"] for r in rs),
                          statistics.fmean(r["test_accuracy"] * r["speedup"] for r in rs)))
    return out


def _save(fig, path: Path) -> list[Path]:
    import io

    written = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        written.append(atomic_write_bytes(path.with_suffix(f".{ext}"), buf.getvalue()))
    return written


def plot_sweep(rows, out_dir) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    means = _means(rows)
    written = []
    for d in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == d]
        fig, ax = plt.subplots(figsize=(6, 4))
        for m in sorted({r["method"] for r in mine}):
            pts = [r for r in mine if r["method"] == m]
            if m == "vanilla":  # marked once below
                continue
            if m == "entanglement-free":
                ax.scatter([statistics.fmean(r["tcd"] for r in pts)], [statistics.fmean(r["test_accuracy"] for r in pts)],
                           marker="*", s=160, color="black", label=m, zorder=3)
                continue
            line = ax.scatter([r["tcd"] for r in pts], [r["test_accuracy"] for r in pts], s=10, alpha=0.35)
            f = front((t, a) for _, t, a, _ in means[d, m])
            ax.plot([t for t, _ in f], [a for _, a in f], marker="o", color=line.get_facecolor()[0], alpha=1, label=m)
        ax.scatter([statistics.fmean(r["vanilla_tcd"] for r in mine)],
                   [statistics.fmean(r["vanilla_test_accuracy"] for r in mine)], marker="D", s=60, color="red",
                   label="vanilla", zorder=3)
        ax.set(xlabel="TCD (transpiled depth)", ylabel="test accuracy", title=f"{d}: accuracy versus depth")
        ax.legend(fontsize=7)
        written += _save(fig, out_dir / f"pareto-{d}")
        plt.close(fig)
        ratio_methods = sorted({r["method"] for r in mine if r["knob_name"] == "ratio"})
        if ratio_methods:
            fig, ax = plt.subplots(figsize=(6, 4))
            for m in ratio_methods:
                series = sorted((float(k), v) for k, _, _, v in means[d, m])
                ax.plot([k for k, _ in series], [v for _, v in series], marker="o", label=m)
            ax.set(xlabel="compression ratio", ylabel="test accuracy × speedup", title=f"{d}: accuracy × speedup")
            ax.legend(fontsize=7)
            written += _save(fig, out_dir / f"ratio-{d}")
            plt.close(fig)
    return written
