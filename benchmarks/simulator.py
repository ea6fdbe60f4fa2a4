"""compvqc's simulator against TorchQuantum, PennyLane and qiskit-machine-learning, side by side.

    python benchmarks/simulator.py                               # ours only, peers "not installed"
    python benchmarks/simulator.py --cases main,q8,q12 --rounds 5   # a quick run
    make bench-peers                                             # in .venv-peers, every peer

Every framework runs the identical circuit, built from our ``VQC`` description (encoders as
input rotations, trainable gates with our θ), and its expectations and loss gradient are checked
against ours before it is timed. Qubit order: ours is qiskit's (basis index s = Σ_q b_q 2^q);
the peers put wire 0 first, which does not matter here because every readout is per-wire
⟨Z_q⟩ summed over a class's wires (2 classes on 4 qubits: [⟨Z0⟩+⟨Z1⟩, ⟨Z2⟩+⟨Z3⟩]), then softmax
cross-entropy. "forward" is the logits; "gradient" is forward + loss + ∂L/∂θ (all angles).

Each peer runs at its documented fastest setting, named in the table, in complex128 like ours
(TorchQuantum's complex64 default is shown too, in rows marked complex64). Timing is
interleaved: each round times one forward and one gradient of every contender in turn, so a
burst of load on the 2 shared cores hits all of them alike; the slow, non-batching peers
(lightning.qubit, EstimatorQNN) join only the first ``--slow-rounds`` rounds. Min and median are
over the rounds; the 1-minute load average is shown before and after each case. A peer's first
call (JAX's trace + compile, TorchQuantum's static schedule) is reported on its own, not timed
in the rounds. qiskit-machine-learning's EstimatorQNN runs on 8 samples and is reported per
sample (its column says so). Memory is our engine's tracemalloc peak for one gradient call.
"""

from __future__ import annotations

import argparse
import math
import importlib
import os
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


def _wide(n: int) -> Case:
    k = n * 25 // 2
    return make_case(f"{n} qubits: {n}x2_ryz + random{k} (12.5 gates per qubit), 2 classes, batch 256",
                     scaling_model(n, k), 256)


CASES = {
    "main": lambda: make_case("Main case: 4x4_ryzxy + random50, 2 classes, 1024 samples",
                              build_model("4x4_ryzxy", "random50", 2, arch_seed=0), 1024),
    "reupload": lambda: make_case("Data re-uploading: 4x4_ryzxy, reupload3 (encoder between trainable blocks), "
                                  "1024 samples", build_model("4x4_ryzxy", "reupload3", 2, arch_seed=0), 1024),
    "q8": lambda: _wide(8),
    "q12": lambda: _wide(12),
}
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
    setting: str = ""  # how it is driven, for the table


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise Unavailable(f"not installed ({e})") from None


def ours(case: Case) -> Runner:
    sim = case.model.simulator
    return Runner(lambda: sim.logits(case.theta, case.x), lambda: sim.loss_and_grad(case.theta, case.x, case.y),
                  len(case.x), "complex128")


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


def _tq_dtype_setter(dtype):
    """TorchQuantum has no dtype argument: every module copies ``C_DTYPE`` (complex64) and
    ``F_DTYPE`` from ``torchquantum.macro`` at import and reads it at call time. Setting those
    globals in all its modules before each call lets complex128 and complex64 rows share one
    process."""
    import torch

    real = torch.float64 if dtype == torch.complex128 else torch.float32
    mods = [m for n, m in sys.modules.items() if n.startswith("torchquantum") and hasattr(m, "C_DTYPE")]

    def apply():
        for m in mods:
            m.C_DTYPE = dtype
            if hasattr(m, "F_DTYPE"):
                m.F_DTYPE = real

    return apply


