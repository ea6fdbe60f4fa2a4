"""Parameter-shift gradients measured on a backend, with shots (the on-chip paper's §3.2).

The model is expanded to one weight per gate angle (a shift moves one gate even when weights
are shared) and transpiled ONCE for the backend with those weights and the inputs unbound. A
step binds, for every sample of the batch, the unshifted angles and each shifted angle of every
evaluated parameter (two shifts per angle, four for CRX/CRY/CRZ: ``model.gates.shift_rule``), and
sends the rows in batches through the :class:`~compvqc.onchip.jobs.Journal`. The counts give
empirical outcome distributions, the model's readout turns them into logits, and the loss
gradient is applied classically:

    ∂L/∂θ_p = Σ_{angles k of θ_p} scale_k · Σ_terms c · ⟨∂L/∂logits, logits(angles + s·e_k)⟩

At ``shots=0`` on a noise-free backend the distributions are exact and this equals the adjoint
gradient (to 1e-10 in the tests); at finite shots it is unbiased for the linear part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.errors import TrainingError
from compvqc.model.readout import softmax_cross_entropy
from compvqc.onchip.jobs import Journal, Retry, shot_seed

# Rows per job: a step of 32 samples × 161 circuits (the 50-gate model) is one job, and 8192 × 1024
# shots stays under the 10^7 executions IBM allows in one job.
MAX_JOB_BINDINGS = 8192


@dataclass
class Executions:
    """Circuit executions (bindings) of a run: run, replayed from the journal, and saved."""

    run: int = 0
    replayed: int = 0
    saved_pgp: int = 0
    saved_freeze: int = 0
    full: int = 0  # what plain parameter shift on every parameter would have run
    shots: int = 0
    retries: int = 0
    last: int = 0  # executions of the latest step

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "last"}


class DeviceGradient:
    """``loss_and_grad(theta, x, y, step=)`` by parameter shift with shots on ``runner``.

    ``selection`` (:class:`~compvqc.onchip.selection.Selection`) decides which parameters are
    evaluated each step; the others come back in the third return value (frozen for the step).
    """

    wants_step = True  # ``compvqc.train.loop.fit`` passes the global step

    def __init__(self, model, deployment, expanded, slots, runner, *, shots: int, seed: int,
                 journal: Journal | None = None, selection=None, retry: Retry = Retry(),
                 max_bindings: int = MAX_JOB_BINDINGS):
        from compvqc.model.gates import shift_rule

        if shots < 0:
            raise TrainingError("shots must be ≥ 0")
        self.model, self.deployment, self.expanded, self.slots = model, deployment, expanded, slots
        self.runner, self.shots, self.seed = runner, int(shots), int(seed)
        self.journal = journal or Journal(None)
        self.selection, self.retry, self.max_bindings = selection, retry, int(max_bindings)
        self.rules = [shift_rule(name, j) for name, j, _, _ in slots]
        self.slot_param = np.array([p for _, _, p, _ in slots], dtype=np.int64)
        self.readout = model.readout.weights(model.n_qubits)
        self.executions = Executions()
        cols = {p: i for i, p in enumerate(deployment.parameters)}
        # a weight the transpiler removed does not change the output: its gradient is 0
        self.weight_col = np.array([cols.get(w, -1) for w in deployment.weights], dtype=np.int64)

    def _angles(self, theta):
        return np.concatenate([g.angles(theta) for g in self.model.gates]) if self.model.gates else np.zeros(0)

    def __call__(self, theta, x, y, *, step: int):
        theta = np.asarray(theta, dtype=np.float64)
        n = self.model.n_params
        mask = self.selection.active(step) if self.selection is not None else np.ones(n, dtype=bool)
        angles = self._angles(theta)
        base = self.deployment.values(self.expanded, x, angles)  # (B, P)
        configs, plan = [angles], []
        for k, rule in enumerate(self.rules):
            if not mask[self.slot_param[k]] or self.weight_col[k] < 0:
                continue
            terms = []
            for shift, coef in rule:
                shifted = angles.copy()
                shifted[k] += shift
                terms.append((len(configs), coef))
                configs.append(shifted)
            plan.append((k, terms))
        rows = np.tile(base, (len(configs), 1))
        B = len(base)
        live = self.weight_col >= 0
        for c, a in enumerate(configs[1:], start=1):
            rows[c * B:(c + 1) * B, self.weight_col[live]] = a[live]
        probs = self._run(rows, step).reshape(len(configs), B, -1)
        logits = probs @ self.readout
        loss, dlogits = softmax_cross_entropy(logits[0], y)
        grad = np.zeros(n)
        for k, terms in plan:
            d = sum(coef * logits[c] for c, coef in terms)
            grad[self.slot_param[k]] += self.slots[k][3] * float(np.sum(dlogits * d))
        self._count(mask, B, len(rows))
        if self.selection is not None:
            self.selection.observe(step, grad, mask)
        return float(loss), grad, ~mask

    def _run(self, rows: np.ndarray, step: int) -> np.ndarray:
        out = []
        for b, start in enumerate(range(0, len(rows), self.max_bindings)):
            chunk = rows[start:start + self.max_bindings]
            before = self.journal.tally.retries
            res = self.journal.run(self.runner, chunk, shots=self.shots, seed=shot_seed(self.seed, step, b),
                                   step=step, batch=b, retry=self.retry)
            self.executions.retries += self.journal.tally.retries - before
            out.append(np.asarray(res, dtype=np.float64))
        counts = np.concatenate(out)
        if self.shots == 0:
            return counts
        return counts / counts.sum(axis=1, keepdims=True)

    def _count(self, mask, B: int, rows: int) -> None:
        terms = np.array([len(r) for r in self.rules])
        frozen = self.selection.frozen if self.selection is not None else np.zeros(self.model.n_params, bool)
        by_param = np.bincount(self.slot_param, weights=terms, minlength=self.model.n_params)
        e = self.executions
        e.full += B * int(1 + terms.sum())
        e.saved_freeze += B * int(by_param[frozen].sum())
        e.saved_pgp += B * int(by_param[~frozen & ~mask].sum())
        e.last = rows

    def state_dict(self) -> dict:
        t = self.journal.tally
        return {"executions": {**self.executions.to_dict(), "run": self.executions.run + t.bindings_run,
                               "replayed": self.executions.replayed + t.bindings_replayed,
                               "shots": self.executions.shots + t.bindings_run * self.shots},
                "selection": self.selection.state_dict() if self.selection is not None else None}

    def load_state(self, d: dict) -> None:
        ex = d.get("executions") or {}
        for k in ("run", "replayed", "saved_pgp", "saved_freeze", "full", "shots", "retries"):
            v = ex.get(k, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TrainingError(f"the checkpoint's execution count {k} is malformed")
            setattr(self.executions, k, v)
        if self.selection is not None and d.get("selection") is not None:
            self.selection.load_state(d["selection"])
