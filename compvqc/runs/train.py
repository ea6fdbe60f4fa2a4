"""Dataset → trained VQC → checkpoint in one call: what ``compvqc train`` and ``compvqc demo`` run.

The training loop itself (``compvqc.train``) knows nothing of files: it hands each step and
epoch to a callback. This run layer turns that into checkpoints (``CheckpointManager``),
resumes from them (every setting checked) and turns SIGTERM/SIGINT into one last save.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compvqc.data import Dataset, load_dataset
from compvqc.model import VQC, build_model
from compvqc.checkpoint import Checkpoint, CheckpointError, CheckpointManager
from compvqc.errors import BackendFailure, Interrupted, Terminated, TrainingError
from compvqc.train.config import TrainConfig
from compvqc.train.gradients import get_gradient
from compvqc.train.loop import TrainResult, evaluate, fit
from compvqc.train.optim import make_optimizer


@dataclass
class TrainedModel:
    config: TrainConfig
    dataset: Dataset
    model: VQC
    result: TrainResult
    metrics: dict
    seconds: float

    def checkpoint(self) -> Checkpoint:
        """The trained model as a checkpoint (θ is also the original, pre-compression θ)."""
        return training_checkpoint(self.config, self.dataset, self.model, self.result.theta, self.result.opt_state,
                                   epoch=self.config.epochs, step_in_epoch=0, step=self.result.steps,
                                   history=self.result.history, metrics={"vanilla": self.metrics}, stage="trained",
                                   onchip=self.result.onchip)


def training_checkpoint(config, dataset, model, theta, opt_state, *, epoch, step_in_epoch, step, history,
                        metrics=None, stage="training", onchip=None) -> Checkpoint:
    opt = make_optimizer(config.optimizer, config.lr)
    run_extra = {"onchip": onchip} if onchip else {}
    return Checkpoint(
        model=model,
        theta=theta,
        theta_original=theta,
        optimizer={"name": config.optimizer, "config": {"lr": opt.lr}},
        optimizer_state=opt_state._asdict(),
        run={
            "stage": stage,
            "epoch": epoch,  # epochs completed
            "step_in_epoch": step_in_epoch,  # batches done in the next epoch
            "step": step,
            # Batch order is default_rng([seed, epoch]).permutation(N): no generator state to keep.
            "rng": {"kind": "derived", "seed": config.seed, "batch_order": "default_rng([seed, epoch])"},
            "history": history,
            **run_extra,
        },
        shots=int(config.shots),
        dataset=dataset.reference,
        training={"config": config.to_dict()},
        metrics=metrics or {},
    )


def _resume_point(manager: CheckpointManager, config: TrainConfig, model, optimizer, per_epoch: int):
    """The newest valid checkpoint of a run with these settings, checked against them, or None.

    Every setting that changes the result must match; ``epochs`` may grow (the run continues
    to the longer target, bit-identical to a run that had it from the start) but not fall below
    what is already trained. The counters must lie within the run.
    """
    ckpt = manager.restore()
    if ckpt is None:
        return None
    where = manager.restored_from
    stored = (ckpt.training or {}).get("config", {})
    stored = TrainConfig.from_dict(stored).to_dict() if stored else {}  # older files: today's defaults
    mine = config.to_dict()
    # where the circuits run may change (another device, other shots): HotStorage'25's moved checkpoint
    movable = ("epochs", "device", "shots", "noise", "engine")
    differ = sorted(k for k in mine if k not in movable and stored.get(k) != mine[k])
    if differ:
        raise CheckpointError(f"{manager.directory}: the saved run used different settings ({', '.join(differ)})")
    if ckpt.run.get("stage") not in ("training", "trained"):
        raise CheckpointError(f"{manager.directory}: not a training run (stage {ckpt.run.get('stage')!r})")
    if ckpt.model != model:
        raise CheckpointError(f"{where}: the saved run's circuit is not the one these settings build")
    epoch, in_epoch, step = (ckpt.run.get(k) for k in ("epoch", "step_in_epoch", "step"))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (epoch, in_epoch, step)) \
            or in_epoch >= per_epoch or step != epoch * per_epoch + in_epoch:
        raise CheckpointError(f"{where}: run counters (epoch {epoch!r}, step_in_epoch {in_epoch!r}, step {step!r}) "
                              f"do not fit a run of {per_epoch} steps per epoch")
    if epoch + (in_epoch > 0) > config.epochs:
        raise CheckpointError(f"{where}: the saved run has trained {epoch} epochs{' and part of one' if in_epoch else ''}, "
                              f"more than epochs={config.epochs}; resume with at least {epoch + (in_epoch > 0)}")
    history = ckpt.run.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise CheckpointError(f"{where}: run history must be a list of records")
    try:
        state = optimizer.state_from_dict(ckpt.optimizer_state)
    except KeyError as e:
        raise CheckpointError(f"{where}: optimizer state lacks {e} for {optimizer.name}") from None
    return ckpt, state


def model_for(config: TrainConfig, data) -> VQC:
    """The model a configuration trains: the circuit file's (OpenQASM 3, with the default readout
    for the data's classes), else the named encoder and architecture."""
    if config.circuit is not None:
        from dataclasses import replace

        from compvqc.fsutil import read_bytes_bounded
        from compvqc.model.qiskit_io import from_qasm3
        from compvqc.model.readout import Readout, default_readout

        path = Path(config.circuit).resolve()
        text = read_bytes_bounded(path, 1 << 24, TrainingError, "circuit file").decode("utf-8", errors="replace")
        model = from_qasm3(text, Readout("basis", ((0,), (1,))), inputs=config.circuit_inputs,
                           weights=config.circuit_weights, meta={"circuit": str(path)})
        if model.n_features != data.n_features:
            raise TrainingError(f"{path.name} takes {model.n_features} inputs ({config.circuit_inputs}), "
                                f"the data has {data.n_features} features")
        return replace(model, readout=default_readout(model.n_qubits, data.n_classes))
    if not (config.encoder or data.default_encoder):
        raise TrainingError(f"{config.dataset} has {data.n_features} features: name an encoder for them "
                            f"(e.g. amplitude for 2^n features)")
    return build_model(config.encoder or data.default_encoder, config.arch, data.n_classes, arch_seed=config.arch_seed,
                       gate_set=config.gate_set, n_features=data.n_features)