def _torchquantum(case: Case, dtype_name: str, wires_per_block: int | None) -> Runner:
    """Each run of trainable gates is one ``tq.QuantumModule`` of gate modules fed our θ, encoder
    rotations are ``torchquantum.functional`` calls on the batch, as in TorchQuantum's examples.
    ``wires_per_block=None`` is its dynamic mode (every gate applied to the batch of states);
    otherwise each module is switched to static mode (``static_on(wires_per_block=k)``, the
    training speed-up its examples offer), which fuses its gates into k-wire unitaries computed
    once per call, without the batch, and then applied to the states."""
    tq = _import_torchquantum()
    import torch
    import torch.nn.functional as F
    import torchquantum.functional as tqf

    dtype = getattr(torch, dtype_name)
    set_dtype = _tq_dtype_setter(dtype)
    m, n, b = case.model, case.model.n_qubits, len(case.x)

    class Block(tq.QuantumModule):
        def __init__(self, gates):
            super().__init__()
            self.gates = gates
            self.ops = tq.QuantumModuleList([tq.op_name_dict[g.name](wires=list(g.wires)) for g in gates])

        @tq.static_support
        def forward(self, q_device, w):
            self.q_device = q_device
            for g, op in zip(self.gates, self.ops):
                op(q_device, params=w[list(g.params)].unsqueeze(0))

    segments = []  # Encode ops and Blocks in circuit order
    for op in m.ops:
        if isinstance(op, Gate):
            if not segments or not isinstance(segments[-1], list):
                segments.append([])
            segments[-1].append(op)
        elif isinstance(op, Encode) and op.feature is not None:
            segments.append(op)
        else:
            raise Unavailable("amplitude / polynomial encoding not built for peers")
    segments = [Block(s) if isinstance(s, list) else s for s in segments]
    if wires_per_block is not None:
        for s in segments:
            if isinstance(s, Block):
                s.static_on(wires_per_block=wires_per_block)

    set_dtype()
    observables = []
    for _ in range(n):
        z = tq.PauliZ()
        z.eigvals = z.eigvals.to(dtype)  # a complex64 class constant; expval's mv needs the state's dtype
        observables.append(z)
    xt = torch.tensor(case.x)
    w = torch.tensor(case.theta, requires_grad=True)
    yt = torch.tensor(case.y)
    groups = case.groups

    def logits():
        set_dtype()
        qdev = tq.QuantumDevice(n_wires=n, bsz=b)
        for s in segments:
            if isinstance(s, Block):
                s(qdev, w)
            else:
                getattr(tqf, s.name)(qdev, wires=s.wire, params=xt[:, s.feature : s.feature + 1])
        z = tq.expval(qdev, list(range(n)), observables)
        return torch.stack([z[:, g].sum(1) for g in groups], 1)

    def forward():
        with torch.no_grad():
            return logits().double().numpy()

    def gradient():
        w.grad = None
        loss = F.cross_entropy(logits().double(), yt)
        loss.backward()
        return loss.item(), w.grad.numpy().copy()

    mode = "dynamic" if wires_per_block is None else f"static_on(wires_per_block={wires_per_block})"
    return Runner(forward, gradient, b, f"{mode}, {dtype_name}")


WIRES_PER_BLOCK = (2, 3, 4, 5, 6)


def tq_static(dtype_name):
    """One runner per ``wires_per_block`` that fits the case; the fastest is kept (see calibrate)."""
    return lambda case: {k: _torchquantum(case, dtype_name, k) for k in WIRES_PER_BLOCK if k <= case.model.n_qubits}


def tq_dynamic(dtype_name):
    return lambda case: _torchquantum(case, dtype_name, None)


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

    return Runner(forward, gradient, len(case.x), "interface=torch, diff_method=backprop, complex128")


def pennylane_jax(case: Case) -> Runner:
    """PennyLane's JAX path as its docs recommend for speed: backprop through ``default.qubit``
    with the whole loss-and-gradient under one ``jax.jit`` (and the logits under another), x64 on.
    The first call traces and compiles, once per input shape; it is reported, not timed."""
    qml = _require("pennylane")
    jax = _require("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    node = qml.QNode(_pl_circuit(qml, case), qml.device("default.qubit", wires=case.model.n_qubits),
                     interface="jax", diff_method="backprop")
    groups = case.groups

    def logits(w, xs):
        z = jnp.stack(node(xs, w), 1)
        return jnp.stack([z[:, g].sum(1) for g in groups], 1)

    def loss(w, xs, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits(w, xs)), y[:, None], 1))

    fwd, vg = jax.jit(logits), jax.jit(jax.value_and_grad(loss))
    w, xs, y = jnp.asarray(case.theta), jnp.asarray(case.x.T), jnp.asarray(case.y)

    def gradient():
        value, g = vg(w, xs, y)
        return float(value), np.asarray(g)  # both block until computed

    return Runner(lambda: np.asarray(fwd(w, xs)), gradient, len(case.x),
                  "interface=jax, diff_method=backprop, jax.jit(value_and_grad), x64")


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

    return Runner(lambda: np.asarray(logits(pnp.array(case.theta, requires_grad=False))), gradient, len(case.x),
                  f"interface=autograd, diff_method={diff_method}, complex128")


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

    return Runner(lambda: qnn.forward(x, case.theta), gradient, len(x),
                  "StatevectorEstimator, parameter-shift gradient")


