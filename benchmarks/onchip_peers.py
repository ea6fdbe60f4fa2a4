"""Peers' throughput for one parameter-shift gradient step of the on-chip model, fake_manila noise.

    .venv/bin/python benchmarks/onchip_spec.py /tmp/spec.json        # main venv: the model as JSON
    .venv-peers/bin/python benchmarks/onchip_peers.py /tmp/spec.json  # peers venv: one JSON line per peer

Runs in ``.venv-peers`` and does not import compvqc: the circuit comes from the spec. One step is
the forward pass and every shifted evaluation of the loss-relevant outputs for a batch of B = 32
random inputs in [0, π] and random weights (seed 0), 1024 shots, ``NoiseModel.from_backend(
FakeManilaV2())`` on qiskit-aer, everything on one thread (Aer ``max_parallel_threads=1``,
``max_parallel_experiments=1``, ``max_parallel_shots=1``; torch 1 thread).

* qiskit-machine-learning: ``ParamShiftSamplerGradient`` (the gradient ``SamplerQNN`` uses; it
  differentiates the 2**n outcome probabilities, which is what our readout consumes) on
  qiskit-aer's ``SamplerV2`` with the noise model. The circuit (with its measurements) is
  transpiled once for FakeManilaV2 (``generate_preset_pass_manager``, level 1) and the gradient is
  given the ISA circuit and no pass manager, so no step re-transpiles (its fastest path). The
  forward pass is one sampler job over the batch. Executions are counted at the sampler: the
  number of parameter bindings it is asked to run.
* TorchQuantum (torchquantum-ng): its on-chip training path, ``QuantumNode.shift_and_run(...,
  use_qiskit=True)`` → ``QiskitProcessor.process_parameterized_and_shift``, which transpiles the
  unshifted circuit and each ±π/2-shifted copy (1 + 2P circuits) and binds the inputs as Aer
  parameters; outputs are the per-wire ⟨Z⟩, from which the logits are linear. As shipped, that
  path does not run against qiskit 2.x / qiskit-aer 0.18 (``QuantumCircuit + QuantumCircuit`` was
  removed in qiskit 1.0, its ``execute`` replacement rejects ``pass_manager``/``seed_simulator``/
  ``noise_model``, and ``qiskit_init`` wants an IBM account); :func:`_torchquantum_compat` restores
  the qiskit 0.x semantics of those three calls and nothing else. Executions are counted in the
  processor: transpiled (shifted) circuits × input bindings. It shifts every parameter by ±π/2 with coefficient
  ½ — exact for RX/RY/RZ, biased for the controlled rotations (which need the four-term rule):
  the check below reports the error per gate kind.

Slow: Aer's noisy (density-matrix) runs cost ~70 ms per execution through qiskit-ML (its 5,120
shifted bindings go to the sampler as separate single-binding pubs), so one qiskit-ML step is ~6
min; TorchQuantum's (one circuit × 32 input bindings per Aer run) ~6.5 ms, ~21 s a step. The default
run (checks, warm-up, 3 interleaved repeats) takes about half an hour; ``--peers``, ``--repeats``
and ``--no-check`` narrow it. ``torchquantum-parallel`` (its pathos pool, ``parallel=True``,
``max_jobs=2``) is not in the default list: not verified here.

Each peer's gradient is checked: noise-free at high shots against an exact finite-difference
gradient (statevector), and, for the timed noisy 1024-shot run, its cosine similarity with it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import types
import warnings
from importlib.metadata import version

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

B = 32
SHOTS = 1024
SEED = 0
CHECK_SHOTS = 1 << 15
ONE_THREAD = {"max_parallel_threads": 1, "max_parallel_experiments": 1, "max_parallel_shots": 1}

# --- the model ------------------------------------------------------------------------------------


def load(path):
    with open(path) as f:
        spec = json.load(f)
    rng = np.random.default_rng(SEED)
    x = rng.uniform(0, np.pi, (B, spec["n_features"]))
    theta = rng.uniform(-np.pi, np.pi, spec["n_params"])
    return spec, x, theta


def gate_angles(op, w):
    return [s * w[p] + o for p, s, o in zip(op["params"], op["scales"], op["offsets"])]


def qiskit_circuit(spec, xs, ws, measure=True):
    """The model as a qiskit circuit over parameters (or numbers) ``xs`` (features), ``ws`` (θ)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import CU3Gate

    qc = QuantumCircuit(spec["n_qubits"])
    for op in spec["ops"]:
        name, wires = op["name"], op["wires"]
        if op["kind"] == "encode":
            getattr(qc, name)(xs[op["feature"]], wires[0])
        elif op["kind"] == "gate":
            a = gate_angles(op, ws)
            if name == "u3":
                qc.u(*a, wires[0])
            elif name == "cu3":
                qc.append(CU3Gate(*a), wires)
            else:
                getattr(qc, name)(*a, *wires)
        else:
            getattr(qc, name)(*op.get("angles", []), *wires)
    if measure:
        qc.measure_all()
    return qc


