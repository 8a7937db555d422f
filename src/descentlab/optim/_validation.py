"""Checks at the door: hyperparameters and arrays, with messages that name the value, the range and a fix."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import numpy as np

from descentlab._numbers import is_real


def check_range(
    name: str,
    value: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    owner: str = "",
    hint: str = "",
) -> float:
    """Return ``value`` as a float if it is finite and lies in the interval, else raise ``ValueError``.

    The message names the parameter, the value given and the interval in mathematical notation,
    e.g. ``Adam: beta1=1.0 is outside [0, 1); a typical value is 0.9``.
    """
    where = f"{owner}: " if owner else ""
    if not is_real(value):
        raise TypeError(f"{where}{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}{name}={value} is not a finite number{'; ' + hint if hint else ''}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left = "(" if low_open or math.isinf(low) else "["
        right = ")" if high_open or math.isinf(high) else "]"
        interval = f"{left}{_fmt(low)}, {_fmt(high)}{right}"
        fix = f"; {hint}" if hint else ""
        raise ValueError(f"{where}{name}={value:g} is outside {interval}{fix}")
    return value


def check_choice(name: str, value: str, choices: Iterable[str], *, owner: str = "") -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ``ValueError`` listing them."""
    choices = tuple(choices)
    if value not in choices:
        where = f"{owner}: " if owner else ""
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{where}{name}={value!r} is not one of {listed}")
    return value


def check_bool(name: str, value: object, *, owner: str = "") -> bool:
    """Return ``value`` as a Python bool if it is ``True``/``False`` (``np.bool_`` included), else raise ``TypeError``.

    Any other value is refused rather than read as truthy: ``amsgrad="False"`` is a mistake, not ``True``.
    """
    if not isinstance(value, (bool, np.bool_)):
        where = f"{owner}: " if owner else ""
        raise TypeError(
            f"{where}{name} must be True or False, got {value!r} of type {type(value).__name__}; "
            f"pass {name}=True or {name}=False"
        )
    return bool(value)


def check_eps_holds(eps: float, dtype: np.dtype, *, owner: str = "") -> None:
    """Raise ``ValueError`` when ε > 0 rounds to 0 in ``dtype`` (1e-8 in float16): a coordinate whose gradient
    is 0 would then compute 0/0 = NaN. Decided once per (ε, dtype), so a step pays a cached look-up."""
    if _rounds_to_zero(eps, dtype):
        where = f"{owner}: " if owner else ""
        smallest = np.finfo(dtype).smallest_subnormal
        wider, typical = ("float32", "1e-4") if dtype.itemsize < 4 else ("float64", "1e-8")
        raise ValueError(
            f"{where}eps={eps:g} rounds to 0 in {dtype}, so a coordinate with a zero gradient would divide 0 by 0 "
            f"(NaN); the smallest eps {dtype} holds is {smallest:.3g}. Construct the optimizer with a larger eps "
            f"(e.g. {typical} for {dtype}) or step {wider} arrays; the step was not applied"
        )


@functools.lru_cache(maxsize=64)
def _rounds_to_zero(value: float, dtype: np.dtype) -> bool:
    return bool(np.asarray(value, dtype=dtype) == 0)


def check_float_array(name: str, array: object, *, owner: str = "") -> np.ndarray:
    """Return ``array`` if it is a floating-point NumPy array, else raise ``TypeError`` saying how to fix it."""
    where = f"{owner}: " if owner else ""
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"{where}{name} must be a NumPy array, got {type(array).__name__}; "
            f"wrap it with np.asarray(..., dtype=np.float64)"
        )
    if array.dtype.kind != "f":  # float16/32/64 and long double; complex is kind 'c'
        raise TypeError(
            f"{where}{name} has dtype {array.dtype}; a real floating dtype (float16, float32, float64 or "
            f"longdouble) is required, e.g. {name}.astype(np.float64)"
        )
    return array


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:g}"
