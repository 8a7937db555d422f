"""Algorithms PyTorch lacks, checked against their papers' algorithms written out here, and theory checks."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from descentlab import optim
from optim_cases import OTHER_CASES, gradient, problem, run_descentlab

CASES = {case.id: case for case in OTHER_CASES}


def _written_out(update, theta0, noise, state):
    """Run a hand-written per-step update ``update(theta, g, state, t) -> theta`` on the shared problem."""
    theta = theta0.copy()
    path = [theta.copy()]
    for t in range(1, len(noise) + 1):
        theta = update(theta, gradient(theta, noise[t - 1]), state, t)
        path.append(theta.copy())
    return np.array(path)


def test_ewa_momentum_matches_the_course_equations():
    # v = βv + (1 − β)g ;  θ = θ − αv
    def update(theta, g, s, t):
        s["v"] = 0.9 * s["v"] + 0.1 * g
        return theta - 0.1 * s["v"]

    theta0, noise = problem()
    expected = _written_out(update, theta0, noise, {"v": 0.0})
    np.testing.assert_allclose(run_descentlab(CASES["ewa"], theta0, noise), expected, rtol=1e-12)


def test_bias_corrected_ewa_momentum_matches_the_course_equations():
    # v = βv + (1 − β)g ;  v̂ = v / (1 − βᵗ) ;  θ = θ − αv̂
    def update(theta, g, s, t):
        s["v"] = 0.9 * s["v"] + 0.1 * g
        return theta - 0.1 * s["v"] / (1 - 0.9**t)

    theta0, noise = problem()
    expected = _written_out(update, theta0, noise, {"v": 0.0})
    np.testing.assert_allclose(run_descentlab(CASES["ewa-corrected"], theta0, noise), expected, rtol=1e-12)


def test_sutskever_momentum_matches_sutskever_et_al():
    # Sutskever et al. 2013, eq. (1)–(2) with the gradient at θ: v = μv − εg ;  θ = θ + v
    def update(theta, g, s, t):
        s["v"] = 0.9 * s["v"] - 0.02 * g
        return theta + s["v"]

    theta0, noise = problem()
    expected = _written_out(update, theta0, noise, {"v": 0.0})
    np.testing.assert_allclose(run_descentlab(CASES["sutskever"], theta0, noise), expected, rtol=1e-12)


def test_windowed_adadelta_matches_the_literal_window():
    # E[g²] = mean of the last w squared gradients; E[Δ²] = mean of the last w squared updates (0 at first).
    w, eps = 5, 1e-6

    def update(theta, g, s, t):
        s["g2"].append(g * g)
        mean_g2 = sum(s["g2"]) / len(s["g2"])
        mean_d2 = sum(s["d2"]) / len(s["d2"]) if s["d2"] else 0.0
        delta = np.sqrt(mean_d2 + eps) / np.sqrt(mean_g2 + eps) * g
        s["d2"].append(delta * delta)
        return theta - delta

    theta0, noise = problem()
    expected = _written_out(update, theta0, noise, {"g2": deque(maxlen=w), "d2": deque(maxlen=w)})
    np.testing.assert_allclose(run_descentlab(CASES["adadelta-window"], theta0, noise), expected, rtol=1e-10)


def test_adam_with_eps_inside_the_root():
    # m̂, v̂ as Algorithm 1; θ = θ − α m̂ / √(v̂ + ε)
    def update(theta, g, s, t):
        s["m"] = 0.9 * s["m"] + 0.1 * g
        s["v"] = 0.999 * s["v"] + 0.001 * g * g
        m_hat, v_hat = s["m"] / (1 - 0.9**t), s["v"] / (1 - 0.999**t)
        return theta - 0.01 * m_hat / np.sqrt(v_hat + 1e-8)

    theta0, noise = problem()
    expected = _written_out(update, theta0, noise, {"m": 0.0, "v": 0.0})
    np.testing.assert_allclose(run_descentlab(CASES["adam-eps-inside"], theta0, noise), expected, rtol=1e-10)


def test_centered_rmsprop_with_eps_inside_the_root():
    def update(theta, g, s, t):
        s["s"] = 0.99 * s["s"] + 0.01 * g * g
        s["gbar"] = 0.99 * s["gbar"] + 0.01 * g
        return theta - 0.01 * g / np.sqrt(s["s"] - s["gbar"] ** 2 + 1e-8)

    theta0, noise = problem()
    expected = _written_out(update, theta0, noise, {"s": 0.0, "gbar": 0.0})
    np.testing.assert_allclose(run_descentlab(CASES["rmsprop-eps-inside"], theta0, noise), expected, rtol=1e-10)


def test_adagrad_with_eps_inside_the_root():
    def update(theta, g, s, t):
        s["sum"] = s["sum"] + g * g
        return theta - 0.1 * g / np.sqrt(s["sum"] + 1e-10)

    theta0, noise = problem()
    expected = _written_out(update, theta0, noise, {"sum": 0.0})
    np.testing.assert_allclose(run_descentlab(CASES["adagrad-eps-inside"], theta0, noise), expected, rtol=1e-10)


def _trajectory(opt, theta0, noise, lrs=None):
    theta = theta0.copy()
    path = [theta.copy()]
    for t in range(len(noise)):
        if lrs is not None:
            opt.lr = lrs[t]
        opt.step(theta, gradient(theta, noise[t]))
        path.append(theta.copy())
    return np.array(path)


def test_momentum_forms_are_equivalent_under_the_conversion():
    theta0, noise = problem(steps=200)
    heavy = _trajectory(optim.Momentum(lr=0.01, beta=0.9), theta0, noise)
    to_ewa = optim.convert_momentum(0.01, 0.9, "heavy_ball", "ewa")
    to_sutskever = optim.convert_momentum(0.01, 0.9, "heavy_ball", "sutskever")
    assert to_ewa.lr == pytest.approx(0.1) and to_ewa.beta == 0.9
    ewa = _trajectory(optim.Momentum(lr=to_ewa.lr, beta=0.9, form="ewa"), theta0, noise)
    sutskever = _trajectory(optim.Momentum(lr=to_sutskever.lr, beta=0.9, form="sutskever"), theta0, noise)
    np.testing.assert_allclose(ewa, heavy, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sutskever, heavy, rtol=1e-10, atol=1e-12)
    back = optim.convert_momentum(to_ewa.lr, 0.9, "ewa", "heavy_ball")
    assert back.lr == pytest.approx(0.01)


def test_a_learning_rate_schedule_breaks_the_sutskever_equivalence_only():
    theta0, noise = problem(steps=100)
    lrs = np.where(np.arange(100) < 50, 0.02, 0.002)
    heavy = _trajectory(optim.Momentum(lr=0.02, beta=0.9), theta0, noise, lrs)
    ewa = _trajectory(optim.Momentum(lr=0.2, beta=0.9, form="ewa"), theta0, noise, lrs / 0.1)
    sutskever = _trajectory(optim.Momentum(lr=0.02, beta=0.9, form="sutskever"), theta0, noise, lrs)
    np.testing.assert_allclose(ewa, heavy, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sutskever[:51], heavy[:51], rtol=1e-10, atol=1e-12)
    assert np.abs(sutskever[60] - heavy[60]).max() > 1e-3
    note = optim.convert_momentum(0.02, 0.9, "heavy_ball", "sutskever").note
    assert "schedule breaks it" in note


def test_bias_correction_breaks_the_ewa_equivalence():
    theta0, noise = problem(steps=20)
    heavy = _trajectory(optim.Momentum(lr=0.01, beta=0.9), theta0, noise)
    corrected = _trajectory(optim.Momentum(lr=0.1, beta=0.9, form="ewa", bias_correction=True), theta0, noise)
    assert np.abs(corrected[5] - heavy[5]).max() > 1e-3


def test_nesterov_iterates_are_the_textbook_look_ahead_points():
    # Textbook: u ← βu − α∇J(φ + βu) ;  φ ← φ + u. PyTorch's θ is the look-ahead point φ + βu.
    alpha, beta = 0.02, 0.9
    theta0, noise = problem(steps=150)
    ours = _trajectory(optim.Nesterov(lr=alpha, beta=beta), theta0, noise)
    phi, u = theta0.copy(), np.zeros_like(theta0)
    for t in range(150):
        u = beta * u - alpha * gradient(phi + beta * u, noise[t])
        phi = phi + u
        np.testing.assert_allclose(ours[t + 1], phi + beta * u, rtol=1e-9, atol=1e-12)


# -- theory ---------------------------------------------------------------------------------------------


def _quadratic(kappa, mu=1.0):
    eigenvalues = np.array([mu, kappa * mu])
    rotation = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    return rotation @ np.diag(eigenvalues) @ rotation.T, np.array([1.0, -2.0])


@pytest.mark.parametrize("kappa", [4.0, 25.0, 100.0])
def test_gd_contracts_at_the_optimal_rate(kappa):
    # At α = 2/(L + μ), every eigen-component shrinks by exactly (κ − 1)/(κ + 1) per step.
    A, x_star = _quadratic(kappa)
    opt = optim.GD(lr=2.0 / (kappa + 1.0))
    theta = np.array([3.0, 1.0])
    rate = (kappa - 1) / (kappa + 1)
    error = np.linalg.norm(theta - x_star)
    for _ in range(30):
        opt.step(theta, A @ (theta - x_star))
        new_error = np.linalg.norm(theta - x_star)
        assert new_error == pytest.approx(rate * error, rel=1e-9)
        error = new_error


@pytest.mark.parametrize("kappa", [25.0, 100.0])
def test_heavy_ball_reaches_polyaks_rate(kappa):
    # α = 4/(√L + √μ)², β = ((√κ − 1)/(√κ + 1))²: both eigen-directions get a double root of modulus
    # ρ = (√κ − 1)/(√κ + 1), so the error is (a + b·t)·ρᵗ.
    A, x_star = _quadratic(kappa)
    sqrt_kappa = np.sqrt(kappa)
    rho = (sqrt_kappa - 1) / (sqrt_kappa + 1)
    opt = optim.Momentum(lr=4.0 / (sqrt_kappa + 1) ** 2, beta=rho**2)
    theta = np.array([3.0, 1.0])
    late = int(np.log(1e-9) / np.log(rho))  # stop well before the error reaches float64 rounding
    early = late // 2
    errors = [np.linalg.norm(theta - x_star)]
    for _ in range(late):
        opt.step(theta, A @ (theta - x_star))
        errors.append(np.linalg.norm(theta - x_star))
    measured = (errors[late] / errors[early]) ** (1 / (late - early))
    linear_factor = (late / early) ** (1 / (late - early))  # the most the (a + b·t) term can add
    assert rho * 0.999 < measured < rho * linear_factor * 1.001
    assert measured < (kappa - 1) / (kappa + 1)  # and it beats gradient descent's best rate


def test_newton_solves_a_quadratic_in_one_step():
    A, x_star = _quadratic(1000.0)
    theta = np.array([5.0, -7.0])
    optim.Newton().step(theta, A @ (theta - x_star), hessian=A)
    np.testing.assert_allclose(theta, x_star, rtol=1e-12)


def test_newton_conjugate_gradient_matches_the_direct_solve():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(30, 30))
    A = M @ M.T + 30 * np.eye(30)
    x_star = rng.normal(size=30)
    direct, by_cg = np.zeros(30), np.zeros(30)
    optim.Newton().step(direct, A @ (direct - x_star), hessian=A)
    optim.Newton(cg_iters=200).step(by_cg, A @ (by_cg - x_star), hvp=lambda v: A @ v)
    np.testing.assert_allclose(by_cg, direct, rtol=1e-8)
    np.testing.assert_allclose(direct, x_star, rtol=1e-10)


def test_newton_batched_points():
    A, x_star = _quadratic(10.0)
    thetas = np.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 0.0]])
    optim.Newton().step(thetas, (thetas - x_star) @ A.T, hessian=np.broadcast_to(A, (3, 2, 2)).copy())
    np.testing.assert_allclose(thetas, np.tile(x_star, (3, 1)), rtol=1e-12)


def test_damped_newton_descends_at_a_saddle():
    # f = x² − y² near the saddle: plain Newton jumps onto the saddle; with min_curvature it goes downhill.
    H = np.diag([2.0, -2.0])
    theta = np.array([0.5, 0.1])
    grad = H @ theta
    plain = theta.copy()
    optim.Newton().step(plain, grad, hessian=H)
    np.testing.assert_allclose(plain, [0.0, 0.0], atol=1e-15)
    damped = theta.copy()
    optim.Newton(min_curvature=0.5).step(damped, grad, hessian=H)
    value = lambda p: p[0] ** 2 - p[1] ** 2  # noqa: E731
    assert value(damped) < value(theta)
    assert abs(damped[1]) > abs(theta[1])


def test_newton_argument_errors():
    theta = np.zeros(2)
    with pytest.raises(ValueError, match="exactly one of hessian"):
        optim.Newton().step(theta, np.ones(2))
    with pytest.raises(ValueError, match=r"hessian has shape \(3, 3\)"):
        optim.Newton().step(theta, np.ones(2), hessian=np.eye(3))
    newton = optim.Newton()
    with pytest.raises(np.linalg.LinAlgError, match="damping=1e-3"):
        newton.step(theta, np.ones(2), hessian=np.zeros((2, 2)))
    assert newton.state is None


# -- EWA and trace -------------------------------------------------------------------------------------


def test_ewa_window_and_bias_correction():
    assert optim.EWA(0.9).window == pytest.approx(10.0)
    assert optim.EWA(0.98).window == pytest.approx(50.0)
    constant = np.full(20, 3.0)
    np.testing.assert_allclose(optim.EWA(0.9).smooth(constant), constant)
    raw = optim.EWA(0.9, bias_correction=False).smooth(constant)
    np.testing.assert_allclose(raw, 3.0 * (1 - 0.9 ** np.arange(1, 21)))


def test_ewa_matches_its_recursion_on_arrays():
    series = np.random.default_rng(0).normal(size=(50, 3))
    ewa = optim.EWA(0.8)
    v = np.zeros(3)
    for t, x in enumerate(series, start=1):
        v = 0.8 * v + 0.2 * x
        np.testing.assert_allclose(ewa.update(x), v / (1 - 0.8**t))


def test_ewa_errors():
    with pytest.raises(ValueError, match="beta=1"):
        optim.EWA(1.0)
    with pytest.raises(ValueError, match="call update"):
        _ = optim.EWA(0.5).value
    with pytest.raises(ValueError, match="NaN"):
        optim.EWA(0.5).smooth([1.0, np.nan])


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        (np.nan, ValueError, "x holds NaN or Inf"),
        ([1.0, np.inf], ValueError, "x holds NaN or Inf"),
        ([1.0, 2.0, 3.0], ValueError, r"x has shape \(3,\) but the values so far had shape \(2,\)"),
        ("a", TypeError, "x='a' is not a number"),
    ],
)
def test_ewa_update_refuses_a_bad_value_and_keeps_its_average(bad, error, words):
    ewa = optim.EWA(0.5)
    ewa.update([1.0, 2.0])
    before = (ewa.count, ewa.value.copy())
    with pytest.raises(error, match=words):
        ewa.update(bad)
    assert ewa.count == before[0]
    np.testing.assert_array_equal(ewa.value, before[1])
    # v₁ = 0.5·(1, 2); v₂ = 0.5·v₁ + 0.5·(3, 4) = (1.75, 2.5); corrected by 1 − 0.5² = 0.75.
    np.testing.assert_allclose(ewa.update([3.0, 4.0]), np.array([1.75, 2.5]) / 0.75)


def test_trace_records_adams_first_step_by_hand():
    g = np.array([2.0, -0.5])
    record = optim.trace(optim.Adam(lr=0.1), [g, g, g], [1.0, 1.0], steps=3)
    first = record.rows[0]
    np.testing.assert_allclose(first["m"], 0.1 * g)
    np.testing.assert_allclose(first["v"], 0.001 * g * g)
    np.testing.assert_allclose(first["m_hat"], g)
    np.testing.assert_allclose(first["v_hat"], g * g)
    np.testing.assert_allclose(first["update"], -0.1 * g / (np.sqrt(first["v_hat"]) + first["eps"]))
    assert first["eps"] == 1e-8
    assert record.column("theta").shape == (3, 2)
    table = record.to_table()
    assert table.splitlines()[0].split()[:5] == ["step", "lr", "eps", "theta", "g"]
    assert len(table.splitlines()) == 4


def test_trace_records_the_rate_each_step_used():
    # AdaGrad decays its rate inside the rule: α_t = α / (1 + (t − 1)·lr_decay); the lr column shows α_t.
    g = np.array([1.0, -2.0])
    record = optim.trace(optim.AdaGrad(lr=0.1, lr_decay=0.5), [g, g, g], [0.0, 0.0], steps=3)
    np.testing.assert_allclose(record.column("lr"), [0.1, 0.1 / 1.5, 0.1 / 2.0], rtol=1e-15)
    sum_sq = np.arange(1, 4)[:, None] * g * g
    expected = -record.column("lr")[:, None] * g / (np.sqrt(sum_sq) + 1e-10)
    np.testing.assert_allclose(record.column("update"), expected, rtol=1e-14)
    adam = optim.trace(optim.Adam(lr=0.1), [g, g], [0.0, 0.0], steps=2)
    np.testing.assert_array_equal(adam.column("lr"), [0.1, 0.1])


def test_trace_does_not_touch_the_optimizer_and_validates():
    opt = optim.Momentum(lr=0.1, form="ewa", bias_correction=True)
    record = optim.trace(opt, lambda th: 2 * th, [1.0, -1.0], steps=4)
    assert opt.state is None
    assert "velocity_hat" in record.columns
    with pytest.raises(ValueError, match="steps=0"):
        optim.trace(opt, lambda th: th, [1.0], steps=0)
    with pytest.raises(ValueError, match="2 gradients given for 3 steps"):
        optim.trace(opt, [np.ones(1)] * 2, [1.0], steps=3)
    with pytest.raises(KeyError, match="no column 'nope'"):
        record.column("nope")
