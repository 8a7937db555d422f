"""Loss surfaces: published minima, analytic derivatives against finite differences, shapes, registry."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from descentlab import surfaces
from descentlab.surfaces import SURFACES, Surface

ALL = list(SURFACES.values())
IDS = list(SURFACES)


def _sample_points(surface: Surface, n: int, seed: int) -> np.ndarray:
    """Random points in the surface's bounds plus its start (and a point on the cliff's face)."""
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surface.bounds
    points = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    extra = [surface.start, *([[0.1, 0.3], [0.01, -1.0], [0.19, 0.5]] if surface.name == "cliff" else [])]
    points = np.vstack([points, extra])
    if surface.name == "ackley":  # the cone has no derivative at the origin
        points = points[np.hypot(points[:, 0], points[:, 1]) > 1e-2]
    return points


def _fd_grad(surface: Surface, point: np.ndarray) -> np.ndarray:
    h = 1e-6 * max(1.0, float(np.max(np.abs(point))))
    if surface.name == "cliff":
        h = 1e-7  # the face's curvature changes over δ = 0.01
    out = np.empty(2)
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        out[i] = (surface.value(point + e) - surface.value(point - e)) / (2 * h)
    return out


def _fd_hessian(surface: Surface, point: np.ndarray) -> np.ndarray:
    h = 1e-6 * max(1.0, float(np.max(np.abs(point))))
    if surface.name == "cliff":
        h = 1e-7
    columns = []
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        columns.append((surface.grad(point + e) - surface.grad(point - e)) / (2 * h))
    return np.column_stack(columns)


# -- derivatives ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_gradient_matches_finite_differences(surface):
    for point in _sample_points(surface, 25, seed=1):
        g = surface.grad(point)
        fd = _fd_grad(surface, point)
        scale = max(1.0, abs(surface.value(point)))
        np.testing.assert_allclose(g, fd, rtol=2e-6, atol=1e-6 * scale, err_msg=f"{surface.name} at {point}")


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_hessian_matches_finite_differences_and_is_symmetric(surface):
    for point in _sample_points(surface, 25, seed=2):
        H = surface.hessian(point)
        assert H[0, 1] == H[1, 0]
        fd = _fd_hessian(surface, point)
        scale = max(1.0, float(np.max(np.abs(surface.grad(point)))))
        np.testing.assert_allclose(H, fd, rtol=2e-6, atol=1e-5 * scale, err_msg=f"{surface.name} at {point}")


# -- minima --------------------------------------------------------------------------------------------------
PUBLISHED = {
    "rosenbrock": ([(1.0, 1.0)], 0.0),
    "himmelblau": ([(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)], 0.0),
    "beale": ([(3.0, 0.5)], 0.0),
    "booth": ([(1.0, 3.0)], 0.0),
    "matyas": ([(0.0, 0.0)], 0.0),
    "six_hump_camel": ([(0.0898, -0.7126), (-0.0898, 0.7126)], -1.0316),
    "rastrigin": ([(0.0, 0.0)], 0.0),
    "ackley": ([(0.0, 0.0)], 0.0),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_minima_agree_with_published_values(name):
    surface = SURFACES[name]
    points, value = PUBLISHED[name]
    assert len(surface.minima) == len(points)
    # Every published minimizer is listed (to the published digits), and f there is the published value.
    for p in points:
        assert np.min(np.abs(surface.minima - np.array(p)).max(axis=1)) < 1e-4, (name, p)
    np.testing.assert_allclose(surface.minimum_value, value, atol=1e-4)
    np.testing.assert_allclose(surface.value(surface.minima), surface.minimum_value, atol=1e-13)


@pytest.mark.parametrize("surface", [s for s in ALL if len(s.minima)], ids=[s.name for s in ALL if len(s.minima)])
def test_listed_minima_are_stationary_and_global_over_the_plot(surface):
    g = surface.grad(surface.minima)
    np.testing.assert_allclose(g, 0.0, atol=2e-14)
    for H in surface.hessian(surface.minima):
        assert np.linalg.eigvalsh(H).min() > 0  # strict local minima
    _, _, Z = surfaces.grid(surface, n=201)
    assert Z.min() >= surface.minimum_value - 1e-12
    np.testing.assert_allclose(surface.value(surface.minima), surface.minimum_value, atol=1e-12)


@pytest.mark.parametrize("name", ["himmelblau", "six_hump_camel"])
def test_every_global_minimum_is_listed(name):
    """BFGS from a grid of starts: each run that reaches the global value ends at a listed minimum, and
    every listed minimum is reached by some run."""
    surface = SURFACES[name]
    (x0, x1), (y0, y1) = surface.bounds
    reached = set()
    for x in np.linspace(x0, x1, 7):
        for y in np.linspace(y0, y1, 7):
            result = minimize(surface.value, [x, y], jac=surface.grad, method="BFGS", options={"gtol": 1e-10})
            if result.fun < surface.minimum_value + 1e-8:
                index, distance = surface.nearest_minimum(result.x)
                assert distance < 1e-4, (result.x, result.fun)
                reached.add(int(index))
    assert reached == set(range(len(surface.minima)))


def test_unbounded_surfaces_list_no_minima():
    for name in ("saddle", "monkey_saddle"):
        surface = SURFACES[name]
        assert surface.minima.shape == (0, 2)
        assert surface.minimum_value == -math.inf
        with pytest.raises(ValueError, match="unbounded below"):
            surface.nearest_minimum([0.0, 0.0])
    np.testing.assert_array_equal(surfaces.monkey_saddle.hessian([0.0, 0.0]), np.zeros((2, 2)))


def test_ackley_gradient_at_the_origin_is_the_zero_subgradient():
    np.testing.assert_array_equal(surfaces.ackley.grad(np.zeros(2)), [0.0, 0.0])
    assert surfaces.ackley.value([0.0, 0.0]) == pytest.approx(0.0, abs=1e-15)


def test_cliff_is_gentle_except_on_its_face():
    cliff = surfaces.cliff
    (x0, x1), _ = cliff.bounds
    x = np.linspace(x0, x1, 2001)
    points = np.column_stack([x, np.zeros_like(x)])
    norms = np.linalg.norm(cliff.grad(points), axis=1)
    off_face = (x < -0.1) | (x > 0.3)
    assert norms[off_face].max() < 0.8
    assert norms.max() > 99.0
    assert cliff.value([-1.0, 0.0]) - cliff.value([1.0, 0.0]) == pytest.approx(20.0 + 0.05 * (16 - 4), abs=1e-9)


def test_plateau_gradient_is_tiny_at_the_start():
    plateau = surfaces.plateau
    assert np.linalg.norm(plateau.grad(plateau.start)) < 3e-3
    assert plateau.value(plateau.start) > 0.99


# -- the quadratic factory ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("condition", "angle"), [(10.0, 0.0), (100.0, 30.0), (1.0, 45.0), (1e4, -60.0)])
def test_quadratic_has_the_requested_spectrum_and_orientation(condition, angle):
    bowl = surfaces.quadratic(condition=condition, angle=angle)
    H = bowl.hessian(np.array([0.3, -0.2]))
    eigenvalues, vectors = np.linalg.eigh(H)
    np.testing.assert_allclose(eigenvalues, [1.0, condition], rtol=1e-12)
    if condition > 1:
        long_axis = vectors[:, 0]
        expected = [math.cos(math.radians(angle)), math.sin(math.radians(angle))]
        assert abs(np.dot(long_axis, expected)) == pytest.approx(1.0, abs=1e-12)
    theta = np.array([0.7, -1.1])
    assert bowl.value(theta) == pytest.approx(0.5 * theta @ H @ theta, rel=1e-14)
    (x0, x1), (y0, y1) = bowl.bounds
    assert x0 < bowl.start[0] < x1 and y0 < bowl.start[1] < y1


def test_default_quadratic_is_registered():
    assert SURFACES["quadratic"].name == "quadratic"
    np.testing.assert_allclose(np.linalg.eigvalsh(SURFACES["quadratic"].hessian([0.0, 0.0])), [1.0, 10.0])
    assert "condition=100" in surfaces.quadratic(100).name


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"condition": 0.5}, ValueError, "condition"),
        ({"condition": math.nan}, ValueError, "finite"),
        ({"condition": True}, TypeError, "condition"),
        ({"angle": math.inf}, ValueError, "angle"),
        ({"angle": "30"}, TypeError, "angle"),
    ],
)
def test_quadratic_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        surfaces.quadratic(**kwargs)


# -- shapes ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_batch_equals_row_by_row(surface):
    points = _sample_points(surface, 7, seed=3)
    values, grads, hessians = surface.value(points), surface.grad(points), surface.hessian(points)
    assert values.shape == (len(points),)
    assert grads.shape == (len(points), 2)
    assert hessians.shape == (len(points), 2, 2)
    for i, point in enumerate(points):
        single = surface.value(point)
        assert isinstance(single, float)
        assert single == values[i]
        np.testing.assert_array_equal(surface.grad(point), grads[i])
        np.testing.assert_array_equal(surface.hessian(point), hessians[i])
    assert surface.grad(points[0]).shape == (2,)
    assert surface.hessian(points[0]).shape == (2, 2)


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_inputs_are_not_modified_and_float32_stays_float32(surface):
    points = _sample_points(surface, 3, seed=4)
    before = points.copy()
    surface.grad(points)
    surface.hessian(points)
    np.testing.assert_array_equal(points, before)
    single = points.astype(np.float32)
    assert surface.grad(single).dtype == np.float32
    assert surface.hessian(single).dtype == np.float32


def test_lists_and_integers_are_accepted():
    assert surfaces.rosenbrock.value([1, 1]) == 0.0
    np.testing.assert_array_equal(surfaces.booth.grad([[1, 3], [0, 0]]), [[0.0, 0.0], [-34.0, -38.0]])


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((2, 3)), np.zeros((4, 2, 1)), np.float64(1.0), np.zeros((0,))])
@pytest.mark.parametrize("method", ["value", "grad", "hessian"])
def test_bad_shapes_raise_value_error_naming_the_shape(bad, method):
    with pytest.raises(ValueError, match=r"must be \(2,\) for one point or \(k, 2\)"):
        getattr(surfaces.rosenbrock, method)(bad)


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([True, False]), np.array([1 + 1j, 2.0])])
def test_non_real_input_raises_type_error(bad):
    with pytest.raises(TypeError, match="real numbers"):
        surfaces.himmelblau.grad(bad)


# -- grid and registry ----------------------------------------------------------------------------------------
def test_grid_uses_xy_indexing_over_the_bounds():
    surface = surfaces.himmelblau
    X, Y, Z = surfaces.grid(surface, n=31)
    assert X.shape == Y.shape == Z.shape == (31, 31)
    (x0, x1), (y0, y1) = surface.bounds
    assert (X[0, 0], X[0, -1], Y[0, 0], Y[-1, 0]) == (x0, x1, y0, y1)
    np.testing.assert_array_equal(X[0], X[-1])  # rows follow y, columns follow x
    i, j = 4, 17
    assert Z[i, j] == surface.value([X[0, j], Y[i, 0]])
    X2, _, _ = surfaces.grid(surface, n=5, bounds=((0.0, 1.0), (2.0, 3.0)))
    np.testing.assert_allclose(X2[0], np.linspace(0, 1, 5))


@pytest.mark.parametrize(("n", "error"), [(1, ValueError), (2.5, ValueError), (True, ValueError)])
def test_grid_rejects_bad_sizes(n, error):
    with pytest.raises(error, match="n="):
        surfaces.grid(surfaces.booth, n=n)


@pytest.mark.parametrize(
    "bounds", [5, ((1.0, 0.0), (0.0, 1.0)), ((math.nan, 1.0), (0.0, 1.0)), ((0.0, 1.0),), (("0", "1"), (0, 1))]
)
def test_grid_rejects_bad_bounds_naming_them(bounds):
    with pytest.raises(ValueError, match=r"grid: bounds=.* must be \(\(xmin, xmax\), \(ymin, ymax\)\) with finite"):
        surfaces.grid(surfaces.booth, n=3, bounds=bounds)


def test_a_surface_checks_its_bounds_and_its_arithmetic_flag():
    fields = {
        "name": "bowl",
        "description": "a bowl",
        "value_fn": surfaces.booth.value_fn,
        "grad_fn": surfaces.booth.grad_fn,
        "hessian_fn": surfaces.booth.hessian_fn,
        "params": (),
        "minima": [(1.0, 3.0)],
        "minimum_value": 0.0,
        "bounds": ((-10, 10), (-10, 10)),
        "start": (0.0, 0.0),
    }
    assert Surface(**fields).bounds == ((-10.0, 10.0), (-10.0, 10.0))
    assert not Surface(**fields).arithmetic_only and Surface(**fields, arithmetic_only=True).arithmetic_only
    with pytest.raises(ValueError, match="Surface 'bowl': bounds=5 must be"):
        Surface(**{**fields, "bounds": 5})
    with pytest.raises(TypeError, match="Surface 'bowl': arithmetic_only must be True or False"):
        Surface(**fields, arithmetic_only="yes")


def test_grid_rejects_a_name():
    with pytest.raises(TypeError, match="Surface"):
        surfaces.grid("booth")


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_registry_entries_are_complete(surface):
    assert SURFACES[surface.name] is surface
    assert surface.description and "\n" not in surface.description
    assert surface.formula
    (x0, x1), (y0, y1) = surface.bounds
    inside = np.vstack([surface.start, surface.minima])
    assert ((inside[:, 0] >= x0) & (inside[:, 0] <= x1) & (inside[:, 1] >= y0) & (inside[:, 1] <= y1)).all()
    assert np.isfinite(surface.value(surface.start))
    assert not surface.minima.flags.writeable and not surface.start.flags.writeable
    json.dumps({"bounds": surface.bounds, "minima": surface.minima.tolist()})


def test_registry_holds_the_whole_catalogue():
    assert set(SURFACES) == {
        "quadratic",
        "valley",
        "rosenbrock",
        "beale",
        "himmelblau",
        "booth",
        "matyas",
        "six_hump_camel",
        "rastrigin",
        "ackley",
        "saddle",
        "monkey_saddle",
        "plateau",
        "cliff",
    }


def test_get_normalizes_names_and_lists_the_known_ones():
    assert surfaces.get("Six-Hump Camel") is surfaces.six_hump_camel
    assert surfaces.get(" ROSENBROCK ") is surfaces.rosenbrock
    assert surfaces.get(surfaces.booth) is surfaces.booth
    with pytest.raises(ValueError, match=r"unknown surface 'banana'.*rosenbrock.*himmelblau"):
        surfaces.get("banana")
    with pytest.raises(TypeError, match="surface name"):
        surfaces.get(3)
