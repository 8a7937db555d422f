"""Arrays as JSON: rounded to what a plot can show, with NaN/Inf (which JSON cannot carry) as null."""

from __future__ import annotations

import math
from typing import Any


def rounded(values: Any, digits: int = 6) -> list[float | None]:
    """A 1-D sequence as floats with ``digits`` significant digits; non-finite entries become ``None``."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in map(float, values)]


def rounded_grid(values: Any, digits: int = 6) -> list[list[float | None]]:
    """A 2-D array (rows first) as nested lists of :func:`rounded` rows."""
    return [rounded(row, digits) for row in values]
