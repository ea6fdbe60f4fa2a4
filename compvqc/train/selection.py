"""Which parameters get a gradient this step: probabilistic gradient pruning and freezing.

Both save circuit executions, since parameter shift costs circuits per parameter:

* **PGP** (the on-chip paper's Algorithm 1): steps come in stages of ``wa + wp``. In the
  first ``wa`` steps of a stage every parameter's gradient is evaluated and its magnitude added
  to an accumulator M (reset when the stage starts); in the next ``wp`` steps only
  ⌈(1 − r)·n⌉ parameters are, drawn without replacement with probability ∝ M (``mode=
  "probabilistic"``) or the largest M (``"deterministic"``), the rest frozen for that step.
  The draw uses ``default_rng([seed, step, 1])``: a resumed run draws the same subsets.
* **Freezing** (HotStorage'25 §3.4): at the start of epoch k the fraction f of parameters with
  the smallest mean |gradient| over the previous epoch are frozen for the rest of the run.

The state (M, each epoch's mean |gradient| — the gradient history the paper keeps — and the
frozen set) is plain lists: it goes into the checkpoint and comes back bit-exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compvqc.errors import TrainingError

PGP_MODES = ("probabilistic", "deterministic")


@dataclass(frozen=True)
class PGP:
    ratio: float = 0.5  # r: the fraction pruned in a pruning step
    wa: int = 1  # accumulation window (steps)
    wp: int = 2  # pruning window (steps)
    mode: str = "probabilistic"

    def __post_init__(self):
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or not 0 <= self.ratio < 1:
            raise TrainingError(f"the PGP ratio r must be in [0, 1), got {self.ratio!r}")
        for name in ("wa", "wp"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10_000:
                raise TrainingError(f"the PGP window {name} must be an integer in 1..10000, got {v!r}")
        if self.mode not in PGP_MODES:
            raise TrainingError(f"the PGP mode must be {' or '.join(PGP_MODES)}, got {self.mode!r}")

    @property
    def saved_fraction(self) -> float:
        """The paper's share of gradient evaluations saved: r·wp/(wa + wp)."""
        return self.ratio * self.wp / (self.wa + self.wp)

    @classmethod
    def parse(cls, text: str, mode: str = "probabilistic") -> "PGP":
        """``"r=0.5,wa=1,wp=2"`` (any subset; the rest default)."""
        kw = {}
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            key, _, value = part.partition("=")
            key = key.strip()
            if key not in ("r", "wa", "wp") or not value:
                raise TrainingError(f"--pgp takes r=R,wa=N,wp=N, got {text!r}")
            try:
                kw["ratio" if key == "r" else key] = float(value) if key == "r" else int(value)
            except ValueError:
                raise TrainingError(f"--pgp: {key} must be a number, got {value!r}") from None
        return cls(mode=mode, **kw)


@dataclass(frozen=True)
class Freeze:
    fraction: float = 0.25
    epoch: int = 5

    def __post_init__(self):
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float)) \
                or not 0 < self.fraction < 1:
            raise TrainingError(f"the frozen fraction must be in (0, 1), got {self.fraction!r}")
        if isinstance(self.epoch, bool) or not isinstance(self.epoch, int) or not 1 <= self.epoch <= 100_000:
            raise TrainingError(f"freezing starts after an epoch in 1..100000, got {self.epoch!r}")

    @classmethod
    def parse(cls, text: str) -> "Freeze":
        """``"0.25@5"``: freeze 25 % after 5 epochs."""
        frac, at, epoch = str(text).partition("@")
        try:
            return cls(float(frac), int(epoch) if at else 5)
        except ValueError:
            raise TrainingError(f"--freeze takes FRACTION@EPOCH (e.g. 0.25@5), got {text!r}") from None


