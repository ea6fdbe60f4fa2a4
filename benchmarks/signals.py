"""The start-up window in which SIGTERM/SIGINT still kill ``compvqc`` outright.

Python cannot run a handler before the interpreter has started and run the entry point's first
lines; ``compvqc.cli.run`` installs the handlers before any heavy import. This measures, for
each way users start the CLI, the time from ``Popen`` returning (the child has been forked and
is exec'ing) until the kernel reports the SIGTERM handler caught (``SigCgt`` in
``/proc/<pid>/status``, polled in a tight loop), interleaved with the same measure for a bare
``python -c`` that installs a handler as its first statement: the floor of any Python program.

    .venv/bin/python benchmarks/signals.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from compvqc.signals import catches

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FLOOR = "import signal; signal.signal(signal.SIGTERM, lambda *a: None); import time; time.sleep(30)"
TRAIN = ["train", "--dataset", "syn4", "--arch", "random14", "--epochs", "1", "--n-samples", "100", "-o", os.devnull,
         "--force"]


def window(cmd: list[str]) -> float:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    t0 = time.perf_counter()
    while not catches(proc.pid):
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[:3]} exited before installing a handler")
    t = time.perf_counter() - t0
    proc.kill()
    proc.wait()
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    commands = {
        "python -c (handler first; the floor)": [sys.executable, "-c", FLOOR],
        "compvqc (console script)": [str(BIN / "compvqc"), *TRAIN],
        "python -m compvqc": [sys.executable, "-m", "compvqc", *TRAIN],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(args.runs):  # interleaved: the machine's load hits every command alike
        for name, cmd in commands.items():
            times[name].append(window(cmd) * 1e3)
    print(f"# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {args.runs} runs each")
    print("| start | window min (ms) | median | max |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts):.1f} | {statistics.median(ts):.1f} | {max(ts):.1f} |")


if __name__ == "__main__":
    main()
