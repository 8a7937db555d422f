"""Races: identical to stepping by hand, Newton's one-step solve, clipping per start, divergence freezing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim, surfaces
from descentlab.surfaces import RaceResult, race

STARTS = np.array([[-1.5, 2.0], [0.0, -0.5], [1.2, 1.6]])


def _manual(surface, opt, starts, steps, clip_norm=None, hessian=False):
    """The race written out: one batched step per iteration on a fresh copy of ``opt``."""
    runner = type(opt)(**opt.hyperparameters())
    theta = np.array(starts, dtype=float)
    path = [theta.copy()]
    for _ in range(steps):
        g = surface.grad(theta)
        if clip_norm is not None:
            for row in g:
                optim.clip.by_norm(row, clip_norm)
        if hessian:
            runner.step(theta, g, hessian=surface.hessian(theta))
        else:
            runner.step(theta, g)
        path.append(theta.copy())
    return np.stack(path)


OPTIMIZERS = {
    "GD": optim.GD(lr=1e-3),
    "Momentum": optim.Momentum(lr=1e-3, beta=0.9),
    "Nesterov": optim.Nesterov(lr=1e-3, beta=0.9),
    "AdaGrad": optim.AdaGrad(lr=0.3),
    "RMSprop": optim.RMSprop(lr=0.01),
    "Adam": optim.Adam(lr=0.05),
    "NAdam": optim.NAdam(lr=0.05),
    "AdaDelta": optim.AdaDelta(),
}


def test_race_matches_stepping_by_hand_for_every_optimizer():
    result = race(surfaces.rosenbrock, OPTIMIZERS, starts=STARTS, steps=120)
    assert list(result.runs) == list(OPTIMIZERS)
    for name, opt in OPTIMIZERS.items():
        run = result.runs[name]
        expected = _manual(surfaces.rosenbrock, opt, STARTS, 120)
        np.testing.assert_array_equal(run.trajectory, expected, err_msg=name)
        np.testing.assert_array_equal(run.losses, surfaces.rosenbrock.value(expected.reshape(-1, 2)).reshape(121, 3))
        steps = np.diff(expected, axis=0)
        np.testing.assert_array_equal(run.step_sizes, np.hypot(steps[..., 0], steps[..., 1]))
        np.testing.assert_array_equal(run.diverged_at, [-1, -1, -1])
        assert run.optimizer_description == opt.describe()
        assert run.hyperparameters == opt.hyperparameters()


def test_race_leaves_the_optimizers_passed_in_untouched():
    adam = optim.Adam(lr=0.05)
    race(surfaces.himmelblau, {"Adam": adam}, steps=20)
    assert adam.state is None and adam.step_count == 0


def test_a_start_shape_gives_one_column_and_the_default_start_is_the_surfaces():
    result = race("beale", {"Adam": optim.Adam(lr=0.05)}, steps=10)
    run = result.runs["Adam"]
    assert run.trajectory.shape == (11, 1, 2)
    assert run.losses.shape == (11, 1)
    assert run.step_sizes.shape == (10, 1)
    assert run.diverged_at.shape == (1,) and run.diverged_at.dtype.kind == "i"
    np.testing.assert_array_equal(run.trajectory[0, 0], surfaces.beale.start)
    np.testing.assert_array_equal(result.starts, [surfaces.beale.start])
    assert result.surface is surfaces.beale and result.steps == 10
    one = race("beale", {"Adam": optim.Adam(lr=0.05)}, start=(1.0, 1.0), steps=3)
    np.testing.assert_array_equal(one.starts, [[1.0, 1.0]])


@pytest.mark.parametrize(("condition", "angle"), [(10.0, 0.0), (1000.0, 35.0)])
def test_newton_solves_a_quadratic_in_one_step_in_a_race(condition, angle):
    bowl = surfaces.quadratic(condition=condition, angle=angle)
    result = race(bowl, {"Newton": optim.Newton(), "GD": optim.GD(lr=0.5 / condition)}, starts=STARTS, steps=3)
    newton = result.runs["Newton"]
    np.testing.assert_allclose(newton.trajectory[1], 0.0, atol=1e-12)
    np.testing.assert_allclose(newton.losses[1:], 0.0, atol=1e-24)
    assert (result.runs["GD"].losses[1] > 1e-6).all()  # GD does not: the comparison is not trivial


def test_newton_in_a_race_gets_the_exact_hessian():
    result = race(surfaces.rosenbrock, {"Newton": optim.Newton()}, starts=STARTS, steps=8)
    expected = _manual(surfaces.rosenbrock, optim.Newton(), STARTS, 8, hessian=True)
    np.testing.assert_array_equal(result.runs["Newton"].trajectory, expected)
    np.testing.assert_allclose(result.runs["Newton"].final_points, np.ones((3, 2)), atol=1e-10)


def test_clipping_is_per_start_and_equals_clip_by_norm_on_each_row():
    opt = {"GD": optim.GD(lr=0.1), "Momentum": optim.Momentum(lr=0.1, beta=0.9)}
    starts = np.array([[-3.0, 1.5], [-0.5, 0.0], [5.0, -2.0]])
    clipped = race(surfaces.cliff, opt, starts=starts, steps=150, clip_norm=1.0)
    for name, o in opt.items():
        expected = _manual(surfaces.cliff, o, starts, 150, clip_norm=1.0)
        np.testing.assert_array_equal(clipped.runs[name].trajectory, expected)
    assert clipped.clip_norm == 1.0
    assert clipped.runs["GD"].step_sizes.max() <= 0.1 + 1e-12


def test_the_cliff_catapults_unclipped_gd_and_clipping_tames_it():
    gd = {"GD": optim.GD(lr=0.1)}
    free = race(surfaces.cliff, gd, steps=300).runs["GD"]
    tamed = race(surfaces.cliff, gd, steps=300, clip_norm=1.0).runs["GD"]
    assert free.step_sizes.max() > 3.0  # ~100× the slope before the cliff
    assert free.trajectory[:, 0, 0].max() > 4.0  # thrown past the minimum at x = 3
    assert tamed.step_sizes.max() <= 0.1 + 1e-12
    assert tamed.trajectory[:, 0, 0].max() < 3.05
    assert tamed.final_losses[0] < 0.01


def test_divergence_freezes_the_run_at_its_last_finite_point():
    bowl = surfaces.quadratic(condition=10.0)
    starts = np.array([[-1.6, 0.8], [1.0, 0.0]])  # the second start has no y-component: it stays stable
    result = race(bowl, {"GD": optim.GD(lr=0.25)}, starts=starts, steps=200)  # lr > 2/κ: y explodes
    run = result.runs["GD"]
    t = int(run.diverged_at[0])
    assert t > 0 and run.diverged_at[1] == -1
    assert run.diverged.tolist() == [True, False]
    assert np.isfinite(run.trajectory).all() and np.isfinite(run.losses).all() and np.isfinite(run.step_sizes).all()
    np.testing.assert_array_equal(run.trajectory[t:, 0], np.broadcast_to(run.trajectory[t - 1, 0], (201 - t, 2)))
    np.testing.assert_array_equal(run.losses[t:, 0], run.losses[t - 1, 0])
    assert (run.step_sizes[t - 1 :, 0] == 0).all() and (run.step_sizes[: t - 1, 0] > 0).all()
    # Up to t − 1 the race is the plain GD run; its step t is the first outside the box.
    manual = _manual(bowl, optim.GD(lr=0.25), starts, t)
    np.testing.assert_array_equal(run.trajectory[:t], manual[:t])
    assert np.abs(manual[t, 0]).max() > result.escape >= np.abs(manual[t - 1, 0]).max()
    # The stable start is unaffected by its neighbour's divergence.
    alone = race(bowl, {"GD": optim.GD(lr=0.25)}, start=starts[1], steps=200).runs["GD"]
    np.testing.assert_array_equal(run.trajectory[:, 1], alone.trajectory[:, 0])


def test_overflow_to_inf_and_nan_is_caught_for_every_optimizer():
    starts = np.array([[-1.5, 2.0], [1.0, 1.0]])  # the second sits at the minimum: zero gradient, stays
    explosive = {"GD": optim.GD(lr=5.0), "Momentum": optim.Momentum(lr=5.0, beta=0.9), "Newton": optim.Newton()}
    result = race(surfaces.rosenbrock, explosive, starts=starts, steps=50, escape=1e300)
    for name in ("GD", "Momentum"):
        run = result.runs[name]
        assert run.diverged_at[0] > 0 and run.diverged_at[1] == -1, name
        assert np.isfinite(run.trajectory).all() and np.isfinite(run.losses).all(), name
    assert (result.runs["Newton"].diverged_at == -1).all()


def test_stop_on_divergence_false_keeps_a_run_going_outside_the_box():
    saddle = surfaces.saddle
    kept = race(saddle, {"GD": optim.GD(lr=0.1)}, steps=80, escape=10.0, stop_on_divergence=False).runs["GD"]
    stopped = race(saddle, {"GD": optim.GD(lr=0.1)}, steps=80, escape=10.0).runs["GD"]
    t = int(stopped.diverged_at[0])
    assert kept.diverged_at[0] == t > 0
    assert abs(kept.trajectory[-1, 0, 1]) > 10 * abs(stopped.trajectory[-1, 0, 1])
    np.testing.assert_array_equal(kept.trajectory[:t], stopped.trajectory[:t])
    assert abs(stopped.trajectory[-1, 0, 1]) <= 10.0


def test_best_summary_and_json():
    result = race(
        surfaces.himmelblau,
        {"GD": optim.GD(lr=0.01), "Adam": optim.Adam(lr=0.1), "Wild": optim.GD(lr=1.0)},
        starts=[[0.0, 0.0], [-1.0, -1.0]],
        steps=200,
    )
    assert result.runs["Wild"].diverged.all()
    best = result.best
    assert best is not None and best.name in ("GD", "Adam")
    finals = {n: r.final_losses for n, r in result.runs.items() if n != "Wild"}
    assert best.loss == min(float(v.min()) for v in finals.values())
    text = result.summary()
    assert "himmelblau: 200 steps" in text and "Wild" in text and "diverged at" in text
    assert text.count("\n") == 1 + 2 * 3
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["surface"] == "himmelblau"
    assert np.array(payload["runs"]["Adam"]["trajectory"]).shape == (201, 2, 2)
    assert set(result.final_points) == {"GD", "Adam", "Wild"}


def test_best_is_none_when_everything_diverged():
    result = race(surfaces.rosenbrock, {"GD": optim.GD(lr=10.0)}, steps=30)
    assert isinstance(result, RaceResult) and result.best is None


def test_summary_of_a_surface_without_minima():
    text = race(surfaces.saddle, {"Adam": optim.Adam(lr=0.05)}, steps=5).summary()
    assert "—" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start": (0.0, 0.0), "starts": [[0.0, 0.0]]}, ValueError, "not both"),
        ({"starts": [0.0, 0.0]}, ValueError, r"\(k, 2\)"),
        ({"starts": np.zeros((0, 2))}, ValueError, r"\(k, 2\)"),
        ({"start": (0.0, 0.0, 1.0)}, ValueError, "one point"),
        ({"start": (np.nan, 0.0)}, ValueError, "finite"),
        ({"start": (5e4, 0.0)}, ValueError, "outside the divergence box"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2.5}, ValueError, "steps"),
        ({"clip_norm": -1.0}, ValueError, "clip_norm"),
        ({"clip_norm": "1"}, TypeError, "clip_norm"),
        ({"escape": 0.0}, ValueError, "escape"),
    ],
)
def test_race_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        race(surfaces.booth, {"GD": optim.GD(lr=0.01)}, **kwargs)


def test_race_rejects_bad_optimizers_and_surfaces():
    with pytest.raises(TypeError, match="dict name → optimizer"):
        race(surfaces.booth, optim.GD(lr=0.01))
    with pytest.raises(TypeError, match="non-empty dict"):
        race(surfaces.booth, {})
    with pytest.raises(TypeError, match="not a descentlab optimizer"):
        race(surfaces.booth, {"GD": "gd"})
    with pytest.raises(ValueError, match="unknown surface"):
        race("banana", {"GD": optim.GD(lr=0.01)})
    with pytest.raises(TypeError, match="Surface or a surface name"):
        race(42, {"GD": optim.GD(lr=0.01)})


# -- schedules -------------------------------------------------------------------------------------------------
def test_a_schedule_sets_the_rate_before_each_step_as_by_hand():
    schedule = optim.schedules.Exponential(lr0=0.05, k=0.01)
    result = race(
        surfaces.rosenbrock, {"Adam": optim.Adam(lr=0.05)}, starts=STARTS, steps=60, schedules={"Adam": schedule}
    )
    runner = optim.Adam(lr=0.05)
    theta = STARTS.copy()
    for t in range(60):
        runner.lr = schedule(t)
        runner.step(theta, surfaces.rosenbrock.grad(theta))
    run = result.runs["Adam"]
    np.testing.assert_array_equal(run.trajectory[-1], theta)
    np.testing.assert_allclose(run.learning_rates, [schedule(t) for t in range(60)])
    assert run.schedule == repr(schedule)
    plain = race(surfaces.rosenbrock, {"Adam": optim.Adam(lr=0.05)}, steps=5).runs["Adam"]
    np.testing.assert_array_equal(plain.learning_rates, np.full(5, 0.05))
    assert plain.schedule == ""


def test_any_function_of_the_step_is_a_schedule():
    result = race(surfaces.booth, {"GD": optim.GD(lr=0.01)}, steps=4, schedules={"GD": lambda t: 0.01 / (1 + t)})
    np.testing.assert_allclose(result.runs["GD"].learning_rates, [0.01, 0.005, 0.01 / 3, 0.0025])


@pytest.mark.parametrize(
    ("schedules", "error", "match"),
    [
        ({"Adam": optim.schedules.Constant(0.1)}, ValueError, "name no optimizer"),
        ({"GD": optim.schedules.ReduceOnPlateau(optim.schedules.Constant(0.1))}, TypeError, "observe a metric"),
        ({"GD": 0.1}, TypeError, "function"),
        ({"GD": lambda t: -1.0}, ValueError, "finite numbers ≥ 0"),
        ([("GD", lambda t: 0.1)], TypeError, "dict"),
    ],
)
def test_bad_schedules_are_refused(schedules, error, match):
    with pytest.raises(error, match=match):
        race(surfaces.booth, {"GD": optim.GD(lr=0.01)}, steps=5, schedules=schedules)


# -- properties -----------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(surfaces.SURFACES)),
    optimizer=st.sampled_from(["gd", "momentum", "rmsprop", "adam"]),
    fractions=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=5),
)
def test_each_start_of_a_batch_runs_as_if_alone(name, optimizer, fractions):
    surface = surfaces.SURFACES[name]
    (x0, x1), (y0, y1) = surface.bounds
    starts = np.array([[x0 + a * (x1 - x0), y0 + b * (y1 - y0)] for a, b in fractions])
    opt = {"o": optim.make_optimizer(optimizer, lr=1e-3)}
    together = race(surface, opt, starts=starts, steps=15, backend="portable").runs["o"]
    for i, start in enumerate(starts):
        alone = race(surface, opt, start=start, steps=15, backend="portable").runs["o"]
        np.testing.assert_array_equal(together.trajectory[:, i], alone.trajectory[:, 0])
        np.testing.assert_array_equal(together.diverged_at[i], alone.diverged_at[0])
    assert np.isfinite(together.trajectory).all() and np.isfinite(together.losses).all()


def test_a_start_where_f_is_not_finite_is_refused():
    overflow = surfaces.rosenbrock
    with pytest.raises(ValueError, match="not finite at the start"):
        race(overflow, {"GD": optim.GD(lr=1e-3)}, start=(1e200, 0.0), escape=1e300)


# -- Newton at a singular Hessian -------------------------------------------------------------------------------
def test_a_singular_hessian_stops_only_that_newton_start_and_the_race_keeps_every_result():
    starts = np.array([[-1.5, 2.0], [0.0, 0.005]])  # Rosenbrock's Hessian is singular on y = x² + 0.005
    first_order = {"GD": optim.GD(lr=1e-3), "Adam": optim.Adam(lr=0.05)}
    result = race(surfaces.rosenbrock, {**first_order, "Newton": optim.Newton()}, starts=starts, steps=500)
    without_newton = race(surfaces.rosenbrock, first_order, starts=starts, steps=500)
    for name in first_order:
        np.testing.assert_array_equal(result.runs[name].trajectory, without_newton.runs[name].trajectory)
    newton = result.runs["Newton"]
    assert newton.diverged_at.tolist() == [-1, 1]
    np.testing.assert_array_equal(newton.trajectory[:, 1], np.broadcast_to(starts[1], (501, 2)))
    assert (newton.step_sizes[:, 1] == 0).all()
    alone = race(surfaces.rosenbrock, {"Newton": optim.Newton()}, start=starts[0], steps=500).runs["Newton"]
    np.testing.assert_array_equal(newton.trajectory[:, 0], alone.trajectory[:, 0])
    assert list(newton.failures) == [1]
    message = newton.failures[1]
    for part in ("'Newton'", "start (0, 0.005)", "singular", "step 1", "damping=1e-3", "min_curvature"):
        assert part in message
    assert message in result.summary()
    assert json.loads(json.dumps(result.to_dict()))["runs"]["Newton"]["failures"] == {"1": message}
    assert result.runs["GD"].failures == {} and result.best.name == "Newton"


def test_a_newton_start_that_reaches_a_singular_hessian_mid_race_is_frozen_there():
    # Far out on the plateau Newton walks outward until exp(−½(x² + 2y²)) underflows: H = 0 at step 25.
    starts = np.array([[38.0, 0.0], [0.5, 0.5]])
    newton = race(surfaces.plateau, {"Newton": optim.Newton()}, starts=starts, steps=60).runs["Newton"]
    t = int(newton.diverged_at[0])
    assert t > 1 and newton.diverged_at[1] == -1
    np.testing.assert_array_equal(
        newton.trajectory[:t, 0], _manual(surfaces.plateau, optim.Newton(), starts[:1], t - 1, hessian=True)[:, 0]
    )
    np.testing.assert_array_equal(newton.trajectory[t:, 0], np.broadcast_to(newton.trajectory[t - 1, 0], (61 - t, 2)))
    assert f"step {t} is undefined" in newton.failures[0] and "start (38, 0)" in newton.failures[0]
    alone = race(surfaces.plateau, {"Newton": optim.Newton()}, start=starts[1], steps=60).runs["Newton"]
    np.testing.assert_array_equal(newton.trajectory[:, 1], alone.trajectory[:, 0])
    damped = race(surfaces.plateau, {"Newton": optim.Newton(damping=1e-3)}, start=starts[0], steps=60).runs["Newton"]
    assert damped.failures == {}


# -- names, flags and step sizes ------------------------------------------------------------------------------
def test_optimizer_names_must_be_strings_so_that_none_is_dropped():
    with pytest.raises(TypeError, match=r"race: optimizer names must be strings, got 1 \(int\)"):
        race("booth", {1: optim.GD(lr=0.01), "1": optim.Adam(lr=0.1)}, steps=5)
    with pytest.raises(TypeError, match="optimizer names must be strings, got 0"):
        race("booth", {0: optim.GD(lr=0.01)}, steps=5, schedules={0: lambda t: 0.01})


@pytest.mark.parametrize("flag", ["no", None, 1])
def test_stop_on_divergence_must_be_a_bool(flag):
    with pytest.raises(TypeError, match=f"race: stop_on_divergence must be True or False, got {flag!r}"):
        race("saddle", {"GD": optim.GD(lr=0.1)}, steps=80, escape=10.0, stop_on_divergence=flag)


def test_step_sizes_between_huge_finite_points_do_not_overflow():
    run = race("ackley", {"GD": optim.GD(lr=1e300)}, steps=3, escape=1e308, backend="portable").runs["GD"]
    assert (run.diverged_at == -1).all() and np.isfinite(run.trajectory).all()
    assert np.isfinite(run.step_sizes).all() and run.step_sizes.max() > 1e299
    steps = np.diff(run.trajectory, axis=0)
    np.testing.assert_array_equal(run.step_sizes, np.hypot(steps[..., 0], steps[..., 1]))
