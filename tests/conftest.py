import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
FULL = os.environ.get("COMPVQC_FULL") == "1"

settings.register_profile("ci", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("full", deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("full" if FULL else "ci")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (SHARED / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"the shared datasets are missing at {SHARED} (tests read ../shared/datasets)")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def manila():
    from compvqc.compile.backends import resolve_backend

    return resolve_backend("fake_manila")


@pytest.fixture(scope="session")
def manila_lut():
    from compvqc.compile.cache import prebuilt_path
    from compvqc.compile.lut import load_lut_file

    return load_lut_file(prebuilt_path("fake_manila"))
