"""One interface for every compression method, with checkpointed, resumable runs.

Methods live in a registry (``METHODS``, filled by :func:`register`): each entry declares its
knob (a ratio, an approximation degree, or none), the LUT kinds it may put gates on, whether it
retrains, and how it picks its gates, so the CLI, validation and the benchmark harness read
one table and a new method is one ``register`` call (the test suite registers a toy one).

Built in: ``compvqc`` (ReCL over pruning + quantization levels, then ADMM), ``prune`` (pruning
levels only), ``quant`` (quantization levels only), ``zero`` (compiler-unaware zero-only
pruning as QuantumNAS does it: phases wrapped to (−π, π], the smallest |θ| set to 0, one shot),
``snap`` (each gate's nearest level; the ratio·|G| nearest are snapped, no ADMM — HotStorage'25
§3.3), ``vanilla`` (no compression) and ``qiskit-approx`` (the compiler's approximate
synthesis, see ``approx``). Every method but vanilla and qiskit-approx ends the same way:
masked gates hard-set to their level's exact LUT float and frozen, the rest retrained for the
same budget, then evaluated with the true TCD. Deep angles are never targets (only ``prune`` and
``quant`` entries are levels).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from compvqc.compile.estimate import Estimator
from compvqc.compile.tcd import TCD_SEEDS, true_tcd
from compvqc.compress.admm import ADMM, ADMMConfig, Finalized, check_count, check_number, finalize
from compvqc.compress.levels import CompressionError, candidate_levels, nearest_level, periods
from compvqc.compress.recl import accuracy, recl
from compvqc.compress.state import ADMMState
from compvqc.limits import MAX_BATCH, MAX_EPOCHS, MAX_SEED, MAX_STEPS
from compvqc.train.loop import fit
from compvqc.train.optim import Adam



@dataclass(frozen=True)
class Method:
    """A compression method as data: what it takes and how it chooses the gates to put on a level."""

    name: str
    knob: str | None
    """``"ratio"`` (the fraction of gates put on a level), ``"degree"`` (an approximation degree)
    or None (nothing to set)."""
    lut_kinds: tuple[str, ...] = ()
    """The LUT entries (``"prune"``, ``"quant"``) its gates may end on."""
    admm: bool = False
    """ReCL picks a level per gate, then ADMM the mask (checkpointed per iteration)."""
    select: Callable | None = None
    """Without ADMM: ``select(model, theta, lut, config) -> (targets, mask)``, one level (or
    None) per gate and the gates to put on theirs."""
    run: Callable | None = None
    """A method that measures its own result: ``run(model, theta, data, backend, config) ->
    {"val_accuracy", "test_accuracy", "tcd"}`` (no masks, no retraining)."""
    help: str = ""

    @property
    def retrains(self) -> bool:
        """Masked gates are set to their level and frozen, the rest retrained for the shared budget."""
        return self.admm or self.select is not None


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (replacing one of the same name); returns it."""
    if method.knob not in ("ratio", "degree", None):
        raise CompressionError(f"method {method.name}: knob must be 'ratio', 'degree' or None")
    if sum((method.admm, method.select is not None, method.run is not None)) > 1:
        raise CompressionError(f"method {method.name}: give one of admm, select or run")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise CompressionError(f"unknown method {name!r} (known: {', '.join(METHODS)})") from None


