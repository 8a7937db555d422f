"""Configuration after construction, saved states, failed steps and dtypes: what an optimizer refuses, and that
a refusal leaves it exactly as it was."""

from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pytest

from descentlab import optim
from descentlab.optim import _base
from optim_cases import ALL_CASES


def _same_state(after: dict, before: dict) -> None:
    """Two ``state_dict()`` results hold the same values (arrays compared bit for bit)."""
    assert after.keys() == before.keys()
    for key, value in before.items():
        if key == "arrays":
            assert after[key].keys() == value.keys()
            for name, array in value.items():
                np.testing.assert_array_equal(after[key][name], array)
                assert after[key][name].dtype == array.dtype
        else:
            assert after[key] == value, key


def _stepped(opt: optim.Optimizer, steps: int = 2, size: int = 3) -> optim.Optimizer:
    theta = np.linspace(-1.0, 1.0, size)
    for t in range(steps):
        opt.step(theta, np.cos(theta + t))
    return opt


# -- hyperparameters assigned after construction ------------------------------------------------------------


def _continued(opt: optim.Optimizer, theta: np.ndarray, steps: int = 4) -> np.ndarray:
    for t in range(steps):
        opt.step(theta, np.sin(3 * theta + t))
    return theta


@pytest.mark.parametrize(
    ("make", "name", "value"),
    [
        (lambda: optim.Adam(lr=0.1), "beta2", 0.9),
        (lambda: optim.Adam(lr=0.1), "eps", 1e-3),
        (lambda: optim.Adam(lr=0.1, weight_decay=0.1), "decoupled_weight_decay", True),
        (lambda: optim.RMSprop(lr=0.1, momentum=0.5), "momentum", 0.8),
        (lambda: optim.Momentum(lr=0.1), "dampening", 0.3),
        (lambda: optim.NAdam(lr=0.1), "momentum_decay", 0.01),
        (lambda: optim.AdaGrad(lr=0.1), "lr_decay", 0.5),
        (lambda: optim.AdaDelta(window=3), "rho", 0.5),
    ],
)
def test_a_hyperparameter_changed_mid_run_is_used_from_the_next_step(make, name, value):
    # Changing it mid-run must equal resuming the saved state in an optimizer built with the new value.
    changed = _stepped(make())
    saved = changed.state_dict()
    setattr(changed, name, value)
    resumed = type(changed)(**{**saved["hyperparameters"], name: value})
    resumed.load_state_dict({**saved, "hyperparameters": resumed.hyperparameters()})
    np.testing.assert_array_equal(_continued(changed, np.ones(3)), _continued(resumed, np.ones(3)))
    assert changed.state_dict()["hyperparameters"] == resumed.state_dict()["hyperparameters"]


@pytest.mark.parametrize(
    ("make", "name", "value", "words"),
    [
        (lambda: optim.RMSprop(lr=0.1), "momentum", 0.9, "'momentum_buffer'"),
        (lambda: optim.RMSprop(lr=0.1), "centered", True, "'grad_avg'"),
        (lambda: optim.RMSprop(lr=0.1, momentum=0.9), "momentum", 0.0, "'momentum_buffer'"),
        (lambda: optim.Adam(), "amsgrad", True, "'v_max'"),
        (lambda: optim.AdamW(amsgrad=True), "amsgrad", False, "'v_max'"),
        (lambda: optim.AdaDelta(), "window", 3, "'sq_grads'"),
        (lambda: optim.AdaDelta(window=3), "window", 5, "values per parameter: 3 → 5"),
        (lambda: optim.Momentum(), "form", "sutskever", "'heavy_ball' → 'sutskever'"),
    ],
)
def test_a_change_that_needs_another_state_is_refused_mid_run(make, name, value, words):
    opt = _stepped(make())
    old = getattr(opt, name)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        setattr(opt, name, value)
    message = str(info.value)
    for part in (f"{name}={value!r}", "state was kept unchanged", "at construction", "reset()"):
        assert part in message
    assert getattr(opt, name) == old
    _same_state(opt.state_dict(), before)
    type(opt)().load_state_dict(opt.state_dict())  # still a consistent, loadable state
    opt.reset()
    setattr(opt, name, value)  # without a state the change is free, and then used
    fresh = type(opt)(**opt.hyperparameters())
    np.testing.assert_array_equal(_continued(opt, np.ones(3)), _continued(fresh, np.ones(3)))


