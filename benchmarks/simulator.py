"""compvqc's simulator against TorchQuantum, PennyLane and qiskit-machine-learning, side by side.

    python benchmarks/simulator.py            # ours only, peers reported "not installed"
    make bench-peers                          # the same script in .venv-peers, with every peer

Every framework runs the identical circuit, built from our ``VQC`` description (encoders as
input rotations, trainable gates with our θ), and its expectations and loss gradient are checked
against ours before it is timed. Qubit order: ours is qiskit's (basis index s = Σ_q b_q 2^q);
the peers put wire 0 first, which does not matter here because every readout is per-wire
⟨Z_q⟩ summed over a class's wires (2 classes on 4 qubits: [⟨Z0⟩+⟨Z1⟩, ⟨Z2⟩+⟨Z3⟩]), then softmax
cross-entropy. "forward" is the logits; "gradient" is forward + loss + ∂L/∂θ (all angles).

Times are min / median over repeats in this one process (2 shared cores: the median shows the
noise). qiskit-machine-learning's EstimatorQNN runs on 8 samples and is reported per sample
(its column says so). Memory is our engine's tracemalloc peak for one gradient call.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import subprocess
import sys
import time
import tracemalloc
import types
import warnings
from dataclasses import dataclass, field

import numpy as np

import compvqc
from compvqc.model import VQC, Encode, Gate, build_model, default_readout
from compvqc.model.architectures import PAPER_GATE_SET, random_gates
from compvqc.model.encoders import encoder_ops
from compvqc.model.readout import softmax_cross_entropy

# --- cases ----------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    model: VQC
    theta: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def groups(self):
        if self.model.readout.kind != "pauli_z":
            raise ValueError("peers are built for Pauli-Z readouts")
        return [list(g) for g in self.model.readout.groups]


def make_case(name, model, batch, seed=0) -> Case:
    rng = np.random.default_rng(seed)
    theta = model.init_params(rng)
    x = rng.uniform(0, np.pi, (batch, model.n_features))
    return Case(name, model, theta, x, rng.integers(0, model.n_classes, batch))


def scaling_model(n: int, n_gates: int, seed: int = 0) -> VQC:
    """``{n}x2_ryz`` encoder + ``n_gates`` random paper gates, 2-class Pauli-Z readout."""
    _, d, enc = encoder_ops(f"{n}x2_ryz")
    gates = random_gates(n, n_gates, np.random.default_rng(seed), PAPER_GATE_SET)
    return VQC(n, d, (*enc, *gates), default_readout(n, 2), {"encoder": f"{n}x2_ryz", "arch": f"random{n_gates}"})


SCALING = [(2, 14, 64), (4, 50, 256), (6, 100, 1024), (8, 150, 2048), (10, 200, 4096)]  # (n, gates, batch)

# --- frameworks -----------------------------------------------------------------------------------


class Unavailable(Exception):
    """A peer that cannot run here; the message goes in the table."""


@dataclass
class Runner:
    """Callables for one framework on one case: logits (B, C) and (loss, ∂L/∂θ)."""

    forward: callable
    gradient: callable
    samples: int  # how many of the case's samples it runs (EstimatorQNN: 8)


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise Unavailable(f"not installed ({e})") from None


def ours(case: Case) -> Runner:
    sim = case.model.simulator
    return Runner(lambda: sim.logits(case.theta, case.x), lambda: sim.loss_and_grad(case.theta, case.x, case.y),
                  len(case.x))


_TORCHVISION_NOTE = []


def _import_torchquantum():
    """torchquantum's ``__init__`` imports its dataset loaders, which import torchvision at module
    level. No torchvision wheel here loads against the CPU torch 2.13 (PyPI's are CUDA builds:
    ``operator torchvision::nms does not exist``), so when it is missing we register an empty
    stand-in that raises on any use: the simulator (devices, functional gates, measurement)
    never touches it, only ``torchquantum.dataset`` does."""
    _require("torch")
    try:
        return importlib.import_module("torchquantum")
    except ModuleNotFoundError as e:
        if e.name is None or not e.name.startswith("torchvision"):
            raise Unavailable(f"import failed ({e})") from None

    class Missing(type):  # any attribute of a stand-in is another stand-in class
        def __getattr__(cls, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return missing(f"{cls.__name__}.{attr}")

    def missing(path):
        def refuse(self, *args, **kwargs):
            raise RuntimeError(f"torchvision is not installed ({path})")

        return Missing(path, (), {"__init__": refuse})

    def stub(name):
        mod = types.ModuleType(name)

        def attr(a):
            if a.startswith("__"):
                raise AttributeError(a)
            return missing(f"{name}.{a}")

        mod.__getattr__ = attr
        sys.modules[name] = mod
        return mod

    for name in ("torchvision", "torchvision.datasets", "torchvision.transforms", "torchvision.datasets.utils"):
        stub(name)
    _TORCHVISION_NOTE.append("torchvision stubbed: only torchquantum.dataset imports it")
    try:
        return importlib.import_module("torchquantum")
    except ImportError as e:
        raise Unavailable(f"import failed even with torchvision stubbed ({e})") from None


def torchquantum(case: Case) -> Runner:
    tq = _import_torchquantum()
    import torch
    import torch.nn.functional as F
    import torchquantum.functional as tqf

    m, n, b = case.model, case.model.n_qubits, len(case.x)
    fns = {name: getattr(tqf, name) for name in ("rx", "ry", "rz", "crx", "cry", "crz", "u3", "cu3")}
    xt = torch.tensor(case.x)
    w = torch.tensor(case.theta, requires_grad=True)
    yt = torch.tensor(case.y)
    groups = case.groups

    def logits():
        qdev = tq.QuantumDevice(n_wires=n, bsz=b)
        for op in m.ops:
            if isinstance(op, Encode):
                fns[op.name](qdev, wires=op.wire, params=xt[:, op.feature : op.feature + 1])
            elif isinstance(op, Gate):
                wires = list(op.wires) if len(op.wires) == 2 else op.wires[0]
                fns[op.name](qdev, wires=wires, params=w[list(op.params)].unsqueeze(0))
            else:
                raise Unavailable("amplitude encoding not built for peers")
        z = tq.expval(qdev, list(range(n)), [tq.PauliZ() for _ in range(n)])
        return torch.stack([z[:, g].sum(1) for g in groups], 1)

    def forward():
        with torch.no_grad():
            return logits().double().numpy()

    def gradient():
        w.grad = None
        loss = F.cross_entropy(logits().double(), yt)
        loss.backward()
        return loss.item(), w.grad.numpy().copy()

    return Runner(forward, gradient, b)


def _pl_circuit(qml, case: Case):
    def circuit(xs, w):  # xs: (features, B), broadcast over the batch
        for op in case.model.ops:
            if isinstance(op, Encode):
                getattr(qml, op.name.upper())(xs[op.feature], wires=op.wire)
                continue
            if not isinstance(op, Gate):
                raise Unavailable("amplitude encoding not built for peers")
            angles = [w[p] for p in op.params]
            base = op.name[1:] if len(op.wires) == 2 else op.name
            gate = qml.U3 if base == "u3" else getattr(qml, base.upper())
            if len(op.wires) == 2:
                qml.ctrl(gate, control=op.wires[0])(*angles, wires=op.wires[1])
            else:
                gate(*angles, wires=op.wires[0])
        return [qml.expval(qml.PauliZ(q)) for q in range(case.model.n_qubits)]

    return circuit


def pennylane_torch(case: Case) -> Runner:
    qml = _require("pennylane")
    torch = _require("torch")
    import torch.nn.functional as F

    node = qml.QNode(_pl_circuit(qml, case), qml.device("default.qubit", wires=case.model.n_qubits),
                     interface="torch", diff_method="backprop")
    xs = torch.tensor(case.x.T.copy())
    w = torch.tensor(case.theta, requires_grad=True)
    yt = torch.tensor(case.y)

    def logits():
        z = torch.stack(list(node(xs, w)), 1)  # (B, n)
        return torch.stack([z[:, g].sum(1) for g in case.groups], 1)

    def forward():
        with torch.no_grad():
            return logits().numpy()

    def gradient():
        w.grad = None
        loss = F.cross_entropy(logits(), yt)
        loss.backward()
        return loss.item(), w.grad.numpy().copy()

    return Runner(forward, gradient, len(case.x))


def _pl_numpy(case: Case, device: str, diff_method: str) -> Runner:
    qml = _require("pennylane")
    if device == "lightning.qubit":
        _require("pennylane_lightning")
    from pennylane import numpy as pnp

    node = qml.QNode(_pl_circuit(qml, case), qml.device(device, wires=case.model.n_qubits),
                     interface="autograd", diff_method=diff_method)
    xs = pnp.array(case.x.T.copy(), requires_grad=False)
    onehot = np.eye(case.model.n_classes)[case.y]

    def logits(w):
        z = pnp.stack(node(xs, w), 1)
        return pnp.stack([pnp.sum(z[:, g], 1) for g in case.groups], 1)

    def loss(w):
        z = logits(w)
        z = z - pnp.max(z._value if hasattr(z, "_value") else z, 1, keepdims=True)
        return -pnp.mean(pnp.sum(onehot * (z - pnp.log(pnp.sum(pnp.exp(z), 1, keepdims=True))), 1))

    grad_fn = qml.grad(loss)

    def gradient():
        w = pnp.array(case.theta, requires_grad=True)
        g = grad_fn(w)
        return float(grad_fn.forward), np.asarray(g)

    return Runner(lambda: np.asarray(logits(pnp.array(case.theta, requires_grad=False))), gradient, len(case.x))


def pennylane_autograd(case: Case) -> Runner:
    return _pl_numpy(case, "default.qubit", "backprop")


def lightning_adjoint(case: Case) -> Runner:
    return _pl_numpy(case, "lightning.qubit", "adjoint")


ESTIMATOR_SAMPLES = 8


def estimator_qnn(case: Case) -> Runner:
    _require("qiskit_machine_learning")
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    from compvqc.model.qiskit_io import to_qiskit

    n = case.model.n_qubits
    q = to_qiskit(case.model)
    obs = [SparsePauliOp.from_sparse_list([("Z", [w], 1.0) for w in g], num_qubits=n) for g in case.groups]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qnn = EstimatorQNN(circuit=q.circuit, observables=obs, input_params=list(q.inputs),
                           weight_params=list(q.weights), default_precision=0.0)
    x, y = case.x[:ESTIMATOR_SAMPLES], case.y[:ESTIMATOR_SAMPLES]

    def gradient():
        out = qnn.forward(x, case.theta)
        _, wg = qnn.backward(x, case.theta)  # (B, C, P)
        loss, dl = softmax_cross_entropy(out, y)
        return loss, np.einsum("bc,bcp->p", dl, wg)

    return Runner(lambda: qnn.forward(x, case.theta), gradient, len(x))


PEERS = {
    "TorchQuantum": torchquantum,
    "PennyLane default.qubit backprop (torch)": pennylane_torch,
    "PennyLane default.qubit backprop (autograd)": pennylane_autograd,
    "PennyLane lightning.qubit adjoint": lightning_adjoint,
    "qiskit-ML EstimatorQNN (per sample, on 8)": estimator_qnn,
}
TOLERANCE = {"TorchQuantum": 2e-5}  # complex64 states; every other peer is complex128
SLOW = {"PennyLane lightning.qubit adjoint", "qiskit-ML EstimatorQNN (per sample, on 8)"}
SCALING_PEERS = ("TorchQuantum", "PennyLane default.qubit backprop (torch)")
TAPE_LIMIT_BYTES = 4 << 30  # skip a backprop peer whose autograd tape would exceed this

# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Row:
    framework: str
    status: str = "ok"
    forward: list = field(default_factory=list)
    gradient: list = field(default_factory=list)
    samples: int = 0
    memory: int | None = None

    def per(self, kind):
        """(min, median) seconds; per sample when the framework ran a subset."""
        t = np.asarray(getattr(self, kind))
        return float(t.min()), float(np.median(t))


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up (imports, caches, JIT-less tracing)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def check(case: Case, name: str, runner: Runner) -> str:
    """Compare a peer's logits and gradient with ours on the samples it runs."""
    k = runner.samples
    sim = case.model.simulator
    ref_logits = sim.logits(case.theta, case.x[:k])
    ref_loss, ref_grad = sim.loss_and_grad(case.theta, case.x[:k], case.y[:k])
    logits = np.asarray(runner.forward(), dtype=np.float64)
    loss, grad = runner.gradient()
    tol = TOLERANCE.get(name, 1e-8)
    errs = (np.max(np.abs(logits - ref_logits)), abs(loss - ref_loss), np.max(np.abs(grad - ref_grad)))
    if max(errs) > tol:
        return f"MISMATCH (logits {errs[0]:.1e}, loss {errs[1]:.1e}, grad {errs[2]:.1e})"
    return f"ok (≤{max(errs):.0e})"