def exact_probs(spec, x, theta):
    """Noise-free outcome probabilities (B, 2**n), qiskit order."""
    from qiskit.quantum_info import Statevector

    return np.stack([Statevector(qiskit_circuit(spec, xi, theta, measure=False)).probabilities() for xi in x])


def exact_prob_grad(spec, x, theta, eps=1e-5):
    """∂P/∂θ (B, 2**n, P) by central differences on the statevector."""
    g = np.empty((len(x), 2 ** spec["n_qubits"], len(theta)))
    for p in range(len(theta)):
        tp, tm = theta.copy(), theta.copy()
        tp[p] += eps
        tm[p] -= eps
        g[:, :, p] = (exact_probs(spec, x, tp) - exact_probs(spec, x, tm)) / (2 * eps)
    return g


def z_to_logits(spec):
    """A with logits = ⟨Z⟩ @ A, when the readout is linear in the per-wire ⟨Z⟩ (Pauli-Z readouts)."""
    n = spec["n_qubits"]
    w = np.asarray(spec["readout_weights"])
    s = np.arange(2**n)
    zsign = np.stack([1 - 2 * ((s >> q) & 1) for q in range(n)], 1).astype(float)  # (2**n, n)
    feats = np.hstack([zsign, np.ones((2**n, 1))])
    sol, *_ = np.linalg.lstsq(feats, w, rcond=None)
    if np.max(np.abs(feats @ sol - w)) > 1e-9 or np.max(np.abs(sol[-1])) > 1e-9:
        raise ValueError("readout is not linear in the per-wire <Z>: TorchQuantum's outputs do not determine it")
    return sol[:-1]


def compare(g, ref):
    """Agreement of a gradient with a reference: relative error, cosine, sign agreement."""
    g, ref = np.ravel(g), np.ravel(ref)
    big = np.abs(ref) > 0.05 * np.abs(ref).max()
    return {"rel_err": float(np.linalg.norm(g - ref) / np.linalg.norm(ref)),
            "cosine": float(g @ ref / (np.linalg.norm(g) * np.linalg.norm(ref))),
            "sign_agree": float(np.mean(np.sign(g[big]) == np.sign(ref[big]))),
            "norm_ratio": float(np.linalg.norm(g) / np.linalg.norm(ref))}


def noise_model():
    from qiskit_aer.noise import NoiseModel
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    return FakeManilaV2(), NoiseModel.from_backend(FakeManilaV2())


# --- qiskit-machine-learning ----------------------------------------------------------------------