def test_options_set_before_the_first_step_are_used():
    toggled = optim.RMSprop(lr=0.1)
    toggled.momentum = 0.9
    toggled.centered = True
    built = optim.RMSprop(lr=0.1, momentum=0.9, centered=True)
    np.testing.assert_array_equal(_continued(toggled, np.ones(3)), _continued(built, np.ones(3)))
    assert sorted(toggled.state.arrays) == ["grad_avg", "momentum_buffer", "square_avg"]


@pytest.mark.parametrize(
    ("make", "name", "value", "error", "words"),
    [
        (optim.Adam, "beta1", 1.5, ValueError, "beta1=1.5 is outside [0, 1)"),
        (optim.Adam, "eps", 0.0, ValueError, "eps=0"),
        (optim.Adam, "amsgrad", "False", TypeError, "amsgrad=True"),
        (optim.RMSprop, "momentum", -0.1, ValueError, "momentum=-0.1"),
        (optim.Momentum, "form", "polyak", ValueError, "form='polyak'"),
        (lambda: optim.Momentum(form="ewa"), "dampening", 0.5, ValueError, "dampening"),
        (optim.AdaDelta, "window", 0, ValueError, "window=0"),
        (optim.Newton, "cg_iters", 0, ValueError, "cg_iters=0"),
        (optim.GD, "nonfinite", "ignore", ValueError, "nonfinite='ignore'"),
    ],
)
@pytest.mark.parametrize("stepped", [False, True], ids=["fresh", "mid-run"])
def test_an_invalid_value_assigned_later_is_refused_as_by_the_constructor(make, name, value, error, words, stepped):
    opt = make()
    if stepped and not isinstance(opt, optim.Newton):
        _stepped(opt)
    before = opt.state_dict()
    with pytest.raises(error, match=re.escape(words)):
        setattr(opt, name, value)
    _same_state(opt.state_dict(), before)


def test_an_option_a_subclass_fixes_cannot_be_assigned():
    adamw = optim.AdamW()
    with pytest.raises(TypeError, match=re.escape("decoupled_weight_decay is fixed at True by AdamW itself")) as info:
        adamw.decoupled_weight_decay = False
    assert "Adam(decoupled_weight_decay=...)" in str(info.value)
    assert adamw.decoupled_weight_decay is True


def test_assigned_values_are_normalised_as_by_the_constructor():
    adam = optim.Adam()
    adam.beta1 = np.float32(0.5)
    adam.amsgrad = np.bool_(True)
    assert type(adam.beta1) is float and adam.beta1 == 0.5
    assert adam.amsgrad is True
    adadelta = optim.AdaDelta()
    adadelta.window = np.int64(4)
    assert type(adadelta.window) is int


def test_a_subclass_may_set_hyperparameters_in_its_own_constructor():
    class Cautious(optim.Adam):
        def __init__(self, lr: float = 1e-3, amsgrad: bool = True) -> None:
            super().__init__(lr)
            self.amsgrad = amsgrad  # after super().__init__: still construction, not a change mid-run

    opt = _stepped(Cautious())
    assert sorted(opt.state.arrays) == ["m", "v", "v_max"]
    with pytest.raises(ValueError, match="kept unchanged"):
        opt.amsgrad = False


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_copies_keep_stepping_identically_and_keep_validating(case):
    opt = _stepped(case.make())
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        np.testing.assert_array_equal(_continued(clone, np.ones(3)), _continued(copy.deepcopy(opt), np.ones(3)))
        with pytest.raises(ValueError, match="lr=-1"):
            clone.lr = -1.0
        with pytest.raises(ValueError, match="nonfinite='ignore'"):
            clone.nonfinite = "ignore"


# -- boolean options ---------------------------------------------------------------------------------------

