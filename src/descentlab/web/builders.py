"""Turn validated page settings into library objects: an optimizer, its schedule, its clipping rule.

The race and the training run share these, so the same settings mean the same thing on both pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from descentlab import optim
from descentlab.optim.schedules import Schedule, from_config
from descentlab.web.schemas import INTEGER_SCHEDULE_FIELDS, SCHEDULE_TYPES, ClipSpec, OptimizerSpec

# The library's checks say "Owner: name=value …" (``Adam: lr=-1 is outside [0, ∞)``); the name is the field.
_NAMED = re.compile(r"^\w+: (\w+)=")


class SettingError(ValueError):
    """A setting the library refused: its message, and the request field it concerns ("" if it names none)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def under(self, prefix: str) -> SettingError:
        """The same error with its field inside ``prefix`` (``racers.0``, ``optimizer``)."""
        return SettingError(str(self), f"{prefix}.{self.field}" if self.field else "")

    def details(self) -> list[dict[str, str]]:
        """The API's ``details`` records: the field and the library's message, so a page can show it there."""
        return [{"field": self.field, "message": str(self)}] if self.field else []


def _refused(error: Exception, given: Mapping[str, Any], section: str) -> SettingError:
    named = _NAMED.match(str(error))
    field = f"{section}.{named[1]}" if named and named[1] in given else ""
    return SettingError(str(error), field)


def build_optimizer(spec: OptimizerSpec) -> optim.Optimizer:
    """The optimizer with the page's hyperparameters; a NaN/Inf gradient raises (the page reports divergence)."""
    try:
        return optim.make_optimizer(spec.optimizer, **spec.hyperparameters, nonfinite="raise")
    except (ValueError, TypeError) as error:
        raise _refused(error, spec.hyperparameters, "hyperparameters") from error


def build_schedule(spec: OptimizerSpec) -> Schedule:
    """α_t for step t: the chosen schedule started from the optimizer's ``lr``."""
    kind = SCHEDULE_TYPES[spec.schedule.type]
    params = {k: int(v) if k in INTEGER_SCHEDULE_FIELDS else v for k, v in spec.schedule.params.items()}
    start = {"inner": spec.lr} if kind == "Warmup" else {"lr0": spec.lr}
    try:
        return from_config({"type": kind, **start, **params})
    except (ValueError, TypeError) as error:
        raise _refused(error, params, "schedule.params") from error


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
