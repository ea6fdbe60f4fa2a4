"""Finding a valid LUT: the user cache, then the prebuilt files; rebuild when stale.

A LUT is valid for a backend when its provenance matches what the depths depend on: the
installed qiskit version (the transpiler) and the digest of the backend's ``Target`` (coupling
map and calibration). It must also cover the requested region and gate types. Lookup order:

1. the cache, ``$COMPVQC_CACHE`` or ``~/.cache/compvqc``, file ``lut/<backend>.<region>.json``;
2. the prebuilt LUTs shipped with the package (``compvqc/_lut/<backend>.json``, built by
   ``make luts``).

A candidate that matches region and gates but not qiskit/Target is *stale*: it is rebuilt into
the cache with a :class:`StaleLUTWarning` — or, with ``no_rebuild=True``, refused with
:class:`LUTStale` (the CLI's ``--no-rebuild``). With ``no_rebuild`` a missing LUT is refused
too, so such a run never spends time compiling.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from compvqc.compile.backends import backend_name, resolve_backend, target_digest
from compvqc.compile.build import ALL_GATES, build_lut, qiskit_version
from compvqc.errors import LUTFileError, LUTStale
from compvqc.compile.lut import LUT, load_lut_file, save_lut
from compvqc.compile.region import Region, default_region, make_region


class StaleLUTWarning(UserWarning):
    """A LUT was rebuilt because the installed qiskit or the backend's Target changed."""


def cache_dir() -> Path:
    """``$COMPVQC_CACHE`` if set, else ``~/.cache/compvqc`` (``$XDG_CACHE_HOME`` honoured)."""
    env = os.environ.get("COMPVQC_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "compvqc"


def cache_path(backend, region: Region, directory=None) -> Path:
    key = "q" + "-".join(str(q) for q in region.qubits)
    return Path(directory or cache_dir()) / "lut" / f"{backend_name(backend)}.{key}.json"


def prebuilt_path(name: str) -> Path:
    """A LUT shipped with the package (in ``compvqc/_lut``, a copy of ``lut/``)."""
    return Path(str(resources.files("compvqc") / "_lut")) / f"{name}.json"


@dataclass(frozen=True)
class Check:
    """Why a LUT does or does not fit a backend: ``fits`` (region, gates) and ``fresh``."""

    fits: bool
    fresh: bool
    reasons: tuple[str, ...]


def check(lut: LUT, backend, region: Region | None = None, gates=()) -> Check:
    """Compare a LUT's provenance with the backend, the installed qiskit, region and gates."""
    prov = lut.provenance
    misfit, stale = [], []
    if prov.get("backend") != backend_name(backend):
        misfit.append(f"built for {prov.get('backend')!r}")
    if region is not None and list(region.qubits) != list((prov.get("region") or {}).get("qubits", [])):
        misfit.append(f"covers qubits {(prov.get('region') or {}).get('qubits')}, not {list(region.qubits)}")
    missing = [g for g in gates if g not in lut.gates]
    if missing:
        misfit.append(f"has no table for {', '.join(missing)}")
    if prov.get("qiskit_version") != qiskit_version():
        stale.append(f"built with qiskit {prov.get('qiskit_version')}, installed {qiskit_version()}")
    if prov.get("target_sha256") != target_digest(backend.target):
        stale.append("the backend's Target (coupling map or calibration) changed")
    return Check(not misfit, not stale, tuple(misfit + stale))


def get_lut(backend, *, gates=None, qubits=None, model=None, no_rebuild: bool = False, directory=None,
            progress: bool | None = None, workers: int | None = None) -> LUT:
    """A valid LUT for ``backend`` (object or name), from cache or prebuilt, else built.

    ``gates`` the LUT must cover (default: any; a build without ``gates`` makes every type). The region is
    ``qubits`` if given, else :func:`compvqc.compile.region.default_region` (``model`` picks it
    on large devices). A stale file is rebuilt with a warning, or refused if ``no_rebuild``.
    """
    backend = resolve_backend(backend)
    region = (make_region(backend, qubits, "user") if qubits is not None
              else default_region(backend, model))
    gates = tuple(gates or ())
    stale_reasons, known = None, []
    for path in (cache_path(backend, region, directory), prebuilt_path(backend_name(backend))):
        if not path.is_file():
            continue
        lut = load_lut_file(path)  # a corrupt file is an error, never silently rebuilt
        c = check(lut, backend, region, gates)
        if check(lut, backend, region).fits:  # same backend and region, maybe other gates
            known += list(lut.gates)
        if not c.fits:
            continue
        if c.fresh:
            return lut
        stale_reasons = stale_reasons or c.reasons
    name = backend_name(backend)
    if no_rebuild:
        if stale_reasons:
            raise LUTStale(f"the LUT for {name} is stale ({'; '.join(stale_reasons)}) and rebuilding is disabled")
        raise LUTStale(f"no LUT for {name} on qubits {list(region.qubits)} and rebuilding is disabled "
                       f"(build one with: compvqc lut build --backend {name})")
    if stale_reasons:
        warnings.warn(f"rebuilding the LUT for {name}: {'; '.join(stale_reasons)}", StaleLUTWarning, stacklevel=2)
    # Build what was asked plus what the files we found held (so alternating requests for
    # different gate sets do not keep overwriting each other); everything if nothing was asked.
    build_gates = tuple(dict.fromkeys((*gates, *known))) if gates else ALL_GATES
    lut = build_lut(backend, build_gates, region=region, progress=progress, workers=workers)
    target = cache_path(backend, region, directory)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save_lut(target, lut)
    except OSError as e:  # a read-only cache must not stop the run; the LUT is in memory
        warnings.warn(f"could not write the LUT cache {target}: {e}", RuntimeWarning, stacklevel=2)
    return lut


def load_lut(name_or_path, **kwargs) -> LUT:
    """A LUT from a file path (verified, used as is) or a backend name (:func:`get_lut`)."""
    p = Path(str(name_or_path))
    if p.suffix == ".json" or p.is_file():
        if not p.is_file():
            raise LUTFileError(f"{p}: file not found")
        return load_lut_file(p)
    return get_lut(name_or_path, **kwargs)
