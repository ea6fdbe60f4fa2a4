import numpy as np
import pytest

from compvqc.data import load_dataset
from compvqc.errors import TrainingError
from compvqc.model import build_model
from compvqc.train import SGD, Adam, AdamState, evaluate, fit


@pytest.fixture(scope="module")
def syn4():
    return load_dataset("syn4", n_samples=400)


@pytest.fixture(scope="module")
def model():
    return build_model("2x2_ryz", "random14", 2, arch_seed=0)


def test_training_learns_syn4(model, syn4):
    theta0 = model.init_params(np.random.default_rng(0))
    before = evaluate(model, theta0, syn4.val.x, syn4.val.y)
    r = fit(model, theta0, syn4.train.x, syn4.train.y, epochs=8, seed=0, optimizer=Adam(lr=0.05), progress=False)
    after = evaluate(model, r.theta, syn4.val.x, syn4.val.y)
    assert after[0] < before[0] and after[1] >= 0.9


def test_same_seeds_give_bit_identical_parameters(model, syn4):
    runs = [fit(model, model.init_params(np.random.default_rng(3)), syn4.train.x, syn4.train.y,
                epochs=2, seed=5, progress=False).theta for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])
    other = fit(model, model.init_params(np.random.default_rng(3)), syn4.train.x, syn4.train.y,
                epochs=2, seed=6, progress=False).theta
    assert not np.array_equal(runs[0], other)


@pytest.mark.parametrize("optimizer", [Adam(lr=0.02), SGD(lr=0.1, momentum=0.9)])
def test_resume_mid_epoch_is_exact(model, syn4, optimizer):
    theta0 = model.init_params(np.random.default_rng(1))
    x, y = syn4.train.x, syn4.train.y
    full = fit(model, theta0, x, y, epochs=3, seed=2, batch_size=16, optimizer=optimizer, progress=False)
    stopped = {}

    def stop_at_step_30(event):
        if event.kind == "step" and event.step == 30:
            stopped["epoch"] = event.epoch
            return False

    part = fit(model, theta0, x, y, epochs=3, seed=2, batch_size=16, optimizer=optimizer, callback=stop_at_step_30, progress=False)
    per_epoch = -(-len(y) // 16)
    state = {k: np.array(v) for k, v in part.opt_state._asdict().items()}  # as a checkpoint stores it
    resumed = fit(model, part.theta, x, y, epochs=3, seed=2, batch_size=16, optimizer=optimizer,
                  opt_state=type(optimizer).state_from_dict(state), start_epoch=stopped["epoch"],
                  start_step=30 - stopped["epoch"] * per_epoch, progress=False)
    assert np.array_equal(resumed.theta, full.theta)


def test_frozen_parameters_do_not_move(model, syn4):
    theta0 = model.init_params(np.random.default_rng(0))
    frozen = np.zeros(model.n_params, bool)
    frozen[[0, 3, 7]] = True
    r = fit(model, theta0, syn4.train.x, syn4.train.y, epochs=1, seed=0, frozen=frozen, progress=False)
    assert np.array_equal(r.theta[frozen], theta0[frozen]) and not np.array_equal(r.theta, theta0)


def test_adam_state_is_named_arrays():
    s = Adam().init(np.zeros(4))
    assert isinstance(s, AdamState) and set(s._asdict()) == {"count", "mu", "nu"}
    upd, s2 = Adam(lr=0.1).update(np.ones(4), s)
    assert int(s2.count) == 1 and np.allclose(upd, -0.1)


def test_callback_sees_steps_and_epochs(model, syn4):
    kinds = []
    fit(model, model.init_params(np.random.default_rng(0)), syn4.train.x[:64], syn4.train.y[:64],
        epochs=2, seed=0, batch_size=32, callback=lambda e: kinds.append((e.kind, e.step)), progress=False,
        val=(syn4.val.x, syn4.val.y))
    assert kinds == [("step", 1), ("step", 2), ("epoch", 2), ("step", 3), ("step", 4), ("epoch", 4)]


def test_bad_settings():
    m = build_model("2x2_ryz", "random14", 2)
    with pytest.raises(TrainingError):
        fit(m, np.zeros(m.n_params), np.zeros((0, 4)), np.zeros(0, int), epochs=1, seed=0)
    with pytest.raises(TrainingError):
        fit(m, np.zeros(m.n_params), np.zeros((2, 4)), np.zeros(2, int), epochs=1, seed=0, batch_size=0)


# --- gradient rules (compvqc.train.gradients) --------------------------------------------------
def test_finite_differences_agree_with_the_adjoint_gradient(model, syn4):
    from compvqc.train.gradients import get_gradient

    theta = model.init_params(np.random.default_rng(3))
    x, y = syn4.train.x[:16], syn4.train.y[:16]
    exact = get_gradient("adjoint").make(model)(theta, x, y)
    fd = get_gradient("finite-difference").make(model)(theta, x, y)
    assert fd[0] == pytest.approx(exact[0], abs=1e-12)
    np.testing.assert_allclose(fd[1], exact[1], atol=1e-7)


def test_a_gradient_rule_registered_here_trains_through_the_run_layer(monkeypatch):
    """One register call, and TrainConfig, the run layer and the CLI choices know the rule."""
    from compvqc.runs import train_on_dataset
    from compvqc.train import TrainConfig
    from compvqc.train.gradients import GRADIENTS, GradientRule, register_gradient

    calls = []

    def halved(model):
        def loss_and_grad(theta, x, y):
            calls.append(len(y))
            loss, grad = model.loss_and_grad(theta, x, y)
            return loss, grad / 2
        return loss_and_grad

    for name in ("halved", "on-chip"):  # removed again after the test
        monkeypatch.setitem(GRADIENTS, name, None)
    register_gradient(GradientRule("halved", halved, help="half the exact gradient"))
    cfg = dict(dataset="syn4", arch="random8", epochs=1, n_samples=64)
    run = train_on_dataset(TrainConfig(**cfg, gradient="halved"), progress=False)
    assert sum(calls) == len(run.dataset.train)  # every step used the rule
    assert run.config.to_dict()["gradient"] == "halved"

    register_gradient(GradientRule("on-chip", halved, needs=("shots", "backend")))
    with pytest.raises(TrainingError, match="needs shots and backend"):
        TrainConfig(**cfg, gradient="on-chip")
    with pytest.raises(TrainingError, match="unknown gradient rule"):
        TrainConfig(**cfg, gradient="nope")
