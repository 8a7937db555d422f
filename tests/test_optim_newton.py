"""The harness of tests/test_optim_harness.py for Newton, whose step needs the Hessian (or its products).

Newton is not in the shared registry because every step takes ``hessian=`` or ``hvp=``; here the same
promises are checked for both ways of giving it, on the registry's non-convex test gradient
∇J(θ) = aθ + cos θ + noise, whose Hessian is diag(a − sin θ).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from descentlab import optim
from optim_cases import gradient, problem

CONFIGS = {
    "plain": {},
    "damped": {"lr": 0.7, "damping": 0.5},
    "cg-truncated": {"damping": 0.2, "cg_iters": 2},
}
MODES = ("hessian", "hvp")


def _curvature(theta: np.ndarray) -> np.ndarray:
    return np.geomspace(0.1, 10.0, theta.shape[-1]) - np.sin(theta)


def _step_kwargs(theta: np.ndarray, mode: str) -> dict:
    diagonal = _curvature(theta)
    if mode == "hessian":
        return {"hessian": diagonal[..., :, None] * np.eye(theta.shape[-1], dtype=theta.dtype)}
    return {"hvp": lambda v: diagonal * v}


def _run(opt: optim.Newton, theta: np.ndarray, noise: np.ndarray, mode: str) -> None:
    for t in range(len(noise)):
        grad = gradient(theta, noise[t]).astype(theta.dtype)
        opt.step(theta, grad, **_step_kwargs(theta, mode))


def _newton_by_hand(theta, noise, lr, damping):
    """θ ← θ − α (H + λI)⁻¹ g, written out with a dense solve."""
    theta = theta.copy()
    for t in range(len(noise)):
        H = np.diag(_curvature(theta)) + damping * np.eye(theta.size)
        theta = theta - lr * np.linalg.solve(H, gradient(theta, noise[t]))
    return theta


@pytest.fixture(params=CONFIGS, ids=list(CONFIGS))
def config(request):
    return CONFIGS[request.param]


@pytest.mark.parametrize("mode", MODES)
def test_damped_steps_match_the_written_out_algorithm(mode):
    theta0, noise = problem(steps=20)
    theta = theta0.copy()
    # λ = 1.5 > 1 − min a keeps H + λI = diag(a − sin θ + λ) positive: CG converges to the dense solve.
    _run(optim.Newton(lr=0.7, damping=1.5, cg_iters=50), theta, noise, mode)
    np.testing.assert_allclose(theta, _newton_by_hand(theta0, noise, 0.7, 1.5), rtol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trip_continues_bit_identically(config, mode):
    theta0, noise = problem(steps=12)
    straight, theta_a = optim.Newton(**config), theta0.copy()
    _run(straight, theta_a, noise, mode)
    first, theta_b = optim.Newton(**config), theta0.copy()
    _run(first, theta_b, noise[:5], mode)
    state = first.state_dict()
    json.dumps({k: v for k, v in state.items() if k != "arrays"})
    resumed = optim.Newton()
    resumed.load_state_dict(state)
    _run(resumed, theta_b, noise[5:], mode)
    np.testing.assert_array_equal(theta_a, theta_b)
    assert resumed.step_count == straight.step_count == 12
    assert (resumed.lr, resumed.damping, resumed.cg_iters) == (straight.lr, straight.damping, straight.cg_iters)


@pytest.mark.parametrize("mode", MODES)
def test_batched_rows_equal_separate_runs(config, mode):
    k = 4
    starts = np.random.default_rng(3).normal(size=(k, 5))
    noise = np.random.default_rng(4).normal(scale=0.3, size=(8, k, 5))
    batched = starts.copy()
    _run(optim.Newton(**config), batched, noise, mode)
    for row in range(k):
        single = starts[row].copy()
        _run(optim.Newton(**config), single, noise[:, row], mode)
        np.testing.assert_allclose(batched[row], single, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_dtype_is_preserved(mode, dtype):
    """LAPACK takes float32 and float64 only: a float16 or long-double θ still steps (the solve runs in a
    LAPACK dtype) and keeps its dtype."""
    theta = np.linspace(1, 2, 6).astype(dtype)
    opt = optim.Newton(damping=0.1)
    for _ in range(3):
        opt.step(theta, (2 * theta + 0.1).astype(dtype), **_step_kwargs(theta, mode))
    assert theta.dtype == dtype and np.isfinite(theta).all()
    # One step against float64 (later steps drift apart where the curvature nears 0, as rounding allows).
    start = np.linspace(1, 2, 6)
    theta, reference = start.astype(dtype), start.copy()
    optim.Newton(damping=0.1).step(theta, (2 * theta + 0.1).astype(dtype), **_step_kwargs(theta, mode))
    optim.Newton(damping=0.1).step(reference, 2 * reference + 0.1, **_step_kwargs(reference, mode))
    tolerance = {np.float16: 2e-2, np.float32: 1e-5}.get(dtype, 1e-12)
    np.testing.assert_allclose(theta.astype(np.float64), reference, rtol=tolerance)


def test_float16_and_long_double_hessians_are_solved_in_a_lapack_dtype():
    for dtype in (np.float16, np.longdouble):
        theta = np.array([1.0, -2.0])
        optim.Newton().step(theta, theta.copy(), hessian=2 * np.eye(2, dtype=dtype))
        np.testing.assert_array_equal(theta, [0.5, -1.0])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_gradient_raises_or_skips_and_changes_nothing(mode, bad):
    theta = np.array([0.5, -0.5, 1.0])
    grad = np.array([0.1, bad, 0.3])
    opt = optim.Newton()
    with pytest.raises(optim.NonFiniteGradientError, match="flat index 1"):
        opt.step(theta, grad, **_step_kwargs(theta, mode))
    np.testing.assert_array_equal(theta, [0.5, -0.5, 1.0])
    skipping = optim.Newton(nonfinite="skip")
    assert skipping.step(theta, grad, **_step_kwargs(theta, mode)) is False
    assert skipping.skipped_steps == 1 and skipping.step_count == 0
    np.testing.assert_array_equal(theta, [0.5, -0.5, 1.0])


@pytest.mark.parametrize(
    ("theta", "grad", "kwargs", "error", "words"),
    [
        ([0.0, 0.0], np.ones(2), {"hessian": np.eye(2)}, TypeError, "theta must be a NumPy array"),
        (np.array(1.0), np.array(1.0), {"hessian": np.eye(1)}, ValueError, "0-d array"),
        (np.zeros(2), np.ones(3), {"hessian": np.eye(2)}, ValueError, r"grad has shape \(3,\)"),
        (np.zeros(2), np.ones(2), {"hessian": np.eye(3)}, ValueError, r"must be \(2, 2\)"),
        (np.zeros(2), np.ones(2), {"hessian": np.array([["a", "b"], ["c", "d"]])}, TypeError, "dtype <U1"),
        (np.zeros(2), np.ones(2), {"hessian": np.eye(2) * (1 + 1j)}, TypeError, "complex128"),
        (np.zeros(2), np.ones(2), {"hessian": np.full((2, 2), np.nan)}, FloatingPointError, "NaN or Inf"),
        (np.zeros(2), np.ones(2), {"hvp": lambda v: np.ones(3)}, ValueError, r"hvp returned shape \(3,\)"),
        (np.zeros(2), np.ones(2), {"hvp": "H"}, TypeError, "hvp must be a callable"),
        (np.zeros(2), np.ones(2), {}, ValueError, "exactly one of hessian"),
    ],
)
def test_bad_input_raises_a_clear_error_and_changes_nothing(theta, grad, kwargs, error, words):
    opt = optim.Newton()
    before = np.array(theta, dtype=float)
    with pytest.raises(error, match=words):
        opt.step(theta, grad, **kwargs)
    np.testing.assert_array_equal(np.asarray(theta, dtype=float), before)
    assert opt.step_count == 0


def test_min_curvature_needs_the_hessian():
    with pytest.raises(ValueError, match=r"min_curvature=0\.5 needs hessian=H"):
        optim.Newton(min_curvature=0.5).step(np.zeros(2), np.ones(2), hvp=lambda v: v)


def test_conjugate_gradient_takes_the_gradient_direction_at_negative_curvature():
    # H = diag(-1, 2): the first CG direction g = (1, 0) has curvature −1 ≤ 0, so the step is −α g.
    theta = np.zeros(2)
    optim.Newton(lr=0.5).step(theta, np.array([1.0, 0.0]), hvp=lambda v: np.array([-1.0, 2.0]) * v)
    np.testing.assert_array_equal(theta, [-0.5, 0.0])


def test_trace_records_the_hessian_of_each_newton_step():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    record = optim.trace(optim.Newton(), lambda th: A @ th, [1.0, -2.0], steps=2, step_kwargs=lambda th: {"hessian": A})
    np.testing.assert_allclose(record.column("theta")[1], [0.0, 0.0], atol=1e-15)
    np.testing.assert_array_equal(record.column("hessian")[0], A)
    assert "hessian" in record.to_table()


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_solve_leaves_the_state_as_it_was(mode):
    broken = {"hessian": np.zeros((2, 2))} if mode == "hessian" else {"hvp": lambda v: np.ones(3)}
    error = np.linalg.LinAlgError if mode == "hessian" else ValueError
    opt = optim.Newton()
    theta = np.ones(2)
    with pytest.raises(error):
        opt.step(theta, np.ones(2), **broken)
    assert opt.state is None and opt.step_count == 0
    np.testing.assert_array_equal(theta, np.ones(2))
    opt.step(theta, np.ones(2), hessian=np.eye(2))
    before = opt.state_dict()
    with pytest.raises(error):
        opt.step(theta, np.ones(2), **broken)
    assert opt.state_dict() == before and opt.step_count == 1
    np.testing.assert_array_equal(theta, [0.0, 0.0])
