"""The Race page's computation: optimizers descending one loss surface from the starts the user clicked.

This is :func:`descentlab.surfaces.race` with one addition the page needs: each racer has its *own* learning
rate schedule and clipping rule (by norm or by value), applied before every step. Everything else follows
``surfaces.race`` exactly, and a test holds the two equal: a racer advances all its starts together (θ of
shape ``(k, 2)``, one ``optimizer.step`` per step), each start's gradient is clipped alone, Newton gets the
surface's exact Hessian, and a start whose f, ∇f (or Hessian) stops being finite or whose point leaves the
box ``|θᵢ| ≤ 1000·max|bounds|`` has *diverged at* that step and is frozen. So is a Newton start whose damped
Hessian is singular (the library's own per-start step), and its ``failure`` says why; the other starts run on.
The page receives each start's path up to its last good point.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab import surfaces
from descentlab.surfaces.racing import newton_step_by_start, singular_hessian_message
from descentlab.web.builders import (
    SettingError,
    build_clipper,
    build_optimizer,
    build_schedule,
    clip_text,
    schedule_text,
)
from descentlab.web.encoding import rounded, rounded_grid
from descentlab.web.notes import OPTIMIZER_NOTES
from descentlab.web.schemas import OptimizerSpec, RaceRequest

# The divergence box |θᵢ| ≤ ESCAPE_FACTOR · max|bounds|, the default of descentlab.surfaces.race.
ESCAPE_FACTOR = 1000.0


def surface_summary(name: str) -> dict[str, Any]:
    """What the page shows of a surface: bounds, minima, the suggested start, formula and description."""
    surface = surfaces.get(name)
    (x_lo, x_hi), (y_lo, y_hi) = _bounds(surface)
    return {
        "name": name,
        "bounds": [[x_lo, x_hi], [y_lo, y_hi]],
        "minima": [[float(v) for v in point] for point in surface.minima],
        "minimum_value": rounded([surface.minimum_value])[0],
        "start": rounded(surface.start),
        "description": surface.description,
        "formula": surface.formula,
    }


def surface_grid(name: str, n: int) -> dict[str, Any]:
    """The contour data: axes, values on the grid (rows follow y, columns x), bounds and minima."""
    surface = surfaces.get(name)
    X, Y, Z = surfaces.grid(surface, n)
    return {
        **surface_summary(name),
        "x": rounded(X[0, :]),
        "y": rounded(Y[:, 0]),
        "z": rounded_grid(Z),
    }


def run_race(request: RaceRequest) -> dict[str, Any]:
    """Race every racer from every start for ``request.steps`` steps; trajectories, losses and equations."""
    surface = surfaces.get(request.surface)
    (x_lo, x_hi), (y_lo, y_hi) = _bounds(surface)
    for i, (x, y) in enumerate(request.starts):
        if not (x_lo <= x <= x_hi and y_lo <= y <= y_hi):
            raise ValueError(
                f"start {i + 1} ({x:g}, {y:g}) lies outside the {request.surface} surface's bounds "
                f"x ∈ [{x_lo:g}, {x_hi:g}], y ∈ [{y_lo:g}, {y_hi:g}]; click inside the contour plot"
            )
    starts = np.array(request.starts, dtype=float)
    runs = []
    for index, spec in enumerate(request.racers):
        try:
            runs.append(
                _race_one(surface, spec, starts, request.steps, label=spec.label or _default_label(spec, index))
            )
        except SettingError as error:
            raise error.under(f"racers.{index}") from error
    return {"surface": request.surface, "steps": request.steps, "runs": runs}


def _race_one(surface: Any, spec: OptimizerSpec, starts: np.ndarray, steps: int, label: str) -> dict[str, Any]:
    optimizer = build_optimizer(spec)
    equations = optimizer.describe()
    schedule = build_schedule(spec)
    clipper = build_clipper(spec.clip)
    newton = spec.optimizer == "newton"
    escape = ESCAPE_FACTOR * float(np.max(np.abs(surface.bounds)))
    k = len(starts)
    path = np.empty((steps + 1, k, 2))
    losses = np.empty((steps + 1, k))
    diverged_at: list[int | None] = [None] * k
    failures: dict[int, str] = {}
    alive = np.ones(k, dtype=bool)
    theta = starts.copy()
    with np.errstate(all="ignore"):
        loss, grad, hessian = _evaluate(surface, theta, newton)
        for i in np.flatnonzero(_not_finite(loss, grad, hessian)):
            alive[i], diverged_at[i] = False, 0
        path[0], losses[0] = theta, loss
        for t in range(1, steps + 1):
            if not alive.any():
                break
            previous = theta.copy()
            grad[~alive] = 0.0
            if clipper is not None:
                for i in np.flatnonzero(alive):
                    clipper(grad[i])  # each start is its own run: its gradient is clipped alone
            optimizer.lr = schedule(t - 1)
            unsolvable = np.zeros(k, dtype=bool)
            if newton:
                hessian[~alive] = np.eye(2)
                unsolvable = newton_step_by_start(optimizer, theta, grad, hessian)
            else:
                optimizer.step(theta, grad)
            theta[~alive] = previous[~alive]
            new_loss, grad, hessian = _evaluate(surface, theta, newton)
            broken = _not_finite(new_loss, grad, hessian) | ~np.isfinite(theta).all(axis=1) | unsolvable
            broken |= (np.abs(theta) > escape).any(axis=1)
            for i in np.flatnonzero(alive & broken):
                alive[i], diverged_at[i] = False, t
                if unsolvable[i]:
                    failures[i] = singular_hessian_message(label, optimizer, starts[i], t, previous[i])
            theta[broken] = previous[broken]
            new_loss[broken] = loss[broken]
            loss = new_loss
            path[t], losses[t] = theta, loss
    return {
        "label": label,
        "optimizer": spec.optimizer,
        "explain": {
            "equations": equations,
            "schedule": schedule_text(schedule),
            "clip": clip_text(spec.clip),
            "note": OPTIMIZER_NOTES[spec.optimizer],
        },
        "starts": [
            {
                "trajectory": [rounded(path[: _length(diverged_at[i], steps), i, axis]) for axis in (0, 1)],
                "losses": rounded(losses[: _length(diverged_at[i], steps), i]),
                "diverged_at": diverged_at[i],
                "final_loss": float(losses[_length(diverged_at[i], steps) - 1, i]) if diverged_at[i] != 0 else None,
                "failure": failures.get(i),
            }
            for i in range(k)
        ],
    }


def _evaluate(surface: Any, theta: np.ndarray, newton: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    loss = np.asarray(surface.value(theta), dtype=float).reshape(-1)
    grad = np.asarray(surface.grad(theta), dtype=float).reshape(-1, 2).copy()
    hessian = np.asarray(surface.hessian(theta), dtype=float).reshape(-1, 2, 2).copy() if newton else None
    return loss, grad, hessian


def _not_finite(loss: np.ndarray, grad: np.ndarray, hessian: np.ndarray | None) -> np.ndarray:
    bad = ~np.isfinite(loss) | ~np.isfinite(grad).all(axis=1)
    if hessian is not None:
        bad |= ~np.isfinite(hessian).all(axis=(1, 2))
    return bad


def _length(diverged_at: int | None, steps: int) -> int:
    """Points to send for one start: all of them, or those before the step at which it diverged."""
    return steps + 1 if diverged_at is None else max(diverged_at, 1)


def _default_label(spec: OptimizerSpec, index: int) -> str:
    return f"{index + 1}. {spec.optimizer} lr={spec.lr:g}"


def _bounds(surface: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    (x_lo, x_hi), (y_lo, y_hi) = surface.bounds
    return (float(x_lo), float(x_hi)), (float(y_lo), float(y_hi))
