"""Checks at the door for the data functions: counts, noise levels, flags, seeds and (X, y) pairs."""

from __future__ import annotations

import math

import numpy as np

from descentlab._numbers import is_integer, is_real

Seed = int | np.random.Generator


def check_count(name: str, value: object, *, owner: str, minimum: int = 1) -> int:
    """An integer ≥ ``minimum`` (booleans refused)."""
    if not is_integer(value) or value < minimum:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer ≥ {minimum}")
    return int(value)


def check_real(name: str, value: object, *, owner: str, low: float = 0.0, high: float = math.inf) -> float:
    """A finite real number in [low, high]."""
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{owner}: {name}={value:g} is outside [{low:g}, {high:g}]")
    return value


def check_flag(name: str, value: object, *, owner: str) -> bool:
    """``True`` or ``False`` (``np.bool_`` included); anything else is a mistake, not a truthy value."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name}={value!r} must be True or False")
    return bool(value)


def rng_from(seed: Seed, *, owner: str) -> np.random.Generator:
    """A generator from an integer seed ≥ 0 (same seed, same data) or the given generator itself."""
    if isinstance(seed, np.random.Generator):
        return seed
    if not is_integer(seed) or seed < 0:
        raise TypeError(f"{owner}: seed={seed!r} must be an integer ≥ 0 or a numpy.random.Generator")
    return np.random.default_rng(int(seed))


def check_xy(X: object, y: object, *, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a 2-D numeric array and ``y`` as an array with as many rows."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: X must be a 2-D numeric array (n_samples, n_features); got shape {X.shape}")
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{owner}: X has {X.shape[0]} samples but y has shape {y.shape}; they must have the same length"
        )
    return X, y
