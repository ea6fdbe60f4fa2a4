"""The joint level selection (compress/joint.py): its loss model, its Fisher, its walk."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compvqc.compile.backends import resolve_backend
from compvqc.compile.cache import get_lut
from compvqc.compress.joint import Selection, fisher, select_jointly
from compvqc.data import load_dataset
from compvqc.model import build_model


@pytest.fixture(scope="module")
def problem():
    data = load_dataset("syn16", n_samples=300)
    model = build_model("4x4_ryzxy", "random22", 2, arch_seed=0)
    theta = model.init_params(np.random.default_rng(3))
    lut = get_lut(resolve_backend("fake_manila"), gates=sorted({g.name for g in model.gates}), model=model,
                  progress=False)
    return model, theta, data, lut


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_the_loss_of_a_set_is_the_quadratic_minimum_over_the_other_parameters(seed, k):
    """½ δᵀ [(H⁻¹)_SS]⁻¹ δ equals min over the free parameters f of ½ [δ; f]ᵀ H [δ; f],
    computed independently by the Schur complement of H's free block."""
    rng = np.random.default_rng(seed)
    n = 8
    a = rng.normal(size=(n, n))
    h = a @ a.T + 0.1 * np.eye(n)
    fixed = sorted(rng.choice(n, size=k, replace=False).tolist())
    free = [i for i in range(n) if i not in fixed]
    d = rng.normal(size=k)
    schur = h[np.ix_(fixed, fixed)] - (h[np.ix_(fixed, free)] @ np.linalg.solve(h[np.ix_(free, free)],
                                                                                h[np.ix_(free, fixed)]) if free else 0)
    expected = 0.5 * d @ schur @ d
    got = 0.5 * d @ np.linalg.solve(np.linalg.inv(h)[np.ix_(fixed, fixed)], d)
    assert got == pytest.approx(expected, rel=1e-8)


def test_the_fisher_comes_from_per_sample_gradients_of_the_batch_loss(problem):
    """The per-sample gradients average to the batch gradient; H is symmetric positive definite."""
    model, theta, data, _ = problem
    x, y = data.train.x[:40], data.train.y[:40]
    grads = np.array([model.loss_and_grad(theta, x[i:i + 1], y[i:i + 1])[1] for i in range(40)])
    np.testing.assert_allclose(grads.mean(axis=0), model.loss_and_grad(theta, x, y)[1], atol=1e-12)
    h = fisher(model, theta, x, y, samples=40)
    np.testing.assert_allclose(h, h.T)
    assert np.linalg.eigvalsh(h).min() > 0
    undamped = grads.T @ grads / 40
    np.testing.assert_allclose(h - undamped, np.diag(np.diag(h - undamped)), atol=1e-15)


def test_the_walk_is_one_path_and_its_sets_are_nested(problem):
    """Every ratio stops the same walk at another length: a smaller ratio's set is inside a larger's,
    each set has its ratio's size, and every chosen gate sits on one of its levels."""
    model, theta, data, lut = problem
    sets = {}
    for r in (0.2, 0.4, 0.6, 0.8):
        targets, mask = select_jointly(model, theta, data, lut, ("prune", "quant"), r)
        assert mask.sum() == round(r * len(model.gates))
        assert all((t is not None) == m for t, m in zip(targets, mask))
        sets[r] = {i: targets[i] for i in np.flatnonzero(mask)}
    for lo, hi in ((0.2, 0.4), (0.4, 0.6), (0.6, 0.8)):
        assert all(hi_level == sets[hi].get(i) for i, hi_level in sets[lo].items())


def test_the_depth_of_a_set_is_the_estimators(problem):
    from compvqc.compile.estimate import Estimator
    from compvqc.compress.admm import finalize

    model, theta, data, lut = problem
    walk = Selection(model, theta, lut, ("prune",), np.eye(model.n_params))
    controlled = {i: 0 for i, g in enumerate(model.gates) if g.type.controlled and walk.levels[i]}
    mask = np.array([i in controlled for i in range(len(model.gates))])
    targets = [walk.levels[i][0] if i in controlled else None for i in range(len(model.gates))]
    assert walk.cost(controlled) == Estimator(model, lut).estimate(finalize(model, theta, mask, targets).theta)


def test_a_user_owned_loop_keeps_the_joint_mask_and_reaches_the_levels(problem):
    """The README's loop with compvqc's choice: ADMM keeps the mask it is given (ratio and α
    unused) and pulls the masked angles onto their levels; finalize sets the exact LUT floats."""
    from compvqc.compile.estimate import Estimator
    from compvqc.compress.admm import ADMM

    model, theta, data, lut = problem
    targets, mask = select_jointly(model, theta, data, lut, ("prune", "quant"), 0.5)
    admm = ADMM(model, targets, ratio=0.9, alpha=1.0, rho=2.0, estimator=Estimator(model, lut), mask=mask)
    state = admm.init(theta)
    assert np.array_equal(state.mask, mask)
    x, y = data.train.x[:64], data.train.y[:64]
    for _ in range(6):
        for _ in range(30):
            _, grad = model.loss_and_grad(theta, x, y)
            theta = theta - 0.05 * (grad + admm.penalty(theta, state)[1])
        state, info = admm.update(theta, state)
        assert np.array_equal(info.mask, mask)
    assert info.primal_residual < 0.5
    final = admm.finalize(theta, info.mask)
    for i in np.flatnonzero(mask):
        assert np.array_equal(final.theta[list(model.gates[i].params)], targets[i].angles)
