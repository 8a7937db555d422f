"""Learning-rate schedules: functions of the step (or epoch) count t = 0, 1, 2, …

Each schedule is called as ``schedule(t)`` and returns α_t; nothing depends on how often it was called.
``ReduceOnPlateau`` also observes a metric (``observe(value)``) and keeps what it saw in a small record.
Schedules compose — ``ReduceOnPlateau(Warmup(Cosine(...), steps=100))`` — and round-trip through
``state_dict()`` / :func:`from_state_dict`, so a resumed run gets exactly the learning rate it would have had.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from descentlab._numbers import is_integer, is_real
from descentlab.optim._validation import check_choice, check_range


def _check_lr(owner: str, name: str, value: float) -> float:
    return check_range(name, value, 0.0, math.inf, owner=owner, hint="learning rates are ≥ 0, e.g. 0.1")


def _check_count(owner: str, name: str, value: int) -> int:
    if not is_integer(value) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer ≥ 1")
    return int(value)


def _check_step(owner: str, t: int | float) -> float:
    if not is_real(t) or not 0 <= t < math.inf:
        raise ValueError(f"{owner}: the step t={t!r} must be a finite number ≥ 0")
    return float(t)


class Schedule:
    """Base class. Subclasses implement ``_value(t)`` and list their constructor arguments in ``fields``."""

    fields: ClassVar[tuple[str, ...]] = ()

    def __call__(self, t: int | float) -> float:
        return self._value(_check_step(type(self).__name__, t))

    def _value(self, t: float) -> float:
        raise NotImplementedError

    def _peak(self) -> float:
        """The largest rate for any t ≥ 0 (what ``ReduceOnPlateau`` asks of its inner schedule); ∞ when a
        subclass does not say, so that a plateau keeps reducing."""
        return math.inf

    def preview(self, steps: int) -> np.ndarray:
        """α_t for t = 0, …, steps − 1, without changing any state."""
        steps = _check_count(type(self).__name__, "steps", steps)
        return np.array([self._value(float(t)) for t in range(steps)])

    def config(self) -> dict[str, Any]:
        """Constructor arguments (nested schedules as their own configs): JSON-ready."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for name in self.fields:
            value = getattr(self, name)
            out[name] = value.config() if isinstance(value, Schedule) else value
        return out

    def state_dict(self) -> dict[str, Any]:
        """The configuration plus any observed state, as plain numbers (see :func:`from_state_dict`)."""
        return {"config": self.config(), "state": self._state()}

    def _state(self) -> dict[str, Any]:
        inner = getattr(self, "inner", None)
        return {"inner": inner._state()} if isinstance(inner, Schedule) else {}

    def _load_state(self, state: dict[str, Any]) -> None:
        inner = getattr(self, "inner", None)
        if isinstance(inner, Schedule) and "inner" in state:
            inner._load_state(state["inner"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.fields)
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """α_t = α₀."""

    fields = ("lr0",)

    def __init__(self, lr0: float) -> None:
        self.lr0 = _check_lr("Constant", "lr0", lr0)

    def _value(self, t):
        return self.lr0

    def _peak(self):
        return self.lr0


class Step(Schedule):
    """Step decay: α_t = α₀ · factor^⌊t / every⌋ (multiply by ``factor`` every ``every`` steps)."""

    fields = ("lr0", "factor", "every")

    def __init__(self, lr0: float, factor: float = 0.5, every: int = 10) -> None:
        self.lr0 = _check_lr("Step", "lr0", lr0)
        self.factor = check_range("factor", factor, 0.0, 1.0, low_open=True, owner="Step", hint="e.g. 0.5")
        self.every = _check_count("Step", "every", every)

    def _value(self, t):
        return self.lr0 * self.factor ** (t // self.every)

    def _peak(self):
        return self.lr0


class Exponential(Schedule):
    """Exponential decay: α_t = α₀ · e^(−k t)."""

    fields = ("lr0", "k")

    def __init__(self, lr0: float, k: float = 0.01) -> None:
        self.lr0 = _check_lr("Exponential", "lr0", lr0)
        self.k = check_range("k", k, 0.0, math.inf, owner="Exponential", hint="e.g. 0.01")

    def _value(self, t):
        return self.lr0 * math.exp(-self.k * t)

    def _peak(self):
        return self.lr0


class InverseTime(Schedule):
    """1/t decay: α_t = α₀ / (1 + k t)."""

    fields = ("lr0", "k")

    def __init__(self, lr0: float, k: float = 0.01) -> None:
        self.lr0 = _check_lr("InverseTime", "lr0", lr0)
        self.k = check_range("k", k, 0.0, math.inf, owner="InverseTime", hint="e.g. 0.01")

    def _value(self, t):
        return self.lr0 / (1.0 + self.k * t)

    def _peak(self):
        return self.lr0


class LinearToTau(Schedule):
    """Linear decay until τ (Goodfellow, Bengio & Courville 2016, §8.3.1), constant after:

        α_t = (1 − t/τ) α₀ + (t/τ) α_τ  for t < τ ;   α_t = α_τ  for t ≥ τ

    The book suggests α_τ ≈ 1 % of α₀ and τ a few hundred passes through the data.
    """

    fields = ("lr0", "lr_tau", "tau")

    def __init__(self, lr0: float, lr_tau: float | None = None, tau: int = 100) -> None:
        self.lr0 = _check_lr("LinearToTau", "lr0", lr0)
        self.lr_tau = _check_lr("LinearToTau", "lr_tau", 0.01 * lr0 if lr_tau is None else lr_tau)
        self.tau = _check_count("LinearToTau", "tau", tau)

    def _value(self, t):
        fraction = min(t / self.tau, 1.0)
        return (1.0 - fraction) * self.lr0 + fraction * self.lr_tau

    def _peak(self):
        return max(self.lr0, self.lr_tau)


class Cosine(Schedule):
    """Cosine annealing (Loshchilov & Hutter 2017, without restarts), constant at ``lr_min`` after ``steps``:

    α_t = α_min + ½ (α₀ − α_min)(1 + cos(π t / T))  for t ≤ T
    """

    fields = ("lr0", "steps", "lr_min")

    def __init__(self, lr0: float, steps: int = 100, lr_min: float = 0.0) -> None:
        self.lr0 = _check_lr("Cosine", "lr0", lr0)
        self.steps = _check_count("Cosine", "steps", steps)
        self.lr_min = check_range("lr_min", lr_min, 0.0, self.lr0, owner="Cosine", hint="it must not exceed lr0")

    def _value(self, t):
        fraction = min(t / self.steps, 1.0)
        return self.lr_min + 0.5 * (self.lr0 - self.lr_min) * (1.0 + math.cos(math.pi * fraction))

    def _peak(self):
        return self.lr0


class Warmup(Schedule):
    """Linear warm-up, then another schedule:

        α_t = inner(0) · (t + 1) / steps  for t < steps ;   α_t = inner(t − steps)  after

    so the inner schedule starts from its own t = 0 when the warm-up ends (Goyal et al. 2017).
    """

    fields = ("inner", "steps")

    def __init__(self, inner: Schedule | float, steps: int = 100) -> None:
        self.inner = inner if isinstance(inner, Schedule) else Constant(inner)
        self.steps = _check_count("Warmup", "steps", steps)

    def _value(self, t):
        if t < self.steps:
            return self.inner._value(0.0) * (math.floor(t) + 1) / self.steps
        return self.inner._value(t - self.steps)

    def _peak(self):
        return self.inner._peak()  # the ramp rises to inner(0) at most


class ReduceOnPlateau(Schedule):
    """Multiply the learning rate by ``factor`` when a metric stops improving (as Keras and PyTorch do).

    ``observe(metric)`` after each epoch: an improvement beats the best value so far by a fraction
    ``threshold`` of its size, metric < best − |best|·threshold (``mode="min"``) or
    metric > best + |best|·threshold (``mode="max"``). For a positive best this is PyTorch's default
    ``threshold_mode="rel"`` (best·(1 ∓ threshold)); for a negative best PyTorch's rule differs: its
    best·(1 ∓ threshold) lies on the worse side of best, so it counts values slightly worse than best as
    improvements (``mode="min"``, best = −10, threshold = 0.1: PyTorch accepts −9.5, here only values below
    −11 count). Keras compares with an absolute ``min_delta`` instead.

    After more than ``patience`` observations without an improvement, the scale is multiplied by ``factor``
    and ``cooldown`` observations are ignored. The learning rate is ``max(inner(t) · scale, min_lr)``, so it
    composes with any other schedule. As in PyTorch, a reduction that would not lower the rate is not made:
    once the inner schedule's largest rate times the scale is down at ``min_lr``, ``observe`` neither shrinks
    the scale nor counts or reports a reduction (patience and cooldown restart all the same).
    """

    fields = ("inner", "factor", "patience", "min_lr", "threshold", "mode", "cooldown")

    def __init__(
        self,
        inner: Schedule | float,
        factor: float = 0.1,
        patience: int = 10,
        min_lr: float = 0.0,
        threshold: float = 1e-4,
        mode: str = "min",
        cooldown: int = 0,
    ) -> None:
        self.inner = inner if isinstance(inner, Schedule) else Constant(inner)
        self.factor = check_range(
            "factor",
            factor,
            0.0,
            1.0,
            low_open=True,
            high_open=True,
            owner="ReduceOnPlateau",
            hint="e.g. 0.1 (PyTorch's default) or 0.5 for gentler cuts",
        )
        if not is_integer(patience) or patience < 0:
            raise ValueError(f"ReduceOnPlateau: patience={patience!r} must be an integer ≥ 0")
        self.patience = int(patience)
        self.min_lr = _check_lr("ReduceOnPlateau", "min_lr", min_lr)
        self.threshold = check_range(
            "threshold",
            threshold,
            0.0,
            1.0,
            owner="ReduceOnPlateau",
            hint="e.g. 1e-4 (PyTorch's default): the share of |best| an improvement must beat it by; 0 takes any gain",
        )
        self.mode = check_choice("mode", mode, ("min", "max"), owner="ReduceOnPlateau")
        if not is_integer(cooldown) or cooldown < 0:
            raise ValueError(f"ReduceOnPlateau: cooldown={cooldown!r} must be an integer ≥ 0")
        self.cooldown = int(cooldown)
        self.scale = 1.0
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_observations = 0
        self.cooldown_left = 0
        self.reductions = 0

    def _value(self, t):
        return max(self.inner._value(t) * self.scale, self.min_lr)

    def _peak(self):
        return max(self.inner._peak() * self.scale, self.min_lr)

    def observe(self, metric: float) -> bool:
        """Record a metric; return ``True`` when this observation reduced the learning rate (it lowered the
        rate at some step: a cut that ``min_lr`` cancels entirely is not made)."""
        metric = float(metric)
        if not math.isfinite(metric):
            raise ValueError(f"ReduceOnPlateau.observe: metric={metric} is not finite")
        if self._improves(metric):
            self.best = metric
            self.bad_observations = 0
        else:
            self.bad_observations += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_observations = 0
        if self.bad_observations > self.patience:
            self.cooldown_left = self.cooldown
            self.bad_observations = 0
            if self.inner._peak() * self.scale > self.min_lr:  # else every rate is already at the floor
                self.scale *= self.factor
                self.reductions += 1
                return True
        return False

    def _improves(self, metric: float) -> bool:
        if math.isinf(self.best):  # nothing observed yet
            return True
        if self.mode == "min":
            return metric < self.best - abs(self.best) * self.threshold
        return metric > self.best + abs(self.best) * self.threshold

    def _state(self):
        own = {k: getattr(self, k) for k in ("scale", "best", "bad_observations", "cooldown_left", "reductions")}
        return {**own, **super()._state()}

    def _load_state(self, state):
        for key in ("scale", "best", "bad_observations", "cooldown_left", "reductions"):
            setattr(self, key, type(getattr(self, key))(state[key]))
        super()._load_state(state)


SCHEDULES: dict[str, type[Schedule]] = {
    cls.__name__: cls
    for cls in (Constant, Step, Exponential, InverseTime, LinearToTau, Cosine, Warmup, ReduceOnPlateau)
}


def from_config(config: dict[str, Any]) -> Schedule:
    """Build a schedule from :meth:`Schedule.config` output (nested schedules included)."""
    kind = config.get("type")
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule type {kind!r}; known: {', '.join(SCHEDULES)}")
    args = {k: (from_config(v) if isinstance(v, dict) else v) for k, v in config.items() if k != "type"}
    return SCHEDULES[kind](**args)


def from_state_dict(state_dict: dict[str, Any]) -> Schedule:
    """Rebuild a schedule, observed state included, from :meth:`Schedule.state_dict` output."""
    schedule = from_config(state_dict["config"])
    schedule._load_state(state_dict.get("state", {}))
    return schedule