def train_on_dataset(config: TrainConfig, *, data_dir=None, progress=None, callback=None,
                     manager: CheckpointManager | None = None, resume: bool = False, runner_wrap=None,
                     retry=None) -> TrainedModel:
    """Load the data, build the model, train, evaluate every split.

    With a ``manager``, checkpoints are saved as its policy says and once more on SIGTERM/SIGINT
    (then ``Interrupted`` is raised); ``resume`` continues from its newest valid checkpoint and
    ends bit-identical to an uninterrupted run.
    """
    start = time.perf_counter()
    if config.device is not None:  # a bad device name or engine fails before the data loads
        from compvqc.compile.backends import resolve_backend
        from compvqc.onchip import check_engine

        check_engine(config.engine)
        resolve_backend(config.device)
    data = load_dataset(
        config.dataset,
        data_dir=data_dir,
        preprocess=config.preprocess,
        val_fraction=config.val_fraction,
        split_seed=config.split_seed,
        n_samples=config.n_samples,
        max_train=config.max_train,
        label=config.label,
    )
    model = model_for(config, data)
    result = run_training(config, data, model, progress=progress, callback=callback, manager=manager, resume=resume,
                          runner_wrap=runner_wrap, retry=retry)
    metrics = {}
    for split in ("train", "val", "test"):
        s = getattr(data, split)
        metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = evaluate(model, result.theta, s.x, s.y)
    return TrainedModel(config, data, model, result, metrics, time.perf_counter() - start)



