"""Schedules (values, bounds, monotonicity, composition, serialization) and gradient clipping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab.optim import NonFiniteGradientError, clip, schedules

lrs = st.floats(1e-5, 10.0)
rates = st.floats(0.0, 1.0)
steps = st.integers(0, 10_000)

# Each schedule with a sample configuration: the registry the generic checks run over.
SAMPLES = [
    schedules.Constant(0.1),
    schedules.Step(0.1, factor=0.5, every=7),
    schedules.Exponential(0.1, k=0.05),
    schedules.InverseTime(0.1, k=0.05),
    schedules.LinearToTau(0.1, lr_tau=0.001, tau=40),
    schedules.Cosine(0.1, steps=50, lr_min=0.001),
    schedules.Warmup(schedules.Cosine(0.1, steps=50), steps=10),
    schedules.ReduceOnPlateau(schedules.Exponential(0.1, k=0.01), patience=2, factor=0.5),
]


def test_the_formulas():
    assert schedules.Step(1.0, factor=0.5, every=10)(25) == 0.25
    assert schedules.Exponential(2.0, k=0.1)(10) == pytest.approx(2.0 * math.exp(-1.0))
    assert schedules.InverseTime(2.0, k=0.5)(4) == pytest.approx(2.0 / 3.0)
    linear = schedules.LinearToTau(1.0, lr_tau=0.01, tau=100)
    assert linear(50) == pytest.approx(0.505) and linear(100) == linear(1000) == pytest.approx(0.01)
    assert schedules.LinearToTau(1.0, tau=10).lr_tau == pytest.approx(0.01)  # Goodfellow's 1 % default
    cosine = schedules.Cosine(1.0, steps=100, lr_min=0.1)
    assert (cosine(0), cosine(50), cosine(100), cosine(500)) == pytest.approx((1.0, 0.55, 0.1, 0.1))
    warm = schedules.Warmup(schedules.Constant(0.4), steps=4)
    assert [warm(t) for t in range(6)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    after = schedules.Warmup(schedules.Step(1.0, factor=0.5, every=2), steps=3)
    assert after(3) == 1.0 and after(5) == 0.5  # the inner schedule restarts its clock after warm-up


@pytest.mark.parametrize("schedule", SAMPLES, ids=lambda s: type(s).__name__)
def test_preview_matches_calls_and_serialization_round_trips(schedule):
    preview = schedule.preview(120)
    np.testing.assert_array_equal(preview, [schedule(t) for t in range(120)])
    state = json.loads(json.dumps(schedule.state_dict()))  # plain JSON: no pickle anywhere
    rebuilt = schedules.from_state_dict(state)
    np.testing.assert_array_equal(rebuilt.preview(120), preview)
    assert repr(rebuilt) == repr(schedule)


def test_plateau_reduces_after_patience_and_resumes_exactly():
    plateau = schedules.ReduceOnPlateau(schedules.Warmup(0.1, steps=2), factor=0.5, patience=2, cooldown=1)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5]
    reductions = [plateau.observe(m) for m in metrics[:5]]
    assert reductions == [False, False, False, False, True]
    assert plateau(10) == pytest.approx(0.05)
    saved = json.loads(json.dumps(plateau.state_dict()))
    resumed = schedules.from_state_dict(saved)
    rest_a = [(plateau.observe(m), plateau(20)) for m in metrics[5:]]
    rest_b = [(resumed.observe(m), resumed(20)) for m in metrics[5:]]
    assert rest_a == rest_b
    assert plateau.reductions == 2


def test_plateau_improvement_is_relative_to_the_size_of_best():
    # An improvement must beat best by |best|·threshold: with best = −10 and threshold 0.1, −10.5 is not one
    # (PyTorch's rel mode, best·(1 − threshold) = −9, would take it, and even −9.5, which is worse).
    plateau = schedules.ReduceOnPlateau(0.1, factor=0.5, patience=0, threshold=0.1)
    assert [plateau.observe(m) for m in [-10.0, -10.5, -12.0]] == [False, True, False]
    assert plateau.best == -12.0


def test_plateau_at_the_floor_reports_no_reduction():
    # PyTorch changes the rate only when it really decreases; a reduction that min_lr cancels is not one.
    plateau = schedules.ReduceOnPlateau(0.1, factor=0.5, patience=0, min_lr=0.05)
    assert [plateau.observe(1.0) for _ in range(5)] == [False, True, False, False, False]
    assert (plateau.reductions, plateau.scale, plateau(0)) == (1, 0.5, 0.05)
    # Composed: the inner schedule's largest rate (0.4 after the warm-up) decides whether a cut still lowers it.
    warm = schedules.ReduceOnPlateau(schedules.Warmup(0.4, steps=3), factor=0.5, patience=0, min_lr=0.1)
    assert [warm.observe(1.0) for _ in range(5)] == [False, True, True, False, False]
    assert warm.reductions == 2 and warm.preview(6) == pytest.approx(np.full(6, 0.1), rel=1e-12)
    # A cut that min_lr only partly cancels still lowers the rate, and counts.
    partial = schedules.ReduceOnPlateau(0.1, factor=0.1, patience=0, min_lr=0.05)
    assert [partial.observe(1.0) for _ in range(3)] == [False, True, False]
    assert partial(0) == 0.05


def test_plateau_respects_min_lr_and_mode_max():
    plateau = schedules.ReduceOnPlateau(1.0, factor=0.1, patience=0, min_lr=0.05, mode="max")
    for accuracy in [0.5, 0.4, 0.4, 0.4]:
        plateau.observe(accuracy)
    assert plateau(0) == 0.05


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: schedules.Step(0.1, factor=0.0), "factor=0"),
        (lambda: schedules.Step(0.1, every=0), "every=0"),
        (lambda: schedules.Exponential(-1.0), "lr0=-1"),
        (lambda: schedules.Cosine(0.1, lr_min=0.5), "lr_min=0.5"),
        (lambda: schedules.ReduceOnPlateau(0.1, mode="up"), "mode='up'"),
        (lambda: schedules.ReduceOnPlateau(0.1, patience=-1), "patience=-1"),
        (lambda: schedules.Constant(0.1)(-1), "t=-1"),
        (lambda: schedules.from_config({"type": "Linear"}), "unknown schedule type 'Linear'"),
        (lambda: schedules.ReduceOnPlateau(0.1).observe(float("nan")), "not finite"),
        (lambda: schedules.ReduceOnPlateau(0.1, factor=1.0), r"factor=1 is outside \(0, 1\); e\.g\. 0\.1"),
        (lambda: schedules.ReduceOnPlateau(0.1, threshold=2.0), r"threshold=2 is outside \[0, 1\]; e\.g\. 1e-4"),
    ],
)
def test_invalid_schedules_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@given(lr0=lrs, k=st.floats(0.0, 5.0), t=steps, dt=st.integers(1, 1000))
def test_decays_are_bounded_and_non_increasing(lr0, k, t, dt):
    for schedule in (schedules.Exponential(lr0, k), schedules.InverseTime(lr0, k)):
        assert 0.0 <= schedule(t + dt) <= schedule(t) <= lr0


@given(lr0=lrs, factor=st.floats(0.01, 1.0), every=st.integers(1, 100), t=steps, dt=st.integers(1, 1000))
def test_step_decay_is_bounded_and_non_increasing(lr0, factor, every, t, dt):
    schedule = schedules.Step(lr0, factor, every)
    assert 0.0 <= schedule(t + dt) <= schedule(t) <= lr0


@given(lr0=lrs, fraction=rates, tau=st.integers(1, 1000), t=steps)
def test_linear_to_tau_stays_between_its_ends(lr0, fraction, tau, t):
    schedule = schedules.LinearToTau(lr0, fraction * lr0, tau)
    assert fraction * lr0 - 1e-12 <= schedule(t) <= lr0 + 1e-12
    assert schedule(t + 1) <= schedule(t) + 1e-12


@given(lr0=lrs, fraction=rates, total=st.integers(1, 1000), t=steps)
def test_cosine_is_bounded_and_non_increasing(lr0, fraction, total, t):
    schedule = schedules.Cosine(lr0, total, fraction * lr0)
    assert fraction * lr0 - 1e-12 <= schedule(t) <= lr0 + 1e-12
    assert schedule(t + 1) <= schedule(t) + 1e-12


@given(lr0=lrs, warm=st.integers(1, 200), t=st.integers(0, 199))
def test_warmup_rises_to_the_inner_rate(lr0, warm, t):
    schedule = schedules.Warmup(schedules.Constant(lr0), warm)
    if t + 1 < warm:
        assert schedule(t) <= schedule(t + 1)
    assert 0 < schedule(t) <= lr0 * (1 + 1e-12)


# -- clipping ----------------------------------------------------------------------------------------------

vectors = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30).map(np.array)


@given(g=vectors, max_norm=st.floats(1e-3, 1e3))
@settings(max_examples=200)
def test_clip_by_norm_bounds_the_norm_and_keeps_the_direction(g, max_norm):
    original = g.copy()
    norm_before = clip.by_norm(g, max_norm)
    assert norm_before == pytest.approx(np.linalg.norm(original))
    assert np.linalg.norm(g) <= max_norm * (1 + 1e-12)
    if norm_before <= max_norm:
        np.testing.assert_array_equal(g, original)
    else:
        np.testing.assert_allclose(g * norm_before / max_norm, original, rtol=1e-9, atol=1e-9)


@given(g=vectors, c=st.floats(1e-3, 1e3))
def test_clip_by_value_clamps_every_entry(g, c):
    original = g.copy()
    assert clip.by_value(g, c) == pytest.approx(np.linalg.norm(original))
    assert np.all(np.abs(g) <= c)
    np.testing.assert_array_equal(g, np.clip(original, -c, c))


def test_clip_by_norm_is_global_over_several_arrays():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 4.0])
    assert clip.by_norm([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a, b]), [0.6, 0.0, 0.0, 0.8])


def test_float16_gradients_are_measured_without_overflow():
    # Each square is 100 and their sum 2·10⁵ is past float16's largest number, 65504 (PyTorch: 447.2).
    g = np.full(2000, 10.0, dtype=np.float16)
    assert clip.global_norm(g) == pytest.approx(math.sqrt(2e5), rel=1e-12)
    assert clip.by_value(g.copy(), 100.0) == pytest.approx(math.sqrt(2e5), rel=1e-12)
    assert clip.by_norm(g, 1.0) == pytest.approx(math.sqrt(2e5), rel=1e-12)
    assert g.dtype == np.float16 and np.linalg.norm(g.astype(np.float64)) == pytest.approx(1.0, rel=1e-3)
    mixed = [np.full(1000, 10.0, dtype=np.float16), np.full(1000, 10.0, dtype=np.float32)]
    assert clip.global_norm(mixed) == pytest.approx(math.sqrt(2e5), rel=1e-7)


def test_float32_and_float64_norms_are_the_blas_dot_products():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        g = rng.normal(size=1001).astype(dtype)
        assert clip.global_norm(g) == math.sqrt(float(np.vdot(g, g)))


def test_clip_errors():
    with pytest.raises(ValueError, match="max_norm=0"):
        clip.by_norm(np.ones(2), 0.0)
    with pytest.raises(ValueError, match="clip_value=-1"):
        clip.by_value(np.ones(2), -1.0)
    with pytest.raises(NonFiniteGradientError, match="norm is nan"):
        clip.by_norm(np.array([1.0, np.nan]), 1.0)
    with pytest.raises(TypeError, match="floating dtype"):
        clip.by_norm(np.array([1, 2]), 1.0)
