"""Readouts: how measured statistics become class logits, and the loss on them.

Every readout here is linear in the basis-state probabilities p = |ψ|², logits = p @ W with W a
(2^n, C) matrix. That covers the papers' three readouts:

* ``pauli_z``: class c = Σ_{q ∈ group c} ⟨Z_q⟩ (grouped sums for 2 classes on 4 qubits:
  qubits 0+1 and 2+3; one qubit per class for 4 classes);
* ``basis``: class c = Σ_{s ∈ group c} p_s (the CompVQC paper's 3-class readout: the first 15
  basis states in 3 groups of 5); a ``SamplerQNN``'s interpretation of bit strings (parity, …)
  is such a grouping (:func:`interpreted`);
* ``pauli``: class c = ⟨O_c⟩ for a sum of Pauli strings with real coefficients (an
  ``EstimatorQNN``'s observables), strings of I and Z only, so still linear in p: measuring X or
  Y needs a basis change, which belongs in the circuit (H before the measurement measures X).

Linearity in p keeps the adjoint gradient simple (∂L/∂ψ̄_s = (W ∂L/∂logits)_s ψ_s) and makes the
same readout computable from measurement counts on hardware. Basis-state index s follows qiskit:
s = Σ_q b_q 2^q (qubit 0 is the least significant bit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.errors import ModelError

KINDS = ("pauli_z", "basis", "pauli")


@dataclass(frozen=True)
class Readout:
    kind: str
    groups: tuple[tuple[int, ...], ...] = ()  # qubits (pauli_z) or basis states (basis) per class
    observables: tuple[tuple[tuple[float, str], ...], ...] = ()  # pauli: per class, (coef, "IZZ") terms

    @property
    def n_classes(self) -> int:
        return len(self.observables) if self.kind == "pauli" else len(self.groups)

    def validate(self, n_qubits: int) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"unknown readout kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.n_classes < 2:
            raise ModelError("a readout needs at least 2 classes")
        if self.kind == "pauli":
            for terms in self.observables:
                if not terms:
                    raise ModelError("an observable has no terms")
                for coef, label in terms:
                    if len(label) != n_qubits or set(label) - set("IXYZ"):
                        raise ModelError(f"Pauli string {label!r} is not {n_qubits} letters of I, X, Y, Z")
                    if set(label) & set("XY"):
                        raise ModelError(f"Pauli string {label!r} measures X or Y: only I and Z are read out; "
                                         "rotate the basis in the circuit (H, then Z, measures X)")
                    if not np.isfinite(coef):
                        raise ModelError(f"observable coefficient {coef!r} is not finite")
            return
        limit = n_qubits if self.kind == "pauli_z" else 2**n_qubits
        seen: set[int] = set()
        for g in self.groups:
            if not g:
                raise ModelError("readout group is empty")
            for i in g:
                if not 0 <= i < limit or i in seen:
                    raise ModelError(f"readout index {i} out of range or repeated")
                seen.add(i)

    def weights(self, n_qubits: int) -> np.ndarray:
        """W with logits = p @ W, shape (2^n, n_classes), float64."""
        dim = 2**n_qubits
        w = np.zeros((dim, self.n_classes))
        states = np.arange(dim)
        for c, terms in enumerate(self.observables):  # qiskit's labels: the last letter is qubit 0
            for coef, label in terms:
                sign = np.ones(dim)
                for q, letter in enumerate(reversed(label)):
                    if letter == "Z":
                        sign *= 1.0 - 2.0 * ((states >> q) & 1)
                w[:, c] += coef * sign
        for c, group in enumerate(self.groups):
            if self.kind == "pauli_z":
                for q in group:
                    w[:, c] += 1.0 - 2.0 * ((states >> q) & 1)
            else:
                w[list(group), c] = 1.0
        return w

    def to_dict(self) -> dict:
        if self.kind == "pauli":
            return {"kind": self.kind, "observables": [[[c, p] for c, p in terms] for terms in self.observables]}
        return {"kind": self.kind, "groups": [list(g) for g in self.groups]}

    @classmethod
    def from_dict(cls, d: dict) -> "Readout":
        try:
            if d["kind"] == "pauli":
                return cls("pauli", (), tuple(tuple((float(c), str(p)) for c, p in terms) for terms in d["observables"]))
            return cls(str(d["kind"]), tuple(tuple(int(i) for i in g) for g in d["groups"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"malformed readout: {e}") from None


def default_readout(n_qubits: int, n_classes: int) -> Readout:
    """The papers' readout for ``n_classes`` on ``n_qubits``.

    Pauli-Z sums over equal groups of consecutive qubits when the classes divide the qubits
    (2 classes on 4 qubits: 0+1 | 2+3; 4 classes: one qubit each); otherwise basis-state groups
    of equal size over the first ⌊2^n / C⌋·C states (3 classes on 4 qubits: 5 states each).
    """
    if n_classes < 2:
        raise ModelError("a readout needs at least 2 classes")
    if n_qubits % n_classes == 0:
        k = n_qubits // n_classes
        return Readout("pauli_z", tuple(tuple(range(c * k, (c + 1) * k)) for c in range(n_classes)))
    k = 2**n_qubits // n_classes
    if k == 0:
        raise ModelError(f"{n_classes} classes do not fit in {n_qubits} qubits")
    return Readout("basis", tuple(tuple(range(c * k, (c + 1) * k)) for c in range(n_classes)))


def pauli_readout(observables) -> Readout:
    """A readout from qiskit observables (``SparsePauliOp``s, one per class, or anything with
    ``to_list()`` of (label, coefficient)), as an ``EstimatorQNN`` takes them."""
    classes = []
    for obs in observables:
        terms = []
        for label, coef in obs.to_list():
            coef = complex(coef)
            if abs(coef.imag) > 1e-12:
                raise ModelError(f"observable term {label} has a complex coefficient {coef}")
            terms.append((float(coef.real), str(label)))
        classes.append(tuple(terms))
    return Readout("pauli", (), tuple(classes))


def interpreted(interpret, n_qubits: int, n_classes: int) -> Readout:
    """A readout from a ``SamplerQNN``-style interpretation: basis state s (qiskit's integer)
    counts for class ``interpret(s)``, e.g. parity ``lambda s: bin(s).count("1") % 2``."""
    groups = [[] for _ in range(n_classes)]
    for s in range(2**n_qubits):
        c = int(interpret(s))
        if not 0 <= c < n_classes:
            raise ModelError(f"interpret({s}) = {c} is not a class in 0..{n_classes - 1}")
        groups[c].append(s)
    if not all(groups):
        raise ModelError("the interpretation leaves a class without basis states")
    return Readout("basis", tuple(tuple(g) for g in groups))


def predictions(logits: np.ndarray) -> np.ndarray:
    """The class each row of logits picks (the first on a tie)."""
    return np.argmax(logits, axis=1)


def hits(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per sample, whether the predicted class is the label: the one definition behind every accuracy."""
    return np.asarray(predicted) == np.asarray(labels)


def correct(logits: np.ndarray, labels: np.ndarray) -> int:
    """How many rows of logits pick their label."""
    return int(hits(predictions(logits), labels).sum())


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return correct(logits, labels) / len(labels)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy over the batch and its gradient with respect to the logits.

    logits: (B, C); labels: (B,) integers. Returns (loss, dL/dlogits of shape (B, C)).
    """
    z = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_p = z - log_norm
    b = logits.shape[0]
    loss = -float(log_p[np.arange(b), labels].mean())
    grad = np.exp(log_p)
    grad[np.arange(b), labels] -= 1.0
    return loss, grad / b