def memory_peak(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


TORCH_PEERS = {"TorchQuantum", "PennyLane default.qubit backprop (torch)"}


def _best_torch_threads(row: Row, runner: Runner, n_rep: int) -> None:
    """Also time a torch peer on one intra-op thread and keep the faster gradient.

    Our engine runs its small GEMMs single-threaded (``engine._blas_one_thread``); on 2 shared
    cores torch's second thread can cost a peer several-fold, so each torch peer gets its better
    setting rather than its default."""
    import torch

    default = torch.get_num_threads()
    if default == 1:
        return
    torch.set_num_threads(1)
    try:
        fwd, grad = timed(runner.forward, n_rep), timed(runner.gradient, n_rep)
    finally:
        torch.set_num_threads(default)
    if min(grad) < min(row.gradient):
        row.forward, row.gradient = fwd, grad
        row.status += "; torch on 1 thread (faster here than its default)"
    else:
        row.status += f"; torch on {default} threads (faster here than 1)"


def run_case(case: Case, peers, repeats: int, slow_repeats: int, skip=None) -> list[Row]:
    """Time ours and every peer on one case; ``skip`` maps a peer to why it is not run here."""
    skip = skip or {}
    rows = []
    runner = ours(case)
    r = Row("compvqc (this engine)", status="reference", samples=runner.samples)
    r.forward, r.gradient = timed(runner.forward, repeats), timed(runner.gradient, repeats)
    r.memory = memory_peak(runner.gradient)
    rows.append(r)
    for name in peers:
        row = Row(name)
        try:
            if name in skip:
                raise Unavailable(skip[name])
            if name in SCALING_PEERS:
                tape = len(case.x) * case.model.simulator.dim * len(case.model.ops) * 16
                if tape > TAPE_LIMIT_BYTES:
                    raise Unavailable(f"skipped (autograd tape ≈ {tape / 2**30:.0f} GiB)")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runner = PEERS[name](case)
                row.samples = runner.samples
                row.status = check(case, name, runner)
                n_rep = slow_repeats if name in SLOW else max(3, repeats // 3)
                row.forward, row.gradient = timed(runner.forward, n_rep), timed(runner.gradient, n_rep)
                if name in TORCH_PEERS:
                    _best_torch_threads(row, runner, n_rep)
        except Unavailable as e:
            row.status = str(e)
        except Exception as e:  # a peer's own failure is reported, not fatal
            row.status = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        if name == "TorchQuantum" and _TORCHVISION_NOTE and row.status.startswith("ok"):
            row.status += f"; {_TORCHVISION_NOTE[0]}"
        rows.append(row)
    return rows


# --- reporting ------------------------------------------------------------------------------------


def _mib(b: int) -> str:
    return f"{b / 2**20:.2f}" if b < 10 * 2**20 else f"{b / 2**20:,.0f}"


def _ms(s: float) -> str:
    return f"{s * 1e3:,.2f}" if s < 10 else f"{s * 1e3:,.0f}"


def fastest_peer(rows: list[Row], batch: int):
    """The peer with the lowest minimum gradient time for the whole batch (per-sample rows scaled)."""
    timed_rows = [r for r in rows[1:] if r.gradient]
    if not timed_rows:
        return None
    return min(timed_rows, key=lambda r: r.per("gradient")[0] * batch / r.samples)


def table(case: Case, rows: list[Row]) -> str:
    b = len(case.x)
    ref_g = rows[0].per("gradient")
    lines = [
        f"**{case.name}** — {case.model.n_qubits} qubits, {len(case.model.gates)} trainable gates, "
        f"{sum(isinstance(o, Encode) for o in case.model.ops)} encoder rotations, batch {b}",
        "",
        "| framework | forward min / median (ms) | gradient min / median (ms) | ours faster (gradient, min / median) | check vs ours |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        if not r.gradient:
            lines.append(f"| {r.framework} | — | — | — | {r.status} |")
            continue
        scale = 1.0 / r.samples if r.samples != b else 1.0
        unit = " per sample" if r.samples != b else ""
        f, g = r.per("forward"), r.per("gradient")
        if r is rows[0]:
            ratio = "1×"
        else:
            full = b / r.samples  # per-sample rows: scaled to the whole batch for the ratio
            ratio = f"{g[0] * full / ref_g[0]:,.0f}× / {g[1] * full / ref_g[1]:,.0f}×"
        lines.append(
            f"| {r.framework} | {_ms(f[0] * scale)} / {_ms(f[1] * scale)}{unit} | "
            f"{_ms(g[0] * scale)} / {_ms(g[1] * scale)}{unit} | {ratio} | {r.status} |"
        )
    best = fastest_peer(rows, b)
    if best is not None:
        g = best.per("gradient")
        lines += ["", f"Fastest peer: {best.framework}; ours is **{g[0] / ref_g[0]:.1f}×** faster "
                      f"(min) / **{g[1] / ref_g[1]:.1f}×** (median) on the full gradient."]
    lines.append(f"Our engine's memory (tracemalloc peak, one gradient call): {_mib(rows[0].memory)} MiB.")
    return "\n".join(lines)


def scaling_table(results) -> str:
    lines = [
        "| qubits | gates | batch | ours fwd min / med (ms) | ours grad min / med (ms) | our peak memory (MiB) "
        "| TorchQuantum grad min (ms) | PennyLane torch grad min (ms) | ours faster than fastest peer (min / median) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (n, k, b), rows in results:
        f, g = rows[0].per("forward"), rows[0].per("gradient")
        cells = []
        for r in rows[1:]:
            cells.append(_ms(r.per("gradient")[0]) if r.gradient else r.status)
        best = fastest_peer(rows, b)
        ratio = "—"
        if best is not None:
            bg = best.per("gradient")
            ratio = f"{bg[0] / g[0]:.1f}× / {bg[1] / g[1]:.1f}×"
        lines.append(f"| {n} | {k} | {b} | {_ms(f[0])} / {_ms(f[1])} | {_ms(g[0])} / {_ms(g[1])} | "
                     f"{_mib(rows[0].memory)} | {' | '.join(cells)} | {ratio} |")
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    import os

    from importlib.metadata import PackageNotFoundError, version

    versions = [f"compvqc {compvqc.__version__}", f"numpy {np.__version__}"]
    for dist in ("torch", "torchquantum-ng", "pennylane", "pennylane-lightning", "qiskit", "qiskit-machine-learning"):
        try:
            versions.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}; " + ", ".join(versions))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30, help="timed repeats for our engine (peers: a third)")
    ap.add_argument("--slow-repeats", type=int, default=3, help="repeats for lightning.qubit and EstimatorQNN")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling rows")
    ap.add_argument("--quick", action="store_true", help="few repeats, no slow peers (a smoke run)")
    args = ap.parse_args(argv)
    peers = list(PEERS)
    slow_skip = {p: "skipped (--quick)" for p in SLOW} if args.quick else {}
    repeats = 5 if args.quick else args.repeats

    out = ["## Simulator", ""]
    main_case = make_case("Main case: 4x4_ryzxy + random50, 2 classes, 1024 samples",
                          build_model("4x4_ryzxy", "random50", 2, arch_seed=0), 1024)
    rows = run_case(main_case, peers, repeats, args.slow_repeats, slow_skip)
    out += [table(main_case, rows), ""]
    print(out[-2], "\n", flush=True)

    reup = make_case("Data re-uploading: 4x4_ryzxy, reupload3 (encoder between trainable blocks), 1024 samples",
                     build_model("4x4_ryzxy", "reupload3", 2, arch_seed=0), 1024)
    rows = run_case(reup, peers, repeats, args.slow_repeats, {p: "timed on the main case only" for p in SLOW})
    out += [table(reup, rows), ""]
    print(out[-2], "\n", flush=True)

    if not args.no_scaling:
        results = []
        for n, k, b in SCALING:
            case = make_case(f"scaling {n}q", scaling_model(n, k), b)
            big = n >= 8
            rows = run_case(case, SCALING_PEERS, 3 if big else repeats, 3)
            results.append(((n, k, b), rows))
            print(f"scaling {n} qubits, {k} gates, batch {b}: ours grad min {rows[0].per('gradient')[0] * 1e3:.2f} ms",
                  flush=True)
        out += ["**Scaling** — `{n}x2_ryz` encoder + random paper gates, 2 classes; peers: TorchQuantum and "
                "PennyLane default.qubit backprop (torch), the two that batch inputs", "", scaling_table(results), ""]
    out += [f"Machine: {machine()}.", "",
            f"Command: `{' '.join(['python', 'benchmarks/simulator.py', *(argv if argv is not None else sys.argv[1:])])}`"
            " (`make bench-peers` runs it with every peer installed)."]
    print("\n" + "\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
