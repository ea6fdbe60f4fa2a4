"""One interface for every compression method, with checkpointed, resumable runs.

Methods live in a registry (``METHODS``, filled by :func:`register`): each entry declares its
knob (a ratio, an approximation degree, or none), the LUT kinds it may put gates on, whether it
retrains, and how it picks its gates, so the CLI, validation and the benchmark harness read
one table and a new method is one ``register`` call (the test suite registers a toy one).

Built in: ``compvqc`` (the default: levels and mask chosen together — in-context depth saved per
second-order loss added, see ``joint`` — then ADMM onto them), ``compvqc-paper`` (the paper's
ReCL over pruning + quantization levels, then ADMM scoring the mask), ``prune`` (ReCL + ADMM over
pruning levels only), ``quant`` (quantization levels only), ``zero`` (compiler-unaware zero-only
pruning as QuantumNAS does it: phases wrapped to (−π, π], the smallest |θ| set to 0, one shot),
``snap`` (each gate's nearest level; the ratio·|G| nearest are snapped, no ADMM — HotStorage'25
§3.3), ``entanglement-free`` (every controlled gate pruned: a reference), ``vanilla`` (no
compression), ``qiskit-approx`` (the compiler's approximate synthesis, see ``approx``) and
``bqskit`` (BQSKit's resynthesis of the trained block, see ``resynth``). Every method but
vanilla, qiskit-approx and bqskit ends the same way: masked gates hard-set to their level's
exact LUT float and frozen, the rest retrained for the same budget, then evaluated with the true
TCD. Deep angles are never targets (only ``prune`` and
``quant`` entries are levels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from compvqc.compile.objective import OBJECTIVES, costs_for
from compvqc.compile.tcd import TCD_SEEDS
from compvqc.compress.admm import ADMMConfig, check_count, check_number
from compvqc.compress.levels import CompressionError, nearest_level, periods
from compvqc.limits import MAX_BATCH, MAX_EPOCHS, MAX_SEED, MAX_STEPS


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
    """ADMM pulls θ onto the levels (checkpointed per iteration): without ``select`` ReCL picks
    a level per gate and ADMM the mask; with it, ADMM keeps ``select``'s mask."""
    select: Callable | None = None
    """``select(model, theta, data, lut, config) -> (targets, mask)``: one level (or None) per
    gate and the gates to put on theirs (without ADMM, straight to retraining)."""
    run: Callable | None = None
    """A method that measures its own result: ``run(model, theta, data, backend, config) ->
    {"val_accuracy", "test_accuracy", "tcd"}`` and optionally the cost measures
    (``two_qubit_gates``, ``duration``, ``success_probability``) and a ``note`` (no masks, no
    retraining)."""
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
    if method.run is not None and (method.admm or method.select is not None):
        raise CompressionError(f"method {method.name}: a run measures its own result, without admm or select")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise CompressionError(f"unknown method {name!r} (known: {', '.join(METHODS)})") from None


def check_compressible(model, method_name: str) -> None:
    """Methods that put gates on levels take shared or scaled weights only in the form one decision
    can set exactly (``compress.groups.check``); refused before any work starts otherwise."""
    if get_method(method_name).retrains and not model.plain_weights:
        from compvqc.compress.groups import check

        check(model)


DEFAULT_BUDGET = 1.0
"""Points of validation accuracy a choice may give up against the vanilla model, by default: what
``compress --ratios`` and the benchmark harness's operating points mean by ``--budget``."""


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
    objective: str = "depth"
    """What compression minimizes (``compile.objective``): ``depth`` (TCD), ``2q``, ``duration``
    or ``esp``. ReCL, the ADMM mask score and the joint walk all read its in-context estimate."""
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
        if self.objective not in OBJECTIVES:
            raise CompressionError(f"unknown objective {self.objective!r} (known: {', '.join(OBJECTIVES)})")
        if not self.context and self.objective != "depth":
            raise CompressionError("isolated costs (context=False) are LUT depths: use the depth objective")
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
        for name in ("method", "objective"):
            if name in d and not isinstance(d[name], str):
                raise CompressionError(f"{name} must be a name")
        if not isinstance(d.get("context", True), bool):
            raise CompressionError("context must be true or false")
        try:
            return cls(admm=ADMMConfig(**admm), **d)
        except TypeError as e:
            raise CompressionError(f"incomplete compression configuration ({e})") from None


