"""The Race page's computation: optimizers descending one loss surface from the starts the user clicked.

Each racer advances all its starts together — θ has shape ``(k, 2)``, one row per start, one optimizer step
per iteration (the batching of ``descentlab.optim``) — with its schedule and per-start gradient clipping.
A start whose loss, gradient or position stops being finite is frozen and reported as diverged at that
step; the other starts carry on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab import surfaces
from descentlab.web.builders import build_clipper, build_optimizer, build_schedule, clip_text, schedule_text
from descentlab.web.encoding import rounded, rounded_grid
from descentlab.web.notes import OPTIMIZER_NOTES
from descentlab.web.schemas import OptimizerSpec, RaceRequest


def get_surface(name: str) -> Any:
    """The surface called ``name``, or a ``ValueError`` listing the known ones."""
    if name not in surfaces.SURFACES:
        raise ValueError(f"unknown surface {name!r}; choose one of {', '.join(surfaces.SURFACES)}")
    return surfaces.get(name)


def surface_summary(name: str) -> dict[str, Any]:
    surface = get_surface(name)
    (x_lo, x_hi), (y_lo, y_hi) = _bounds(surface)
    return {
        "name": name,
        "bounds": [[x_lo, x_hi], [y_lo, y_hi]],
        "minima": [[float(v) for v in point] for point in surface.minima],
        "description": (type(surface).__doc__ or surface.__doc__ or "").strip().split("\n")[0],
    }


def surface_grid(name: str, n: int) -> dict[str, Any]:
    """The contour data: axes, values on the grid (rows follow y, columns x), bounds and minima."""
    surface = get_surface(name)
    X, Y, Z = surfaces.grid(surface, n)
    return {
        **surface_summary(name),
        "x": rounded(X[0, :]),
        "y": rounded(Y[:, 0]),
        "z": rounded_grid(Z),
    }


def run_race(request: RaceRequest) -> dict[str, Any]:
    """Race every racer from every start for ``request.steps`` steps; trajectories, losses and equations."""
    surface = get_surface(request.surface)
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
        runs.append(_race_one(surface, spec, starts, request.steps, label=spec.label or _default_label(spec, index)))
    return {"surface": request.surface, "steps": request.steps, "runs": runs}


def _race_one(surface: Any, spec: OptimizerSpec, starts: np.ndarray, steps: int, label: str) -> dict[str, Any]:
    optimizer = build_optimizer(spec)
    equations = optimizer.describe()
    schedule = build_schedule(spec)
    clipper = build_clipper(spec.clip)
    newton = spec.optimizer == "newton"
    k = len(starts)
    theta = starts.copy()
    path = np.full((steps + 1, k, 2), np.nan)
    losses = np.full((steps + 1, k), np.nan)
    alive = np.ones(k, dtype=bool)
    diverged_at: list[int | None] = [None] * k
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            loss = np.atleast_1d(surface.value(theta))
            grad = np.atleast_2d(surface.grad(theta)).copy()
            finite = np.isfinite(loss) & np.isfinite(grad).all(axis=1) & np.isfinite(theta).all(axis=1)
            for i in np.flatnonzero(alive & ~finite):
                alive[i] = False
                diverged_at[i] = t
            path[t, alive] = theta[alive]
            losses[t, alive] = loss[alive]
            if t == steps or not alive.any():
                break
            grad[~alive] = 0.0
            if clipper is not None:
                for i in np.flatnonzero(alive):
                    clipper(grad[i])  # each start is its own run: clip its gradient alone
            optimizer.lr = schedule(t)
            if newton:
                hessian = np.asarray(surface.hessian(theta), dtype=float).copy()
                hessian[~alive] = np.eye(2)
                optimizer.step(theta, grad, hessian=hessian)
            else:
                optimizer.step(theta, grad)
            theta[~alive] = 0.0  # frozen rows: keep them finite so the next evaluation stays quiet
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
                "final_loss": _final(losses[:, i]),
            }
            for i in range(k)
        ],
    }


def _length(diverged_at: int | None, steps: int) -> int:
    return steps + 1 if diverged_at is None else diverged_at


def _final(losses: np.ndarray) -> float | None:
    finite = losses[np.isfinite(losses)]
    return float(finite[-1]) if finite.size else None


def _default_label(spec: OptimizerSpec, index: int) -> str:
    return f"{index + 1}. {spec.optimizer} lr={spec.lr:g}"


def _bounds(surface: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    (x_lo, x_hi), (y_lo, y_hi) = surface.bounds
    return (float(x_lo), float(x_hi)), (float(y_lo), float(y_hi))
