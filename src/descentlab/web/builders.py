"""Turn validated page settings into library objects: an optimizer, its schedule, its clipping rule.

The race and the training run share these, so the same settings mean the same thing on both pages.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from descentlab import optim
from descentlab.optim.schedules import Schedule, from_config
from descentlab.web.schemas import INTEGER_SCHEDULE_FIELDS, SCHEDULE_TYPES, ClipSpec, OptimizerSpec


def build_optimizer(spec: OptimizerSpec) -> optim.Optimizer:
    """The optimizer with the page's hyperparameters; a NaN/Inf gradient raises (the page reports divergence)."""
    return optim.make_optimizer(spec.optimizer, **spec.hyperparameters, nonfinite="raise")


def build_schedule(spec: OptimizerSpec) -> Schedule:
    """α_t for step t: the chosen schedule started from the optimizer's ``lr``."""
    kind = SCHEDULE_TYPES[spec.schedule.type]
    params = {k: int(v) if k in INTEGER_SCHEDULE_FIELDS else v for k, v in spec.schedule.params.items()}
    if kind == "Warmup":
        return from_config({"type": kind, "inner": spec.lr, **params})
    return from_config({"type": kind, "lr0": spec.lr, **params})


def build_clipper(spec: ClipSpec) -> Callable[[np.ndarray], float] | None:
    """A function clipping a gradient in place (returning its norm before clipping), or ``None``."""
    if spec.mode == "norm":
        return lambda grad: optim.clip.by_norm(grad, spec.threshold)
    if spec.mode == "value":
        return lambda grad: optim.clip.by_value(grad, spec.threshold)
    return None


def describe(spec: OptimizerSpec) -> dict[str, str]:
    """The explain panel's content: the update equations with these values, and the schedule and clipping."""
    optimizer = build_optimizer(spec)
    schedule = build_schedule(spec)
    return {
        "equations": optimizer.describe(),
        "schedule": schedule_text(schedule),
        "clip": clip_text(spec.clip),
    }


def schedule_text(schedule: Schedule) -> str:
    """One line naming the schedule (its docstring's first line gives the formula) and its arguments."""
    doc = (type(schedule).__doc__ or "").strip().splitlines()[0]
    return f"{schedule!r} — {doc}"


def clip_text(spec: ClipSpec) -> str:
    if spec.mode == "norm":
        return f"clip by global norm: if ‖g‖ > {spec.threshold:g}, g ← ({spec.threshold:g}/‖g‖)·g"
    if spec.mode == "value":
        return f"clip by value: each gᵢ ← min(max(gᵢ, −{spec.threshold:g}), {spec.threshold:g})"
    return "no clipping"
