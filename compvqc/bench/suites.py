"""The papers' results as named suites: sweeps, then a Markdown table beside the papers' numbers.

``compvqc bench suite NAME -o DIR`` runs the suite's sweeps (each in ``DIR/<label>/``, resumable
like any sweep) and writes ``DIR/NAME.md``. Every suite has a full size (the papers' protocol:
ratios 0.3–0.8 by 0.1, 5 training seeds) and a ``--quick`` size (2 seeds, one ratio, little data,
the real code) that the tests run. Our numbers are operating points chosen on validation
(within the budget); the papers' come from ``reference/compvqc_paper_results.json`` (their
own splits and, for table4/table5 "device" columns, real IBM processors where we use the
fake backends' noise models).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from compvqc.bench.fronts import operating_points, summarize
from compvqc.bench.grid import Sweep, knob_values
from compvqc.errors import UsageError

ALL = ("vanilla", "zero", "prune", "quant", "compvqc", "compvqc-paper", "snap", "entanglement-free", "qiskit-approx")
OURS = ("compvqc", "compvqc-paper")  # the default and the paper's method, side by side
FULL_RATIOS = knob_values("0.3:0.8:0.1")
FULL_DEGREES = knob_values("0.9:0.99:0.03")
PAPER_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "compvqc_paper_results.json"
AMPLITUDE = {"encoder": "amplitude"}


@dataclass(frozen=True)
class Suite:
    name: str
    help: str
    sweeps: Callable[[bool], list[tuple[str, Sweep]]]
    """``sweeps(quick) -> [(label, Sweep)]``; each runs in its own subdirectory."""
    table: Callable[[dict, dict, float], str]
    """``table(rows by label, paper numbers, budget) -> Markdown``."""


def _sweep(quick: bool, datasets, methods=ALL, ratios=FULL_RATIOS, **kw) -> Sweep:
    from compvqc.compress.resynth import available

    if methods is ALL and available() and not quick:  # BQSKit takes seconds a point: full size only
        methods = ALL + ("bqskit",)
    if quick:
        ratios = ratios[len(ratios) // 2: len(ratios) // 2 + 1]
        kw = {**kw, "seeds": 2, "degrees": ("0.99",), "quick": True}
    return Sweep(datasets=tuple(datasets), methods=tuple(methods), ratios=ratios,
                 **{"degrees": FULL_DEGREES, "seeds": 5, **kw})


def _fmt(v, spec=".4f"):
    return "–" if v is None else format(v, spec)


def _vanilla(rows) -> tuple[float, float]:
    per_seed = {r["seed"]: r for r in rows}
    return (statistics.fmean(r["vanilla_test_accuracy"] for r in per_seed.values()),
            statistics.fmean(r["vanilla_tcd"] for r in per_seed.values()))


def _op_table(rows, budget: float, paper: dict | None, noisy: bool = False) -> list[str]:
    """One line per (dataset, method): our operating point beside the paper's number."""
    out = ["| dataset | method | knob | test acc | TCD | speedup | val drop | paper acc | paper TCD | paper speedup |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for d in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == d]
        acc, tcd = _vanilla(mine)
        p = (paper or {}).get(d, {})
        pv = p.get("vanilla", {})
        out.append(f"| {d} | vanilla | – | {acc:.4f} | {tcd:.1f} | 1.00 | – | {_fmt(pv.get('accuracy'))} | "
                   f"{_fmt(pv.get('tcd'), 'g')} | – |")
        for op in operating_points(mine, budget, noisy):
            if op["method"] == "vanilla":
                continue
            pm = p.get(op["method"], {})
            test = None if op["test_drop"] is None else acc - op["test_drop"] / 100
            knob = op["knob"] or ("–" if op["tcd"] is not None else f"none within {budget:g} pts")
            out.append(f"| {d} | {op['method']} | {knob} | {_fmt(test)} | {_fmt(op['tcd'], '.1f')} | "
                       f"{_fmt(op['speedup'], '.2f')} | {_fmt(op['val_drop'], '+.2f')} | {_fmt(pm.get('accuracy'))} | "
                       f"{_fmt(pm.get('tcd'), 'g')} | {_fmt(pm.get('speedup'), '.2f')} |")
    return out


def _hv_lines(rows, budget: float, versus: str = "compvqc") -> list[str]:
    s = summarize(rows, budget)
    out = ["", f"Hypervolume differences, {versus} minus each method (paired 95% t-interval over seeds):", "",
           "| dataset | versus | mean | 95% CI | better |", "|---|---|---|---|---|"]
    for c in s["comparisons"]:
        if c["method"] == versus:
            ci = "–" if c["low"] is None else f"[{c['low']:+.4f}, {c['high']:+.4f}]"
            out.append(f"| {c['dataset']} | {c['versus']} | {c['mean']:+.4f} | {ci} | {'yes' if c['better'] else 'no'} |")
    return out


def _table2(rows: dict, paper: dict, budget: float) -> str:
    r = rows["main"]
    return "\n".join(_op_table(r, budget, paper.get("table2")) + _hv_lines(r, budget))


def _table3(rows: dict, paper: dict, budget: float) -> str:
    ref = paper.get("table3_fashion2", {})
    out = ["| model | method | vanilla acc | vanilla TCD | best-accuracy point: acc / TCD / speedup | best TCD within the budget: "
           "acc / TCD / speedup | paper vanilla acc / TCD | paper accuracy point | paper TCD point (87% threshold) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for label, method in ((lb, m) for lb in sorted(rows, key=lambda s: int(s.removeprefix("random"))) for m in OURS):
        rs = [r for r in rows[label] if r["method"] == method]
        acc, tcd = _vanilla(rs)
        by = {}
        for r in rs:
            by.setdefault(r["knob"], []).append(r)
        mean = {k: {f: statistics.fmean(r[f] for r in v) for f in ("val_accuracy", "test_accuracy", "tcd", "speedup")}
                for k, v in by.items()}
        top = max(mean.values(), key=lambda m: (m["val_accuracy"], -m["tcd"]))
        (op,) = operating_points(rs, budget)
        p = ref.get(f"qlayer{label.removeprefix('random')}", {})
        pv, pa, pt = p.get("vanilla", {}), p.get("compvqc_accuracy", {}), p.get("compvqc_tcd", {})
        best_tcd = "none" if op["tcd"] is None else f"{acc - op['test_drop'] / 100:.4f} / {op['tcd']:.1f} / {op['speedup']:.2f}"
        out.append(f"| {label} | {method} | {acc:.4f} | {tcd:.1f} | {top['test_accuracy']:.4f} / {top['tcd']:.1f} / "
                   f"{top['speedup']:.2f} | {best_tcd} | {_fmt(pv.get('accuracy'))} / {_fmt(pv.get('tcd'), 'g')} | "
                   + " | ".join(f"{_fmt(q.get('accuracy'))} / {_fmt(q.get('tcd'), 'g')} / {_fmt(q.get('speedup'), '.2f')}"
                                for q in (pa, pt)) + " |")
    return "\n".join(out)


def _fig6(rows: dict, paper: dict, budget: float) -> str:
    return "\n".join(_op_table(rows["main"], budget, None) + _hv_lines(rows["main"], budget))


def _fig7(rows: dict, paper: dict, budget: float) -> str:
    r = rows["main"]
    methods = (*OURS, "zero")
    out = ["| ratio | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for k in sorted({x["knob"] for x in r if x["knob"] is not None}, key=float):
        cells = []
        for m in methods:
            v = [x["test_accuracy"] * x["speedup"] for x in r if x["method"] == m and x["knob"] == k]
            cells.append(_fmt(statistics.fmean(v) if v else None))
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(out + ["", f"Paper: {paper.get('fig7', {}).get('note', '')}"])


def _noisy_table(rows: dict, paper_rows: Callable[[str, str], tuple], labels, budget: float) -> str:
    """Vanilla against each of our methods at its operating point (noise-free validation within
    the budget)."""
    out = ["| dataset | backend | method | vanilla TCD | its TCD | vanilla noise-free | its noise-free | vanilla noisy | "
           "its noisy | paper vanilla / compvqc (device) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label in labels:
        r = rows[label]
        for d, method in ((d, m) for d in sorted({x["dataset"] for x in r}) for m in OURS):
            mine = [x for x in r if x["dataset"] == d]
            op = next(o for o in operating_points(mine, budget) if o["method"] == method)
            comp = [x for x in mine if x["method"] == method and x["knob"] == op["knob"]]
            van = list({x["seed"]: x for x in mine}.values())  # one row per vanilla model

            def m(xs, f):
                vals = [x[f] for x in xs if x[f] is not None]
                return statistics.fmean(vals) if vals else None
            pv, pc = paper_rows(d, label)
            out.append(f"| {d} | {mine[0]['backend']} | {method} | {_fmt(m(van, 'vanilla_tcd'), '.1f')} | {_fmt(m(comp, 'tcd'), '.1f')} | "
                       f"{_fmt(m(van, 'vanilla_test_accuracy'))} | {_fmt(m(comp, 'test_accuracy'))} | "
                       f"{_fmt(m(van, 'vanilla_noisy_test_accuracy'))} | {_fmt(m(comp, 'noisy_test_accuracy'))} | "
                       f"{_fmt(pv, '.2f')} / {_fmt(pc, '.2f')} |")
    return "\n".join(out)


def _table4(rows: dict, paper: dict, budget: float) -> str:
    t4 = paper.get("table4", {})
    return _noisy_table(rows, lambda d, _: (t4.get(d, {}).get("ibmq", {}).get("vanilla", {}).get("accuracy"),
                                            t4.get(d, {}).get("ibmq", {}).get("compvqc", {}).get("accuracy")), ["main"], budget)


def _table5(rows: dict, paper: dict, budget: float) -> str:
    t5 = paper.get("table5_syn4_devices", {})

    def ref(d, label):
        p = t5.get(label.replace("fake_", "ibm_"), {}) if d == "syn4" else {}
        return p.get("vanilla"), p.get("compvqc")
    return _noisy_table(rows, ref, sorted(rows), budget)


def _hard(rows: dict, paper: dict, budget: float) -> str:
    r = rows["main"]
    return "\n".join(_op_table(r, budget, None) + _hv_lines(r, budget))


SUITES = {s.name: s for s in (
    Suite("table2", "MNIST-2 and Fashion-MNIST-2, every method (the paper's Table 2)",
          lambda q: [("main", _sweep(q, ("mnist2", "fashion2"), train={"fashion2": AMPLITUDE}))], _table2),
    Suite("table3", "22/30/38/50-gate models on Fashion-MNIST-2 (Table 3)",
          lambda q: [(f"random{n}", _sweep(q, ("fashion2",), ("vanilla", *OURS),
                                           train={"fashion2": {**AMPLITUDE, "arch": f"random{n}"}}))
                     for n in (22, 30, 38, 50)], _table3),
    Suite("fig6", "Fashion-MNIST with 2, 3 and 4 classes (Fig. 6)",
          lambda q: [("main", _sweep(q, ("fashion2", "fashion3", "fashion4"), ("vanilla", "zero", "prune", "quant",
                                                                               *OURS),
                                     train={"fashion2": AMPLITUDE, "fashion3": {**AMPLITUDE, "arch": "random30"},
                                            "fashion4": {**AMPLITUDE, "preprocess": "scale"}}))], _fig6),
    Suite("fig7", "accuracy × speedup against the ratio, CompVQC vs zero-only (Fig. 7)",
          lambda q: [("main", _sweep(q, ("fashion2",), ("vanilla", *OURS, "zero"), knob_values("0.1:0.7:0.1"),
                                     train={"fashion2": AMPLITUDE}))], _fig7),
    Suite("table4", "Syn-4 and Syn-16, noise-free and on fake_lagos's noise model (Table 4)",
          lambda q: [("main", _sweep(q, ("syn4", "syn16"), ("vanilla", *OURS), backend="fake_lagos",
                                     noisy=True))], _table4),
    Suite("table5", "Syn-4 and Syn-16 on the noise models of fake_lagos, fake_perth, fake_jakarta (Table 5)",
          lambda q: [(b, _sweep(q, ("syn4", "syn16"), ("vanilla", *OURS), backend=b, noisy=True))
                     for b in ("fake_lagos", "fake_perth", "fake_jakarta")], _table5),
    Suite("hard", "MNIST-4 and Fashion-MNIST-4, standardized inputs, every method: the tasks that need their "
                  "entanglers", lambda q: [("main", _sweep(q, ("mnist4", "fashion4")))], _hard),
)}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise UsageError(f"unknown suite {name!r} (known: {', '.join(SUITES)})") from None


def paper_numbers() -> dict:
    try:
        return json.loads(PAPER_FILE.read_text())
    except OSError:
        return {}


def run_suite(name: str, out, *, quick: bool = False, budget: float = 1.0, workers: int = 1, scheduler=None,
              data_dir=None, progress=None, bqskit: bool = True) -> tuple[Path, dict]:
    """Run suite ``name`` into ``out``; returns the Markdown file and the rows by sweep label.
    ``bqskit=False`` leaves that baseline out (minutes a point on trained blocks)."""
    from compvqc.bench.harness import run_sweep
    from compvqc.bench.plots import plot_sweep
    from compvqc.fsutil import atomic_write_bytes

    suite = get_suite(name)
    out = Path(out)
    rows = {}
    for label, sweep in suite.sweeps(quick):
        if not bqskit:
            sweep = replace(sweep, methods=tuple(m for m in sweep.methods if m != "bqskit"))
        rows[label] = run_sweep(sweep, out / label, workers=workers, scheduler=scheduler, data_dir=data_dir,
                                progress=progress)
        plot_sweep(rows[label], out / label / "figures")
    text = f"## {name}: {suite.help}\n\n{suite.table(rows, paper_numbers(), budget)}\n"
    if any(set(ALL) <= set(sw.methods) for _, sw in suite.sweeps(quick)):
        from compvqc.compress.resynth import available

        if not available():
            text += "\nBQSKit is not installed (pip install 'compvqc[bqskit]'): its baseline is missing.\n"
        elif quick or not bqskit:
            text += "\nThe bqskit baseline was left out (" + ("the quick size" if quick else "--no-bqskit") + ").\n"
    return atomic_write_bytes(out / f"{name}.md", text.encode()), rows