def lowest(scores, targets, ratio: float) -> np.ndarray:
    """The mask of the ⌊ratio·|G|⌉ gates with the lowest scores (ties: the lower index) that have
    a target: how the one-shot methods choose."""
    n = len(targets)
    mask = np.zeros(n, bool)
    order = np.lexsort((np.arange(n), scores))
    mask[[i for i in order[:int(round(ratio * n))] if targets[i] is not None]] = True
    return mask


def _zero(model, theta, data, lut, config):
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


def _snap(model, theta, data, lut, config):
    """HotStorage'25 §3.3: each gate's nearest level; the nearest ratio·|G| are snapped."""
    targets, scores = [], []
    for g in model.gates:
        entry, d = nearest_level(g.angles(theta), lut[g.name].levels(), periods(g))
        targets.append(entry)
        scores.append(d)
    return targets, lowest(np.array(scores, dtype=float), targets, config.ratio)


def _entanglement_free(model, theta, data, lut, config):
    """Every controlled gate pruned at 0 (a pruning level on every backend): the reference that
    shows how much of the depth the entanglers are, and what dropping all of them costs."""
    targets = []
    for g in model.gates:
        entry = lut[g.name].lookup((0.0,) * len(g.params)) if g.type.controlled else None
        targets.append(entry if entry is not None and entry.kind == "prune" else None)
    return targets, np.array([t is not None for t in targets], dtype=bool)


def _resynthesize(model, theta, data, backend, config) -> dict:
    from compvqc.compress.resynth import run

    return run(model, theta, data, backend, config)


def _joint(model, theta, data, lut, config):
    from compvqc.compress.joint import select_jointly

    return select_jointly(model, theta, data, lut, get_method(config.method).lut_kinds, config.ratio,
                          seed=config.seed, costs=costs_for(config.objective, lut))


def _approximate(model, theta, data, backend, config) -> dict:
    from compvqc.compress.approx import approximate, compiled_metrics

    return compiled_metrics(model, approximate(model, theta, backend, config.degree, config.tcd_seeds)[0], data,
                            backend)


for _m in (
    Method("compvqc", "ratio", ("prune", "quant"), admm=True, select=_joint,
           help="levels chosen together (in-context depth saved per loss added), then ADMM onto them"),
    Method("compvqc-paper", "ratio", ("prune", "quant"), admm=True,
           help="the paper's ReCL + ADMM over pruning and quantization levels"),
    Method("prune", "ratio", ("prune",), admm=True, help="ReCL + ADMM over pruning levels only"),
    Method("quant", "ratio", ("quant",), admm=True, help="ReCL + ADMM over quantization levels only"),
    Method("zero", "ratio", ("prune",), select=_zero, help="compiler-unaware zero-only pruning (QuantumNAS)"),
    Method("snap", "ratio", ("prune", "quant"), select=_snap, help="each gate's nearest level, the nearest snapped"),
    Method("entanglement-free", None, ("prune",), select=_entanglement_free,
           help="every controlled gate pruned, the rest retrained (a reference)"),
    Method("vanilla", None, help="no compression"),
    Method("qiskit-approx", "degree", run=_approximate, help="qiskit's approximate synthesis, no retraining"),
    Method("bqskit", None, run=_resynthesize,
           help="BQSKit's resynthesis of the trained block, no retraining (extra: compvqc[bqskit])"),
):
    register(_m)