TQ_STATIC, TQ_DYNAMIC = "TorchQuantum static", "TorchQuantum dynamic"
TQ_STATIC64, TQ_DYNAMIC64 = "TorchQuantum static, complex64", "TorchQuantum dynamic, complex64"
PL_TORCH, PL_JAX = "PennyLane default.qubit (torch)", "PennyLane default.qubit (JAX, jit)"
PL_AUTOGRAD, LIGHTNING = "PennyLane default.qubit (autograd)", "PennyLane lightning.qubit adjoint"
ESTIMATOR = "qiskit-ML EstimatorQNN (per sample, on 8)"
PEERS = {
    TQ_STATIC: tq_static("complex128"),
    TQ_DYNAMIC: tq_dynamic("complex128"),
    TQ_STATIC64: tq_static("complex64"),
    TQ_DYNAMIC64: tq_dynamic("complex64"),
    PL_TORCH: pennylane_torch,
    PL_JAX: pennylane_jax,
    PL_AUTOGRAD: pennylane_autograd,
    LIGHTNING: lightning_adjoint,
    ESTIMATOR: estimator_qnn,
}
COMPLEX64 = {TQ_STATIC64, TQ_DYNAMIC64}  # TorchQuantum's default dtype: shown, not compared
TOLERANCE = dict.fromkeys(COMPLEX64, 1e-4)  # every other contender is complex128: 1e-8
SLOW = {LIGHTNING, ESTIMATOR}
TORCH_PEERS = {TQ_STATIC, TQ_DYNAMIC, TQ_STATIC64, TQ_DYNAMIC64, PL_TORCH}
BATCHING_PEERS = (TQ_STATIC, TQ_DYNAMIC, TQ_STATIC64, TQ_DYNAMIC64, PL_TORCH, PL_JAX)  # wide and scaling rows
SCALING_PEERS = (TQ_STATIC, TQ_DYNAMIC, PL_TORCH, PL_JAX)
BACKPROP = {TQ_DYNAMIC, TQ_DYNAMIC64, PL_TORCH, PL_JAX, PL_AUTOGRAD}  # keep every gate's batch of states
TAPE_LIMIT_BYTES = 4 << 30  # skip a backprop peer whose autograd tape would exceed this

# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Row:
    framework: str
    status: str = "ok"
    setting: str = ""
    forward: list = field(default_factory=list)
    gradient: list = field(default_factory=list)
    samples: int = 0
    first_call: float | None = None  # seconds, the checked first forward + gradient
    memory: int | None = None

    def per(self, kind):
        """(min, median) seconds; per sample when the framework ran a subset."""
        t = np.asarray(getattr(self, kind))
        return float(t.min()), float(np.median(t))


def check(case: Case, name: str, runner: Runner) -> tuple[str, float]:
    """Compare a peer's logits and gradient with ours on the samples it runs; also returns the
    time of this first forward + gradient call (imports, tracing, compiling, schedules)."""
    k = runner.samples
    sim = case.model.simulator
    ref_logits = sim.logits(case.theta, case.x[:k])
    ref_loss, ref_grad = sim.loss_and_grad(case.theta, case.x[:k], case.y[:k])
    t0 = time.perf_counter()
    logits = np.asarray(runner.forward(), dtype=np.float64)
    loss, grad = runner.gradient()
    first = time.perf_counter() - t0
    tol = TOLERANCE.get(name, 1e-8)
    errs = (np.max(np.abs(logits - ref_logits)), abs(loss - ref_loss), np.max(np.abs(grad - ref_grad)))
    if max(errs) > tol:
        return f"MISMATCH (logits {errs[0]:.1e}, loss {errs[1]:.1e}, grad {errs[2]:.1e})", first
    return f"ok (≤{max(errs):.0e})", first