@dataclass(frozen=True)
class CompressConfig:
    method: str = "compvqc"
    ratio: float | None = 0.5  # None for qiskit-approx
    degree: float | None = None  # qiskit-approx only
    admm: ADMMConfig = field(default_factory=ADMMConfig)
    retrain_epochs: int = 3
    retrain_min_steps: int = 200  # small datasets get more epochs (as the ADMM θ-step does)
    retrain_lr: float = 0.01
    batch_size: int = 32
    seed: int = 0
    context: bool = True  # in-context depth savings (False: isolated LUT depths)
    tcd_seeds: tuple[int, ...] = TCD_SEEDS

    def __post_init__(self):
        method = get_method(self.method)
        if method.knob == "degree":
            if self.degree is None:
                raise CompressionError(f"{self.method} needs an approximation degree, not a ratio")
            check_number("degree", self.degree, 0.0, 1.0, low_open=True)
        elif self.degree is not None:
            raise CompressionError(f"{self.method} takes no approximation degree")
        elif self.ratio is None:
            raise CompressionError(f"{self.method} needs a ratio")
        else:
            check_number("ratio", self.ratio, 0.0, 1.0)
        check_count("retrain_epochs", self.retrain_epochs, 0, MAX_EPOCHS)
        check_count("retrain_min_steps", self.retrain_min_steps, 0, MAX_STEPS)
        check_number("retrain_lr", self.retrain_lr, 0.0, 1e3, low_open=True)
        check_count("batch_size", self.batch_size, 1, MAX_BATCH)
        check_count("seed", self.seed, 0, MAX_SEED)
        if not self.tcd_seeds or not all(isinstance(s, int) and 0 <= s < 2**32 for s in self.tcd_seeds):
            raise CompressionError("tcd_seeds must be a non-empty list of seeds in 0..2^32-1")
        # One source of truth for the ratio: the ADMM settings follow this config's ratio.
        if self.ratio is not None and self.admm.ratio != self.ratio:
            object.__setattr__(self, "admm", replace(self.admm, ratio=self.ratio))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tcd_seeds"] = list(self.tcd_seeds)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CompressConfig":
        """A stored configuration (``to_dict``), validated like a new one."""
        if not isinstance(d, dict) or not isinstance(d.get("admm", {}), dict):
            raise CompressionError("a compression configuration must be a JSON object")
        d = dict(d)
        admm = dict(d.pop("admm", {}))
        for c, kw in ((ADMMConfig, admm), (cls, d)):
            unknown = sorted(set(kw) - set(c.__dataclass_fields__))
            if unknown:
                raise CompressionError(f"unknown compression settings {unknown}")
        if "tcd_seeds" in d:
            if not isinstance(d["tcd_seeds"], list):
                raise CompressionError("tcd_seeds must be a list")
            d["tcd_seeds"] = tuple(d["tcd_seeds"])
        if "method" in d and not isinstance(d["method"], str):
            raise CompressionError("method must be a name")
        if not isinstance(d.get("context", True), bool):
            raise CompressionError("context must be true or false")
        try:
            return cls(admm=ADMMConfig(**admm), **d)
        except TypeError as e:
            raise CompressionError(f"incomplete compression configuration ({e})") from None


@dataclass
class CompressionResult:
    method: str
    theta: np.ndarray
    final: Finalized | None
    targets: list
    admm_state: ADMMState
    history: list[dict]
    metrics: dict
    seconds: dict  # wall time per stage


def evaluate_splits(model, theta, data) -> dict:
    return {"val_accuracy": accuracy(model, theta, data.val.x, data.val.y),
            "test_accuracy": accuracy(model, theta, data.test.x, data.test.y)}


def compress(model, theta, data, backend, lut, config: CompressConfig, *, manager=None, resume: bool = False,
             warm_masks=None, progress=None, on_checkpoint=None, vanilla_metrics=None) -> CompressionResult:
    """Compress θ of ``model`` for ``backend`` with ``lut``; see the module docstring.

    ``manager`` (a CheckpointManager) receives a checkpoint after every ADMM iteration and
    retraining epoch, built by ``on_checkpoint(stage_state) -> Checkpoint``; with ``resume``
    the run continues from the manager's newest valid checkpoint and ends bit-identical.
    """
    theta = np.asarray(theta, dtype=np.float64)
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    vanilla = dict(vanilla_metrics or evaluate_splits(model, theta, data))
    vanilla["tcd"] = true_tcd(model, theta, backend, config.tcd_seeds).depth
    clock["vanilla_tcd"] = time.perf_counter() - t0
    method = get_method(config.method)
    if not method.retrains:  # vanilla, or a method that measures its own result (qiskit-approx)
        t = time.perf_counter()
        comp = dict(vanilla) if method.run is None else method.run(model, theta, data, backend, config)
        clock[method.name] = time.perf_counter() - t
        return CompressionResult(method.name, theta, None, [None] * len(model.gates), ADMMState(), [],
                                 {"vanilla": vanilla, "compressed": comp}, clock)

    retrained, final, targets, state, history = compress_parameters(
        model, theta, data, lut, config, manager=manager, resume=resume, warm_masks=warm_masks, progress=progress,
        on_checkpoint=on_checkpoint, clock=clock)
    t = time.perf_counter()
    comp = evaluate_splits(model, retrained, data)
    comp["tcd"] = true_tcd(model, retrained, backend, config.tcd_seeds).depth
    clock["final_tcd"] = time.perf_counter() - t
    metrics = {"vanilla": vanilla, "compressed": comp}
    return CompressionResult(method.name, retrained, final, targets, state, history, metrics, clock)


