"""What the playground accepts: request records with their bounds, and the readable errors they raise.

Every field a page can send is declared here with its type and range, so one place states what the server
will compute for a stranger's request (the *bounds*), and every rejection names the field, the value and
the allowed range. Numbers are strict: a JSON ``true`` or ``"10"`` is not a number. Checks that belong to the
library (β < 1, a schedule's arguments, Momentum's ``form``) are left to the library constructors, whose
``ValueError`` messages are passed through unchanged, attached to the field they name
(:class:`descentlab.web.builders.SettingError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictFloat,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from descentlab._numbers import is_real
from descentlab.data import batch_count
from descentlab.optim import OPTIMIZERS


@dataclass(frozen=True)
class Limits:
    """How much work one request may ask for: the ranges of the request records below. The server enforces
    them and the pages show its message; the pages also read the numbers of racers, starts and hidden layers
    (``/api/options``) to stop adding more."""

    race_max_racers: int = 6
    race_max_starts: int = 8
    race_max_steps: int = 2000
    grid_min: int = 20
    grid_max: int = 200
    train_max_hidden_layers: int = 6
    train_max_units: int = 64
    train_min_samples: int = 40
    train_max_samples: int = 1000
    train_max_epochs: int = 2000
    train_max_steps: int = 100_000
    boundary_resolution: int = 60


@dataclass(frozen=True)
class ServerLimits:
    """What one server allows at once: open training sessions (one run each), in all and per client (peer
    address), races being computed, and the size of a request body or WebSocket message."""

    max_training_sessions: int = 4
    max_training_sessions_per_client: int = 2
    max_races_in_flight: int = 2
    max_body_bytes: int = 64 * 1024


LIMITS = Limits()
SERVER_LIMITS = ServerLimits()

# Hyperparameters a page may set. Ones that size memory or inner loops (AdaDelta's window, Newton-CG's
# iterations) and the non-finite policy (the playground reports divergence itself) stay at their defaults.
FIXED_HYPERPARAMETERS = frozenset({"nonfinite", "window", "cg_iters", "cg_tol"})

SCHEDULE_TYPES: dict[str, str] = {
    "constant": "Constant",
    "step": "Step",
    "exponential": "Exponential",
    "inverse_time": "InverseTime",
    "linear_to_tau": "LinearToTau",
    "cosine": "Cosine",
    "warmup": "Warmup",
}
INTEGER_SCHEDULE_FIELDS = frozenset({"every", "steps", "tau"})
# Optimizers the Train page cannot drive (it computes gradients, not Hessians).
TRAIN_EXCLUDED_OPTIMIZERS = frozenset({"newton"})


def schedule_parameters(kind: str) -> list[str]:
    """The parameters a page sets for schedule ``kind`` (its α₀ is the optimizer's ``lr``)."""
    from descentlab.optim.schedules import SCHEDULES

    return [f for f in SCHEDULES[SCHEDULE_TYPES[kind]].fields if f not in ("lr0", "inner")]


class _Strict(BaseModel):
    # strict: a number field takes a JSON number only, not true (which would count as 1) or "10".
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=64, strict=True)


# A point [x, y]: JSON has no tuples, so the pair itself is lax (a list is fine) and its numbers strict.
Point = Annotated[tuple[StrictFloat, StrictFloat], Strict(False)]


def settable_hyperparameters(optimizer: str) -> dict[str, Any]:
    """The hyperparameters of ``optimizer`` a page may set, with the library's defaults."""
    defaults = OPTIMIZERS[optimizer]().hyperparameters()
    return {k: v for k, v in defaults.items() if k not in FIXED_HYPERPARAMETERS}


class ScheduleSpec(_Strict):
    """A learning-rate schedule by name; its α₀ is the optimizer's ``lr``."""

    type: Literal[tuple(SCHEDULE_TYPES)] = "constant"  # type: ignore[valid-type]
    params: dict[str, float] = Field(default_factory=dict, max_length=4)

    @model_validator(mode="after")
    def _known_params(self) -> ScheduleSpec:
        allowed = schedule_parameters(self.type)
        for name, value in self.params.items():
            if name not in allowed:
                choices = ", ".join(allowed) or "none"
                raise ValueError(f"schedule {self.type!r} has no parameter {name!r}; its parameters: {choices}")
            if name in INTEGER_SCHEDULE_FIELDS and value != int(value):
                raise ValueError(f"schedule {self.type!r}: {name}={value} must be a whole number of steps")
        if self.params.get("steps", 0) > LIMITS.train_max_steps or self.params.get("tau", 0) > LIMITS.train_max_steps:
            raise ValueError(f"schedule {self.type!r}: steps/tau must be ≤ {LIMITS.train_max_steps}")
        return self


class ClipSpec(_Strict):
    """Gradient clipping before each step: none, by global norm, or by value."""

    mode: Literal["none", "norm", "value"] = "none"
    threshold: float = Field(1.0, gt=0, le=1e6)


