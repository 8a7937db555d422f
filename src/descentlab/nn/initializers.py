"""Weight initializers: functions ``init(shape, rng, dtype) -> array`` for a weight matrix of shape
``(fan_in, fan_out)`` (the layer computes ``x @ W``).

Every initializer draws from the ``np.random.Generator`` it is given, in float64, and then casts, so a
float32 and a float64 network built from the same seed start from the same point (up to rounding).

==================  =====================================  ==========================================
name                distribution                           reference
==================  =====================================  ==========================================
``zeros``           W = 0                                  (the symmetry problem: units stay identical)
``constant(c)``     W = c
``normal(std)``     N(0, std²)
``too_small``       N(0, 0.01²)                            deeplearning.ai, course 2 week 1 (``randn*0.01``)
``too_large``       N(0, 10²)                              deeplearning.ai, course 2 week 1 (``randn*10``)
``uniform``         U(−1/√fan_in, 1/√fan_in)               ``torch.nn.Linear``'s default
``xavier_uniform``  U(−√(6/(fan_in+fan_out)), +…)          Glorot & Bengio 2010, eq. 16
``xavier_normal``   N(0, 2/(fan_in+fan_out))               Glorot & Bengio 2010
``he_normal``       N(0, 2/fan_in)                         He et al. 2015, §2.2
``he_uniform``      U(−√(6/fan_in), √(6/fan_in))           He et al. 2015
``lecun_normal``    N(0, 1/fan_in)                         LeCun et al. 1998, "Efficient BackProp"
==================  =====================================  ==========================================

Aliases: ``"he"`` → ``he_normal`` (the course's ``randn * sqrt(2/n_prev)``), ``"xavier"``/``"glorot"`` →
``xavier_normal``. Note that the deeplearning.ai notes call ``randn * sqrt(1/n_prev)`` "Xavier"; that is
``lecun_normal`` here, and Glorot's own variance is 2/(fan_in + fan_out).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from descentlab.nn._validation import check_real

Initializer = Callable[[tuple[int, ...], np.random.Generator, np.dtype], np.ndarray]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 2:
        raise ValueError(f"initializers expect a weight shape (fan_in, fan_out), got {shape}")
    return int(shape[0]), int(shape[1])


def _named(function: Initializer, name: str) -> Initializer:
    function.__name__ = name
    function.__qualname__ = name
    return function


def zeros(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
    """W = 0: every unit of a layer computes the same function and receives the same gradient."""
    return np.zeros(shape, dtype=dtype)


def constant(value: float) -> Initializer:
    """W = ``value`` everywhere (as symmetric as zeros, with a nonzero signal)."""
    value = check_real("value", value, owner="constant")
    if not math.isfinite(value):
        raise ValueError(f"constant: value={value} must be finite, e.g. constant(0.5)")

    def init(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
        return np.full(shape, value, dtype=dtype)

    return _named(init, f"constant({value:g})")


def normal(std: float) -> Initializer:
    """W ~ N(0, std²), std fixed whatever the layer's size."""
    std = check_real("std", std, owner="normal")
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"normal: std={std} must be a finite number > 0, e.g. normal(0.1)")

    def init(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(dtype)

    return _named(init, f"normal({std:g})")


def _scaled_normal(shape, rng, dtype, variance: float) -> np.ndarray:
    return (rng.standard_normal(shape) * math.sqrt(variance)).astype(dtype)


def _scaled_uniform(shape, rng, dtype, limit: float) -> np.ndarray:
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
    """W ~ U(−1/√fan_in, 1/√fan_in): variance 1/(3·fan_in), PyTorch's default for ``nn.Linear``."""
    fan_in, _ = _fans(shape)
    return _scaled_uniform(shape, rng, dtype, 1.0 / math.sqrt(fan_in))


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
    """W ~ U(−a, a) with a = √(6/(fan_in + fan_out)): variance 2/(fan_in + fan_out) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fans(shape)
    return _scaled_uniform(shape, rng, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


def xavier_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
    """W ~ N(0, 2/(fan_in + fan_out)) (Glorot & Bengio 2010): keeps forward and backward variance balanced."""
    fan_in, fan_out = _fans(shape)
    return _scaled_normal(shape, rng, dtype, 2.0 / (fan_in + fan_out))


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
    """W ~ N(0, 2/fan_in) (He et al. 2015): ReLU halves the second moment, the factor 2 restores it."""
    fan_in, _ = _fans(shape)
    return _scaled_normal(shape, rng, dtype, 2.0 / fan_in)


def he_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
    """W ~ U(−√(6/fan_in), √(6/fan_in)): the uniform law with He's variance 2/fan_in."""
    fan_in, _ = _fans(shape)
    return _scaled_uniform(shape, rng, dtype, math.sqrt(6.0 / fan_in))


def lecun_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
    """W ~ N(0, 1/fan_in) (LeCun et al. 1998): unit variance through tanh-like units."""
    fan_in, _ = _fans(shape)
    return _scaled_normal(shape, rng, dtype, 1.0 / fan_in)


too_small = _named(normal(0.01), "too_small")
too_large = _named(normal(10.0), "too_large")

INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros,
    "too_small": too_small,
    "too_large": too_large,
    "uniform": uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
}
ALIASES = {"he": "he_normal", "xavier": "xavier_normal", "glorot": "xavier_normal", "lecun": "lecun_normal"}


class _FiniteChecked:
    """A caller's initializer whose result is checked for NaN and Inf: a network started from NaN weights
    trains to NaN without a word. (The built-in initializers cannot return either.)"""

    def __init__(self, init: Initializer) -> None:
        self.init = init
        self.__name__ = initializer_name(init)

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float64) -> np.ndarray:
        values = np.asarray(self.init(shape, rng, dtype))
        if values.dtype.kind not in "biuf" or not np.isfinite(values).all():
            raise ValueError(
                f"initializer {self.__name__} returned NaN, Inf or non-numbers for a weight of shape {tuple(shape)}; "
                f"an initializer must return finite numbers (look for a division by zero or an overflow in it)"
            )
        return values


def get_initializer(init: str | Initializer) -> Initializer:
    """Resolve a name (or alias) to its initializer; a callable comes back wrapped so that NaN or Inf in what
    it returns raises ``ValueError``."""
    if callable(init):
        return init if isinstance(init, _FiniteChecked) else _FiniteChecked(init)
    if isinstance(init, str):
        key = ALIASES.get(init, init)
        if key in INITIALIZERS:
            return INITIALIZERS[key]
    known = ", ".join([*INITIALIZERS, *ALIASES])
    raise ValueError(
        f"unknown initializer {init!r}; known: {known}, or a function init(shape, rng, dtype) "
        f"(e.g. dl.nn.normal(0.1), dl.nn.constant(0.5))"
    )


def initializer_name(init: Initializer) -> str:
    """The name under which a checkpoint records an initializer (informational only)."""
    return getattr(init, "__name__", type(init).__name__)
