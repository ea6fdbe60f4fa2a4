"""On-chip training: gradients measured on a backend with shots, journaled, retried, pruned.

    grad = device_gradient(model, "fake_manila", shots=1024, seed=0, per_epoch=8,
                           pgp=PGP(0.5, 1, 2), journal_dir="run/journal")
    fit(model, theta, x, y, epochs=5, seed=0, loss_and_grad=grad)

Modules: :mod:`~compvqc.onchip.gradient` (parameter shift with shots over one transpiled
circuit), :mod:`~compvqc.onchip.jobs` (derived shot seeds, the journal, retries, runners).
What gets evaluated each step (PGP, freezing) is :mod:`compvqc.train.selection`.
"""

from __future__ import annotations

from compvqc.errors import TrainingError
from compvqc.onchip.gradient import MAX_JOB_BINDINGS, DeviceGradient, Executions
from compvqc.onchip.jobs import FlakyRunner, Journal, LocalRunner, Retry, RuntimeRunner, shot_seed
from compvqc.train.selection import PGP, Freeze, Selection

__all__ = ["DeviceGradient", "Executions", "FlakyRunner", "Freeze", "Journal", "LocalRunner", "MAX_JOB_BINDINGS",
           "PGP", "Retry", "RuntimeRunner", "Selection", "check_engine", "device_gradient", "shot_seed"]


def check_engine(engine: str) -> None:
    from compvqc.deploy.executors import ENGINES

    if engine not in ENGINES:
        raise TrainingError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")


def device_gradient(model, backend, *, shots: int, seed: int, per_epoch: int, noise: bool = True,
                    engine: str = "auto", pgp: PGP | None = None, freeze: Freeze | None = None,
                    journal_dir=None, runner=None, retry: Retry = Retry(),
                    max_bindings: int = MAX_JOB_BINDINGS) -> DeviceGradient:
    """A :class:`DeviceGradient` for ``model`` on ``backend``: transpiled once, weights unbound.

    ``runner`` overrides how circuits run (default: :class:`LocalRunner` with the backend's noise
    model, or a :class:`RuntimeRunner` for a real device); wrap it in :class:`FlakyRunner` to
    inject failures. ``journal_dir`` keeps completed batches for replay (None: no journal).
    """
    from compvqc.compile.backends import resolve_backend
    from compvqc.deploy.executors import is_simulated
    from compvqc.deploy.transpile import deploy
    from compvqc.train.gradients import one_slot_per_angle

    check_engine(engine)
    backend = resolve_backend(backend)
    expanded, slots = one_slot_per_angle(model)
    deployment = deploy(expanded, None, backend)
    if runner is None:
        runner = LocalRunner(deployment, backend, noise=noise, engine=engine) if is_simulated(backend) \
            else RuntimeRunner(deployment, backend)
    selection = Selection(model.n_params, per_epoch=per_epoch, seed=seed, pgp=pgp, freeze=freeze)  # keeps |g| history
    return DeviceGradient(model, deployment, expanded, slots, runner, shots=shots, seed=seed,
                          journal=Journal(journal_dir), selection=selection, retry=retry, max_bindings=max_bindings)
