"""The exponentially weighted average, the idea inside momentum, RMSprop and Adam."""

from __future__ import annotations

import numpy as np

from descentlab.optim._validation import check_bool, check_range


class EWA:
    """Exponentially weighted average of a series, with optional bias correction.

        v₀ = 0 ;  vₜ = β vₜ₋₁ + (1 − β) xₜ ;  v̂ₜ = vₜ / (1 − βᵗ)

    vₜ averages roughly the last 1/(1 − β) values (``window``): β = 0.9 ≈ 10, β = 0.98 ≈ 50. Starting from
    zero biases the first values towards 0; dividing by 1 − βᵗ (the total weight given so far) removes it.
    Works on scalars and arrays alike (each element is averaged on its own).

    Example:
        >>> EWA(0.5).smooth([1.0, 1.0, 1.0])
        array([1., 1., 1.])
        >>> EWA(0.5, bias_correction=False).smooth([1.0, 1.0, 1.0])
        array([0.5  , 0.75 , 0.875])
    """

    def __init__(self, beta: float = 0.9, bias_correction: bool = True) -> None:
        self.beta = check_range("beta", beta, 0.0, 1.0, high_open=True, owner="EWA", hint="e.g. 0.9")
        self.bias_correction = check_bool("bias_correction", bias_correction, owner="EWA")
        self.reset()

    @property
    def window(self) -> float:
        """The effective number of values averaged, 1 / (1 − β)."""
        return 1.0 / (1.0 - self.beta)

    def reset(self) -> None:
        self.count = 0
        self.average = 0.0

    def update(self, x):
        """Fold in the next value and return the (corrected) average.

        A NaN/Inf value, or one whose shape differs from the values before it, raises ``ValueError`` and
        leaves the average as it was (a NaN would otherwise stay in the average for good).
        """
        try:
            value = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"EWA.update: x={x!r} is not a number or an array of numbers") from None
        if not np.isfinite(value).all():
            raise ValueError(f"EWA.update: x holds NaN or Inf ({x!r}); drop or fill that value first")
        if self.count and value.shape != np.shape(self.average):
            raise ValueError(
                f"EWA.update: x has shape {value.shape} but the values so far had shape {np.shape(self.average)}; "
                f"average each series in its own EWA"
            )
        self.count += 1
        self.average = self.beta * self.average + (1.0 - self.beta) * value
        return self.value

    @property
    def value(self):
        """The current average: corrected by 1 − βᵗ when ``bias_correction`` is on."""
        if self.count == 0:
            raise ValueError("EWA.value: no value has been averaged yet; call update(x) first")
        if self.bias_correction:
            return self.average / (1.0 - self.beta**self.count)
        return self.average

    def smooth(self, series) -> np.ndarray:
        """The average after each value of ``series`` (along its first axis), from a fresh start."""
        series = np.asarray(series, dtype=float)
        if series.ndim == 0 or len(series) == 0:
            raise ValueError("EWA.smooth: series must be a non-empty sequence")
        if not np.isfinite(series).all():
            raise ValueError("EWA.smooth: series holds NaN or Inf; drop or fill those values first")
        fresh = EWA(self.beta, self.bias_correction)
        return np.stack([fresh.update(x) for x in series])

    def __repr__(self) -> str:
        return f"EWA(beta={self.beta!r}, bias_correction={self.bias_correction!r})"