class Selection:
    """PGP and freezing over ``n`` parameters, for a run of ``per_epoch`` steps per epoch."""

    def __init__(self, n: int, *, per_epoch: int, seed: int, pgp: PGP | None = None, freeze: Freeze | None = None):
        self.n, self.per_epoch, self.seed, self.pgp, self.freeze = n, per_epoch, int(seed), pgp, freeze
        self.M = np.zeros(n)
        self.frozen = np.zeros(n, dtype=bool)
        self.epoch_sum, self.epoch_count = np.zeros(n), np.zeros(n)
        self.history: list[list] = []  # per finished epoch: mean |gradient| (None: never evaluated)

    def _accumulating(self, step: int) -> bool:
        return self.pgp is None or step % (self.pgp.wa + self.pgp.wp) < self.pgp.wa

    def active(self, step: int) -> np.ndarray:
        """The parameters whose gradient step ``step`` (0-based) evaluates."""
        self._epoch_boundary(step)
        live = ~self.frozen
        if self._accumulating(step):
            return live
        candidates = np.flatnonzero(live)
        k = min(len(candidates), math.ceil((1 - self.pgp.ratio) * len(candidates)))
        weight = self.M[candidates]
        if self.pgp.mode == "deterministic":
            chosen = candidates[np.argsort(-weight, kind="stable")[:k]]
        else:
            p = weight + 1e-12 * (weight.sum() + 1)  # a parameter with no gradient yet can still be drawn
            chosen = np.random.default_rng([self.seed, step, 1]).choice(candidates, size=k, replace=False,
                                                                         p=p / p.sum())
        mask = np.zeros(self.n, dtype=bool)
        mask[chosen] = True
        return mask

    def _epoch_boundary(self, step: int) -> None:
        if step % self.per_epoch or step == 0 or len(self.history) >= step // self.per_epoch:
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self.epoch_count > 0, self.epoch_sum / np.maximum(self.epoch_count, 1), np.nan)
        self.history.append([None if np.isnan(v) else float(v) for v in mean])
        self.epoch_sum[:], self.epoch_count[:] = 0.0, 0.0
        if self.freeze is not None and step // self.per_epoch == self.freeze.epoch:
            live = np.flatnonzero(~self.frozen)
            k = int(self.freeze.fraction * self.n)
            score = np.where(np.isnan(mean), np.inf, mean)[live]
            self.frozen[live[np.argsort(score, kind="stable")[:k]]] = True

    def observe(self, step: int, grad: np.ndarray, mask: np.ndarray) -> None:
        """Record step ``step``'s gradient (only the ``mask`` entries were evaluated)."""
        g = np.abs(np.asarray(grad, dtype=np.float64))
        if self.pgp is not None and self._accumulating(step):
            if step % (self.pgp.wa + self.pgp.wp) == 0:
                self.M[:] = 0.0
            self.M[mask] += g[mask]
        self.epoch_sum[mask] += g[mask]
        self.epoch_count[mask] += 1

    def state_dict(self) -> dict:
        return {"M": self.M.tolist(), "frozen": np.flatnonzero(self.frozen).tolist(),
                "epoch_sum": self.epoch_sum.tolist(), "epoch_count": self.epoch_count.tolist(),
                "gradient_history": self.history}

    def load_state(self, d: dict) -> None:
        try:
            M, frozen = np.asarray(d["M"], dtype=np.float64), np.asarray(d["frozen"], dtype=np.int64)
            s, c = np.asarray(d["epoch_sum"], dtype=np.float64), np.asarray(d["epoch_count"], dtype=np.float64)
            history = [[None if v is None else float(v) for v in row] for row in d["gradient_history"]]
        except (KeyError, TypeError, ValueError):
            raise TrainingError("the checkpoint's gradient-selection state is malformed") from None
        if M.shape != (self.n,) or s.shape != (self.n,) or c.shape != (self.n,) or \
                (frozen.size and (frozen.min() < 0 or frozen.max() >= self.n)) or \
                any(len(row) != self.n for row in history):
            raise TrainingError(f"the checkpoint's gradient-selection state does not fit {self.n} parameters")
        self.M, self.epoch_sum, self.epoch_count, self.history = M, s, c, history
        self.frozen = np.zeros(self.n, dtype=bool)
        self.frozen[frozen] = True
