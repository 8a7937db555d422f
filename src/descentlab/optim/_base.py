"""The optimizer protocol shared by every update rule.

An optimizer is constructed with validated hyperparameters and stepped in place on any floating array:
``opt.step(theta, grad)``. Its state is a named record of arrays shaped like ``theta`` (created on the
first step) plus the step count; ``state_dict()`` returns plain arrays and numbers, never pickles.

Per-element algorithms declare an elementwise *rule* (one small function whose body is the equations of
its docstring) and the per-step scalars it needs; :func:`descentlab.optim._backend.apply_rule` runs that
rule over the flat arrays. Work that is not per-element (Newton's solve, windows) overrides ``_update``;
the keyword arguments its signature adds after ``theta, grad`` are the ones ``step`` accepts.

Hyperparameters stay valid after construction: ``opt.beta1 = 0.95`` is checked and normalised by the
constructor itself and used from the next step on, and a change that the run's state cannot follow
(``amsgrad``, ``centered``, a momentum buffer, AdaDelta's window) is refused while that state exists.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from descentlab._numbers import is_integer, is_real
from descentlab.optim._backend import all_finite, apply_rule
from descentlab.optim._validation import check_choice, check_eps_holds, check_float_array, check_range

NONFINITE_POLICIES = ("raise", "skip")
# What belongs to the run rather than to the configuration: kept when the configuration is replaced.
_RUN_ATTRIBUTES = ("state", "skipped_steps")
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


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


class _OptimizerType(type):
    """The metaclass of optimizers: it reads what a class takes, and marks when construction has finished.

    ``Optimizer(...)`` runs the whole ``__init__`` chain (a subclass may set options after ``super().__init__``)
    and only then marks the instance constructed; from then on ``Optimizer.__setattr__`` sends assignments to
    constructor hyperparameters through the constructor. Copies (``copy.deepcopy``, ``pickle``) carry the mark
    in ``__dict__``.
    """

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(name, bases, namespace, **kwargs)
        constructor = inspect.signature(cls.__init__).parameters.values()
        cls._hyperparameter_names = tuple(p.name for p in constructor if p.name != "self" and p.kind not in _VARIADIC)
        # Those of the base classes too (AdamW fixes Adam's decoupled_weight_decay); not lr, which has its own
        # validating property and never changes the state's layout: schedules set it before every step.
        taken = {name for base in cls.__mro__ for name in getattr(base, "_hyperparameter_names", ())}
        cls._reconfigured = frozenset(taken) - {"lr"}
        cls._step_keywords = tuple(inspect.signature(cls._update).parameters)[3:]  # after self, theta, grad
        cls._has_eps = "eps" in cls._hyperparameter_names

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        optimizer = super().__call__(*args, **kwargs)
        optimizer.__dict__["_constructed"] = True
        return optimizer


class Optimizer(metaclass=_OptimizerType):
    """Base class: validation, lazy state, non-finite handling, serialization, ``describe``.

    Subclasses set ``state_names`` (the state arrays in the order the rule takes them), implement
    ``_rule()`` (the elementwise function), ``_hyper()`` (its scalar arguments for the current step) and
    ``_equations()`` (the update written out with the current values).
    """

    reference: ClassVar[str] = ""
    state_names: ClassVar[tuple[str, ...]] = ()
    # Scalars the state carries beside its arrays (NAdam's running product of momentum coefficients).
    state_scalars: ClassVar[dict[str, float]] = {}
    # Set by the metaclass for each class: the constructor's hyperparameters, those whose assignment is
    # re-checked by the constructor, the keywords step() accepts, and whether ε must survive θ's dtype.
    _hyperparameter_names: ClassVar[tuple[str, ...]]
    _reconfigured: ClassVar[frozenset[str]]
    _step_keywords: ClassVar[tuple[str, ...]]
    _has_eps: ClassVar[bool]

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
        # Straight into __dict__: schedules set lr before every step, so it skips a second __setattr__ call.
        self.__dict__["_lr"] = check_range(
            "lr",
            value,
            0.0,
            math.inf,
            owner=type(self).__name__,
            hint="the learning rate must be ≥ 0; try 1e-3 for adaptive methods, 1e-2 to 1e-1 for GD",
        )

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments with their current values (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._hyperparameter_names}

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._reconfigured and self.__dict__.get("_constructed", False):
            self._reconfigure(name, value)
        else:
            object.__setattr__(self, name, value)

    def _reconfigure(self, name: str, value: Any) -> None:
        """``opt.<name> = value`` after construction: checked and normalised by the constructor itself (derived
        attributes follow), and refused while a state exists that the new configuration would keep differently."""
        owner = type(self).__name__
        if name not in self._hyperparameter_names:
            origin = next(c.__name__ for c in type(self).__mro__ if name in getattr(c, "_hyperparameter_names", ()))
            raise TypeError(
                f"{owner}: {name} is fixed at {getattr(self, name)!r} by {owner} itself; for another value use "
                f"{origin}({name}=...)"
            )
        fresh = type(self)(**{**self.hyperparameters(), name: value})
        if self.state is not None:
            old, new = self._state_layout(), fresh._state_layout()
            changes = "; ".join(f"{key}: {old[key]!r} → {new[key]!r}" for key in old if old[key] != new[key])
            if changes:
                raise ValueError(
                    f"{owner}: {name}={value!r} needs another optimizer state than the one this run "
                    f"has built up ({changes}); the state was kept unchanged and {name} is still "
                    f"{getattr(self, name)!r}. Pass {name}={value!r} at construction, or call reset() first to "
                    f"start from a fresh state"
                )
        self._adopt_configuration(fresh)

    def _adopt_configuration(self, fresh: Optimizer) -> None:
        """Take over the hyperparameters and derived attributes of ``fresh`` (built and checked by the
        constructor), keeping this optimizer's run: its state and skipped-step count."""
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in _RUN_ATTRIBUTES})

    def _state_layout(self) -> dict[str, Any]:
        """What a running state is tied to: its arrays and how many values each keeps per parameter (the state
        shape for a one-element θ; AdaDelta's window keeps w). A configuration that changes either needs a
        fresh state."""
        return {
            "state arrays": sorted(self._active_states()),
            "values per parameter": math.prod(self._state_shape((1,))),
        }

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

        A step that raises is not counted: the step count and the state's scalars go back, and a state that
        this step created is dropped. The checks and solves that can fail (keywords, arrays, ε in θ's dtype,
        Newton's solve) come before θ or a state array is written.
        """
        if kwargs:
            self._check_step_keywords(kwargs)
        self._check_arrays(theta, grad)
        if self._has_eps and theta.dtype.itemsize < 8:  # float64 and wider hold every ε > 0
            check_eps_holds(self.eps, theta.dtype, owner=f"{type(self).__name__}.step")
        if not _all_finite(grad):
            if self.nonfinite == "skip":
                self.skipped_steps += 1
                return False
            raise NonFiniteGradientError(_nonfinite_message(type(self).__name__, grad))
        created = self.state is None
        if created:
            self.state = self._init_state(theta)
        state = self.state
        scalars = state.scalars.copy()
        state.step += 1
        try:
            self._update(theta, grad, **kwargs)
        except BaseException:
            if created:
                self.state = None
            else:
                state.step -= 1
                state.scalars = scalars
            raise
        return True

    def _check_step_keywords(self, kwargs: dict[str, Any]) -> None:
        unknown = [key for key in kwargs if key not in self._step_keywords]
        if not unknown:
            return
        owner = type(self).__name__
        got = ", ".join(f"{key}=<{type(kwargs[key]).__name__}>" for key in unknown)
        if not self._step_keywords:
            raise TypeError(
                f"{owner}.step takes theta and grad only, got {got}; of the optimizers only Newton takes more: "
                f"Newton().step(theta, grad, hessian=H) or hvp=f"
            )
        accepted = ", ".join(f"{key}=" for key in self._step_keywords)
        raise TypeError(f"{owner}.step got unexpected keyword arguments {got}; it takes theta, grad and {accepted}")

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

    def _step_lr(self) -> float:
        """The rate the current step uses: α itself, except in rules that decay it on their own (AdaGrad)."""
        return self.lr

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
        for key in ("hyperparameters", "arrays", "scalars"):
            if not isinstance(state_dict[key], dict):
                raise TypeError(
                    f"{name}: {key!r} must be a dict, got {type(state_dict[key]).__name__}; pass what "
                    f"state_dict() returned"
                )
        fresh = type(self)(**state_dict["hyperparameters"])  # validates every hyperparameter
        step = _count(name, "step", state_dict["step"])
        skipped_steps = _count(name, "skipped_steps", state_dict.get("skipped_steps", 0))
        arrays = _loaded_arrays(name, state_dict["arrays"])
        has_state = bool(arrays) or step > 0
        expected = set(fresh._active_states()) if has_state else set()
        if set(arrays) != expected:
            raise ValueError(f"{name}: state arrays {sorted(arrays)} != expected {sorted(expected)}")
        scalars = _loaded_scalars(name, state_dict["scalars"], fresh.state_scalars if has_state else {})
        self._adopt_configuration(fresh)
        self.state = OptimizerState(step=step, arrays=arrays, scalars=scalars) if has_state else None
        self.skipped_steps = skipped_steps

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


def _count(owner: str, name: str, value: object) -> int:
    if not is_integer(value) or value < 0:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer ≥ 0; pass what state_dict() returned")
    return int(value)


def _loaded_arrays(owner: str, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """Copies of saved state arrays, checked: a floating dtype, finite, and one shape and dtype for all."""
    loaded = {}
    for key, value in arrays.items():
        array = check_float_array(f"arrays[{key!r}]", np.array(value, copy=True, order="C"), owner=owner)
        if not np.isfinite(array).all():
            raise ValueError(
                f"{owner}: the state array {key!r} holds NaN or Inf, so the run it continues would too; load a "
                f"state saved before the divergence, or call reset() to start afresh"
            )
        loaded[key] = array
    for what, kinds in (("shapes", {a.shape for a in loaded.values()}), ("dtypes", {a.dtype for a in loaded.values()})):
        if len(kinds) > 1:
            raise ValueError(f"{owner}: state arrays have different {what} {sorted(map(str, kinds))}")
    return loaded


def _loaded_scalars(owner: str, scalars: dict[str, Any], expected: dict[str, float]) -> dict[str, float]:
    """Saved state scalars, checked: exactly the class's ``state_scalars`` (none without a state), finite."""
    if set(scalars) != set(expected):
        raise ValueError(
            f"{owner}: state scalars {sorted(map(str, scalars))} != expected {sorted(expected)}; pass what "
            f"state_dict() returned"
        )
    for key, value in scalars.items():
        if not is_real(value) or not math.isfinite(value):
            raise ValueError(f"{owner}: the state scalar {key}={value!r} must be a finite number")
    return {key: float(value) for key, value in scalars.items()}


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
