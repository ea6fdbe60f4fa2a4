"""What a benchmark sweep runs: knob ranges as exact decimals, points, and the sweep's settings.

A knob value is kept as the decimal string the user wrote or the range produced (``0.3:0.8:0.1``
gives ``0.3 0.4 … 0.8``, both ends included, computed in ``Decimal`` so 0.1 steps never drift
to 0.30000000000000004), and a point is keyed by those strings: a rerun, another executor or
another machine finds the same keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation

from compvqc.compress.methods import DEFAULT_BUDGET, get_method
from compvqc.errors import UsageError
from compvqc.limits import MAX_SEED

MAX_POINTS = 100_000  # a sweep larger than this is a typo


def knob_values(text: str, name: str = "knob") -> tuple[str, ...]:
    """``a:b:step`` (both ends included), or values separated by commas, as decimal strings."""
    try:
        if ":" in text:
            start, stop, step = (Decimal(p) for p in text.split(":"))
            if step <= 0 or stop < start:
                raise UsageError(f"{name} range {text!r}: need start ≤ stop and a positive step")
            count = int((stop - start) / step) + 1
            if count > MAX_POINTS:
                raise UsageError(f"{name} range {text!r} has more than {MAX_POINTS} values")
            values = [start + k * step for k in range(count)]
        else:
            values = [Decimal(p) for p in text.split(",")]
    except (InvalidOperation, ValueError):
        raise UsageError(f"{name} {text!r}: expected a:b:step or comma-separated numbers") from None
    out = tuple(format(v.normalize(), "f") if v != 0 else "0" for v in values)
    if not all(v.is_finite() for v in values) or len(set(out)) != len(out):
        raise UsageError(f"{name} {text!r}: values must be finite and distinct")
    return out


@dataclass(frozen=True, order=True)
class Point:
    """One compression to run: a method at one knob value on one vanilla model."""

    dataset: str
    seed: int
    method: str
    knob: str | None  # the exact decimal string (None: a method without a knob)

    @property
    def key(self) -> str:
        return f"{self.dataset}|s{self.seed}|{self.method}|{self.knob or '-'}"


@dataclass(frozen=True)
class Sweep:
    """The settings every point of a sweep shares (stored beside its results)."""

    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    ratios: tuple[str, ...] = ("0.3", "0.4", "0.5", "0.6", "0.7", "0.8")
    degrees: tuple[str, ...] = ("0.9", "0.93", "0.96", "0.99")
    seeds: int = 5
    backend: str = "fake_manila"
    quick: bool = False
    noisy: bool = False
    shots: int = 1024
    budget: float = DEFAULT_BUDGET
    """Points of validation accuracy a method may give up at its operating point."""
    train: dict = field(default_factory=dict)
    """TrainConfig overrides per dataset (``{"fashion2": {"arch": "random22"}}``)."""
    compress: dict = field(default_factory=dict)
    """CompressConfig overrides for every point (``{"admm": {"alpha": 0.5}}``)."""

    def __post_init__(self):
        from compvqc.data import DATASETS

        for d in self.datasets:
            if d not in DATASETS:
                raise UsageError(f"unknown dataset {d!r} (known: {', '.join(DATASETS)})")
        for m in self.methods:
            get_method(m)
        if not self.datasets or not self.methods:
            raise UsageError("a sweep needs at least one dataset and one method")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or not 1 <= self.seeds <= MAX_SEED:
            raise UsageError(f"seeds must be an integer in 1..{MAX_SEED}, got {self.seeds!r}")
        if not 0 <= self.budget <= 100:
            raise UsageError(f"budget must be in [0, 100] points, got {self.budget!r}")
        for name in ("ratios", "degrees"):
            for v in getattr(self, name):
                if not 0 <= Decimal(v) <= 1 or (name == "degrees" and Decimal(v) == 0):
                    raise UsageError(f"{name[:-1]} {v} is outside {'[0, 1]' if name == 'ratios' else '(0, 1]'}")
        from compvqc.compress.admm import ADMMConfig
        from compvqc.compress.methods import CompressConfig

        over = dict(self.compress)
        try:
            ADMMConfig(**over.pop("admm", {}))
            CompressConfig(**{k: tuple(v) if k == "tcd_seeds" else v for k, v in over.items()})
        except TypeError as e:
            raise UsageError(f"compress settings: {e}") from None
        if len(self.points()) > MAX_POINTS:
            raise UsageError(f"the sweep has more than {MAX_POINTS} points")

    def points(self) -> list[Point]:
        """Every (dataset, seed, method, knob), in a fixed order."""
        out = []
        for d in self.datasets:
            for s in range(self.seeds):
                for m in self.methods:
                    knob = get_method(m).knob
                    values = self.ratios if knob == "ratio" else self.degrees if knob == "degree" else (None,)
                    out += [Point(d, s, m, v) for v in values]
        return out

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Sweep":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
