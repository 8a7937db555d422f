"""The compiled race loop computes what the portable loop computes, and is chosen only where it applies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from descentlab import optim, surfaces
from descentlab.surfaces import _compiled, race, racing

pytest.importorskip("numba")
special = pytest.importorskip("scipy.special")


def _starts(surface, k, seed):
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surface.bounds
    return np.column_stack([rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)])


# Per-step scalars: constant (GD), dependent on t (Adam's bias corrections, heavy ball's first-step dampening),
# sequential (NAdam's running product of momentum coefficients).
RACERS = {
    "Adam": optim.Adam(lr=0.05),
    "NAdam": optim.NAdam(lr=0.05),
    "Momentum": optim.Momentum(lr=1e-3, beta=0.9, dampening=0.5),
    "GD": optim.GD(lr=0.003),
}


@pytest.mark.parametrize("k", [3, 40])  # 40 starts: optim's fused kernel (with its subnormal flush) steps them
@pytest.mark.parametrize("clip_norm", [None, 5.0])
def test_compiled_race_equals_the_portable_race_bit_for_bit(k, clip_norm):
    starts = _starts(surfaces.rosenbrock, k, seed=k)
    kwargs = {"starts": starts, "steps": 300, "clip_norm": clip_norm}
    portable = race(surfaces.rosenbrock, RACERS, backend="portable", **kwargs)
    compiled = race(surfaces.rosenbrock, RACERS, backend="compiled", **kwargs)
    for name in RACERS:
        a, b = portable.runs[name], compiled.runs[name]
        assert (a.backend, b.backend) == ("portable", "compiled")
        np.testing.assert_array_equal(b.trajectory, a.trajectory, err_msg=name)
        np.testing.assert_array_equal(b.losses, a.losses, err_msg=name)
        np.testing.assert_array_equal(b.step_sizes, a.step_sizes, err_msg=name)
        np.testing.assert_array_equal(b.diverged_at, a.diverged_at, err_msg=name)
        assert b.optimizer_description == a.optimizer_description
        assert b.hyperparameters == a.hyperparameters
    diverged = compiled.runs["GD"].diverged
    if clip_norm is None:  # unclipped, GD at this rate leaves Rosenbrock's box from some starts
        assert diverged.any() and not diverged.all()
    else:  # clipped, its steps stay ≤ lr·c and none leaves
        assert not diverged.any() and compiled.runs["GD"].step_sizes.max() <= 0.003 * 5.0 + 1e-15


def test_compiled_race_matches_closely_where_the_surface_uses_transcendental_functions():
    starts = np.vstack([surfaces.cliff.start, _starts(surfaces.cliff, 5, seed=1)])
    kwargs = {"starts": starts, "steps": 200, "clip_norm": 1.0}
    portable = race(surfaces.cliff, {"Adam": optim.Adam(lr=0.1)}, backend="portable", **kwargs).runs["Adam"]
    compiled = race(surfaces.cliff, {"Adam": optim.Adam(lr=0.1)}, backend="compiled", **kwargs).runs["Adam"]
    np.testing.assert_allclose(compiled.trajectory, portable.trajectory, rtol=0, atol=1e-9)
    np.testing.assert_allclose(compiled.losses, portable.losses, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(compiled.diverged_at, portable.diverged_at)


def test_auto_gives_the_same_bits_whatever_ran_before(monkeypatch, tmp_path):
    """The same call gives the same bits in any process: "auto" takes the compiled loop only where it equals the
    portable loop (an arithmetic-only surface): for a long race, or a short one once the kernel is ready."""
    rmsprop = {"RMSprop": optim.RMSprop(lr=0.01)}
    starts = _starts(surfaces.ackley, 40, seed=0)
    race(surfaces.ackley, rmsprop, starts=starts, steps=300, backend="compiled")  # the kernel is ready now
    auto = race(surfaces.ackley, rmsprop, starts=starts, steps=300).runs["RMSprop"]
    portable = race(surfaces.ackley, rmsprop, starts=starts, steps=300, backend="portable").runs["RMSprop"]
    assert auto.backend == "portable"
    np.testing.assert_array_equal(auto.trajectory, portable.trajectory)
    np.testing.assert_array_equal(auto.losses, portable.losses)

    adam = optim.Adam(lr=0.05)
    monkeypatch.setenv("DESCENTLAB_KERNEL_DIR", str(tmp_path))  # an empty kernel cache ...
    monkeypatch.setattr(_compiled, "_modules", {})  # ... and none loaded: nothing is ready
    reference = race(surfaces.rosenbrock, {"Adam": adam}, steps=20, backend="portable").runs["Adam"]
    assert race(surfaces.rosenbrock, {"Adam": adam}, steps=20).runs["Adam"].backend == "portable"  # short
    race(surfaces.rosenbrock, {"Adam": adam}, steps=20, backend="compiled")
    short = race(surfaces.rosenbrock, {"Adam": adam}, steps=20).runs["Adam"]
    assert short.backend == "compiled"  # short, but the kernel is ready now: it costs nothing
    np.testing.assert_array_equal(short.trajectory, reference.trajectory)
    steps = racing.AUTO_COMPILED_MIN_WORK
    long = race(surfaces.rosenbrock, {"Adam": adam}, steps=steps).runs["Adam"]
    assert long.backend == "compiled" and adam.state is None
    reference = race(surfaces.rosenbrock, {"Adam": adam}, steps=steps, backend="portable").runs["Adam"]
    np.testing.assert_array_equal(long.trajectory, reference.trajectory)
    newton = race(surfaces.rosenbrock, {"Newton": optim.Newton()}, steps=steps)
    assert newton.runs["Newton"].backend == "portable"


@pytest.mark.parametrize("name", sorted(surfaces.SURFACES))
def test_the_loops_agree_bit_for_bit_on_arithmetic_surfaces_and_to_rounding_on_the_others(name):
    surface = surfaces.SURFACES[name]
    kwargs = {"starts": _starts(surface, 5, seed=2), "steps": 3}
    portable = race(surface, {"Adam": optim.Adam(lr=0.01)}, backend="portable", **kwargs).runs["Adam"]
    compiled = race(surface, {"Adam": optim.Adam(lr=0.01)}, backend="compiled", **kwargs).runs["Adam"]
    if surface.arithmetic_only:
        np.testing.assert_array_equal(compiled.trajectory, portable.trajectory)
        np.testing.assert_array_equal(compiled.losses, portable.losses)
    else:  # exp/cos/tanh of the C library against NumPy's: a few units in the last place per step
        np.testing.assert_allclose(compiled.trajectory, portable.trajectory, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(compiled.losses, portable.losses, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(compiled.diverged_at, portable.diverged_at)


def test_step_sizes_between_huge_finite_points_are_finite_and_equal_on_both_loops():
    kwargs = {"steps": 3, "escape": 1e308}
    portable = race("ackley", {"GD": optim.GD(lr=1e300)}, backend="portable", **kwargs).runs["GD"]
    compiled = race("ackley", {"GD": optim.GD(lr=1e300)}, backend="compiled", **kwargs).runs["GD"]
    assert np.isfinite(compiled.step_sizes).all() and compiled.step_sizes.max() > 1e299
    np.testing.assert_array_equal(compiled.step_sizes, portable.step_sizes)


def sigmoid_value(x, y):
    return special.expit(x) + y * y  # a SciPy ufunc: NumPy runs it, numba does not know it


def sigmoid_grad(x, y):
    s = special.expit(x)
    return s * (1.0 - s), 2.0 * y


def sigmoid_hessian(x, y):
    s = special.expit(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s), 0.0 * x, 2.0 + 0.0 * x


def test_a_surface_numba_cannot_compile_is_refused_with_a_value_error():
    sigmoid = surfaces.Surface(
        "sigmoid",
        "a step and a bowl",
        sigmoid_value,
        sigmoid_grad,
        sigmoid_hessian,
        (),
        [],
        0.0,
        ((-3, 3), (-3, 3)),
        (1, 1),
    )
    with pytest.raises(ValueError, match=r"cannot compile the sigmoid surface's functions .*sigmoid_value.*portable"):
        race(sigmoid, {"GD": optim.GD(lr=0.1)}, steps=5, backend="compiled")
    assert race(sigmoid, {"GD": optim.GD(lr=0.1)}, steps=5).runs["GD"].backend == "portable"


def test_compiled_is_refused_where_it_does_not_apply(monkeypatch):
    with pytest.raises(ValueError, match="elementwise optimizer"):
        race(surfaces.rosenbrock, {"Newton": optim.Newton()}, steps=5, backend="compiled")
    with pytest.raises(ValueError, match="elementwise optimizer"):
        race(surfaces.rosenbrock, {"AdaDelta": optim.AdaDelta(window=3)}, steps=5, backend="compiled")
    homemade = dataclasses.replace(surfaces.booth, value_fn=lambda x, y: x * x + y * y)
    with pytest.raises(ValueError, match="module level"):
        race(homemade, {"GD": optim.GD(lr=0.1)}, steps=5, backend="compiled")
    assert race(homemade, {"GD": optim.GD(lr=0.1)}, steps=5).runs["GD"].backend == "portable"
    monkeypatch.setenv("DESCENTLAB_PORTABLE", "1")
    with pytest.raises(ValueError, match="DESCENTLAB_PORTABLE"):
        race(surfaces.rosenbrock, {"Adam": optim.Adam(lr=0.05)}, steps=5, backend="compiled")
    assert race(surfaces.rosenbrock, {"Adam": optim.Adam(lr=0.05)}, steps=5).runs["Adam"].backend == "portable"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend='gpu'"):
        race(surfaces.booth, {"GD": optim.GD(lr=0.1)}, steps=5, backend="gpu")


def test_compiled_race_follows_a_schedule_like_the_portable_race():
    schedule = {"Adam": optim.schedules.Cosine(lr0=0.1, steps=150)}
    kwargs = {"starts": _starts(surfaces.rosenbrock, 4, seed=0), "steps": 150, "schedules": schedule}
    portable = race(surfaces.rosenbrock, {"Adam": optim.Adam(lr=0.1)}, backend="portable", **kwargs).runs["Adam"]
    compiled = race(surfaces.rosenbrock, {"Adam": optim.Adam(lr=0.1)}, backend="compiled", **kwargs).runs["Adam"]
    np.testing.assert_array_equal(compiled.trajectory, portable.trajectory)
    np.testing.assert_array_equal(compiled.learning_rates, portable.learning_rates)