def compress_parameters(model, theta, data, lut, config: CompressConfig, *, manager=None, resume=False,
                        warm_masks=None, progress=None, on_checkpoint=None, clock=None):
    """The parameter side of compression (no transpiling): targets, masks, final θ.

    Returns (θ after retraining, Finalized, targets per gate, ADMM state, ADMM history).
    """
    clock = {} if clock is None else clock
    theta = np.asarray(theta, dtype=np.float64)
    method = get_method(config.method)
    restored = manager.restore() if (manager is not None and resume) else None
    estimator = Estimator(model, lut) if config.context else None
    history: list[dict] = []
    state = ADMMState()
    t = time.perf_counter()
    if method.admm:
        levels = candidate_levels(model, lut, method.lut_kinds)
        choices = recl(model, theta, lut, levels, data.val.x, data.val.y, context=config.context)
        targets = [c.level for c in choices]
        clock["recl"] = time.perf_counter() - t
        mask, work, state, history, opt_state = _run_admm(model, theta, data, targets, config, estimator, manager,
                                                          restored, warm_masks, progress, on_checkpoint)
        clock["admm"] = time.perf_counter() - t - clock["recl"]
    else:
        targets, mask = method.select(model, theta, lut, config)
        work = theta
        clock["select"] = time.perf_counter() - t
    final = finalize(model, work, mask, targets)
    t = time.perf_counter()
    retrained = retrain(model, final, data, config, manager, restored, progress, on_checkpoint, targets, state, history)
    clock["retrain"] = time.perf_counter() - t
    final = Finalized(retrained, final.prune_mask, final.quant_mask, final.levels, final.frozen)
    return retrained, final, targets, state, history


def lowest(scores, targets, ratio: float) -> np.ndarray:
    """The mask of the ⌊ratio·|G|⌉ gates with the lowest scores (ties: the lower index) that have
    a target: how the one-shot methods choose."""
    n = len(targets)
    mask = np.zeros(n, bool)
    order = np.lexsort((np.arange(n), scores))
    mask[[i for i in order[:int(round(ratio * n))] if targets[i] is not None]] = True
    return mask


def _zero(model, theta, lut, config):
    """Zero-only pruning (QuantumNAS): phases wrapped to (−π, π], the smallest |θ| set to 0."""
    targets, scores = [], []
    for g in model.gates:
        wrapped = np.pi - np.mod(np.pi - g.angles(theta), 2 * np.pi)  # into (−π, π]
        entry = lut[g.name].lookup((0.0,) * len(g.params))
        if entry is None or entry.kind != "prune":
            raise CompressionError(f"the LUT has no pruning level at 0 for {g.name}")
        targets.append(entry)
        scores.append(float(np.linalg.norm(wrapped)))
    return targets, lowest(np.array(scores), targets, config.ratio)


def _snap(model, theta, lut, config):
    """HotStorage'25 §3.3: each gate's nearest level; the nearest ratio·|G| are snapped."""
    targets, scores = [], []
    for g in model.gates:
        entry, d = nearest_level(g.angles(theta), lut[g.name].levels(), periods(g))
        targets.append(entry)
        scores.append(d)
    return targets, lowest(np.array(scores, dtype=float), targets, config.ratio)


def _approximate(model, theta, data, backend, config) -> dict:
    from compvqc.compress.approx import approximate, compiled_accuracy

    compiled, depth, _ = approximate(model, theta, backend, config.degree, config.tcd_seeds)
    return {"val_accuracy": compiled_accuracy(model, compiled, data.val.x, data.val.y),
            "test_accuracy": compiled_accuracy(model, compiled, data.test.x, data.test.y), "tcd": depth}


