"""``compvqc lut build``, ``compvqc lut show`` and ``compvqc tcd`` (alias ``depth``).

Thin over :mod:`compvqc.compile`: parse, call, print text or one ``--json`` object with a
``"schema"`` key. A stale-LUT rebuild is reported as one warning line on stderr.
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from fractions import Fraction
from pathlib import Path

from compvqc.cli.main import UsageError, add_json_flag, emit, help_of
from compvqc.errors import CompVQCError

SCHEMA_BUILD = "compvqc.lut.build/1"
SCHEMA_SHOW = "compvqc.lut.show/1"
SCHEMA_TCD = "compvqc.tcd/1"
SHOW_COLUMNS = tuple(Fraction(k, 2) for k in range(8))  # 0, π/2, …, 7π/2 (in units of π)


def register(sub) -> None:
    p = sub.add_parser("lut", help=help_of("lut"),
                       description="Compression-level LUTs: compiled depth of each gate per angle, per backend.")
    lsub = p.add_subparsers(dest="lut_command", metavar="SUBCOMMAND", parser_class=type(p))
    p.set_defaults(func=lambda args: _missing_subcommand(p))

    b = lsub.add_parser("build", help="compile each gate over its angle grid and write the LUT",
                        description="Build a LUT by transpiling each gate type over its angle grid.")
    b.add_argument("--backend", help="backend name (e.g. fake_manila); see --all")
    b.add_argument("--all", action="store_true", help="build every backend that ships a prebuilt LUT")
    b.add_argument("--gates", default=None, help="comma-separated gate types (default: every trainable type)")
    b.add_argument("--qubits", default=None, help="region of physical qubits, e.g. 0,1,2,3 (must be connected)")
    b.add_argument("--model", default=None, help="on large backends: pick the region where qiskit lays out this model")
    b.add_argument("--grid", type=int, default=8, help="single-angle grid: multiples of π/N in [0, 4π) (N a power of two ≥ 8)")
    b.add_argument("--grid-u3", type=int, default=2, help="U3/CU3 grid: multiples of π/N (default 2)")
    b.add_argument("--samples", type=int, default=64, help="random angles for the generic distribution (default 64)")
    b.add_argument("-o", "--output", default=None, help="LUT file to write (one backend)")
    b.add_argument("--out", default=None, metavar="DIR", help="folder to write <backend>.json into (default: the cache)")
    b.add_argument("--no-rebuild", action="store_true", help="keep an up-to-date file; refuse if it is stale")
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU, at most 4)")
    add_json_flag(b)
    b.set_defaults(func=cmd_build)

    s = lsub.add_parser("show", help="print a LUT as a table (rows gates, columns angles)",
                        description="Show a LUT: depth per angle (multiples of π/2) and the generic depth.")
    s.add_argument("lut", metavar="NAME|FILE", help="backend name or LUT file")
    s.add_argument("--qubits", default=None, help="region (backend names only)")
    s.add_argument("--no-rebuild", action="store_true", help="refuse instead of rebuilding a stale or missing LUT")
    add_json_flag(s)
    s.set_defaults(func=cmd_show)

    t = sub.add_parser("tcd", aliases=["depth"], help=help_of("tcd"),
                       description="True TCD (minimum over the recorded seeds) or the fast LUT estimate.")
    t.add_argument("model", metavar="MODEL", help="checkpoint written by compvqc train -o (or compress)")
    t.add_argument("--backend", required=True, help="backend name, e.g. fake_manila")
    t.add_argument("--estimate", action="store_true", help="the fast LUT-based estimate instead of transpiling")
    t.add_argument("--seeds", default=None, help="seed_transpiler list, e.g. 0,1,2 (default: the recorded 0..9)")
    t.add_argument("--original", action="store_true", help="use θ before compression (theta_original)")
    t.add_argument("--no-rebuild", action="store_true", help="with --estimate: refuse a stale or missing LUT")
    add_json_flag(t)
    t.set_defaults(func=cmd_tcd)


def _missing_subcommand(p) -> int:
    raise UsageError(f"{p.prog}: choose a subcommand (build, show)")


def _ints(text: str | None, what: str):
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise UsageError(f"{what} is empty")
    return values


@contextlib.contextmanager
def _warnings_to_stderr():
    """Warnings raised in the block (a stale-LUT rebuild) as one ``compvqc: warning:`` line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        print(f"compvqc: warning: {w.message}", file=sys.stderr)