def run_training(config: TrainConfig, data: Dataset, model: VQC, *, progress=None, callback=None,
                 manager: CheckpointManager | None = None, resume: bool = False, runner_wrap=None,
                 retry=None) -> TrainResult:
    """The training loop of ``train_on_dataset`` on already loaded data (what benchmarks time).

    On a device (``config.device``) the gradient is :mod:`compvqc.onchip`'s, journaled in the
    run directory's ``journal/``; ``runner_wrap(runner)`` may wrap its runner (fault injection)
    and ``retry`` sets its back-off. A backend that keeps failing gets a final checkpoint.
    """
    optimizer = make_optimizer(config.optimizer, config.lr)
    theta0 = model.init_params(np.random.default_rng(config.seed))
    opt_state, start_epoch, start_step, history = None, 0, 0, []
    per_epoch = -(-len(data.train) // config.batch_size)
    resumed_from = None
    device = _device(config, model, per_epoch, manager, runner_wrap, retry) if config.device else None
    profile = device.profile if device is not None else {}
    devices = [{"backend": config.device, "from_step": 0}] if device is not None else []
    if manager is not None and resume:
        found = _resume_point(manager, config, model, optimizer, per_epoch)
        if found is not None:
            ckpt, opt_state = found
            theta0 = ckpt.theta
            start_epoch, start_step = int(ckpt.run["epoch"]), int(ckpt.run["step_in_epoch"])
            history = list(ckpt.run.get("history", []))
            resumed_from = int(ckpt.run["step"])
            manager.log(f"compvqc: resumed from step {resumed_from} (epoch {start_epoch}, "
                        f"{start_step} steps into the next) of {manager.restored_from}")
            if device is not None:
                devices = _resume_device(manager, ckpt, device, config, resumed_from)
            if manager.auto is not None:
                from compvqc.checkpoint.policy import AutoInterval

                manager.auto = AutoInterval.resumed(ckpt.run.get("save_policy"), manager.auto.prior_mtbf,
                                                    failed=ckpt.run.get("stage") != "trained")
    saved, last = {}, {}

    def onchip_state():
        return {**device.gradient.state_dict(), "devices": devices} if device is not None else None

    def save(theta, state, epoch, step_in_epoch, step):
        ck = training_checkpoint(config, data, model, theta, state, epoch=epoch, step_in_epoch=step_in_epoch,
                                 step=step, history=history + record_so_far, onchip=onchip_state())
        ck.hardware_profile = profile
        if manager.auto is not None:
            ck.run["save_policy"] = manager.auto.to_dict(manager.wall_seconds)
        saved["path"] = manager.save(ck, step=step, metric=(record_so_far[-1].get("val_accuracy")
                                                            if record_so_far else None))
        saved["step"] = step
        if device is not None:
            device.gradient.journal.prune(min(manager.steps_on_disk, default=0))  # what a resume may need

    record_so_far: list[dict] = []
    circuits = _circuit_bar(device, progress)

    def on_event(event):
        if event.kind == "step":
            last.update(theta=event.theta, state=event.opt_state, epoch=event.epoch, in_epoch=event.step_in_epoch,
                        step=event.step)
            if circuits is not None:
                circuits.update(device.gradient.executions.last)
        if callback is not None and callback(event) is False:
            return False
        if manager is None:
            return None
        if event.kind == "epoch":
            record_so_far.append(event.metrics)
            if manager.due(step=event.step, epoch_end=event.epoch) or manager.stop_requested:
                save(event.theta, event.opt_state, event.epoch, 0, event.step)
            return False if manager.stop_requested else None
        if event.step_in_epoch == per_epoch:  # the epoch event follows at once
            return None
        if manager.due(step=event.step) or manager.stop_requested:
            save(event.theta, event.opt_state, event.epoch, event.step_in_epoch, event.step)
        return False if manager.stop_requested else None

    try:
        with (manager.catch_signals() if manager is not None else contextlib.nullcontext()):
            result = fit(
                model,
                theta0,
                data.train.x,
                data.train.y,
                epochs=config.epochs,
                seed=config.seed,
                batch_size=config.batch_size,
                optimizer=optimizer,
                opt_state=opt_state,
                loss_and_grad=device.gradient if device is not None else get_gradient(config.gradient).make(model),
                val=(data.val.x, data.val.y),
                callback=on_event,
                start_epoch=start_epoch,
                start_step=start_step,
                progress=progress,
            )
        if manager is not None:
            finished = result.steps == config.epochs * per_epoch
            if manager.auto is not None and finished and saved.get("step") != result.steps:  # convergence saves too
                save(result.theta, result.opt_state, result.epochs, 0, result.steps)
            manager.flush()
    except Terminated as e:  # outside the loop's own handling: between epochs' end and the flush
        if manager is None:
            raise
        manager.flush()
        raise Interrupted(e.signum, saved.get("path")) from None
    except BackendFailure as e:
        if manager is not None and last and saved.get("step") != last["step"]:
            save(last["theta"], last["state"], last["epoch"] + (last["in_epoch"] == per_epoch),
                 last["in_epoch"] % per_epoch, last["step"])
        if manager is not None:
            manager.flush()
        where = f"; saved {saved['path']} (resume the run to continue)" if saved.get("path") else ""
        raise BackendFailure(f"{e}{where}") from None
    finally:
        if circuits is not None:
            circuits.close()
    result.history = history + result.history
    result.resumed_from = resumed_from
    result.onchip = onchip_state()
    if manager is not None and manager.auto is not None:
        result.save_policy = manager.auto.to_dict(manager.wall_seconds)
    if manager is not None and manager.stop_requested:
        raise Interrupted(manager.stop_requested, saved.get("path"))
    return result


@dataclass
class _Device:
    gradient: object  # compvqc.onchip.DeviceGradient
    profile: dict  # the device's hardware profile


def _device(config, model, per_epoch, manager, runner_wrap, retry) -> _Device:
    """The on-chip gradient of a run on ``config.device`` (journal in the run directory)."""
    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.profile import hardware_profile
    from compvqc.onchip import PGP, Freeze, Retry, device_gradient

    backend = resolve_backend(config.device)
    pgp = PGP.parse(config.pgp, config.pgp_mode) if config.pgp else None
    freeze = Freeze.parse(config.freeze) if config.freeze else None
    grad = device_gradient(model, backend, shots=config.shots, seed=config.seed, per_epoch=per_epoch,
                           noise=config.noise, engine=config.engine, pgp=pgp, freeze=freeze,
                           journal_dir=None if manager is None else manager.directory / "journal",
                           retry=retry or Retry())
    if runner_wrap is not None:
        grad.runner = runner_wrap(grad.runner)
    return _Device(grad, hardware_profile(backend))


def _resume_device(manager, ckpt, device, config, step) -> list:
    """Restore the on-chip state; a run moved to another device says what changed and records it."""
    from compvqc.compile.profile import format_diff, profile_diff

    state = ckpt.run.get("onchip")
    if state is None:  # trained on the simulator so far: the device takes over from here
        manager.log(f"compvqc: the run moves from the simulator to {config.device} at step {step}")
        return [{"backend": "simulator", "from_step": 0}, {"backend": config.device, "from_step": step}]
    if not isinstance(state, dict):
        raise CheckpointError(f"{manager.restored_from}: the checkpoint's on-chip state is malformed")
    try:
        device.gradient.load_state(state)
    except TrainingError as e:
        raise CheckpointError(f"{manager.restored_from}: {e}") from None
    devices = state.get("devices")
    if not isinstance(devices, list) or not devices or not all(isinstance(d, dict) for d in devices):
        raise CheckpointError(f"{manager.restored_from}: the run's device record is malformed")
    if devices[-1].get("backend") != config.device:
        old = ckpt.hardware_profile or {}
        manager.log(f"compvqc: the run moves from {devices[-1].get('backend')} to {config.device} at step {step}:\n"
                    + format_diff(profile_diff(old, device.profile)) if old else
                    f"compvqc: the run moves from {devices[-1].get('backend')} to {config.device} at step {step}")
        devices = devices + [{"backend": config.device, "from_step": step}]
    return devices


def _circuit_bar(device, progress):
    """A second bar counting circuit executions (on-chip runs on a terminal)."""
    if device is None or progress is False:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=None, disable=None if progress is None else not progress, desc="circuits", unit="circ",
                leave=False, position=1)