def calibrate(case: Case, name: str, candidates: dict, threads) -> tuple[Runner, str, float]:
    """Pick a peer's fastest option (TorchQuantum's ``wires_per_block``): each is checked, then
    its gradient timed twice at each thread count it will be timed at; the one with the lowest
    time goes into the rounds."""
    results = {}
    for key, runner in candidates.items():
        status, first = check(case, name, runner)
        if not status.startswith("ok"):
            return runner, f"{status} (at {key})", first
        t = min(timed_call(runner.gradient, k) for k in threads for _ in range(2))
        results[key] = (t, runner, status, first)
    best = min(results, key=lambda k: results[k][0])
    _, runner, status, first = results[best]
    tried = ", ".join(f"{k}: {_ms(v[0])}" for k, v in results.items())
    return runner, f"{status}; fastest of wires_per_block {tried} ms (gradient min of 2 calls per thread count)", first


def memory_peak(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


BURST_SECONDS = 0.02
"""A round's sample of a contender is the mean of back-to-back calls lasting about this long
(at least one): a training loop calls the gradient back to back, and a lone 1 ms call right after
another framework's turn measures that framework's cache and spinning threads as much as ours."""


def burst(seconds: float) -> int:
    """Calls per sample for a contender whose call takes ``seconds``."""
    return max(1, math.ceil(BURST_SECONDS / max(seconds, 1e-9)))


def timed_call(fn, threads: int | None, calls: int = 1) -> float:
    """Mean seconds per call over ``calls`` back-to-back calls of ``fn`` at ``threads`` torch
    intra-op threads (None: left alone)."""
    default = None
    if threads is not None:
        import torch

        default = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) / calls
    finally:
        if default is not None:
            torch.set_num_threads(default)


@dataclass
class Contender:
    """One row's runner at one torch thread count (None: left alone), timed in the rounds."""

    row: Row
    runner: Runner
    threads: int | None
    slow: bool
    forward: list = field(default_factory=list)
    gradient: list = field(default_factory=list)
    calls: tuple | None = None  # calls per sample (forward, gradient): ``burst``


def _thread_options(name: str):
    """Torch peers get the faster of 1 and the default intra-op threads, each timed in the rounds:
    our engine runs its small GEMMs single-threaded (``engine.BLAS_THREADS``), and on 2
    shared cores torch's second thread can cost a peer several-fold, or win on big states."""
    if name not in TORCH_PEERS:
        return (None,)
    import torch

    default = torch.get_num_threads()
    return (1,) if default == 1 else (1, default)


def run_case(case: Case, peers, rounds: int, slow_rounds: int, skip=None) -> tuple[list[Row], tuple]:
    """Time ours and every peer on one case, interleaved; ``skip`` maps a peer to why it is not run
    here. Returns the rows and the 1-minute load average before and after."""
    skip = skip or {}
    load_before = os.getloadavg()[0]
    runner = ours(case)
    rows = [Row("compvqc (this engine)", status="reference", setting=runner.setting, samples=runner.samples)]
    t0 = time.perf_counter()
    runner.forward(), runner.gradient()
    rows[0].first_call = time.perf_counter() - t0
    contenders = [Contender(rows[0], runner, None, False)]
    for name in peers:
        row = Row(name)
        rows.append(row)
        try:
            if name in skip:
                raise Unavailable(skip[name])
            if name in BACKPROP:
                tape = len(case.x) * case.model.simulator.dim * len(case.model.ops) * 16
                if tape > TAPE_LIMIT_BYTES:
                    raise Unavailable(f"skipped (autograd tape ≈ {tape / 2**30:.0f} GiB)")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                made = PEERS[name](case)
                if isinstance(made, dict):
                    runner, row.status, row.first_call = calibrate(case, name, made, _thread_options(name))
                else:
                    runner = made
                    row.status, row.first_call = check(case, name, runner)
            row.samples, row.setting = runner.samples, runner.setting
            contenders += [Contender(row, runner, t, name in SLOW) for t in _thread_options(name)]
        except Unavailable as e:
            row.status = str(e)
        except Exception as e:  # a peer's own failure is reported, not fatal
            row.status = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        if name.startswith("TorchQuantum") and _TORCHVISION_NOTE and row.status.startswith("ok"):
            row.status += f"; {_TORCHVISION_NOTE[0]}"

    failed = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(rounds):
            for c in contenders:
                if (c.slow and r >= slow_rounds) or id(c.row) in failed:
                    continue
                try:
                    if c.calls is None:  # sized on a first call, itself not counted
                        c.calls = (burst(timed_call(c.runner.forward, c.threads)),
                                   burst(timed_call(c.runner.gradient, c.threads)))
                    c.forward.append(timed_call(c.runner.forward, c.threads, c.calls[0]))
                    c.gradient.append(timed_call(c.runner.gradient, c.threads, c.calls[1]))
                except Exception as e:  # e.g. out of memory mid-run: the row says so
                    failed.add(id(c.row))
                    c.row.status = f"failed while timed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    for row in rows:
        mine = [c for c in contenders if c.row is row and c.gradient and id(row) not in failed]
        if not mine:
            continue
        best = min(mine, key=lambda c: min(c.gradient))
        row.forward, row.gradient = best.forward, best.gradient
        if best.threads is not None:
            row.setting += f"; torch {best.threads} thread{'s' if best.threads > 1 else ''}"
            for c in mine:
                if c is not best:
                    plural = "s" if c.threads > 1 else ""
                    row.status += f"; on {c.threads} thread{plural}: gradient min {_ms(min(c.gradient))} ms"
    rows[0].memory = memory_peak(contenders[0].runner.gradient)
    return rows, (load_before, os.getloadavg()[0])


