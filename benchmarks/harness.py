"""Parallel efficiency of the benchmark harness: a suite on N local workers against 1, in one run.

Runs ``compvqc bench suite SUITE --quick`` into fresh directories in the order 1, N, N, 1 (so a
drift in the machine's load falls on both), checks that every run wrote the same rows (wall time
and host aside), and prints each wall time, the speedup of the medians and the load average at
the start (the protocol asks for < 0.5).

    .venv/bin/python benchmarks/harness.py --suite table2 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def rows(out: Path) -> list:
    found = []
    for f in sorted(out.rglob("points.jsonl")):
        found += [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "host")}
                  for line in f.read_text().splitlines()]
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="table2")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    env = {**os.environ, "COMPVQC_DATA": os.environ.get("COMPVQC_DATA", str(SHARED))}
    load = os.getloadavg()[0]
    times: dict[int, list[float]] = {1: [], args.workers: []}
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        for i, w in enumerate((1, args.workers, args.workers, 1)):
            out = Path(tmp) / f"run{i}"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "compvqc", "bench", "suite", args.suite, "--quick", "--workers",
                            str(w), "-o", str(out), "--json"], check=True, env=env, stdout=subprocess.DEVNULL)
            times[w].append(time.perf_counter() - t)
            got = rows(out)
            assert reference is None or got == reference, "rows differ between runs"
            reference = got
            print(f"run {i}: {w} worker(s) {times[w][-1]:.1f} s", flush=True)
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    print(f"{args.suite} --quick: {len(reference)} points; load average at start {load:.2f}; "
          f"1 worker {one:.1f} s, {args.workers} workers {many:.1f} s: {one / many:.2f}x; rows identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
