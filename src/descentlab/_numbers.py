"""What every layer's argument checks count as an integer and as a real number (so this module sits below
all of them, beside ``_switches``).

A bool is neither: Python makes ``True`` an int, but ``steps=True`` is a mistake, not 1. NumPy's scalars are
both, since values often come from ``np.arange``, ``np.linspace`` or an array's ``.max()``. The range
(≥ 1, finite, in (0, 1), …) is each check's own business.
"""

from __future__ import annotations

import numbers


def is_integer(value: object) -> bool:
    """A Python or NumPy integer (``np.int64(3)`` included), booleans excluded."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A Python or NumPy real number (``np.float32(0.1)`` included; NaN and ±Inf too), booleans excluded."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
