"""2-D loss surfaces with analytic gradients and Hessians, and races of optimizers across them.

    import descentlab as dl
    f = dl.surfaces.rosenbrock
    f.value([1.0, 1.0]), f.grad([-1.5, 2.0]), f.hessian([-1.5, 2.0]), f.minima
    result = dl.surfaces.race(f, {"GD": dl.optim.GD(lr=1e-3), "Adam": dl.optim.Adam(lr=0.05)}, steps=500)
    print(result.summary())

Every surface accepts θ of shape ``(2,)`` or ``(k, 2)``; ``SURFACES`` maps names to surfaces and
``get(name)`` looks one up; ``grid(surface, n)`` evaluates it for contour plots.
"""

from descentlab.surfaces.catalog import (
    SURFACES,
    ackley,
    beale,
    booth,
    cliff,
    get,
    himmelblau,
    matyas,
    monkey_saddle,
    plateau,
    quadratic,
    rastrigin,
    rosenbrock,
    saddle,
    six_hump_camel,
    valley,
)
from descentlab.surfaces.racing import Best, RaceResult, Run, race
from descentlab.surfaces.surface import Bounds, Surface, grid

__all__ = [
    "SURFACES",
    "Best",
    "Bounds",
    "RaceResult",
    "Run",
    "Surface",
    "ackley",
    "beale",
    "booth",
    "cliff",
    "get",
    "grid",
    "himmelblau",
    "matyas",
    "monkey_saddle",
    "plateau",
    "quadratic",
    "race",
    "rastrigin",
    "rosenbrock",
    "saddle",
    "six_hump_camel",
    "valley",
]
