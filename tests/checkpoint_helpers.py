import numpy as np

from compvqc.checkpoint import ADMMState, Checkpoint
from compvqc.model import build_model


def full_checkpoint(with_profile: bool = True) -> Checkpoint:
    """A checkpoint with every field filled."""
    model = build_model("2x2_ryz", "u3cu3_1", 2, arch_seed=1)  # single- and three-angle gates
    rng = np.random.default_rng(0)
    n_gates, n_params = len(model.gates), model.n_params
    theta = rng.uniform(-3, 3, n_params)
    prune = np.zeros(n_gates, bool)
    quant = np.zeros(n_gates, bool)
    levels = np.full((n_gates, 3), np.nan)
    prune[0] = True
    levels[0] = [0.0, 0.0, 0.0]
    quant[2] = True
    levels[2, 0] = np.pi  # cu3: a triple
    levels[2, 1:] = [np.pi / 2, 0.0]
    profile = {}
    if with_profile:
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        from compvqc.compile.profile import hardware_profile

        profile = hardware_profile(FakeManilaV2())
    return Checkpoint(
        model=model,
        theta=theta,
        theta_original=theta + 0.25,
        prune_mask=prune,
        quant_mask=quant,
        levels=levels,
        optimizer={"name": "adam", "config": {"lr": 0.01}},
        optimizer_state={"count": np.array(7, dtype=np.int64), "mu": rng.normal(size=n_params), "nu": rng.random(n_params)},
        admm=ADMMState(rng.normal(size=n_params), rng.normal(size=n_params), 1.5, 4),
        run={"stage": "admm", "epoch": 3, "step_in_epoch": 2, "step": 50, "rng": {"kind": "derived", "seed": 1}},
        shots=1024,
        hardware_profile=profile,
        lut_provenance={"backend": "fake_manila", "sha256": "ab" * 32},
        qubit_mapping=np.array([3, 1], dtype=np.int64),
        gradient_history=rng.normal(size=(5, n_params)),
        dataset={"name": "syn4", "split_seed": 0},
        training={"config": {"dataset": "syn4"}},
        metrics={"vanilla": {"accuracy": 0.9, "tcd": 23}, "compressed": {"accuracy": 0.91, "tcd": 11}},
    )


def assert_same(a: Checkpoint, b: Checkpoint) -> None:
    assert a.model == b.model
    for name in ("theta", "theta_original", "prune_mask", "quant_mask", "qubit_mapping", "gradient_history"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert np.array_equal(a.levels, b.levels, equal_nan=True)
    assert a.optimizer == b.optimizer and a.run == b.run and a.shots == b.shots
    assert set(a.optimizer_state) == set(b.optimizer_state)
    for k in a.optimizer_state:
        assert np.array_equal(a.optimizer_state[k], b.optimizer_state[k])
    assert np.array_equal(a.admm.Z, b.admm.Z) and np.array_equal(a.admm.u, b.admm.u)
    assert (a.admm.rho, a.admm.iteration) == (b.admm.rho, b.admm.iteration)
    assert a.lut_provenance == b.lut_provenance and a.dataset == b.dataset and a.metrics == b.metrics
    assert a.training == b.training
    pa, pb = a.hardware_profile, b.hardware_profile
    assert set(pa) == set(pb)
    for group in ("qubits", "edges"):
        for k in pa.get(group, {}):
            assert np.array_equal(np.asarray(pa[group][k]), np.asarray(pb[group][k]), equal_nan=True)


HARNESS = __import__("pathlib").Path(__file__).with_name("signal_harness.py")


def start_at(moment: str, args, *, timeout: float = 300.0, **popen_kw):
    """Start ``compvqc ARGS`` under tests/signal_harness.py and return (proc, pid) once it has
    reached ``moment`` (it then waits there for a signal). Waits for the harness's line on a pipe:
    an event; ``timeout`` only turns a hang into a failure."""
    import os
    import select
    import subprocess
    import sys

    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, str(HARNESS), moment, str(w), *map(str, args)], pass_fds=(w,),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kw)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout)
        line = os.read(r, 256).decode() if ready else ""
    finally:
        os.close(r)
    if not line.startswith(moment):
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"the harness never reached {moment!r}: {err.decode()[-2000:]}")
    return proc, int(line.split()[1])


def temporaries(root) -> list:
    """Every temporary file left anywhere under ``root`` (atomic writes name them .*.tmp)."""
    import pathlib

    return sorted(str(p) for p in pathlib.Path(root).rglob("*.tmp"))