class QiskitML:
    name = "qiskit-machine-learning ParamShiftSamplerGradient (Aer SamplerV2)"

    def __init__(self, spec, x, theta, noisy=True, shots=SHOTS, method="automatic"):
        from qiskit.circuit import ParameterVector
        from qiskit.transpiler import generate_preset_pass_manager
        from qiskit_aer.primitives import SamplerV2
        from qiskit_machine_learning.gradients import ParamShiftSamplerGradient

        backend, nm = noise_model()
        xs, ws = ParameterVector("x", spec["n_features"]), ParameterVector("w", spec["n_params"])
        pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=SEED)
        self.isa = pm.run(qiskit_circuit(spec, xs, ws))  # measurements before transpiling: logical clbits
        self.order = list(self.isa.parameters)  # qiskit sorts them by name: all x, then all w
        self.weights = [p for p in self.order if p.name.startswith("w")]
        self.values = np.array([[xi[p.index] if p.name.startswith("x") else theta[p.index] for p in self.order]
                                for xi in x])
        opts = {"method": method, **ONE_THREAD}
        if noisy:
            opts["noise_model"] = nm
        self.sampler = SamplerV2(default_shots=shots, seed=SEED, options={"backend_options": opts})
        self.executions = 0
        run = self.sampler.run

        def counting_run(pubs, *a, **k):
            for pub in pubs:
                vals = np.asarray(pub[1]) if len(pub) > 1 else np.zeros((0,))
                self.executions += int(np.prod(vals.shape[:-1])) if vals.ndim > 1 else 1
            return run(pubs, *a, **k)

        self.sampler.run = counting_run
        self.grad = ParamShiftSamplerGradient(self.sampler)  # no pass manager: the circuit is ISA already
        self.n, self.shots = spec["n_qubits"], shots
        self.setting = (f"Aer SamplerV2, {shots} shots, {'fake_manila noise' if noisy else 'noise-free'}, "
                        f"method={method}, {ONE_THREAD}; circuit transpiled once for FakeManilaV2 (level 1), "
                        "ParamShiftSamplerGradient given the ISA circuit without a pass manager")

    def step(self):
        """(probabilities (B, 2**n), ∂P/∂θ (B, 2**n, P))."""
        res = self.sampler.run([(self.isa, self.values)]).result()[0]
        bits = res.data.meas
        probs = np.zeros((len(self.values), 2**self.n))
        for i in range(len(self.values)):
            for k, v in bits[i].get_int_counts().items():
                probs[i, k] = v / self.shots
        out = self.grad.run([self.isa] * len(self.values), self.values, [self.weights] * len(self.values)).result()
        g = np.zeros((len(self.values), 2**self.n, len(self.weights)))
        for i, per_param in enumerate(out.gradients):
            for j, dist in enumerate(per_param):
                for k, v in dist.items():
                    g[i, k, self.weights[j].index] += v
        return probs, g


# --- TorchQuantum ---------------------------------------------------------------------------------


