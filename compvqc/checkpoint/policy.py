"""When to save: an interval chosen from the measured save cost and the observed failure rate.

No paper we build on implements this. Young (1974) and Daly (2006): with save cost C and mean
time between failures M, the save interval that minimizes the expected work lost plus the time
spent saving is τ ≈ √(2·C·M). Here C is the time the training loop is stalled by a save,
measured on every save (a running mean); M is estimated from the run's own history as
(wall time so far + M₀) / (failures + 1): the stated prior M₀ counts as one pseudo-failure
interval, so the estimate starts at M₀ and follows the observed rate as failures are seen. A
failure is a run that stopped without finishing (a kill, a preemption, a backend that kept
failing): every resume of an unfinished run counts one. The first save comes at the first step,
so that C is measured before any interval depends on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compvqc.errors import CheckpointError

DEFAULT_PRIOR_MTBF = 3600.0  # seconds: one failure an hour before any is seen (stated, not measured)


@dataclass
class AutoInterval:
    prior_mtbf: float = DEFAULT_PRIOR_MTBF
    failures: int = 0  # of this run, across its processes
    wall_before: float = 0.0  # run time of the earlier processes (seconds)
    save_cost: float | None = None  # mean seconds the loop was stalled by a save
    saves: int = 0

    def __post_init__(self):
        if isinstance(self.prior_mtbf, bool) or not isinstance(self.prior_mtbf, (int, float)) \
                or not 0 < self.prior_mtbf < math.inf:
            raise CheckpointError(f"the prior time between failures must be a positive number of seconds, "
                                  f"got {self.prior_mtbf!r}")

    def observe_save(self, seconds: float) -> None:
        self.saves += 1
        self._measured = getattr(self, "_measured", 0) + 1  # this process's saves: the mean's count
        c = max(float(seconds), 1e-6)
        self.save_cost = c if self.save_cost is None else self.save_cost + (c - self.save_cost) / self._measured

    def mtbf(self, wall_now: float) -> float:
        return (self.wall_before + wall_now + self.prior_mtbf) / (self.failures + 1)

    def interval(self, wall_now: float) -> float:
        """√(2·C·M) in seconds (0 before the first save is measured: save now)."""
        if self.save_cost is None:
            return 0.0
        return math.sqrt(2.0 * self.save_cost * self.mtbf(wall_now))

    def to_dict(self, wall_now: float) -> dict:
        return {"kind": "auto", "prior_mtbf": self.prior_mtbf, "failures": self.failures,
                "wall_seconds": self.wall_before + wall_now, "save_cost": self.save_cost, "saves": self.saves,
                "mtbf": self.mtbf(wall_now), "interval": self.interval(wall_now)}

    @classmethod
    def resumed(cls, stored: dict | None, prior_mtbf: float, failed: bool) -> "AutoInterval":
        """The policy of a resumed run: its failures (one more if it had not finished) and time."""
        stored = stored if isinstance(stored, dict) else {}
        failures, wall = stored.get("failures", 0), stored.get("wall_seconds", 0.0)
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0 \
                or isinstance(wall, bool) or not isinstance(wall, (int, float)) or not 0 <= wall < math.inf:
            raise CheckpointError("the checkpoint's save-policy record is malformed")
        saves = stored.get("saves", 0)
        saves = saves if isinstance(saves, int) and not isinstance(saves, bool) and saves >= 0 else 0
        return cls(prior_mtbf=prior_mtbf, failures=failures + bool(failed), wall_before=float(wall), saves=saves)