class OptimizerSpec(_Strict):
    """One optimizer with its hyperparameters, schedule and clipping."""

    optimizer: Literal[tuple(OPTIMIZERS)] = "adam"  # type: ignore[valid-type]
    label: str | None = Field(None, max_length=40)
    hyperparameters: dict[str, Any] = Field(default_factory=dict, max_length=12)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    clip: ClipSpec = Field(default_factory=ClipSpec)

    @field_validator("hyperparameters")
    @classmethod
    def _known_hyperparameters(cls, hyperparameters: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Each hyperparameter is one the optimizer has, of its default's kind; a refusal names its own field
        (``hyperparameters.lr``), as a refusal by the library does."""
        optimizer = info.data.get("optimizer")
        if optimizer is None:  # the optimizer itself was refused; that error is the one to fix first
            return hyperparameters
        allowed = settable_hyperparameters(optimizer)
        problems = [
            InitErrorDetails(type=PydanticCustomError("value_error", "{message}", {"message": message}), loc=(name,))
            for name, value in hyperparameters.items()
            if (message := _hyperparameter_problem(optimizer, allowed, name, value))
        ]
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return hyperparameters

    @property
    def lr(self) -> float:
        lr = self.hyperparameters.get("lr", settable_hyperparameters(self.optimizer)["lr"])
        return float(lr)


def _hyperparameter_problem(optimizer: str, allowed: Mapping[str, Any], name: str, value: Any) -> str:
    """Why ``name=value`` cannot be sent to ``optimizer`` ("" if it can); the library checks the range."""
    if name not in allowed:
        return f"{optimizer} has no settable hyperparameter {name!r}; choose from {', '.join(allowed)}"
    default = allowed[name]
    if default is None and value is None:  # the library's own default (Newton's min_curvature)
        return ""
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else f"{optimizer}: {name}={value!r} must be true or false"
    if isinstance(default, str):  # a choice (Momentum's form); the library checks its values
        return "" if isinstance(value, str) else f"{optimizer}: {name}={value!r} must be a string, e.g. {default!r}"
    if not is_real(value):
        return f"{optimizer}: {name}={value!r} must be a number"
    if not abs(value) <= 1e6:
        return f"{optimizer}: {name}={value!r} is out of range; use |{name}| ≤ 1e6"
    return ""


class RaceRequest(_Strict):
    """Race optimizers on one surface from one or more starts."""

    surface: str = Field(max_length=40)
    racers: list[OptimizerSpec] = Field(min_length=1, max_length=LIMITS.race_max_racers)
    starts: list[Point] = Field(min_length=1, max_length=LIMITS.race_max_starts)
    steps: int = Field(200, ge=1, le=LIMITS.race_max_steps)


class TrainConfig(_Strict):
    """A small network trained on a 2-D dataset, streamed epoch by epoch."""

    dataset: Literal["moons", "circles", "spirals", "xor"] = "moons"
    noise: float = Field(0.2, ge=0.0, le=1.0)
    n_samples: int = Field(300, ge=LIMITS.train_min_samples, le=LIMITS.train_max_samples)
    validation_fraction: float = Field(0.3, ge=0.1, le=0.5)
    hidden: list[int] = Field(default_factory=lambda: [8, 8], max_length=LIMITS.train_max_hidden_layers)
    activation: Literal["relu", "leaky_relu", "tanh", "sigmoid"] = "relu"
    init: Literal["zeros", "too_small", "he", "xavier", "too_large"] = "he"
    batch_norm: bool = False
    loss: Literal["bce", "ce", "mse"] = "bce"
    optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(hyperparameters={"lr": 0.01}))
    batch_size: int | None = Field(32, ge=1, le=LIMITS.train_max_samples)
    epochs: int = Field(300, ge=1, le=LIMITS.train_max_epochs)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("hidden")
    @classmethod
    def _units_in_range(cls, hidden: list[int]) -> list[int]:
        for i, units in enumerate(hidden):
            if not 1 <= units <= LIMITS.train_max_units:
                raise ValueError(f"hidden layer {i + 1} has {units} units; use 1 to {LIMITS.train_max_units}")
        return hidden

    @model_validator(mode="after")
    def _bounded_work(self) -> TrainConfig:
        if self.optimizer.optimizer in TRAIN_EXCLUDED_OPTIMIZERS:
            raise ValueError(
                "Newton's method needs the Hessian, which the Train page does not compute for a network; "
                "choose another optimizer"
            )
        n_train = self.n_train
        if self.batch_norm and self.batch_size is not None and (self.batch_size == 1 or n_train % self.batch_size == 1):
            raise ValueError(
                f"batch norm needs at least 2 samples in every batch, but batch_size={self.batch_size} makes a "
                f"batch of 1 from the {n_train} training samples; choose another batch size or turn batch norm off"
            )
        if self.batch_size is not None and self.batch_size > n_train:
            raise ValueError(
                f"batch_size={self.batch_size} exceeds the {n_train} training samples; "
                f"choose ≤ {n_train} or 'full' for batch gradient descent"
            )
        steps = self.epochs * self.steps_per_epoch
        if steps > LIMITS.train_max_steps:
            raise ValueError(
                f"{self.epochs} epochs × {self.steps_per_epoch} steps per epoch = {steps} steps exceeds the limit of "
                f"{LIMITS.train_max_steps}; use fewer epochs or a larger batch size"
            )
        return self

    @property
    def n_train(self) -> int:
        return self.n_samples - round(self.n_samples * self.validation_fraction)

    @property
    def steps_per_epoch(self) -> int:
        return batch_count(self.n_train, self.batch_size)


class ExplainRequest(OptimizerSpec):
    """The optimizer whose update equations the explain panel shows."""


def readable(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's ``errors()`` records (as FastAPI and pydantic raise them) as ``{"field", "message"}`` records."""
    out = []
    for item in errors:
        if item["type"] == "json_invalid":  # FastAPI's loc is ("body", character offset)
            position = item["loc"][-1]
            out.append(
                {
                    "field": "request",
                    "message": f"the body is not JSON ({item['ctx']['error']} at character {position})",
                }
            )
            continue
        field = ".".join(str(part) for part in item["loc"] if part not in ("body",)) or "request"
        message = item["msg"].removeprefix("Value error, ")
        if (
            item["type"] not in ("value_error", "missing")
            and "input" in item
            and not isinstance(item["input"], (dict, list))
        ):
            message += f" (got {item['input']!r})"
        out.append({"field": field, "message": message})
    return out