BOOLEAN_OPTIONS = [
    (optim.Momentum, "bias_correction", {"form": "ewa"}),
    (optim.Adam, "amsgrad", {}),
    (optim.Adam, "decoupled_weight_decay", {}),
    (optim.Adam, "eps_inside", {}),
    (optim.AdamW, "amsgrad", {}),
    (optim.AdamW, "eps_inside", {}),
    (optim.NAdam, "decoupled_weight_decay", {}),
    (optim.AdaGrad, "eps_inside", {}),
    (optim.RMSprop, "centered", {}),
    (optim.RMSprop, "eps_inside", {}),
    (optim.EWA, "bias_correction", {}),
]


@pytest.mark.parametrize(("cls", "name", "others"), BOOLEAN_OPTIONS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("bad", ["False", 0, 1, None, 1.0])
def test_boolean_options_take_only_booleans(cls, name, others, bad):
    with pytest.raises(TypeError, match=re.escape(f"{name}=True or {name}=False")) as info:
        cls(**others, **{name: bad})
    assert cls.__name__ in str(info.value) and repr(bad) in str(info.value)


@pytest.mark.parametrize(("cls", "name", "others"), BOOLEAN_OPTIONS, ids=lambda x: getattr(x, "__name__", x))
def test_boolean_options_are_stored_as_python_bools(cls, name, others):
    assert getattr(cls(**others, **{name: np.bool_(True)}), name) is True
    assert getattr(cls(**others, **{name: False}), name) is False


# -- load_state_dict checks everything before assigning anything ---------------------------------------------


def _nadam_state() -> dict:
    return _stepped(optim.NAdam(lr=0.3)).state_dict()


def _adam_state() -> dict:
    return _stepped(optim.Adam(lr=0.3, amsgrad=True)).state_dict()


@pytest.mark.parametrize(
    ("source", "damage", "error", "words"),
    [
        (_adam_state, lambda s: s.update(skipped_steps="x"), ValueError, "skipped_steps='x'"),
        (_adam_state, lambda s: s.update(skipped_steps=-5), ValueError, "skipped_steps=-5"),
        (_adam_state, lambda s: s.update(skipped_steps=1.5), ValueError, "skipped_steps=1.5"),
        (_adam_state, lambda s: s.update(skipped_steps=True), ValueError, "skipped_steps=True"),
        (_nadam_state, lambda s: s.update(scalars={}), ValueError, "['mu_product']"),
        (_nadam_state, lambda s: s["scalars"].update(extra=1.0), ValueError, "['extra', 'mu_product']"),
        (_nadam_state, lambda s: s.update(scalars={"mu_product": float("nan")}), ValueError, "mu_product=nan"),
        (_nadam_state, lambda s: s.update(scalars={"mu_product": "0.5"}), ValueError, "mu_product='0.5'"),
        (_nadam_state, lambda s: s.update(scalars=[0.5]), TypeError, "scalars"),
        (_adam_state, lambda s: s["scalars"].update(mu_product=0.5), ValueError, "['mu_product']"),
        (_adam_state, lambda s: s["arrays"].update(m=np.array([1, 2, 3])), TypeError, "dtype int64"),
        (_adam_state, lambda s: s["arrays"].update(m=s["arrays"]["m"].astype(np.float32)), ValueError, "dtypes"),
        (_adam_state, lambda s: s["arrays"]["v"].__setitem__(1, np.nan), ValueError, "'v' holds NaN or Inf"),
        (_adam_state, lambda s: s["arrays"]["v_max"].__setitem__(0, np.inf), ValueError, "'v_max' holds NaN"),
        (_adam_state, lambda s: s.update(arrays=[1.0]), TypeError, "arrays"),
        (_adam_state, lambda s: s.update(hyperparameters=[0.1]), TypeError, "hyperparameters"),
    ],
)
def test_a_failed_load_leaves_the_optimizer_exactly_as_it_was(source, damage, error, words):
    state = source()
    damage(state)
    target = _stepped(getattr(optim, state["optimizer"])(lr=0.01), steps=3)
    target.skipped_steps = 2
    before = target.state_dict()
    with pytest.raises(error, match=re.escape(words)):
        target.load_state_dict(state)
    _same_state(target.state_dict(), before)


def test_a_float16_state_loads_and_a_fresh_state_needs_no_scalars():
    state = _stepped(optim.Adam(lr=0.1)).state_dict()
    state["arrays"] = {k: v.astype(np.float16) for k, v in state["arrays"].items()}
    target = optim.Adam()
    target.load_state_dict(state)
    assert target.state.m.dtype == np.float16
    fresh = optim.NAdam().state_dict()
    assert fresh["scalars"] == {} and fresh["step"] == 0
    target = _stepped(optim.NAdam())
    target.load_state_dict(fresh)
    assert target.state is None


# -- a step that fails changes nothing ----------------------------------------------------------------------


@pytest.mark.parametrize("stepped", [False, True], ids=["first-step", "mid-run"])
def test_unknown_step_keywords_are_refused_up_front(stepped):
    opt = optim.Adam(lr=0.1)
    if stepped:
        _stepped(opt)
    before = opt.state_dict()
    theta = np.ones(3)
    with pytest.raises(TypeError, match=r"Adam\.step takes theta and grad only, got hessian=") as info:
        opt.step(theta, np.ones(3), hessian=np.eye(3))
    assert "Newton" in str(info.value)
    np.testing.assert_array_equal(theta, np.ones(3))
    _same_state(opt.state_dict(), before)
    assert (opt.state is None) == (not stepped)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("stepped", [False, True], ids=["first-step", "mid-run"])
def test_an_update_that_raises_leaves_the_state_as_it_was(case, stepped, monkeypatch):
    opt = case.make()
    if stepped:
        _stepped(opt)
    before = opt.state_dict()

    def broken(*args, **kwargs):
        raise MemoryError("no room for the temporaries")

    monkeypatch.setattr(_base, "apply_rule", broken)  # where every elementwise rule runs
    if type(opt)._update is not optim.Optimizer._update:  # windowed AdaDelta runs its own update
        monkeypatch.setattr(opt, "_update", broken)
    with pytest.raises(MemoryError):
        opt.step(np.ones(3), np.ones(3))
    assert (opt.state is None) == (not stepped)
    _same_state(opt.state_dict(), before)


# -- ε must survive rounding to θ's dtype ------------------------------------------------------------------


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW, optim.NAdam, optim.RMSprop, optim.AdaGrad, optim.AdaDelta])
def test_an_eps_that_rounds_to_zero_in_float16_is_refused_before_any_change(cls):
    opt = cls(eps=1e-8)
    theta = np.ones(4, np.float16)
    grad = np.array([0, 1, 0, 1], np.float16)
    with pytest.raises(ValueError) as info:
        opt.step(theta, grad)
    message = str(info.value)
    for part in (f"{cls.__name__}.step", "eps=1e-08", "float16", "5.96e-08", "float32"):
        assert part in message
    assert opt.state is None and opt.skipped_steps == 0
    np.testing.assert_array_equal(theta, np.ones(4, np.float16))
    workable = cls(eps=1e-4)
    workable.step(theta, grad)
    assert np.isfinite(theta).all() and theta[0] == 1.0


def test_an_eps_that_float32_cannot_hold_is_refused_and_float64_takes_any():
    with pytest.raises(ValueError, match="eps=1e-50 rounds to 0 in float32"):
        optim.Adam(eps=1e-50).step(np.ones(2, np.float32), np.ones(2, np.float32))
    theta = np.ones(2)
    optim.Adam(eps=1e-300).step(theta, np.array([0.0, 1.0]))
    assert theta[0] == 1.0


# -- messages ------------------------------------------------------------------------------------------------


def test_make_optimizer_points_sgd_users_to_the_three_names():
    with pytest.raises(ValueError) as info:
        optim.make_optimizer("sgd")
    message = str(info.value)
    assert "unknown optimizer 'sgd'; known: gd, momentum, nesterov" in message
    for part in ("'gd'", "'momentum'", "'nesterov'", "PyTorch"):
        assert part in message
