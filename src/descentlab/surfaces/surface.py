"""The :class:`Surface` record: a 2-D function with its analytic gradient and Hessian, and its contour grid.

A surface's mathematics is three plain functions of the coordinates and a tuple of parameters:

    value_fn(x, y, *params) -> f
    grad_fn(x, y, *params) -> (∂f/∂x, ∂f/∂y)
    hessian_fn(x, y, *params) -> (∂²f/∂x², ∂²f/∂x∂y, ∂²f/∂y²)

written with arithmetic and NumPy ufuncs only (no ``if`` on values, no ``np.where``), so that the same
function runs on arrays of k points (the portable path) and on two floats inside a numba-compiled loop (the
fast path of :func:`descentlab.surfaces.race`). :class:`Surface` wraps them with shape checks: θ of shape
``(2,)`` gives a float, a ``(2,)`` gradient and a ``(2, 2)`` Hessian; θ of shape ``(k, 2)`` — k points, one
per row — gives ``(k,)``, ``(k, 2)`` and ``(k, 2, 2)``.

Functions that use arithmetic only (+, −, ×, ÷; every operation correctly rounded in NumPy and numba alike)
give the same bits on both paths; a surface that declares so (``arithmetic_only=True``) lets
``race(backend="auto")`` take the compiled loop. Transcendental functions (exp, cos, tanh …) come from
different libraries on the two paths and may differ in the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from descentlab._numbers import is_integer, is_real
from descentlab.optim._validation import check_bool

Bounds = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, eq=False)
class Surface:
    """A 2-D test function f(θ), θ = (x, y), with analytic derivatives and what is known about its minima.

    Attributes:
        name: registry key (``"rosenbrock"``); also the title of plots.
        description: one line on what the surface teaches.
        value_fn, grad_fn, hessian_fn: the mathematics (see the module docstring).
        params: the constants the functions take after ``x, y`` (Rosenbrock's ``a, b``).
        minima: ``(m, 2)`` array of the known global minimizers (all of them where there are several);
            ``(0, 2)`` when f is unbounded below.
        minimum_value: f at the minima; ``-inf`` when f is unbounded below.
        bounds: ``((xmin, xmax), (ymin, ymax))``, the region worth plotting.
        start: a start that shows the surface's difficulty, shape ``(2,)``.
        formula: f written out, for captions.
        arithmetic_only: whether ``value_fn`` and ``grad_fn`` use arithmetic only, no transcendental
            function (see the module docstring): then the compiled race loop reproduces the portable one bit
            for bit. ``False`` unless declared.
    """

    name: str
    description: str
    value_fn: Callable[..., object] = field(repr=False)
    grad_fn: Callable[..., tuple] = field(repr=False)
    hessian_fn: Callable[..., tuple] = field(repr=False)
    params: tuple[float, ...]
    minima: np.ndarray = field(repr=False)
    minimum_value: float
    bounds: Bounds
    start: np.ndarray = field(repr=False)
    formula: str = ""
    arithmetic_only: bool = False

    def __post_init__(self) -> None:
        minima = np.array(self.minima, dtype=float).reshape(-1, 2)
        start = np.array(self.start, dtype=float).reshape(2)
        minima.setflags(write=False)
        start.setflags(write=False)
        object.__setattr__(self, "minima", minima)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "params", tuple(float(p) for p in self.params))
        owner = f"Surface {self.name!r}"
        object.__setattr__(self, "arithmetic_only", check_bool("arithmetic_only", self.arithmetic_only, owner=owner))
        object.__setattr__(self, "bounds", check_bounds(self.bounds, owner=owner))

    # -- evaluation ------------------------------------------------------------------------------------
    def value(self, theta: np.ndarray) -> float | np.ndarray:
        """f(θ): a float for θ of shape ``(2,)``, an array ``(k,)`` for ``(k, 2)``."""
        points, single = self._points("value", theta)
        out = np.asarray(self.value_fn(points[:, 0], points[:, 1], *self.params), dtype=points.dtype)
        return float(out[0]) if single else out

    def grad(self, theta: np.ndarray) -> np.ndarray:
        """∇f(θ): shape ``(2,)`` for θ of shape ``(2,)``, ``(k, 2)`` for ``(k, 2)``; a new array."""
        points, single = self._points("grad", theta)
        gx, gy = self.grad_fn(points[:, 0], points[:, 1], *self.params)
        out = np.empty_like(points)
        out[:, 0] = gx
        out[:, 1] = gy
        return out[0] if single else out

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """∇²f(θ): shape ``(2, 2)`` for θ of shape ``(2,)``, ``(k, 2, 2)`` for ``(k, 2)``; symmetric."""
        points, single = self._points("hessian", theta)
        hxx, hxy, hyy = self.hessian_fn(points[:, 0], points[:, 1], *self.params)
        out = np.empty((len(points), 2, 2), dtype=points.dtype)
        out[:, 0, 0] = hxx
        out[:, 0, 1] = hxy
        out[:, 1, 0] = hxy
        out[:, 1, 1] = hyy
        return out[0] if single else out

    def _points(self, method: str, theta: np.ndarray) -> tuple[np.ndarray, bool]:
        """θ as a ``(k, 2)`` floating array (ints become float64) and whether it was a single point."""
        array = np.asarray(theta)
        if array.dtype.kind not in "fiu" or array.dtype.kind == "b":
            raise TypeError(
                f"{self.name}.{method}: theta has dtype {array.dtype}; pass real numbers, e.g. np.array([1.0, 2.0])"
            )
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        if array.shape == (2,):
            return array.reshape(1, 2), True
        if array.ndim == 2 and array.shape[1] == 2:
            return array, False
        raise ValueError(
            f"{self.name}.{method}: theta has shape {array.shape}; it must be (2,) for one point or (k, 2) for "
            f"k points (one per row), e.g. np.array([1.0, 2.0]) or np.array([[1.0, 2.0], [0.0, 0.5]])"
        )

    # -- what is known ---------------------------------------------------------------------------------
    def nearest_minimum(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the nearest known minimum and the distance to it, for each point (``(k,)`` each, or
        scalars for one point). Raises ``ValueError`` on a surface without minima (unbounded below)."""
        if not len(self.minima):
            raise ValueError(f"{self.name} is unbounded below and lists no minima; there is no nearest one")
        points, single = self._points("nearest_minimum", theta)
        distances = np.linalg.norm(points[:, None, :] - self.minima[None, :, :], axis=-1)
        index = np.argmin(distances, axis=1)
        nearest = distances[np.arange(len(points)), index]
        return (index[0], nearest[0]) if single else (index, nearest)

    def __repr__(self) -> str:
        return f"Surface({self.name!r}: {self.description})"


def grid(surface: Surface, n: int = 200, bounds: Bounds | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f on an n × n grid over ``bounds`` (the surface's own by default), for contour plots.

    Returns ``X, Y, Z`` with ``X, Y = np.meshgrid(x, y, indexing="xy")``: row i follows y[i], column j
    follows x[j], and ``Z[i, j] = f(X[i, j], Y[i, j]) = f(x[j], y[i])`` — the layout ``plt.contour(X, Y, Z)``
    expects. Values that overflow are ``inf``; nothing is clipped.
    """
    if not isinstance(surface, Surface):
        raise TypeError(f"grid: expected a Surface (e.g. descentlab.surfaces.rosenbrock), got {type(surface).__name__}")
    if not is_integer(n) or n < 2:
        raise ValueError(f"grid: n={n!r} must be an integer ≥ 2, e.g. 200")
    (x0, x1), (y0, y1) = surface.bounds if bounds is None else check_bounds(bounds, owner="grid")
    X, Y = np.meshgrid(np.linspace(x0, x1, int(n)), np.linspace(y0, y1, int(n)), indexing="xy")
    with np.errstate(over="ignore", invalid="ignore"):
        Z = surface.value(np.column_stack([X.ravel(), Y.ravel()])).reshape(X.shape)
    return X, Y, Z


def check_bounds(bounds: object, owner: str) -> Bounds:
    """``bounds`` as ``((xmin, xmax), (ymin, ymax))`` of floats; ``ValueError`` naming the value unless it has
    that shape, holds finite real numbers and has min < max on both axes."""
    try:
        (x0, x1), (y0, y1) = bounds
    except (TypeError, ValueError):
        corners = ()
    else:
        corners = (x0, x1, y0, y1)
    if not (corners and all(is_real(c) and math.isfinite(c) for c in corners) and x0 < x1 and y0 < y1):
        raise ValueError(
            f"{owner}: bounds={bounds!r} must be ((xmin, xmax), (ymin, ymax)) with finite numbers and min < max, "
            f"e.g. ((-2.0, 2.0), (-1.0, 3.0))"
        )
    return (float(x0), float(x1)), (float(y0), float(y1))


__all__ = ["Bounds", "Surface", "check_bounds", "grid"]
