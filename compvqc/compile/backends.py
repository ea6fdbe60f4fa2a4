"""Backend resolution and the backend facts a LUT depends on.

A backend is any qiskit ``BackendV2``; names such as ``fake_manila`` resolve to the fake
backends of ``qiskit_ibm_runtime.fake_provider`` (real calibration snapshots), and
``fake_fractional`` to ``FakeFractionalBackend``, and ``ibm_*`` names (``ibm_brisbane``, ...) to
real devices through the IBM Quantum account saved with
``QiskitRuntimeService.save_account(token=..., instance=...)`` (or the ``QISKIT_IBM_*``
environment variables qiskit-ibm-runtime reads). Everything downstream reads the backend's
``Target`` (qiskit's "backend as data"), so a real IBM device goes through the same code.

Why a Target digest: compiled depths follow the coupling map *and* the calibration (two-qubit
synthesis and VF2 layout weigh gate errors), so a LUT is only valid for the Target it was
measured on. The digest covers exactly what the transpiler reads from the Target — qubit
count, dt, every instruction with its parameters and per-qargs duration and error — and not
qubit T1/T2, which the transpiler does not look at.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math

from compvqc.errors import BackendNotFound

# The backends that ship a prebuilt LUT in lut/ (`make luts`). 2-qubit basis: cx (manila, lagos,
# perth, jakarta), ecr (sherbrooke), cz (torino), native rx / rzz (fractional).
PREBUILT = ("fake_manila", "fake_lagos", "fake_perth", "fake_jakarta", "fake_sherbrooke", "fake_torino",
            "fake_fractional")


@functools.cache
def _fake_classes() -> dict[str, type]:
    """backend name → class, read from class attributes (instantiating 68 backends is slow)."""
    import qiskit_ibm_runtime.fake_provider as fp
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    out = {}
    for cls in vars(fp).values():
        if inspect.isclass(cls) and issubclass(cls, FakeBackendV2) and cls is not FakeBackendV2:
            name = getattr(cls, "backend_name", None)
            if isinstance(name, str):
                out[name] = cls
    return out


def backend_names() -> tuple[str, ...]:
    """Every name :func:`resolve_backend` accepts, sorted."""
    return tuple(sorted(_fake_classes()))


@functools.cache
def _instance(name: str):
    # Fake backends are immutable snapshots: one instance per name is enough and saves the
    # JSON parse (≈0.2 s for a 127-qubit device) on every call.
    return _fake_classes()[name]()


def resolve_backend(backend):
    """A ``BackendV2`` from a backend object or a name (``fake_manila``, ``manila``, ...)."""
    if not isinstance(backend, str):
        if not hasattr(backend, "target"):
            raise BackendNotFound(f"{backend!r} is not a qiskit BackendV2")
        return backend
    key = backend.strip().lower()
    classes = _fake_classes()
    for candidate in (key, f"fake_{key}"):
        if candidate in classes:
            return _instance(candidate)
    if key.startswith("ibm_"):
        return _runtime_backend(key)
    raise BackendNotFound(f"unknown backend {backend!r}; valid names: {', '.join(backend_names())}")


def _runtime_backend(name: str):
    """A real IBM device through the saved qiskit-ibm-runtime account (network access)."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        service = QiskitRuntimeService()
    except Exception as e:  # noqa: BLE001 - AccountNotFoundError and friends: one clear line
        raise BackendNotFound(
            f"{name} needs a saved IBM Quantum account (QiskitRuntimeService.save_account(token=..., "
            f"instance=...)): {_first_line(e)}") from None
    try:
        return service.backend(name)
    except Exception as e:  # noqa: BLE001
        raise BackendNotFound(f"{name} is not available to the saved IBM Quantum account: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def backend_name(backend) -> str:
    return str(getattr(backend, "name", type(backend).__name__))


def backend_version(backend) -> str:
    return str(getattr(backend, "backend_version", "") or "")


def basis_gates(backend) -> list[str]:
    """The backend's gate instructions (control flow, measure, reset and delay left out)."""
    skip = {"measure", "reset", "delay", "barrier", "if_else", "while_loop", "for_loop", "switch_case", "box"}
    return sorted(n for n in backend.target.operation_names if n not in skip)


def coupling_edges(backend) -> list[tuple[int, int]]:
    """Directed edges of the coupling map (both directions listed where both exist)."""
    cmap = backend.target.build_coupling_map()
    if cmap is None:  # all-to-all
        n = backend.target.num_qubits
        return [(a, b) for a in range(n) for b in range(n) if a != b]
    return sorted((int(a), int(b)) for a, b in cmap.get_edges())


def _num(x):
    if x is None:
        return None
    x = float(x)
    return repr(x) if math.isfinite(x) else str(x)


def target_digest(target) -> str:
    """sha256 of the Target's instructions, qargs, durations and errors (see module doc)."""
    doc = {"num_qubits": target.num_qubits, "dt": _num(getattr(target, "dt", None)), "ops": {}}
    for name in sorted(target.operation_names):
        op = target.operation_from_name(name)
        params = [str(p) for p in getattr(op, "params", [])] if not inspect.isclass(op) else []
        props = target[name]
        entries = []
        for qargs in sorted(props, key=lambda q: (q is None, q or ())):
            p = props[qargs]
            entries.append([list(qargs) if qargs is not None else None,
                            _num(getattr(p, "duration", None)) if p is not None else None,
                            _num(getattr(p, "error", None)) if p is not None else None])
        doc["ops"][name] = {"params": params, "qargs": entries}
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
