"""``bqskit``: the trained block resynthesized by BQSKit, a baseline no paper compares against.

BQSKit converts only bound circuits, and the TCD keeps the inputs unbound, so what it
resynthesizes is the input-independent part: the trained gates with θ bound. That needs every
encoder operation before the first trainable gate (``qualifies``; the papers' models do, a
data-reuploading one does not). The resynthesized block follows the unchanged encoder; its TCD
is the same transpile over the recorded seeds as every other method's (it can come out deeper
than the original; it is reported as it is), and its accuracy comes from simulating that
compiled circuit, since it equals the model only up to the synthesis tolerance. Nothing is
retrained.

BQSKit installs signal handlers and refuses to run outside a main thread, so it runs in a child
process (``python -m compvqc.compress.resynth``: QASM 2 in on stdin, QASM 2 out on stdout),
which also keeps our own SIGTERM/SIGINT handling intact; a signal kills the child. It is an
optional extra: ``pip install compvqc[bqskit]``.

Three things make it finish. The block goes in as CX and U3 (qiskit's exact decomposition):
BQSKit's own retargeting of trained CRX/CRY/CRZ gates ran for minutes without finishing where
the same block in CX and U3 resynthesizes in about 20 s. Each child starts BQSKit's runtime
itself, on free ports: ``Compiler()`` starts one on port 7472 whatever port it is given (BQSKit
1.2), so a second concurrent run waited forever. And a resynthesis is bounded by ``TIMEOUT``: a
block not done by then is left as it was (what a compiler out of time ships), and the row says
so in its ``note``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys

from compvqc.errors import CompressionError

LEVEL = 2  # optimization level 3 took ten times as long on the 50-gate block for little gain
TIMEOUT = 600.0  # seconds a resynthesis may take; the 50-gate trained blocks take about 20


def available() -> bool:
    return importlib.util.find_spec("bqskit") is not None


def qualifies(model) -> bool:
    """Whether every encoder operation precedes the first trainable gate."""
    from compvqc.model.ops import Gate

    kinds = [isinstance(op, Gate) for op in model.ops]
    return True not in kinds or False not in kinds[kinds.index(True):]


def resynthesize(qasm: str, *, level: int = LEVEL, seed: int = 0, timeout: float | None = None) -> str | None:
    """BQSKit's resynthesis of a bound circuit (OpenQASM 2), run in a child process; None when
    it does not finish within ``timeout`` seconds (default ``TIMEOUT``)."""
    if not available():
        raise CompressionError("the bqskit method needs BQSKit (pip install 'compvqc[bqskit]')")
    # its own session: BQSKit starts a runtime server of its own, which a signal must take down too
    proc = subprocess.Popen([sys.executable, "-m", "compvqc.compress.resynth", str(level), str(seed)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(qasm, timeout=TIMEOUT if timeout is None else timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0:
        raise CompressionError(f"BQSKit failed: {(err.strip().splitlines() or ['no message'])[-1]}")
    return out


def run(model, theta, data, backend, config) -> dict:
    """The method's own measurement: accuracies, TCD and cost measures (see the module)."""
    from qiskit import QuantumCircuit, qasm2

    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.tcd import transpile_over_seeds
    from compvqc.compress.approx import compiled_metrics
    from compvqc.model.circuit import VQC
    from compvqc.model.ops import Gate
    from compvqc.model.qiskit_io import to_qiskit

    if not qualifies(model):
        raise CompressionError("bqskit resynthesizes the trained block, which needs every encoder operation before "
                               "the first trainable gate; this model interleaves them")
    full = to_qiskit(model, theta).circuit
    encoder = VQC(model.n_qubits, model.n_features, [op for op in model.ops if not isinstance(op, Gate)],
                  model.readout)
    k = len(to_qiskit(encoder, theta[:0]).circuit.data)  # the encoder's instructions come first
    block = QuantumCircuit(model.n_qubits)
    for inst in full.data[k:]:
        block.append(inst)
    text = resynthesize(qasm2.dumps(block), seed=config.seed)
    note = None
    if text is None:
        note = f"bqskit: no resynthesis within {TIMEOUT:g} s; the trained block is unchanged"
    else:
        block = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    circuit = QuantumCircuit(model.n_qubits)
    for inst in full.data[:k]:
        circuit.append(inst)
    circuit.compose(block, inplace=True)
    compiled = transpile_over_seeds(circuit, resolve_backend(backend), config.tcd_seeds)
    best = min(compiled.items(), key=lambda sc: (sc[1].depth(), sc[0]))[1]
    return {**compiled_metrics(model, best, data, backend), "note": note}


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:  # held open together, so the n ports differ
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _main(argv: list[str]) -> int:  # the child process
    from bqskit import compile as bqskit_compile
    from bqskit.compiler import Compiler
    from bqskit.ext import bqskit_to_qiskit, qiskit_to_bqskit
    from qiskit import qasm2, transpile

    level, seed = int(argv[0]), int(argv[1])
    block = qasm2.loads(sys.stdin.read(), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    circuit = qiskit_to_bqskit(transpile(block, basis_gates=["cx", "u3"], optimization_level=0))
    # The runtime started by hand: Compiler() starts its own on port 7472 whatever port it is given
    port, worker_port = _free_ports(2)
    server = subprocess.Popen([sys.executable, "-c", "from bqskit.runtime.attached import start_attached_server; "
                               f"start_attached_server(1, port={port}, worker_port={worker_port})"])
    try:
        with Compiler(ip="localhost", port=port) as compiler:
            out = bqskit_compile(circuit, optimization_level=level, seed=seed, compiler=compiler)
    finally:
        server.terminate()
        server.wait()
    sys.stdout.write(qasm2.dumps(bqskit_to_qiskit(out)))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