def _import_torchquantum():
    """torchquantum imports torchvision (through its dataset loaders) at import time; no torchvision
    loads against the CPU torch here, so an empty stand-in is registered when it is missing (the
    device, gates, qiskit plugin and node never use it). Same approach as benchmarks/simulator.py."""
    try:
        return importlib.import_module("torchquantum")
    except ModuleNotFoundError as e:
        if e.name is None or not e.name.startswith("torchvision"):
            raise

    class Missing(type):
        def __getattr__(cls, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return Missing(f"{cls.__name__}.{attr}", (), {})

    def stub(name):
        mod = types.ModuleType(name)

        def attr(a):
            if a.startswith("__"):
                raise AttributeError(a)
            return Missing(f"{name}.{a}", (), {})

        mod.__getattr__ = attr
        sys.modules[name] = mod

    for name in ("torchvision", "torchvision.datasets", "torchvision.transforms", "torchvision.datasets.utils"):
        stub(name)
    return importlib.import_module("torchquantum")


_COMPAT = {"executions": 0}


def _torchquantum_compat():
    """Restore the qiskit 0.x behaviour TorchQuantum's QiskitProcessor relies on (see the docstring)."""
    import torchquantum.plugin.qiskit.qiskit_processor as qp
    from qiskit import QuantumCircuit

    def add(a, b):  # qiskit 0.x ``a + b`` (combine); with clbits for the measurements appended after it
        out = QuantumCircuit(max(a.num_qubits, b.num_qubits), max(a.num_clbits, b.num_clbits, a.num_qubits))
        out.compose(a, inplace=True)
        out.compose(b, inplace=True)
        return out

    QuantumCircuit.__add__ = add

    def execute(experiments, backend, pass_manager=None, shots=None, seed_simulator=None, noise_model=None,
                parameter_binds=None, **_):
        """qiskit 0.x ``execute``: every circuit with every binding (circuit-major), no re-transpiling
        (TorchQuantum passes an empty pass manager), the noise model and seed passed through."""
        circs = experiments if isinstance(experiments, list) else [experiments]
        kw = {"shots": shots, "seed_simulator": seed_simulator}
        if noise_model is not None:
            kw["noise_model"] = noise_model
        if parameter_binds:
            keys = list(parameter_binds[0])
            kw["parameter_binds"] = [{k: [b[k] for b in parameter_binds] for k in keys} for _ in circs]
        return backend.run(circs, **kw)

    qp.execute = execute
    qp.job_monitor = lambda job, interval=1: None  # the original polls a remote job's status

    class Processor(qp.QiskitProcessor):
        def qiskit_init(self):  # a local Aer backend with the noise model (no IBM account)
            self.provider, self.properties = None, None

        def process_parameterized_and_shift(self, q_device, enc, layer, measure, x, *a, **k):
            out = super().process_parameterized_and_shift(q_device, enc, layer, measure, x, *a, **k)
            # counted here, in this process (parallel=True runs the jobs in a process pool):
            # every transpiled (shifted) circuit with every input binding
            _COMPAT["executions"] += len(self.transpiled_circs) * len(x)
            return out

    return Processor


class TorchQuantum:
    name = "TorchQuantum QuantumNode.shift_and_run (QiskitProcessor, Aer)"

    def __init__(self, spec, x, theta, noisy=True, shots=SHOTS, parallel=False, max_jobs=2, method="automatic"):
        tq = _import_torchquantum()
        import builtins

        import torch
        from qiskit_aer import AerSimulator

        builtins.torchquantum = tq  # torchquantum/node/nodes.py annotates with a name it never imports
        from torchquantum.node.nodes import QuantumNode

        torch.set_num_threads(1)
        Processor = _torchquantum_compat()
        backend, nm = noise_model()
        n = spec["n_qubits"]
        gates = [op for op in spec["ops"] if op["kind"] == "gate"]
        if [op for op in spec["ops"] if op["kind"] == "fixed"] or any(
                op["kind"] == "encode" for op in spec["ops"][len(spec["ops"]) - len(gates):]):
            raise ValueError("TorchQuantum's node takes an encoder followed by a trainable layer")
        params = [p for op in gates for p in op["params"]]
        if sorted(params) != list(range(spec["n_params"])) or any(
                s != 1 or o != 0 for op in gates for s, o in zip(op["scales"], op["offsets"])):
            raise ValueError("TorchQuantum gates own one plain parameter each")
        ops = {"rx": tq.RX, "ry": tq.RY, "rz": tq.RZ, "crx": tq.CRX, "cry": tq.CRY, "crz": tq.CRZ,
               "u3": tq.U3, "cu3": tq.CU3}

        class Layer(tq.QuantumModule):
            def __init__(self):
                super().__init__()
                self.ops = tq.QuantumModuleList()
                for op in gates:
                    g = ops[op["name"]](has_params=True, trainable=True, wires=list(op["wires"]))
                    g.params.data[:] = torch.tensor([theta[p] for p in op["params"]], dtype=g.params.dtype)
                    self.ops.append(g)

            @tq.static_support
            def forward(self, qdev):
                for g in self.ops:
                    g(qdev)

        class Node(QuantumNode):  # QuantumNode's own attributes, with our encoder and layer
            def __init__(self):
                tq.QuantumModule.__init__(self)
                self.arch = {"n_wires": n}
                self.q_device = tq.QuantumDevice(n_wires=n)
                self.encoder = tq.GeneralEncoder([{"input_idx": [op["feature"]], "func": op["name"],
                                                   "wires": op["wires"]} for op in spec["ops"]
                                                  if op["kind"] == "encode"])
                self.q_layer = Layer()
                self.measure = tq.MeasureAll(tq.PauliZ)
                self.act_norm = None
                self.shift_this_step = np.array([True] * len(list(self.q_layer.parameters())))
                self.node_id = 0
                self.pre_specified_mean_std = None
                self.noise_model_tq = None

        self.node = Node()
        self.param_of = [op["params"][0] for op in gates]  # named_parameters order = gate order
        if any(len(op["params"]) != 1 for op in gates):
            raise ValueError("multi-angle gates: map TorchQuantum's (1, k) params by hand")
        sim = AerSimulator.from_backend(backend, method=method, **ONE_THREAD)
        if not noisy:
            sim.set_options(noise_model=None)
        self.node.qiskit_processor = Processor(backend=sim, noise_model=nm if noisy else None,
                                               n_shots=shots, seed_simulator=SEED, seed_transpiler=42,
                                               max_jobs=max_jobs)
        self.parallel = parallel
        self.x = torch.tensor(x, dtype=torch.float32)
        self.A = z_to_logits(spec)
        self.setting = (f"QiskitProcessor on AerSimulator.from_backend(FakeManilaV2), {shots} shots, "
                        f"{'fake_manila noise' if noisy else 'noise-free'}, method={method}, {ONE_THREAD}, "
                        + (f"parallel=True (pathos pool of max_jobs={max_jobs} processes)" if parallel
                           else "parallel=False (one process)")
                        + "; transpiles the 1+2P shifted circuits every step (seed_transpiler=42, level default); "
                          "two-term ±π/2 rule for every gate; qiskit-2 compat shim (see docstring)")

    @property
    def executions(self):
        return _COMPAT["executions"]

    def step(self):
        """(logits (B, C), ∂logits/∂θ (B, C, P))."""
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.node.shift_and_run(self.x.clone(), use_qiskit=True, is_first_node=True, parallel=self.parallel)
        z = self.node.circuit_out.detach().double().numpy()  # (B, n) per-wire <Z>
        dz = torch.stack(self.node.grad_qlayer, -1).double().numpy()  # (B, n, P in gate order)
        g = np.zeros((len(z), self.A.shape[1], len(self.param_of)))
        g[:, :, self.param_of] = np.einsum("bnp,nc->bcp", dz, self.A)
        return z @ self.A, g


# --- measuring ------------------------------------------------------------------------------------


def check(spec, x, theta, ref_pg, make, to_logits):
    """Noise-free, CHECK_SHOTS: the peer against the exact gradient (overall and per gate kind)."""
    peer = make(noisy=False, shots=CHECK_SHOTS)
    _, g = peer.step()
    g = to_logits(g)
    ref = to_logits(ref_pg)
    out = {"all": compare(g, ref)}
    kinds = {}
    for op in spec["ops"]:
        if op["kind"] == "gate":
            kinds.setdefault("controlled" if op["name"].startswith("c") else "single-qubit", []).extend(op["params"])
    for k, ps in kinds.items():
        out[k] = compare(g[..., ps], ref[..., ps])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-check", action="store_true", help="skip the noise-free high-shot checks")
    ap.add_argument("--peers", default="qiskit-ml,torchquantum", help="also: torchquantum-parallel")
    args = ap.parse_args(argv)
    spec, x, theta = load(args.spec)
    w = np.asarray(spec["readout_weights"])
    probs_to_logits = lambda g: np.einsum("bsp,sc->bcp", g, w) if g.shape[1] == w.shape[0] else g
    ref_pg = exact_prob_grad(spec, x, theta)
    ref_logit_g = probs_to_logits(ref_pg)

    makers = {
        "qiskit-ml": (lambda **k: QiskitML(spec, x, theta, **k), "qiskit-machine-learning"),
        "torchquantum": (lambda **k: TorchQuantum(spec, x, theta, **k), "torchquantum-ng"),
        "torchquantum-parallel": (lambda **k: TorchQuantum(spec, x, theta, parallel=True, max_jobs=2, **k),
                                  "torchquantum-ng"),
    }
    chosen = [p for p in args.peers.split(",") if p]
    peers, rows = {}, {}
    for key in chosen:
        make, dist = makers[key]
        info = {}
        try:
            if not args.no_check:
                info["check_noise_free"] = check(spec, x, theta, ref_pg, make, probs_to_logits)
            peer = make()
            t0 = time.perf_counter()
            _, g = peer.step()  # warm-up; its noisy gradient is checked against the exact noise-free one
            info["warmup_seconds"] = time.perf_counter() - t0
            info["check_noisy_vs_exact_noise_free"] = compare(probs_to_logits(g), ref_logit_g)
            peers[key] = peer
        except Exception as e:  # a peer that cannot run is reported, not fatal
            info["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        rows[key] = (dist, info, [])
    execs = {}
    for _ in range(args.repeats):  # interleaved repeats
        for key, peer in peers.items():
            before = peer.executions
            t0 = time.perf_counter()
            peer.step()
            rows[key][2].append(time.perf_counter() - t0)
            execs[key] = peer.executions - before
    for key, (dist, info, times) in rows.items():
        row = {"peer": peers[key].name if key in peers else key, "version": version(dist)}
        if times:
            sec = float(np.median(times))
            row.update(executions=execs[key], seconds=sec, executions_per_second=execs[key] / sec,
                       setting=peers[key].setting, times=times)
        row.update(info)
        # a peer that could not run goes to stderr: stdout holds only timed rows (benchmarks/onchip.py reads them)
        print(json.dumps(row), file=sys.stdout if times else sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
