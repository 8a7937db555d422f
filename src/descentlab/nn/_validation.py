"""Checks at the door for networks: arrays, targets and options, with messages naming what was given."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from descentlab._numbers import is_integer, is_real

FLOAT_DTYPES = ("float32", "float64")


def check_choice(name: str, value: str, choices: Iterable[str], *, owner: str) -> str:
    """Return ``value`` when it is one of ``choices``; otherwise a ``ValueError`` listing them."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {name}={value!r} is not one of {', '.join(map(repr, choices))}")
    return value


def check_dtype(dtype: object, *, owner: str) -> np.dtype:
    """The network dtype: float32 (training speed) or float64 (gradient checks)."""
    try:
        resolved = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as error:
        raise TypeError(f"{owner}: dtype={dtype!r} is not a NumPy dtype; use 'float32' or 'float64'") from error
    if resolved.name not in FLOAT_DTYPES:
        raise TypeError(f"{owner}: dtype={resolved.name!r} is not supported; use 'float32' or 'float64'")
    return resolved


def check_positive_int(name: str, value: object, *, owner: str) -> int:
    if not is_integer(value) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer ≥ 1")
    return int(value)


def check_real(name: str, value: object, *, owner: str) -> float:
    """A real number of Python or NumPy (booleans refused), as a float."""
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r} of type {type(value).__name__}")
    return float(value)


def check_probability(name: str, value: object, *, owner: str, high_open: bool = True) -> float:
    value = check_real(name, value, owner=owner)
    upper_ok = value < 1.0 if high_open else value <= 1.0
    if not (value >= 0.0 and upper_ok):
        interval = "[0, 1)" if high_open else "[0, 1]"
        raise ValueError(f"{owner}: {name}={value:g} is outside {interval}")
    return value


def check_nonnegative(name: str, value: object, *, owner: str) -> float:
    value = check_real(name, value, owner=owner)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{owner}: {name}={value:g} must be a finite number ≥ 0")
    return value


def as_array(name: str, value: object, *, owner: str, expected: str) -> np.ndarray:
    """``np.asarray(value)``, with a named error instead of NumPy's for ragged nested lists."""
    try:
        return np.asarray(value)
    except ValueError as error:
        raise ValueError(
            f"{owner}: {name} must be {expected} with rows of equal length; NumPy could not make one array of "
            f"this {type(value).__name__} (rows of different lengths?)"
        ) from error


def check_inputs(
    X: object, n_features: int, dtype: np.dtype, *, owner: str, use: str = "training", name: str = "X"
) -> np.ndarray:
    """``X`` as a 2-D array of the network's dtype, with the right width and only finite entries.

    The one door for a network's inputs: training (``fit``, ``evaluate``, ``lr_find``) and prediction check X
    alike. A floating or integer ``X`` of another dtype is converted (one copy per call; convert the data set
    once with ``X.astype(net.dtype)`` to avoid it). Complex, boolean, object and string arrays are refused.
    ``use`` ("training", "predicting", "evaluating") completes the advice for NaN and Inf entries; ``name``
    is the argument's name in the messages (``X_val`` for a validation set).
    """
    if not isinstance(X, np.ndarray):
        X = as_array(name, X, owner=owner, expected=f"a 2-D array of numbers (n_samples, {n_features})")
    if X.dtype.kind not in "fiu":
        raise TypeError(
            f"{owner}: {name} has dtype {X.dtype}; expected real numbers (the network computes in {dtype.name}), "
            f"e.g. {name}.astype(np.{dtype.name})"
        )
    if X.ndim != 2:
        raise ValueError(
            f"{owner}: {name} has shape {X.shape}; expected a 2-D array (n_samples, {n_features}); "
            f"reshape a single sample with {name}.reshape(1, -1)"
        )
    if X.shape[1] != n_features:
        raise ValueError(
            f"{owner}: {name} has {X.shape[1]} features per sample, but the network's input width is "
            f"{n_features}; build the network with sizes=[{X.shape[1]}, …] or select the right columns"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{owner}: {name} has no samples (shape {X.shape})")
    if X.dtype != dtype:
        with np.errstate(over="ignore"):  # values beyond the dtype's range become ±Inf, refused just below
            X = X.astype(dtype)
    if not all_finite(X):
        n_nan = int(np.isnan(X).sum())
        n_inf = int(np.isinf(X).sum())
        raise ValueError(
            f"{owner}: {name} holds {n_nan} NaN and {n_inf} Inf entries (as {dtype.name}); impute or drop them "
            f"before {use}"
        )
    return X


def all_finite(array: np.ndarray) -> bool:
    """One reduction pass; the exact (allocating) test runs only when the sum is not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.add.reduce(array, axis=None))):
            return True
    return bool(np.isfinite(array).all())