def _run_admm(model, theta, data, targets, config, estimator, manager, restored, warm_masks, progress, on_checkpoint):
    cfg = config.admm
    admm = ADMM(model, targets, cfg, estimator=estimator)
    opt = Adam(lr=cfg.lr)
    work = theta.copy()
    state = admm.init(work, warm_mask=warm_masks)
    opt_state = opt.init(work)
    history: list[dict] = []
    start = 0
    mask = state.mask
    if restored is not None and restored.run.get("stage") in ("admm", "retrain"):
        work = restored.theta.copy()
        state = restored.admm.copy()
        opt_state = opt.state_from_dict(restored.optimizer_state) if restored.run["stage"] == "admm" else opt_state
        history = list(restored.run.get("admm_history", []))
        start = int(state.iteration)
        if not state.prev_theta.size and restored.run.get("admm_prev_theta") is not None:  # files before 2026-12-01
            state = replace(state, prev_theta=np.asarray(restored.run["admm_prev_theta"], dtype=np.float64))
        mask = restored.prune_mask | restored.quant_mask
        if restored.run["stage"] == "retrain":
            return mask, work, state, history, opt_state
    per_epoch = -(-len(data.train) // config.batch_size)
    epochs = max(cfg.epochs, -(-cfg.min_steps // per_epoch))
    for r in range(start, cfg.iterations):
        result = fit(model, work, data.train.x, data.train.y, epochs=(r + 1) * epochs, seed=config.seed,
                     batch_size=config.batch_size, optimizer=opt, opt_state=opt_state,
                     loss_and_grad=admm.penalized(model.loss_and_grad, state), start_epoch=r * epochs,
                     progress=progress)
        work, opt_state = result.theta, result.opt_state
        state, report = admm.update(work, state)
        mask = report.mask
        history.append({"iteration": state.iteration, "rho": state.rho / cfg.rho_growth, **report.to_dict()})
        if manager is not None and on_checkpoint is not None:
            ck = on_checkpoint(stage="admm", theta=work, state=state, mask=mask, targets=targets,
                               opt_state=opt_state, history=history)
            manager.save(ck, step=state.iteration)
        if report.converged:
            break
    return mask, work, state, history, opt_state


def retrain(model, final: Finalized, data, config, manager, restored, progress, on_checkpoint, targets, state, history):
    """The final step: masked gates frozen at their exact LUT floats, the rest retrained for the
    shared budget (at least ``retrain_min_steps`` steps), checkpointed per epoch."""
    opt = Adam(lr=config.retrain_lr)
    theta, opt_state, start = final.theta, None, 0
    base = 10_000  # retraining checkpoints are numbered after the ADMM iterations
    if restored is not None and restored.run.get("stage") == "retrain":
        theta = restored.theta.copy()
        opt_state = opt.state_from_dict(restored.optimizer_state)
        start = int(restored.run["epoch"])
    mask = final.prune_mask | final.quant_mask

    def on_epoch(event):
        if event.kind == "epoch" and manager is not None and on_checkpoint is not None:
            ck = on_checkpoint(stage="retrain", theta=event.theta, state=state, mask=mask, targets=targets,
                               opt_state=event.opt_state, history=history, extra={"epoch": event.epoch})
            manager.save(ck, step=base + event.epoch)

    per_epoch = -(-len(data.train) // config.batch_size)
    epochs = max(config.retrain_epochs, -(-config.retrain_min_steps // per_epoch)) if config.retrain_epochs else 0
    result = fit(model, theta, data.train.x, data.train.y, epochs=epochs, seed=config.seed + 1,
                 batch_size=config.batch_size, optimizer=opt, opt_state=opt_state, frozen=final.frozen,
                 start_epoch=start, callback=on_epoch, progress=progress)
    out = result.theta
    out[final.frozen] = final.theta[final.frozen]  # exactly the LUT floats (they never moved)
    return out


for _m in (
    Method("compvqc", "ratio", ("prune", "quant"), admm=True, help="ReCL + ADMM over pruning and quantization levels"),
    Method("prune", "ratio", ("prune",), admm=True, help="ReCL + ADMM over pruning levels only"),
    Method("quant", "ratio", ("quant",), admm=True, help="ReCL + ADMM over quantization levels only"),
    Method("zero", "ratio", ("prune",), select=_zero, help="compiler-unaware zero-only pruning (QuantumNAS)"),
    Method("snap", "ratio", ("prune", "quant"), select=_snap, help="each gate's nearest level, the nearest snapped"),
    Method("vanilla", None, help="no compression"),
    Method("qiskit-approx", "degree", run=_approximate, help="qiskit's approximate synthesis, no retraining"),
):
    register(_m)
