"""Generic checks run over every optimizer configuration of the registry (tests/optim_cases.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from descentlab import optim
from optim_cases import ALL_CASES, INVALID_HYPERPARAMETERS, gradient, problem


def _steps(opt, theta, noise):
    for t in range(len(noise)):
        opt.step(theta, gradient(theta, noise[t]).astype(theta.dtype))


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_state_dict_round_trip_continues_bit_identically(case):
    theta0, noise = problem(steps=40)
    straight = case.make()
    theta_a = theta0.copy()
    _steps(straight, theta_a, noise)

    first = case.make()
    theta_b = theta0.copy()
    _steps(first, theta_b, noise[:17])
    state = first.state_dict()
    # The saved form is plain arrays and JSON-able numbers: no pickle is ever needed.
    json.dumps({k: v for k, v in state.items() if k != "arrays"})
    assert all(isinstance(a, np.ndarray) for a in state["arrays"].values())
    resumed = case.make()
    resumed.load_state_dict(state)
    _steps(resumed, theta_b, noise[17:])
    np.testing.assert_array_equal(theta_a, theta_b)
    assert resumed.step_count == straight.step_count == 40


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_state_dict_is_a_copy(case):
    opt = case.make()
    theta = np.ones(3)
    opt.step(theta, np.ones(3))
    state = opt.state_dict()
    for array in state["arrays"].values():
        array += 100.0
    assert all(np.abs(a).max() < 100 for a in opt.state.arrays.values())


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_batched_rows_equal_separate_runs(case):
    k = 4
    starts = np.random.default_rng(3).normal(size=(k, 5))
    noise = np.random.default_rng(4).normal(scale=0.3, size=(25, k, 5))
    batched = starts.copy()
    _steps(case.make(), batched, noise)
    for row in range(k):
        single = starts[row].copy()
        _steps(case.make(), single, noise[:, row])
        np.testing.assert_allclose(batched[row], single, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(case, dtype):
    opt = case.make()
    theta = np.linspace(-1, 1, 6).astype(dtype)
    for _ in range(3):
        opt.step(theta, (2 * theta + 0.1).astype(dtype))
    assert theta.dtype == dtype
    assert all(a.dtype == dtype for a in opt.state.arrays.values())
    assert np.isfinite(theta).all()


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_float32_tracks_float64(case):
    theta0, noise = problem(steps=30)
    wide, narrow = theta0.copy(), theta0.astype(np.float32)
    _steps(case.make(), wide, noise)
    _steps(case.make(), narrow, noise)
    np.testing.assert_allclose(narrow, wide, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_strided_theta_is_updated_in_place(case):
    # A column view of a larger array is not contiguous; the step must still write through it.
    block = np.tile(np.linspace(-1, 1, 5)[:, None], (1, 3))
    column = block[:, 1]
    contiguous = column.copy()
    noise = problem(dim=5, steps=6)[1]
    _steps(case.make(), column, noise)
    _steps(case.make(), contiguous, noise)
    np.testing.assert_allclose(block[:, 1], contiguous, rtol=1e-14)
    np.testing.assert_array_equal(block[:, 0], np.linspace(-1, 1, 5))


@pytest.mark.parametrize(
    ("cls", "kwargs", "words"), INVALID_HYPERPARAMETERS, ids=lambda x: getattr(x, "__name__", None)
)
def test_invalid_hyperparameters_raise_with_name_and_range(cls, kwargs, words):
    with pytest.raises((ValueError, TypeError)) as info:
        cls(**kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gradient_raises_and_changes_nothing(case, bad):
    opt = case.make()
    theta = np.array([0.5, -0.5, 1.0])
    opt.step(theta, np.array([0.1, 0.2, 0.3]))
    before_theta, before_state = theta.copy(), opt.state_dict()
    grad = np.array([0.1, bad, 0.3])
    with pytest.raises(optim.NonFiniteGradientError, match="flat index 1"):
        opt.step(theta, grad)
    np.testing.assert_array_equal(theta, before_theta)
    after = opt.state_dict()
    assert after["step"] == before_state["step"]
    for name, array in before_state["arrays"].items():
        np.testing.assert_array_equal(after["arrays"][name], array)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_nonfinite_gradient_skipped_on_request(case):
    opt = case.cls(**case.kwargs, nonfinite="skip")
    theta = np.array([0.5, -0.5])
    assert opt.step(theta, np.array([np.nan, 1.0])) is False
    np.testing.assert_array_equal(theta, [0.5, -0.5])
    assert opt.skipped_steps == 1 and opt.step_count == 0
    assert opt.step(theta, np.array([1.0, 1.0])) is True
    assert opt.step_count == 1


def test_large_finite_gradient_is_not_mistaken_for_nonfinite():
    # The sum overflows to inf, but every entry is finite: the step must go ahead.
    theta = np.zeros(4, dtype=np.float32)
    grad = np.full(4, 3e38, dtype=np.float32)
    assert optim.GD(lr=1e-40).step(theta, grad)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_mismatched_arrays_raise_before_touching_state(case):
    opt = case.make()
    theta = np.zeros(3)
    opt.step(theta, np.ones(3))
    saved = opt.state_dict()
    with pytest.raises(ValueError, match=r"grad has shape \(4,\) but theta has shape \(3,\)"):
        opt.step(theta, np.ones(4))
    with pytest.raises(TypeError, match="dtype float32 but theta has dtype float64"):
        opt.step(theta, np.ones(3, dtype=np.float32))
    if opt.state.arrays:  # plain GD keeps no state, so any shape may follow
        with pytest.raises(ValueError, match="was created for shape"):
            opt.step(np.zeros(5), np.ones(5))
    with pytest.raises(TypeError, match="floating dtype"):
        opt.step(np.zeros(3, dtype=int), np.ones(3, dtype=int))
    with pytest.raises(TypeError, match="must be a NumPy array"):
        opt.step([0.0, 0.0, 0.0], np.ones(3))
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        opt.step(frozen, np.ones(3))
    assert opt.state_dict()["step"] == saved["step"]


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_describe_shows_current_values(case):
    opt = case.make()
    text = opt.describe()
    assert type(opt).__name__ in text and "θ ←" in text
    assert f"{opt.lr:g}" in text
    opt.lr = 0.123
    assert "0.123" in opt.describe()


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_lr_zero_is_a_no_op_and_negative_lr_is_refused(case):
    opt = case.make()
    opt.lr = 0.0
    theta = np.array([1.0, 2.0])
    opt.step(theta, np.array([1.0, 1.0]))
    np.testing.assert_array_equal(theta, [1.0, 2.0])
    with pytest.raises(ValueError, match="lr=-1"):
        opt.lr = -1.0


def test_load_state_dict_rejects_another_optimizer():
    state = optim.Adam().state_dict()
    with pytest.raises(ValueError, match="belongs to 'Adam'"):
        optim.RMSprop().load_state_dict(state)


def test_load_state_dict_restores_hyperparameters():
    source = optim.Adam(lr=0.5, beta1=0.8)
    theta = np.ones(2)
    source.step(theta, np.ones(2))
    target = optim.Adam()
    target.load_state_dict(source.state_dict())
    assert (target.lr, target.beta1, target.step_count) == (0.5, 0.8, 1)


def test_registry_names_every_optimizer():
    assert set(optim.OPTIMIZERS) == {
        "gd",
        "momentum",
        "nesterov",
        "adagrad",
        "adadelta",
        "rmsprop",
        "adam",
        "adamw",
        "nadam",
        "newton",
    }
    assert isinstance(optim.make_optimizer("Adam", lr=0.1), optim.Adam)
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'; known: gd, momentum"):
        optim.make_optimizer("adamax")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda s: s.pop("arrays"), "the state has no 'arrays'"),
        (lambda s: s.update(step=-1), "step=-1"),
        (lambda s: s["arrays"].pop("v"), "state arrays"),
        (lambda s: s["hyperparameters"].update(beta1=2.0), "beta1=2"),
    ],
)
def test_a_damaged_state_raises_and_leaves_the_optimizer_as_it_was(damage, words):
    source = optim.Adam(lr=0.5)
    source.step(np.ones(3), np.ones(3))
    state = source.state_dict()
    damage(state)
    target = optim.Adam(lr=0.1, beta1=0.8)
    theta = np.ones(3)
    target.step(theta, np.ones(3))
    before = target.state_dict()
    with pytest.raises(ValueError, match=re.escape(words)):
        target.load_state_dict(state)
    after = target.state_dict()
    assert after["hyperparameters"] == before["hyperparameters"] and after["step"] == before["step"]
    for key, array in before["arrays"].items():
        np.testing.assert_array_equal(after["arrays"][key], array)
