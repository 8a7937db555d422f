"""Every intermediate quantity of an optimizer's first steps, as a table to check by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from descentlab._numbers import is_integer
from descentlab.optim._base import Optimizer


@dataclass
class Trace:
    """Per-step records: ``step``, ``lr`` (the rate the step used: α, or AdaGrad's decayed
    α / (1 + (t − 1)·lr_decay)), ``eps`` (for the optimizers that have one), ``theta`` (before), ``g``, each
    state array and its bias-corrected version after the step (``velocity``, ``m``, ``m_hat`` …), the arrays
    given to the step (``hessian`` for Newton), the ``update`` Δθ and the ``effective_step`` |Δθ| / |g| per
    coordinate (how far the optimizer moved per unit of gradient)."""

    optimizer: str
    rows: list[dict[str, np.ndarray | float | int]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        names: list[str] = []
        for row in self.rows:
            names += [k for k in row if k not in names]
        return names

    def column(self, name: str) -> np.ndarray:
        """One quantity over all steps, stacked: shape ``(steps, *theta.shape)``."""
        if name not in self.columns:
            raise KeyError(f"trace has no column {name!r}; it has {self.columns}")
        return np.stack([np.asarray(row[name]) for row in self.rows])

    def to_table(self, precision: int = 4) -> str:
        """A fixed-width text table, one row per step, vectors written inline."""
        cols = self.columns

        def cell(value) -> str:
            array = np.asarray(value)
            if array.ndim == 0:
                return f"{array.item():.{precision}g}" if array.dtype.kind == "f" else str(array.item())
            return "[" + ", ".join(f"{x:.{precision}g}" for x in array.ravel()) + "]"

        body = [[cell(row.get(c, "")) for c in cols] for row in self.rows]
        widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(cols)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in body]
        return "\n".join(lines)


def trace(
    optimizer: Optimizer,
    grad: Callable[[np.ndarray], np.ndarray] | Sequence[np.ndarray],
    theta0: np.ndarray | Sequence[float],
    steps: int = 5,
    step_kwargs: Callable[[np.ndarray], dict] | None = None,
) -> Trace:
    """Run ``optimizer`` for ``steps`` steps from ``theta0`` and record every intermediate quantity.

    ``grad`` is a function θ ↦ ∇J(θ) (e.g. ``surface.grad``) or a sequence of gradients, one per step.
    ``step_kwargs`` maps θ to the extra keyword arguments of the step, e.g. for Newton
    ``lambda th: {"hessian": surface.hessian(th)}``; the arrays among them are recorded too.
    The optimizer passed in is not touched: a fresh copy with the same hyperparameters runs.
    """
    if not is_integer(steps) or steps < 1:
        raise ValueError(f"trace: steps={steps!r} must be an integer ≥ 1")
    steps = int(steps)
    hyperparameters = optimizer.hyperparameters()
    runner = type(optimizer)(**hyperparameters)
    theta = np.array(theta0, dtype=float)
    if not callable(grad) and len(grad) < steps:
        raise ValueError(f"trace: {len(grad)} gradients given for {steps} steps")
    record = Trace(optimizer=type(optimizer).__name__)
    for t in range(steps):
        g = np.asarray(grad(theta) if callable(grad) else grad[t], dtype=theta.dtype)
        extra = step_kwargs(theta) if step_kwargs is not None else {}
        before = theta.copy()
        runner.step(theta, g, **extra)
        update = theta - before
        with np.errstate(divide="ignore", invalid="ignore"):
            effective = np.where(g != 0, np.abs(update) / np.abs(g), 0.0)
        row: dict[str, np.ndarray | float | int] = {"step": t + 1, "lr": runner._step_lr()}
        if "eps" in hyperparameters:
            row["eps"] = hyperparameters["eps"]
        row.update({"theta": before, "g": g})
        row.update({k: v.copy() for k, v in runner.state.arrays.items()})
        row.update(runner.bias_corrected())
        row.update({k: np.array(v, dtype=float) for k, v in extra.items() if not callable(v)})
        row.update({"update": update, "effective_step": effective})
        record.rows.append(row)
    return record
