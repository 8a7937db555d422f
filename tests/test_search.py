"""Random restarts and simulated annealing: more starts find more, heat climbs out of basins, seeds decide."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab import nn, optim, search, surfaces
from descentlab.optim._backend import fast_path_available

BOX = ((-2.0, 2.0), (-2.0, 2.0))


# -- random restarts on surfaces ------------------------------------------------------------------------------
def test_more_restarts_find_the_rastrigin_global_minimum_more_often():
    def successes(k: int) -> int:
        found = 0
        for seed in range(8):
            result = search.random_restarts(
                "rastrigin", k, bounds=BOX, local_search=optim.GD(lr=2e-3), seed=seed, steps=200
            )
            found += result.best.minimum == 0
        return found

    one, many = successes(1), successes(30)
    assert one <= 2
    assert many >= 7
    assert many > one


def test_more_restarts_reach_more_of_himmelblaus_four_minima():
    counts = {
        k: search.random_restarts("himmelblau", k, local_search=optim.GD(lr=0.01), seed=0, steps=300).minimum_counts()
        for k in (1, 24)
    }
    assert len([m for m in counts[1] if m >= 0]) == 1
    assert {0, 1, 2, 3} <= set(counts[24])


def test_restart_records_agree_with_the_race_and_the_best_is_the_lowest():
    result = search.random_restarts("rastrigin", 12, bounds=BOX, local_search=optim.GD(lr=2e-3), seed=3, steps=200)
    run = result.race.runs["local_search"]
    np.testing.assert_array_equal(result.race.starts, [r.start for r in result.restarts])
    np.testing.assert_array_equal(result.scores, run.final_losses)
    assert result.best.score == result.scores.min()
    assert result.best_so_far[-1] == result.best.score
    assert (np.diff(result.best_so_far) <= 0).all()
    for r in result.restarts:
        distance = np.linalg.norm(r.result - surfaces.rastrigin.minima[0])
        assert (r.minimum == 0) == (distance <= 1e-2)
    assert f"best: restart {result.best.index}" in result.summary()


def test_restarts_are_reproducible_and_depend_on_the_seed():
    def starts(seed):
        result = search.random_restarts("booth", 5, local_search=optim.GD(lr=0.01), seed=seed, steps=5)
        return np.array([r.start for r in result.restarts])

    np.testing.assert_array_equal(starts(7), starts(7))
    assert not np.array_equal(starts(7), starts(8))
    a = search.random_restarts("booth", 3, local_search=optim.GD(lr=0.01), seed=np.random.default_rng(1), steps=5)
    b = search.random_restarts("booth", 3, local_search=optim.GD(lr=0.01), seed=np.random.default_rng(1), steps=5)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_a_sampler_chooses_the_starts_and_diverged_restarts_rank_last():
    def sampler(rng, k):
        return np.column_stack([rng.normal(1.0, 0.01, k), np.full(k, 3.0)])

    result = search.random_restarts("booth", 4, sampler=sampler, local_search=optim.GD(lr=0.05), seed=0, steps=100)
    assert all(r.minimum == 0 for r in result.restarts)
    wild = search.random_restarts("booth", 3, local_search=optim.GD(lr=1.0), seed=0, steps=50)
    assert all(r.diverged and r.score == math.inf and r.minimum == -1 for r in wild.restarts)
    assert wild.best.index == 0


def test_uniform_starts_are_nested_in_k():
    def starts(k):
        result = search.random_restarts("rastrigin", k, bounds=BOX, local_search=optim.GD(lr=1e-3), seed=0, steps=1)
        return np.array([r.start for r in result.restarts])

    np.testing.assert_array_equal(starts(3), starts(5)[:3])
    assert (np.abs(starts(5)) <= 2.0).all()


def test_escape_lets_restarts_start_beyond_the_default_box():
    wide = ((-5000.0, 5000.0), (-5000.0, 5000.0))
    result = search.random_restarts(
        "rosenbrock", 4, bounds=wide, local_search=optim.GD(lr=1e-12), seed=0, steps=10, escape=1e6
    )
    assert result.race.escape == 1e6
    assert np.abs(result.race.starts).max() > 3000 and not any(r.diverged for r in result.restarts)


def test_identical_restarts_give_identical_scores_whatever_was_compiled_before():
    kwargs = {"local_search": optim.RMSprop(lr=0.01), "seed": 0, "steps": 300}
    first = search.random_restarts("ackley", 40, **kwargs)
    if fast_path_available():  # a compiled kernel for this very race must not change the next call's answer
        surfaces.race("ackley", {"x": optim.RMSprop(lr=0.01)}, steps=1, backend="compiled")
    second = search.random_restarts("ackley", 40, **kwargs)
    np.testing.assert_array_equal(second.scores, first.scores)
    portable = surfaces.race(
        "ackley", {"local_search": optim.RMSprop(lr=0.01)}, starts=first.race.starts, steps=300, backend="portable"
    )
    np.testing.assert_array_equal(second.race.runs["local_search"].trajectory, portable.runs["local_search"].trajectory)


def test_restarts_on_a_surface_without_minima_reach_none():
    result = search.random_restarts("saddle", 3, local_search=optim.GD(lr=0.01), seed=0, steps=10)
    assert (result.minima_reached == -1).all()


# -- random restarts on a function run(seed) -------------------------------------------------------------------
def test_callable_restarts_pass_derived_seeds_and_keep_the_best():
    seen = []

    def run(seed):
        seen.append(seed)
        score = np.random.default_rng(seed).random()
        return score, {"seed": seed}

    result = search.random_restarts(run, 6, seed=11)
    assert len(set(seen)) == 6 and [r.seed for r in result.restarts] == seen
    assert result.best.score == min(r.score for r in result.restarts)
    assert result.best.result == {"seed": result.best.seed}
    assert result.race is None and (result.minima_reached == -1).all()
    # Restart i receives the same seed whatever k is.
    assert [r.seed for r in search.random_restarts(run, 3, seed=11).restarts] == seen[:3]


def test_callable_restarts_train_tiny_networks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)

    def run(seed):
        net = nn.mlp([2, 6, 1], seed=seed, dtype="float64")
        opt = optim.Adam(lr=0.05)
        for _ in range(40):
            net.loss_and_grad(X, y, loss="bce")
            opt.step(net.params, net.grads)
        return net.loss(X, y, loss="bce"), net

    result = search.random_restarts(run, 4, seed=0)
    losses = [r.result.loss(X, y, loss="bce") for r in result.restarts]
    np.testing.assert_allclose(losses, result.scores)
    assert result.best.result.loss(X, y, loss="bce") == min(losses)
    assert len(set(np.round(losses, 12))) == 4  # the seeds gave different networks


def test_non_finite_scores_rank_last():
    result = search.random_restarts(lambda seed: (math.nan if seed % 2 else 1.0, None), 8, seed=0)
    assert not result.best.diverged and result.best.score == 1.0
    assert all(r.score == math.inf for r in result.restarts if r.diverged)


@pytest.mark.parametrize(
    ("objective", "kwargs", "error", "match"),
    [
        ("rastrigin", {}, ValueError, "local_search"),
        (
            "rastrigin",
            {"local_search": optim.GD(lr=0.01), "bounds": BOX, "sampler": lambda r, k: None},
            ValueError,
            "not both",
        ),
        (
            "rastrigin",
            {"local_search": optim.GD(lr=0.01), "sampler": lambda rng, k: np.zeros((k, 3))},
            ValueError,
            "shape",
        ),
        (
            "rastrigin",
            {"local_search": optim.GD(lr=0.01), "sampler": lambda rng, k: np.full((k, 2), np.nan)},
            ValueError,
            r"random_restarts: sampler\(rng, 3\) returned NaN/Inf starts \(rows \[0, 1, 2\]\)",
        ),
        ("rastrigin", {"local_search": optim.GD(lr=0.01), "bounds": ((1, 0), (0, 1))}, ValueError, "bounds"),
        ("rastrigin", {"local_search": optim.GD(lr=0.01), "seed": -1}, ValueError, "seed"),
        ("rastrigin", {"local_search": optim.GD(lr=0.01), "seed": 1.5}, TypeError, "seed"),
        ("rastrigin", {"local_search": optim.GD(lr=0.01), "tolerance": 0}, ValueError, "tolerance"),
        (lambda s: (0.0, None), {"bounds": BOX}, ValueError, "surfaces only"),
        (lambda s: (0.0, None), {"local_search": optim.GD(lr=0.1)}, ValueError, "surfaces only"),
        (lambda s: (0.0, None), {"steps": 100}, ValueError, "steps apply to surfaces only"),
        (lambda s: (0.0, None), {"tolerance": 0.1}, ValueError, "tolerance apply to surfaces only"),
        (lambda s: (0.0, None), {"escape": 1e6}, ValueError, "escape apply to surfaces only"),
        (
            "booth",
            {"local_search": "adam"},
            TypeError,
            r"random_restarts: local_search='adam' is a str.*make_optimizer",
        ),
        ("booth", {"local_search": optim.GD(lr=0.01), "steps": 0}, ValueError, "random_restarts: steps=0"),
        ("booth", {"local_search": optim.GD(lr=0.01), "escape": 0.0}, ValueError, "random_restarts: escape=0.0"),
        (
            "rosenbrock",
            {"local_search": optim.GD(lr=1e-3), "bounds": ((-5000, 5000), (-5000, 5000))},
            ValueError,
            r"random_restarts: the bounds gave starts outside the divergence box .*3000.*escape=",
        ),
        (
            "rosenbrock",
            {"local_search": optim.GD(lr=1e-3), "sampler": lambda rng, k: np.full((k, 2), 4000.0)},
            ValueError,
            r"random_restarts: sampler\(rng, 3\) gave starts outside the divergence box",
        ),
        ("booth", {"local_search": optim.GD(lr=0.01), "bounds": 5}, ValueError, "random_restarts: bounds=5"),
        (lambda s: 0.0, {}, TypeError, "pair"),
        (3, {}, TypeError, "objective"),
        ("banana", {"local_search": optim.GD(lr=0.01)}, ValueError, "unknown surface"),
    ],
)
def test_random_restarts_rejects_bad_arguments(objective, kwargs, error, match):
    with pytest.raises(error, match=match):
        search.random_restarts(objective, 3, **kwargs)


def test_k_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="k=0"):
        search.random_restarts("booth", 0, local_search=optim.GD(lr=0.01))


# -- simulated annealing --------------------------------------------------------------------------------------
def test_hot_annealing_accepts_uphill_moves_and_cold_annealing_refuses_them():
    hot = search.simulated_annealing("rastrigin", steps=400, temperature=1e6, cooling=1.0, step_size=0.3, seed=0)
    cold = search.simulated_annealing("rastrigin", steps=400, temperature=1e-9, cooling=1.0, step_size=0.3, seed=0)
    assert hot.uphill.sum() > 100
    assert hot.uphill_accepted / hot.uphill.sum() > 0.95
    assert cold.uphill_accepted == 0
    assert (np.diff(cold.energies) <= 0).all()  # cold: a pure descent by random search
    assert hot.accepted_count + hot.rejected_count == 400


def test_annealing_finds_the_rastrigin_global_basin_more_often_than_gd_from_the_same_start():
    start = surfaces.rastrigin.start
    gd = surfaces.race("rastrigin", {"GD": optim.GD(lr=2e-3)}, start=start, steps=2000).runs["GD"]
    gd_found = np.linalg.norm(gd.final_points[0]) < 0.5
    annealed = 0
    for seed in range(8):
        result = search.simulated_annealing(
            "rastrigin",
            start,
            steps=2000,
            temperature=10.0,
            cooling=0.997,
            step_size=0.7,
            seed=seed,
            record_path=False,
        )
        annealed += np.linalg.norm(result.best_point) < 0.5
    assert not gd_found  # gradient descent stops in the local minimum near its start
    assert annealed >= 6


def test_annealing_records_a_consistent_walk():
    result = search.simulated_annealing("himmelblau", (0.0, 0.0), steps=300, temperature=5.0, cooling=0.99, seed=4)
    f = surfaces.himmelblau
    assert result.path.shape == (301, 2) and result.energies.shape == (301,)
    np.testing.assert_array_equal(result.energies, f.value(result.path))
    moved = np.any(np.diff(result.path, axis=0) != 0, axis=1)
    np.testing.assert_array_equal(moved, result.accepted)
    np.testing.assert_allclose(result.temperatures, 5.0 * 0.99 ** np.arange(300))
    assert result.best_energy == result.energies.min()
    np.testing.assert_array_equal(result.best_point, result.path[result.best_step])
    np.testing.assert_array_equal(result.final_point, result.path[-1])
    again = search.simulated_annealing("himmelblau", (0.0, 0.0), steps=300, temperature=5.0, cooling=0.99, seed=4)
    np.testing.assert_array_equal(again.path, result.path)


def test_annealing_takes_an_energy_function_and_a_schedule():
    def energy(theta):
        return float(np.sum((theta - 1.0) ** 2))

    result = search.simulated_annealing(
        energy, np.zeros(5), steps=1500, schedule=lambda t: 1.0 / (1 + t), step_size=0.1, seed=0, record_path=False
    )
    assert result.path is None
    assert result.best_energy < 0.1 * energy(np.zeros(5))
    np.testing.assert_allclose(result.temperatures[:3], [1.0, 0.5, 1 / 3])
    with pytest.raises(ValueError, match="record_path"):
        _ = result.final_point


def test_non_finite_proposals_are_rejected():
    def energy(theta):
        return math.inf if theta[0] > 0.05 else float(theta[0] ** 2)

    result = search.simulated_annealing(energy, [0.0], steps=200, temperature=1.0, step_size=0.5, seed=0)
    assert (result.path[:, 0] <= 0.05).all()
    assert np.isfinite(result.energies).all()


def test_anneal_network_lowers_a_tiny_networks_loss_and_keeps_the_best():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(float)
    net = nn.mlp([2, 3, 1], seed=1, dtype="float64")
    before = net.loss(X, y, loss="bce")
    result = search.anneal_network(net, X, y, loss="bce", steps=600, temperature=0.02, step_size=0.1, seed=0)
    assert result.best_energy < 0.7 * before
    np.testing.assert_array_equal(net.params, result.best_point)
    assert net.loss(X, y, loss="bce") == pytest.approx(result.best_energy, rel=1e-12)
    assert result.uphill_accepted > 0


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("rastrigin",), {"steps": 0}, ValueError, "steps"),
        (("rastrigin",), {"temperature": 0.0}, ValueError, "temperature"),
        (("rastrigin",), {"cooling": 1.5}, ValueError, "cooling"),
        (("rastrigin",), {"step_size": -1.0}, ValueError, "step_size"),
        (("rastrigin",), {"schedule": lambda t: -1.0}, ValueError, "schedule"),
        (("rastrigin",), {"schedule": 3.0}, TypeError, "schedule"),
        (("rastrigin", (0.0, 0.0, 0.0)), {}, ValueError, "start"),
        (("rastrigin", (math.nan, 0.0)), {}, ValueError, "finite"),
        ((lambda t: 0.0,), {}, ValueError, "start"),
        ((lambda t: math.inf, [0.0]), {}, ValueError, "energy at the start"),
        ((42,), {}, TypeError, "energy"),
        (("rastrigin",), {"record_path": "no"}, TypeError, "simulated_annealing: record_path must be True or False"),
    ],
)
def test_simulated_annealing_rejects_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        search.simulated_annealing(*args, **kwargs)


def test_network_energy_needs_a_network():
    with pytest.raises(TypeError, match="network"):
        search.network_energy(object(), None, None)