# --- reporting ------------------------------------------------------------------------------------


def _mib(b: int) -> str:
    return f"{b / 2**20:.2f}" if b < 10 * 2**20 else f"{b / 2**20:,.0f}"


def _ms(s: float) -> str:
    return f"{s * 1e3:,.2f}" if s < 10 else f"{s * 1e3:,.0f}"


def fastest_peer(rows: list[Row], batch: int, complex64=False):
    """The peer with the lowest minimum gradient time for the whole batch (per-sample rows
    scaled): among the complex128 peers, or with ``complex64`` among TorchQuantum's default rows."""
    timed_rows = [r for r in rows[1:] if r.gradient and (r.framework in COMPLEX64) == complex64]
    if not timed_rows:
        return None
    return min(timed_rows, key=lambda r: r.per("gradient")[0] * batch / r.samples)


def _vs(best: Row, ref: Row, batch: int) -> str:
    g, ref_g, full = best.per("gradient"), ref.per("gradient"), batch / best.samples
    return f"**{g[0] * full / ref_g[0]:.1f}×** (min) / **{g[1] * full / ref_g[1]:.1f}×** (median)"


def _load(loads) -> str:
    return f"1-minute load average {loads[0]:.2f} before, {loads[1]:.2f} after"


def _rounds(rows: list[Row], rounds: int, slow_rounds: int) -> str:
    text = (f"{rounds} interleaved round{'s' if rounds > 1 else ''}, each sample the mean of back-to-back calls "
            f"lasting ~{BURST_SECONDS * 1e3:.0f} ms (at least one)")
    slow = [r.framework for r in rows if r.framework in SLOW and r.gradient]
    if slow and slow_rounds < rounds:
        text += f" ({', '.join(slow)}: the first {slow_rounds})"
    return text