# --- lut build ---------------------------------------------------------------------------------
def cmd_build(args) -> int:
    from compvqc.compile import GridSpec, PREBUILT, build_lut, cache, check, load_lut_file, resolve_backend, save_lut
    from compvqc.compile.region import default_region, make_region

    if args.all == bool(args.backend):
        raise UsageError("compvqc lut build: give --backend NAME or --all")
    if args.output and (args.all or args.out):
        raise UsageError("compvqc lut build: -o FILE builds one backend; use --out DIR with --all")
    names = PREBUILT if args.all else (args.backend,)
    gates = tuple(g.strip() for g in args.gates.split(",")) if args.gates else None
    grid = GridSpec(rotation_steps=args.grid, u3_steps=args.grid_u3, generic_samples=args.samples)
    from compvqc.limits import MAX_WORKERS

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"compvqc lut build: --workers must be in 1..{MAX_WORKERS}")
    if args.output is not None:
        from compvqc.fsutil import check_output

        check_output(args.output, force=True)  # a LUT file is rebuilt in place; the folder must take it
    qubits = _ints(args.qubits, "--qubits")
    model = None
    if args.model:
        from compvqc.checkpoint import load_checkpoint

        model = load_checkpoint(args.model).model
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        backend = resolve_backend(name)
        region = make_region(backend, qubits, "user") if qubits else default_region(backend, model)
        path = (Path(args.output) if args.output else Path(args.out) / f"{backend.name}.json" if args.out
                else cache.cache_path(backend, region))
        if args.no_rebuild and path.is_file():
            old = load_lut_file(path)
            c = check(old, backend, region, gates or ())
            if c.fits and c.fresh:
                results.append(_build_row(name, path, old, "up-to-date"))
                continue
            raise CompVQCError(f"{path} does not match {name} ({'; '.join(c.reasons)}) and --no-rebuild is set")
        kw = {} if gates is None else {"gates": gates}
        lut = build_lut(backend, region=region, grid=grid, progress=False if args.json else None,
                        workers=args.workers, **kw)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_lut(path, lut)
        results.append(_build_row(name, path, lut, "built"))
        if not args.json:
            r = results[-1]
            print(f"{name}: {r['status']} {path} in {r['seconds']:.1f} s "
                  f"({len(r['gates'])} gate types, qubits {r['qubits']}, sha256 {r['sha256'][:12]})", flush=True)
    if args.json:
        emit(args, {"schema": SCHEMA_BUILD, "luts": results}, "")
    else:
        for r in results:
            if r["status"] == "up-to-date":
                print(f"{r['backend']}: up to date {r['path']}")
    return 0


def _build_row(name, path, lut, status) -> dict:
    prov = lut.provenance
    return {"backend": name, "path": str(path), "status": status, "seconds": prov.get("build_seconds"),
            "sha256": lut.sha256, "qubits": prov.get("region", {}).get("qubits"), "gates": list(lut.gates),
            "qiskit_version": prov.get("qiskit_version")}


# --- lut show ----------------------------------------------------------------------------------
def pi_label(x: float, max_den: int = 64) -> str:
    """An angle as a multiple of π (``3π/2``), or a float if it is not a small dyadic multiple."""
    f = Fraction(x / math.pi).limit_denominator(max_den)
    if abs(float(f) * math.pi - x) > 1e-12:
        return f"{x:.4g}"
    if f == 0:
        return "0"
    num = "π" if f.numerator == 1 else f"{f.numerator}π"
    return num if f.denominator == 1 else f"{num}/{f.denominator}"


def _table(lut) -> list[dict]:
    rows = []
    for name, t in lut.gates.items():
        row = {"gate": name, "generic": {"min": t.generic.min, "max": t.generic.max, "mode": t.generic.mode},
               "counts": {k: sum(e.kind == k for e in t.entries) for k in ("prune", "quant", "generic", "deep")},
               "levels": [{"angles": list(e.angles), "depth": e.depth, "kind": e.kind} for e in t.levels()]}
        if all(len(e.angles) == 1 for e in t.entries):
            row["columns"] = {}
            for col in SHOW_COLUMNS:
                e = t.lookup((float(col.numerator) * math.pi / col.denominator,))
                row["columns"][pi_label(float(col) * math.pi)] = None if e is None else {"depth": e.depth, "kind": e.kind}
        rows.append(row)
    return rows