def train_summary(trained, output) -> tuple[dict, str]:
    """What a finished training run reports: a JSON-ready dict and its text."""
    c, m = trained.config, trained.metrics
    payload = {
        "dataset": c.dataset,
        "arch": c.arch,
        "arch_seed": c.arch_seed,
        "encoder": trained.model.meta.get("encoder"),
        "epochs": c.epochs,
        "seed": c.seed,
        "n_gates": len(trained.model.gates),
        "n_params": trained.model.n_params,
        "train_accuracy": m["train_accuracy"],
        "val_accuracy": m["val_accuracy"],
        "test_accuracy": m["test_accuracy"],
        "loss": m["train_loss"],
        "output": str(output),
        "resumed_from": trained.result.resumed_from,
        "seconds": round(trained.seconds, 3),
    }
    onchip, policy = trained.result.onchip, trained.result.save_policy
    if onchip:
        sel = onchip.get("selection") or {}
        payload.update(device=c.device, shots=c.shots, noise=c.noise, executions=onchip["executions"],
                       frozen=len(sel.get("frozen", [])), devices=onchip["devices"])
    if policy:
        payload["save_policy"] = policy
    text = (
        f"trained {c.dataset} {c.arch} (arch seed {c.arch_seed}, seed {c.seed}, {c.epochs} epochs, "
        f"{payload['n_gates']} gates) in {trained.seconds:.1f} s\n"
        f"  accuracy  train {m['train_accuracy']:.4f}  val {m['val_accuracy']:.4f}  test {m['test_accuracy']:.4f}\n"
        f"  loss      {m['train_loss']:.4f}\n"
        + (f"  resumed   from step {trained.result.resumed_from}\n" if trained.result.resumed_from is not None else "")
        + (_onchip_text(payload) if onchip else "")
        + (f"  saving    every {policy['interval']:.1f} s (auto: save cost {policy['save_cost'] or 0:.4f} s, "
           f"MTBF {policy['mtbf']:.0f} s, {policy['failures']} failures, {policy['saves']} saves)\n" if policy else "")
        + f"  wrote     {output}"
    )
    return payload, text


def _onchip_text(p: dict) -> str:
    e = p["executions"]
    moved = "" if len(p["devices"]) == 1 else " (moved: " + " → ".join(d["backend"] for d in p["devices"]) + ")"
    return (f"  on chip   {p['device']}{moved}, {p['shots']} shots{'' if p['noise'] else ', noise-free'}: "
            f"{e['run']:,} circuits run, {e['replayed']:,} replayed, {e['saved_pgp'] + e['saved_freeze']:,} saved "
            f"(PGP {e['saved_pgp']:,}, freezing {e['saved_freeze']:,}; {p['frozen']} frozen), "
            f"{e['retries']} retries\n")