def table(case: Case, rows: list[Row], loads, rounds: int, slow_rounds: int) -> str:
    b = len(case.x)
    ref_g = rows[0].per("gradient")
    lines = [
        f"**{case.name}** — {case.model.n_qubits} qubits, {len(case.model.gates)} trainable gates, "
        f"{sum(isinstance(o, Encode) for o in case.model.ops)} encoder rotations, batch {b}; "
        f"{_rounds(rows, rounds, slow_rounds)}; {_load(loads)}",
        "",
        "| framework | setting | forward min / median (ms) | gradient min / median (ms) "
        "| ours faster (gradient, min / median) | first call, fwd + grad (ms) | check vs ours |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        first = _ms(r.first_call) if r.first_call is not None else "—"
        if not r.gradient:
            lines.append(f"| {r.framework} | {r.setting or '—'} | — | — | — | {first} | {r.status} |")
            continue
        scale = 1.0 / r.samples if r.samples != b else 1.0
        unit = " per sample" if r.samples != b else ""
        f, g = r.per("forward"), r.per("gradient")
        if r is rows[0]:
            ratio = "1×"
        else:
            full = b / r.samples  # per-sample rows: scaled to the whole batch for the ratio
            ratio = f"{g[0] * full / ref_g[0]:,.1f}× / {g[1] * full / ref_g[1]:,.1f}×"
        lines.append(
            f"| {r.framework} | {r.setting} | {_ms(f[0] * scale)} / {_ms(f[1] * scale)}{unit} | "
            f"{_ms(g[0] * scale)} / {_ms(g[1] * scale)}{unit} | {ratio} | {first} | {r.status} |"
        )
    lines.append("")
    best = fastest_peer(rows, b)
    if best is not None:
        lines.append(f"Ours faster than fastest peer ({best.framework}: {best.setting}): {_vs(best, rows[0], b)} "
                     f"on the full gradient.")
        best64 = fastest_peer(rows, b, complex64=True)
        if best64 is not None and best64.per("gradient")[0] < best.per("gradient")[0] * best.samples / b:
            lines.append(f"TorchQuantum at its complex64 default is faster still ({best64.framework}: "
                         f"{best64.setting}): ours {_vs(best64, rows[0], b)}.")
    lines.append(f"Our engine's memory (tracemalloc peak, one gradient call): {_mib(rows[0].memory)} MiB.")
    return "\n".join(lines)


def scaling_table(results) -> str:
    lines = [
        "| qubits | gates | batch | ours fwd min / med (ms) | ours grad min / med (ms) | our peak memory (MiB) | "
        + " | ".join(f"{p} grad min (ms)" for p in SCALING_PEERS)
        + " | ours faster than fastest peer (min / median) | load before / after |",
        "|---:|---:|---:|---:|---:|---:|" + "---:|" * len(SCALING_PEERS) + "---|---:|",
    ]
    for (n, k, b), rows, loads in results:
        f, g = rows[0].per("forward"), rows[0].per("gradient")
        cells = []
        for r in rows[1:]:
            cells.append(_ms(r.per("gradient")[0]) if r.gradient else r.status)
        best = fastest_peer(rows, b)
        ratio = "—" if best is None else f"{_vs(best, rows[0], b)}, {best.framework} ({best.setting})"
        lines.append(f"| {n} | {k} | {b} | {_ms(f[0])} / {_ms(f[1])} | {_ms(g[0])} / {_ms(g[1])} | "
                     f"{_mib(rows[0].memory)} | {' | '.join(cells)} | {ratio} | {loads[0]:.2f} / {loads[1]:.2f} |")
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = [f"compvqc {compvqc.__version__}", f"numpy {np.__version__}"]
    for dist in ("torch", "torchquantum-ng", "pennylane", "pennylane-lightning", "jax", "jaxlib", "qiskit",
                 "qiskit-machine-learning"):
        try:
            versions.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}; " + ", ".join(versions)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="main,reupload,q8,q12,scaling",
                    help=f"comma-separated, of {', '.join([*CASES, 'scaling'])} (default: all)")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds, each one sample (a burst of calls: BURST_SECONDS) of every contender")
    ap.add_argument("--slow-rounds", type=int, default=3, help="rounds that lightning.qubit and EstimatorQNN join")
    args = ap.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - {*CASES, "scaling"}
    if unknown:
        ap.error(f"unknown case(s) {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.slow_rounds < 1:
        ap.error("--rounds and --slow-rounds must be at least 1")

    out = ["## Simulator", ""]
    for key in (c for c in CASES if c in cases):
        case = CASES[key]()
        peers, skip = list(PEERS), {}
        if key == "reupload":
            skip = {p: "timed on the main case only" for p in SLOW}
        elif key != "main":
            peers = BATCHING_PEERS
        rows, loads = run_case(case, peers, args.rounds, args.slow_rounds, skip)
        out += [table(case, rows, loads, args.rounds, args.slow_rounds), ""]
        print(out[-2], "\n", flush=True)

    if "scaling" in cases:
        results = []
        for n, k, b in SCALING:
            case = make_case(f"scaling {n}q", scaling_model(n, k), b)
            rows, loads = run_case(case, SCALING_PEERS, args.rounds, args.slow_rounds)
            results.append(((n, k, b), rows, loads))
            print(f"scaling {n} qubits, {k} gates, batch {b}: ours grad min {rows[0].per('gradient')[0] * 1e3:.2f} ms",
                  flush=True)
        out += [f"**Scaling** — `{{n}}x2_ryz` encoder + random paper gates, 2 classes, {args.rounds} interleaved "
                f"round{'s' if args.rounds > 1 else ''}; peers: the batching ones at complex128", "",
                scaling_table(results), ""]
    out += [f"Machine: {machine()}.", "",
            f"Command: `{' '.join(['python', 'benchmarks/simulator.py', *(argv if argv is not None else sys.argv[1:])])}`"
            " (`make bench-peers` runs it with every peer installed)."]
    print("\n" + "\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