def _render(lut, rows) -> str:
    prov = lut.provenance
    region = prov.get("region", {})
    head = [
        f"LUT {prov.get('backend')} (version {prov.get('backend_version')}), basis {' '.join(prov.get('basis_gates', []))}",
        f"  qubits {region.get('qubits')} ({region.get('source')}), qiskit {prov.get('qiskit_version')}, "
        f"optimization_level {prov.get('optimization_level')}, built {prov.get('built_at')} "
        f"in {prov.get('build_seconds')} s, sha256 {lut.sha256[:16]}",
        "  depth = worst case over the region's qubits / directed edges; * deep (never a target), "
        "p pruning level, q quantization level",
        "",
    ]
    cols = [pi_label(float(c) * math.pi) for c in SHOW_COLUMNS]
    width = 6
    lines = ["gate  " + "".join(c.rjust(width) for c in cols) + "   generic"]
    for row in rows:
        g = row["generic"]
        generic = str(g["mode"]) if g["min"] == g["max"] else f"{g['min']}-{g['max']} (mode {g['mode']})"
        if "columns" in row:
            cells = []
            for c in cols:
                cell = row["columns"][c]
                mark = {"deep": "*", "prune": "p", "quant": "q"}.get(cell["kind"], "") if cell else ""
                cells.append(("-" if cell is None else f"{cell['depth']}{mark}").rjust(width))
            lines.append(f"{row['gate']:<6}" + "".join(cells) + f"   {generic}")
        else:
            n = row["counts"]
            lines.append(f"{row['gate']:<6}  (θ, φ, λ grid: {n['prune']} prune, {n['quant']} quant, "
                         f"{n['generic']} generic, {n['deep']} deep)   {generic}")
    lines += ["", "levels (angle:depth), finest grid:"]
    for row in rows:
        lv = row["levels"]
        if len(lv) and len(lv[0]["angles"]) == 1:
            text = " ".join(f"{pi_label(v['angles'][0])}:{v['depth']}" for v in lv)
        else:
            text = f"{len(lv)} (θ, φ, λ) triples; e.g. " + " ".join(
                "(" + ",".join(pi_label(a) for a in v["angles"]) + f"):{v['depth']}" for v in lv[:4])
        lines.append(f"  {row['gate']:<5} {text}")
    return "\n".join(head + lines)


def cmd_show(args) -> int:
    from compvqc.compile import load_lut

    with _warnings_to_stderr():
        lut = load_lut(args.lut, qubits=_ints(args.qubits, "--qubits"), no_rebuild=args.no_rebuild,
                       progress=False if args.json else None)
    rows = _table(lut)
    payload = {"schema": SCHEMA_SHOW, "backend": lut.backend, "sha256": lut.sha256, "table": rows,
               "lut": lut.to_dict()}
    emit(args, payload, _render(lut, rows))
    return 0


# --- tcd ---------------------------------------------------------------------------------------
def cmd_tcd(args) -> int:
    from compvqc.checkpoint import load_checkpoint
    from compvqc.compile import estimate_tcd, get_lut, resolve_backend, true_tcd
    from compvqc.compile.tcd import TCD_SEEDS

    backend = resolve_backend(args.backend)
    mf = load_checkpoint(args.model)
    model = mf.model
    theta = mf.theta_original if args.original else mf.theta
    payload = {"schema": SCHEMA_TCD, "model": str(args.model), "backend": backend.name,
               "n_qubits": model.n_qubits, "n_gates": len(model.gates)}
    if args.estimate:
        with _warnings_to_stderr():
            lut = get_lut(backend, model=model, gates=sorted({g.name for g in model.gates}),
                          no_rebuild=args.no_rebuild, progress=False if args.json else None)
        depth = estimate_tcd(model, theta, lut)
        payload.update({"method": "estimate", "tcd": depth, "lut_sha256": lut.sha256})
        text = f"estimated TCD {depth} on {backend.name} ({len(model.gates)} gates; LUT {lut.sha256[:12]})"
    else:
        seeds = _ints(args.seeds, "--seeds") or TCD_SEEDS
        r = true_tcd(model, theta, backend, seeds)
        payload.update({"method": "transpile", **r.to_dict()})
        spread = f"{min(r.depths.values())}-{max(r.depths.values())}"
        text = (f"TCD {r.depth} on {backend.name} (optimization_level 3, min over seeds "
                f"{','.join(map(str, r.seeds))}: {spread}; best seed {r.seed})")
    emit(args, payload, text)
    return 0
