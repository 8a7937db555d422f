"""Seeded synthetic problems: 2-D classification (moons, circles, spirals, XOR, blobs) and 1-D regression.

Every function takes ``n_samples``, ``noise`` (the standard deviation of Gaussian noise added to the
points, or to the targets for regression) and ``seed`` (an integer or ``np.random.Generator``), and returns
``(X, y)``: ``X`` float64 of shape ``(n_samples, 2)`` (``(n_samples, 1)`` for :func:`sine`) and ``y``
int64 class labels ``0 … k−1`` (float64 targets for :func:`sine`). Samples are shuffled; classes are as
balanced as ``n_samples`` allows (class c gets ⌊n/k⌋ samples, plus one for the first n mod k classes),
except in :func:`xor`, whose labels follow the uniformly drawn points (about half each, not exactly).
Same arguments, same arrays, bit for bit.

    X, y = dl.data.moons(n_samples=500, noise=0.2, seed=0)
"""

from __future__ import annotations

import math

import numpy as np

from descentlab.data._validation import Seed, check_count, check_real, rng_from


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    base, extra = divmod(n_samples, n_classes)
    return [base + (1 if c < extra else 0) for c in range(n_classes)]


def _finish(rng: np.random.Generator, parts: list[np.ndarray], noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Stack the per-class point sets, add isotropic Gaussian noise, shuffle."""
    X = np.concatenate(parts, axis=0)
    y = np.concatenate([np.full(len(part), c, dtype=np.int64) for c, part in enumerate(parts)])
    if noise > 0:
        X = X + rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(len(y))
    return np.ascontiguousarray(X[order]), y[order]


def _check_common(owner: str, n_samples: int, noise: float, seed: Seed, minimum: int = 2):
    n_samples = check_count("n_samples", n_samples, owner=owner, minimum=minimum)
    noise = check_real("noise", noise, owner=owner)
    return n_samples, noise, rng_from(seed, owner=owner)


def moons(n_samples: int = 300, noise: float = 0.1, seed: Seed = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (class 0 on top, class 1 below).

    Class 0: (cos t, sin t); class 1: (1 − cos t, ½ − sin t), t uniform in [0, π]; not linearly separable.
    """
    n_samples, noise, rng = _check_common("moons", n_samples, noise, seed)
    n0, n1 = _class_sizes(n_samples, 2)
    t0 = rng.uniform(0.0, math.pi, n0)
    t1 = rng.uniform(0.0, math.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    return _finish(rng, [upper, lower], noise)


def circles(
    n_samples: int = 300, noise: float = 0.05, seed: Seed = 0, factor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 of radius 1, class 1 of radius ``factor`` ∈ (0, 1), angles uniform."""
    n_samples, noise, rng = _check_common("circles", n_samples, noise, seed)
    factor = check_real("factor", factor, owner="circles", low=0.0, high=1.0)
    if not 0.0 < factor < 1.0:
        raise ValueError(f"circles: factor={factor:g} must lie strictly between 0 and 1 (inner radius / outer)")
    parts = []
    for radius, size in zip((1.0, factor), _class_sizes(n_samples, 2), strict=True):
        angle = rng.uniform(0.0, 2.0 * math.pi, size)
        parts.append(radius * np.column_stack([np.cos(angle), np.sin(angle)]))
    return _finish(rng, parts, noise)


def spirals(
    n_samples: int = 300, noise: float = 0.1, seed: Seed = 0, n_classes: int = 2, turns: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms (the CS231n spiral).

    Arm c: radius r uniform in [0.05, 1], angle φ = 2π·turns·r + 2πc/k; point r·(cos φ, sin φ). Hard for
    linear models and for small or badly initialised networks: a test of capacity and optimization.
    """
    n_samples, noise, rng = _check_common("spirals", n_samples, noise, seed)
    n_classes = check_count("n_classes", n_classes, owner="spirals", minimum=2)
    turns = check_real("turns", turns, owner="spirals", low=0.0, high=10.0)
    parts = []
    for c, size in enumerate(_class_sizes(n_samples, n_classes)):
        r = rng.uniform(0.05, 1.0, size)
        phi = 2.0 * math.pi * turns * r + 2.0 * math.pi * c / n_classes
        parts.append(r[:, None] * np.column_stack([np.cos(phi), np.sin(phi)]))
    return _finish(rng, parts, noise)


def xor(n_samples: int = 300, noise: float = 0.1, seed: Seed = 0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: points uniform in [−1, 1]², label 1 where the coordinates' signs differ (x₁·x₂ < 0), else 0.

    The labels are drawn from the clean points, then noise moves the points, so large noise blurs the axes.
    """
    n_samples, noise, rng = _check_common("xor", n_samples, noise, seed, minimum=1)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = (X[:, 0] * X[:, 1] < 0).astype(np.int64)
    if noise > 0:
        X = X + rng.normal(0.0, noise, size=X.shape)
    return X, y


def blobs(
    n_samples: int = 300, noise: float = 0.5, seed: Seed = 0, n_classes: int = 3, radius: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` isotropic Gaussian clusters of standard deviation ``noise``.

    Centers are evenly spaced on a circle of ``radius``: μ_c = radius·(cos 2πc/k, sin 2πc/k). With the
    defaults the problem is (almost) linearly separable: a sanity check for any optimizer.
    """
    n_samples, noise, rng = _check_common("blobs", n_samples, noise, seed)
    n_classes = check_count("n_classes", n_classes, owner="blobs", minimum=2)
    radius = check_real("radius", radius, owner="blobs")
    parts = []
    for c, size in enumerate(_class_sizes(n_samples, n_classes)):
        angle = 2.0 * math.pi * c / n_classes
        parts.append(np.tile([radius * math.cos(angle), radius * math.sin(angle)], (size, 1)))
    return _finish(rng, parts, noise)


def sine(n_samples: int = 300, noise: float = 0.1, seed: Seed = 0) -> tuple[np.ndarray, np.ndarray]:
    """1-D regression: x uniform in [−π, π], y = sin(x) + ε with ε ~ N(0, noise²). ``X`` has shape (n, 1)."""
    n_samples, noise, rng = _check_common("sine", n_samples, noise, seed, minimum=1)
    x = rng.uniform(-math.pi, math.pi, n_samples)
    y = np.sin(x)
    if noise > 0:
        y = y + rng.normal(0.0, noise, n_samples)
    return x.reshape(-1, 1), y
