"""The optimizer protocol shared by every update rule.

An optimizer is constructed with validated hyperparameters and stepped in place on any floating array:
``opt.step(theta, grad)``. Its state is a named record of arrays shaped like ``theta`` (created on the
first step) plus the step count; ``state_dict()`` returns plain arrays and numbers, never pickles.

Per-element algorithms declare an elementwise *rule* (one small function whose body is the equations of
its docstring) and the per-step scalars it needs; :func:`descentlab.optim._backend.apply_rule` runs that
rule over the flat arrays. Work that is not per-element (Newton's solve, windows) overrides ``_update``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from descentlab._numbers import is_integer
from descentlab.optim._backend import all_finite, apply_rule
from descentlab.optim._validation import check_choice, check_float_array, check_range

NONFINITE_POLICIES = ("raise", "skip")


class NonFiniteGradientError(FloatingPointError):
    """A gradient held NaN or Inf; the step was not applied and the optimizer state is unchanged."""


@dataclass
class OptimizerState:
    """The named state of an optimizer: ``step`` (updates applied), arrays shaped like θ, extra scalars.

    Arrays are reachable as attributes (``state.m``, ``state.v``) as well as through ``arrays``.
    """

    step: int = 0
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        arrays = self.__dict__.get("arrays", {})
        scalars = self.__dict__.get("scalars", {})
        if name in arrays:
            return arrays[name]
        if name in scalars:
            return scalars[name]
        raise AttributeError(f"optimizer state has no entry {name!r}; it holds {sorted(arrays) + sorted(scalars)}")


class Optimizer:
    """Base class: validation, lazy state, non-finite handling, serialization, ``describe``.

    Subclasses set ``state_names`` (the state arrays in the order the rule takes them), implement
    ``_rule()`` (the elementwise function), ``_hyper()`` (its scalar arguments for the current step) and
    ``_equations()`` (the update written out with the current values).
    """

    reference: ClassVar[str] = ""
    state_names: ClassVar[tuple[str, ...]] = ()
    # Scalars the state carries beside its arrays (NAdam's running product of momentum coefficients).
    state_scalars: ClassVar[dict[str, float]] = {}

    def __init__(self, lr: float, *, nonfinite: str = "raise") -> None:
        self.lr = lr
        self.nonfinite = check_choice("nonfinite", nonfinite, NONFINITE_POLICIES, owner=type(self).__name__)
        self.state: OptimizerState | None = None
        self.skipped_steps = 0

    # -- hyperparameters -------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate α used by the next step (schedules set it between steps)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_range(
            "lr",
            value,
            0.0,
            math.inf,
            owner=type(self).__name__,
            hint="the learning rate must be ≥ 0; try 1e-3 for adaptive methods, 1e-2 to 1e-1 for GD",
        )

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments with their current values (scikit-learn's ``get_params``)."""
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    # -- stepping ---------------------------------------------------------------------------------------
    @property
    def step_count(self) -> int:
        """Number of updates applied so far (skipped non-finite steps are not counted)."""
        return 0 if self.state is None else self.state.step

    def step(self, theta: np.ndarray, grad: np.ndarray, **kwargs: Any) -> bool:
        """Update ``theta`` in place from ``grad``; return ``False`` when a non-finite step was skipped.

        ``theta`` is any floating array: a point (``(d,)``), a flat parameter vector, or ``(k, d)`` for k
        independent runs advanced together. ``grad`` must have the same shape and dtype.
        """
        self._check_arrays(theta, grad)
        if not _all_finite(grad):
            if self.nonfinite == "skip":
                self.skipped_steps += 1
                return False
            raise NonFiniteGradientError(_nonfinite_message(type(self).__name__, grad))
        if self.state is None:
            self.state = self._init_state(theta)
        self.state.step += 1
        self._update(theta, grad, **kwargs)
        return True

    def reset(self) -> None:
        """Forget the state: the next step starts from zero velocity/moments."""
        self.state = None
        self.skipped_steps = 0

    def _check_arrays(self, theta: np.ndarray, grad: np.ndarray) -> None:
        owner = f"{type(self).__name__}.step"
        check_float_array("theta", theta, owner=owner)
        check_float_array("grad", grad, owner=owner)
        if grad.shape != theta.shape:
            raise ValueError(
                f"{owner}: grad has shape {grad.shape} but theta has shape {theta.shape}; "
                f"they must match element for element"
            )
        if grad.dtype != theta.dtype:
            raise TypeError(
                f"{owner}: grad has dtype {grad.dtype} but theta has dtype {theta.dtype}; "
                f"cast one, e.g. grad.astype(theta.dtype)"
            )
        if not theta.flags.writeable:
            raise ValueError(f"{owner}: theta is read-only; the step updates it in place (pass theta.copy())")
        if self.state is not None:
            expected = self._state_shape(theta.shape)
            for name, array in self.state.arrays.items():
                if array.shape != expected or array.dtype != theta.dtype:
                    raise ValueError(
                        f"{owner}: theta has shape {theta.shape} and dtype {theta.dtype}, but the state "
                        f"{name!r} was created for shape {array.shape} and dtype {array.dtype}; "
                        f"use one optimizer per parameter array, or call reset() first"
                    )

    def _init_state(self, theta: np.ndarray) -> OptimizerState:
        shape = self._state_shape(theta.shape)
        arrays = {name: np.zeros(shape, dtype=theta.dtype) for name in self._active_states()}
        return OptimizerState(step=0, arrays=arrays, scalars=dict(self.state_scalars))

    def _state_shape(self, theta_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of each state array; θ's own shape except for windowed rules."""
        return theta_shape

    def _active_states(self) -> tuple[str, ...]:
        """The state arrays this configuration uses (options such as ``amsgrad`` add some)."""
        return self.state_names

    def _update(self, theta: np.ndarray, grad: np.ndarray) -> None:
        assert self.state is not None
        states = [self.state.arrays.get(name) for name in self.state_names]
        apply_rule(self._rule(), theta, grad, states, self._hyper())

    def _rule(self) -> Callable[..., tuple]:
        raise NotImplementedError

    def _hyper(self) -> tuple:
        raise NotImplementedError

    # -- serialization ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically: hyperparameters, step, state arrays (copies)."""
        state = self.state
        return {
            "optimizer": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "step": 0 if state is None else state.step,
            "skipped_steps": self.skipped_steps,
            "arrays": {} if state is None else {k: v.copy() for k, v in state.arrays.items()},
            "scalars": {} if state is None else dict(state.scalars),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (from this class); hyperparameters are restored too.

        Everything is checked before anything is assigned: a state that does not fit raises ``ValueError``
        and leaves this optimizer as it was.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}: expected the dict state_dict() returns, got {type(state_dict).__name__}")
        missing = [key for key in _STATE_KEYS if key not in state_dict]
        if missing:
            raise ValueError(
                f"{name}: the state has no {', '.join(repr(k) for k in missing)}; pass what state_dict() returned"
            )
        if state_dict["optimizer"] != type(self).__name__:
            raise ValueError(f"{name}: the state belongs to {state_dict['optimizer']!r}")
        fresh = type(self)(**state_dict["hyperparameters"])  # validates every hyperparameter
        arrays = {k: np.array(v, copy=True, order="C") for k, v in state_dict["arrays"].items()}
        step = state_dict["step"]
        if not is_integer(step) or step < 0:
            raise ValueError(f"{name}: step={step!r} must be an integer ≥ 0")
        expected = set(fresh._active_states()) if arrays or step else set()
        if set(arrays) != expected:
            raise ValueError(f"{name}: state arrays {sorted(arrays)} != expected {sorted(expected)}")
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) > 1:
            raise ValueError(f"{name}: state arrays have different shapes {sorted(shapes)}")
        scalars = {k: float(v) for k, v in state_dict["scalars"].items()}
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in ("state", "skipped_steps")})
        if step == 0 and not arrays:
            self.state = None
        else:
            self.state = OptimizerState(step=int(step), arrays=arrays, scalars=scalars)
        self.skipped_steps = int(state_dict.get("skipped_steps", 0))

    # -- explanation --------------------------------------------------------------------------------------
    def describe(self) -> str:
        """The update equations with the current hyperparameter values, one per line."""
        head = f"{type(self).__name__} — {self.reference}" if self.reference else type(self).__name__
        body = "\n".join("  " + line for line in self._equations())
        return f"{head}\n  (step t = {self.step_count + 1} next; g = ∇J(θ))\n{body}"

    def _equations(self) -> list[str]:
        raise NotImplementedError

    def bias_corrected(self) -> dict[str, np.ndarray]:
        """Bias-corrected views of the state (m̂, v̂ …) after the last step, for tracing; none by default."""
        return {}


_STATE_KEYS = ("optimizer", "hyperparameters", "step", "arrays", "scalars")


def _all_finite(array: np.ndarray) -> bool:
    fast = all_finite(array)  # a parallel compiled pass for large contiguous arrays, None where it does not apply
    if fast is not None:
        return fast
    # One reduction pass instead of a boolean temporary; the sum is non-finite whenever an entry is.
    # A finite array can still overflow the sum, so only then is the exact check paid for.
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.add.reduce(array, axis=None))):
            return True
    return bool(np.isfinite(array).all())


def _nonfinite_message(owner: str, grad: np.ndarray) -> str:
    n_nan = int(np.isnan(grad).sum())
    n_inf = int(np.isinf(grad).sum())
    first = int(np.flatnonzero(~np.isfinite(grad.ravel()))[0])
    return (
        f"{owner}.step: the gradient holds {n_nan} NaN and {n_inf} Inf entries (first at flat index {first}); "
        f"the step was not applied and the state is unchanged. Likely causes: a learning rate too large "
        f"(divergence), or log/division by zero in the loss. Lower the learning rate, clip gradients, or "
        f"construct the optimizer with nonfinite='skip' to skip such steps."
    )
