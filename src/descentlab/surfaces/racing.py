"""Races: several optimizers descending one surface from the same starts, step by step, side by side.

Each optimizer advances all its starts at once — θ has shape ``(k, 2)``, one row per start, so one
``opt.step`` per step moves every start (the batching of :mod:`descentlab.optim`). The optimizers passed in
are never stepped: each race runs a fresh copy, ``type(opt)(**opt.hyperparameters())``.

Divergence. After every step the new points are checked: a start whose point leaves the box
``|θᵢ| ≤ escape`` or whose f, ∇f (or Hessian, for Newton) is not finite has *diverged at* that step t.
From then on it is frozen: its trajectory repeats the last finite point θ_{t−1}, its loss f(θ_{t−1}) and its
step size is 0, so every array of the result is free of NaN and plots can draw it as it is. With
``stop_on_divergence=False`` a start that leaves the box keeps running (only a non-finite value stops it).
Newton's step t is undefined where the damped Hessian at θ_{t−1} is singular: that start is frozen the same
way (``diverged_at`` = t) and ``Run.failures`` says why; the other starts and optimizers run on.

Two loops run a race (``backend``): the portable one below — NumPy on the ``(k, 2)`` batch, one ``opt.step``
per step, ~0.1 ms of Python per step — and, with numba installed (the ``[fast]`` extra), a compiled loop
(:mod:`descentlab.surfaces._compiled`) that runs a 1000-step race in well under a millisecond once compiled
(the first race of a new (rule, surface) pair compiles it, for a second or two; the kernel is then cached on
disk). Their trajectories are equal bit for bit on surfaces whose functions use arithmetic only
(``Surface.arithmetic_only``: the polynomial ones of the catalogue). On the others the compiled loop takes
exp/cos/tanh from the C library and the portable one NumPy's vectorized versions, which may differ in the last
bit, and along a long or chaotic run such a difference grows (to ~1e-4 on Ackley): close, not equal.
``"auto"`` therefore takes the compiled loop only where it gives the portable loop's bits — an arithmetic-only
surface — for races long enough to repay loading numba (:data:`AUTO_COMPILED_MIN_WORK`), and for shorter ones
when numba is loaded and the kernel compiled already. Whichever loop it takes, the same call gives the same
arrays in any process.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descentlab import optim
from descentlab._numbers import is_integer, is_real
from descentlab.optim._validation import check_bool
from descentlab.surfaces.surface import Surface


@dataclass
class Run:
    """One optimizer's race from k starts.

    Attributes:
        name: the key it was given in ``optimizers``.
        optimizer_description: ``opt.describe()`` before the first step (its update equations).
        trajectory: ``(steps + 1, k, 2)``: θ_t for t = 0 … steps, one column per start.
        losses: ``(steps + 1, k)``: f(θ_t).
        step_sizes: ``(steps, k)``: ‖θ_{t+1} − θ_t‖.
        diverged_at: ``(k,)`` integers: the step t at which θ_t left the box or stopped being finite (or, for
            Newton, could not be solved: see ``failures``), ``-1`` for a start that did not diverge. From that
            step on the row repeats θ_{t−1}.
        hyperparameters: the optimizer's constructor arguments (for records and reports).
        backend: the loop that ran it, ``"portable"`` or ``"compiled"``.
        learning_rates: ``(steps,)``: the rate α_t of step t + 1 (constant without a schedule).
        schedule: ``repr`` of the schedule, ``""`` without one.
        failures: start index → why that start was stopped when the reason is neither the box nor a non-finite
            value: Newton's damped Hessian was singular (the message names the optimizer, the start and the fix).
    """

    name: str
    optimizer_description: str
    trajectory: np.ndarray
    losses: np.ndarray
    step_sizes: np.ndarray
    diverged_at: np.ndarray
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    backend: str = "portable"
    learning_rates: np.ndarray = field(default_factory=lambda: np.empty(0))
    schedule: str = ""
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def final_points(self) -> np.ndarray:
        """``(k, 2)``: where each start ended (its last finite point when it diverged)."""
        return self.trajectory[-1]

    @property
    def final_losses(self) -> np.ndarray:
        """``(k,)``: f at the final points."""
        return self.losses[-1]

    @property
    def diverged(self) -> np.ndarray:
        """``(k,)`` booleans: which starts diverged."""
        return self.diverged_at >= 0


@dataclass(frozen=True)
class Best:
    """The best finishing (optimizer, start) of a race: lowest final f among starts that did not diverge."""

    name: str
    start_index: int
    point: np.ndarray
    loss: float


@dataclass
class RaceResult:
    """What :func:`race` returns: the surface, the number of steps, the starts and one :class:`Run` per
    optimizer (in the order given). ``clip_norm`` and ``escape`` record the race's settings."""

    surface: Surface
    steps: int
    starts: np.ndarray
    runs: dict[str, Run]
    clip_norm: float | None = None
    escape: float = math.inf

    @property
    def final_points(self) -> dict[str, np.ndarray]:
        """Optimizer name → ``(k, 2)`` final points."""
        return {name: run.final_points for name, run in self.runs.items()}

    @property
    def best(self) -> Best | None:
        """The (optimizer, start) with the lowest final f among those that did not diverge; ``None`` when every
        start of every optimizer diverged. Ties go to the optimizer listed first."""
        best: Best | None = None
        for name, run in self.runs.items():
            for i in np.flatnonzero(~run.diverged):
                loss = float(run.final_losses[i])
                if best is None or loss < best.loss:
                    best = Best(name, int(i), run.final_points[i].copy(), loss)
        return best

    def summary(self) -> str:
        """A fixed-width table, one row per (optimizer, start): start, end, f(θ_T), f − f*, distance to the
        nearest known minimum and the divergence step."""
        surface = self.surface
        has_minima = len(surface.minima) > 0
        header = ["optimizer", "start", "final θ", "f(θ_T)", "f − f*", "to minimum", "diverged at"]
        rows = []
        for name, run in self.runs.items():
            distances = surface.nearest_minimum(run.final_points)[1] if has_minima else None
            for i in range(self.starts.shape[0]):
                gap = run.final_losses[i] - surface.minimum_value
                rows.append(
                    [
                        name,
                        _point(self.starts[i]),
                        _point(run.final_points[i]),
                        f"{run.final_losses[i]:.6g}",
                        f"{gap:.3g}" if math.isfinite(gap) else "—",
                        f"{distances[i]:.3g}" if distances is not None else "—",
                        str(int(run.diverged_at[i])) if run.diverged[i] else "—",
                    ]
                )
        widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
        lines = [f"{surface.name}: {self.steps} steps" + (f", clip_norm={self.clip_norm:g}" if self.clip_norm else "")]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        lines += [message for run in self.runs.values() for message in run.failures.values()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain lists and numbers (JSON-ready); the surface is given by its name."""
        return {
            "surface": self.surface.name,
            "steps": self.steps,
            "starts": self.starts.tolist(),
            "clip_norm": self.clip_norm,
            "escape": self.escape,
            "runs": {
                name: {
                    "optimizer": run.optimizer_description.splitlines()[0],
                    "hyperparameters": {k: _plain(v) for k, v in run.hyperparameters.items()},
                    "description": run.optimizer_description,
                    "trajectory": run.trajectory.tolist(),
                    "losses": run.losses.tolist(),
                    "step_sizes": run.step_sizes.tolist(),
                    "diverged_at": run.diverged_at.tolist(),
                    "learning_rates": run.learning_rates.tolist(),
                    "schedule": run.schedule,
                    "backend": run.backend,
                    "failures": {str(i): message for i, message in run.failures.items()},
                }
                for name, run in self.runs.items()
            },
        }


def race(
    surface: Surface | str,
    optimizers: Mapping[str, optim.Optimizer],
    start: np.ndarray | tuple[float, float] | None = None,
    starts: np.ndarray | None = None,
    steps: int = 500,
    clip_norm: float | None = None,
    stop_on_divergence: bool = True,
    escape: float | None = None,
    backend: str = "auto",
    schedules: Mapping[str, Callable[[int], float]] | None = None,
) -> RaceResult:
    """Run every optimizer from the same start(s) on ``surface`` for ``steps`` steps, all advanced together.

    Args:
        surface: a :class:`Surface` or its registry name (``"rosenbrock"``).
        optimizers: name → optimizer instance, e.g. ``{"GD": optim.GD(lr=1e-3), "Adam": optim.Adam(lr=0.05)}``.
            Each is copied fresh (``type(opt)(**opt.hyperparameters())``); the instances are not touched.
            Newton is given the surface's exact Hessian at every step.
        start: one start ``(x, y)``; ``starts``: a ``(k, 2)`` array of starts. At most one of them; neither
            means ``surface.start``.
        steps: number of optimizer steps (≥ 1).
        clip_norm: if given, each start's gradient is rescaled to norm ≤ ``clip_norm`` before its step
            (clipping by norm, Pascanu et al. 2013, applied per start: each start is its own run).
        stop_on_divergence: freeze a start when it leaves the box (see the module docstring); a non-finite
            value always freezes it. ``True`` or ``False``.
        escape: the box half-width; default ``1000 × max |bounds|`` of the surface (:func:`default_escape`).
        schedules: optional name → learning-rate schedule (``optim.schedules.Cosine(...)`` or any t ↦ α_t):
            that optimizer's rate is set to α_t before its step t + 1, t = 0 … steps − 1, as
            ``descentlab.fit`` does per step. ``ReduceOnPlateau`` needs a metric and is refused.
        backend: ``"auto"`` (compiled where that gives the portable loop's bits — an arithmetic-only surface —
            and pays: at least :data:`AUTO_COMPILED_MIN_WORK` steps × optimizers, or numba loaded and the
            kernel compiled already; else portable),
            ``"portable"`` or ``"compiled"`` (close to the portable loop, not equal, on surfaces with
            transcendental functions; compiles the kernel if needed; ``ValueError`` where it does not apply:
            Newton, windowed AdaDelta, surface functions that are not module-level or that numba cannot
            compile, numba missing).

    Returns:
        :class:`RaceResult` with one :class:`Run` per optimizer, arrays free of NaN.

    Example:
        >>> from descentlab import optim, surfaces
        >>> result = surfaces.race("rosenbrock", {"Adam": optim.Adam(lr=0.05)}, steps=300)
        >>> result.runs["Adam"].trajectory.shape
        (301, 1, 2)
    """
    if isinstance(surface, str):
        from descentlab.surfaces.catalog import get

        surface = get(surface)
    if not isinstance(surface, Surface):
        raise TypeError(f"race: surface must be a Surface or a surface name, got {type(surface).__name__}")
    runners = _fresh_optimizers(optimizers)
    points = _starts(surface, start, starts)
    if not is_integer(steps) or steps < 1:
        raise ValueError(f"race: steps={steps!r} must be an integer ≥ 1, e.g. 500")
    steps = int(steps)
    if clip_norm is not None:
        clip_norm = _positive("clip_norm", clip_norm, "e.g. 1.0")
    stop_on_divergence = check_bool("stop_on_divergence", stop_on_divergence, owner="race")
    escape = _positive("escape", default_escape(surface) if escape is None else escape, "e.g. 1e4")
    if np.any(np.abs(points) > escape):
        raise ValueError(f"race: a start lies outside the divergence box |θᵢ| ≤ {escape:g}; move it or raise escape")
    if backend not in BACKENDS:
        raise ValueError(f"race: backend={backend!r}; choose one of {', '.join(BACKENDS)}")

    rates = _learning_rates(runners, schedules, steps)
    with np.errstate(all="ignore"):
        hessian = surface.hessian(points) if any(isinstance(o, optim.Newton) for o in runners.values()) else None
        bad = _not_finite(surface.value(points), surface.grad(points), hessian)
    if bad.any():
        raise ValueError(f"race: f or its derivatives are not finite at the start(s) {points[bad].tolist()}")

    runs = {}
    work = steps * len(runners)
    for name, opt in runners.items():
        lrs = rates.get(name)
        description, hyperparameters = opt.describe(), opt.hyperparameters()
        settings = (points, steps, clip_norm, stop_on_divergence, escape, lrs)
        singular_at = np.full(len(points), -1)
        if _use_compiled(surface, opt, backend, name, work):
            from descentlab.surfaces import _compiled

            arrays = _compiled.race_compiled(surface, opt, *settings)
            used = "compiled"
        else:
            *arrays, singular_at = _race_one(surface, opt, *settings)
            used = "portable"
        trajectory = arrays[0]
        runs[name] = Run(
            name,
            description,
            *arrays,
            hyperparameters,
            used,
            learning_rates=np.full(steps, opt.lr) if lrs is None else lrs,
            schedule="" if lrs is None else repr(schedules[name]),
            failures={
                int(i): singular_hessian_message(name, opt, points[i], int(singular_at[i]), trajectory[-1, i])
                for i in np.flatnonzero(singular_at >= 0)
            },
        )
    return RaceResult(surface=surface, steps=steps, starts=points, runs=runs, clip_norm=clip_norm, escape=escape)


def default_escape(surface: Surface) -> float:
    """The divergence box's default half-width: 1000 × the largest ``|bound|`` of the surface."""
    return 1000.0 * float(np.max(np.abs(surface.bounds)))


BACKENDS = ("auto", "portable", "compiled")
#: Steps × optimizers from which ``"auto"`` takes the compiled loop (on arithmetic-only surfaces) even when
#: that means importing numba or compiling. Measured on the 2-core VM: importing numba takes ~0.6 s and loading
#: a race kernel from the disk cache ~0.1 s, where the portable loop costs ~0.1 ms per optimizer step; so a
#: race of 8 optimizers × 1000 steps (0.85 s portable, 2 ms compiled) is compiled, and a short race — most of
#: a test suite — pays for numba only when numba is loaded and the kernel ready already (interactive use).
AUTO_COMPILED_MIN_WORK = 5_000


def _use_compiled(surface: Surface, opt: optim.Optimizer, backend: str, name: str, work: int) -> bool:
    """Whether ``opt`` runs the compiled loop. ``"auto"`` takes it only on an arithmetic-only surface, where
    both loops give the same bits, so the result never depends on what the process ran before; there it takes
    it for long races, and for short ones when it costs nothing (numba loaded, kernel compiled)."""
    if backend == "portable":
        return False
    if backend == "auto" and not surface.arithmetic_only:
        return False
    if backend == "auto" and work < AUTO_COMPILED_MIN_WORK and "numba" not in sys.modules:
        return False
    from descentlab.optim._backend import fast_path_available

    if not fast_path_available():  # numba missing: the portable loop, and nothing else imported
        if backend == "compiled":
            raise ValueError("race: backend='compiled' needs numba (pip install descentlab[fast])")
        return False
    from descentlab.surfaces import _compiled

    if not _compiled.eligible(surface, opt):
        if backend == "compiled":
            raise ValueError(
                f"race: backend='compiled' cannot run {name!r} ({type(opt).__name__}) on {surface.name}: it needs "
                f"an elementwise optimizer (not Newton or windowed AdaDelta), surface functions defined at module "
                f"level, and DESCENTLAB_PORTABLE unset; use backend='auto' or 'portable'"
            )
        return False
    return backend == "compiled" or work >= AUTO_COMPILED_MIN_WORK or _compiled.ready(surface, opt)


def _race_one(
    surface: Surface,
    opt: optim.Optimizer,
    starts: np.ndarray,
    steps: int,
    clip_norm: float | None,
    stop_on_divergence: bool,
    escape: float,
    lrs: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The portable race loop for one (fresh) optimizer: NumPy on the ``(k, 2)`` batch, one step per
    iteration. Returns the trajectory, losses, step sizes, divergence steps and, per start, the step Newton
    could not solve for a singular Hessian (``-1`` for none)."""
    k = starts.shape[0]
    newton = isinstance(opt, optim.Newton)
    trajectory = np.empty((steps + 1, k, 2))
    losses = np.empty((steps + 1, k))
    step_sizes = np.zeros((steps, k))
    diverged_at = np.full(k, -1, dtype=np.int64)
    alive = np.ones(k, dtype=bool)
    singular_at = np.full(k, -1, dtype=np.int64)

    theta = starts.copy()
    with np.errstate(all="ignore"):
        loss = surface.value(theta)
        grad = surface.grad(theta)
        hessian = surface.hessian(theta) if newton else None
        trajectory[0] = theta
        losses[0] = loss
        for t in range(1, steps + 1):
            previous = theta.copy()
            grad[~alive] = 0.0
            if clip_norm is not None:
                _clip_rows(grad, clip_norm)
            if lrs is not None:
                opt.lr = lrs[t - 1]
            unsolvable = np.zeros(k, dtype=bool)
            if newton:
                hessian[~alive] = np.eye(2)
                unsolvable = newton_step_by_start(opt, theta, grad, hessian)
            else:
                opt.step(theta, grad)
            theta[~alive] = previous[~alive]
            new_loss = surface.value(theta)
            grad = surface.grad(theta)
            hessian = surface.hessian(theta) if newton else None
            broken = _not_finite(new_loss, grad, hessian) | ~np.isfinite(theta).all(axis=1) | unsolvable
            outside = (np.abs(theta) > escape).any(axis=1)
            first = alive & (diverged_at < 0) & (broken | outside)
            diverged_at[first] = t
            stop = alive & (broken | (outside if stop_on_divergence else False))
            singular_at[stop & unsolvable] = t
            alive &= ~stop
            theta[stop] = previous[stop]
            new_loss[stop] = loss[stop]
            loss = new_loss
            trajectory[t] = theta
            losses[t] = loss
            # hypot, as the compiled loop: no overflow to inf for a step between huge finite points
            step_sizes[t - 1] = np.hypot(theta[:, 0] - previous[:, 0], theta[:, 1] - previous[:, 1])
    return trajectory, losses, step_sizes, diverged_at, singular_at


def newton_step_by_start(opt: optim.Newton, theta: np.ndarray, grad: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """Newton's step for every row; returns the rows whose damped Hessian is singular, which stay where they
    are. ``Newton.step`` refuses the whole batch when one system is singular, and one start must not stop
    the others: the rows are then probed one by one and the singular ones stepped with H = I and g = 0."""
    try:
        opt.step(theta, grad, hessian=hessian)
        return np.zeros(len(theta), dtype=bool)
    except np.linalg.LinAlgError:
        pass  # nothing was changed: find the singular rows
    probe = type(opt)(**opt.hyperparameters())
    singular = np.zeros(len(theta), dtype=bool)
    for i in range(len(theta)):
        try:
            probe.step(theta[i].copy(), grad[i].copy(), hessian=hessian[i])
        except np.linalg.LinAlgError:
            singular[i] = True
    hessian[singular] = np.eye(2)
    grad[singular] = 0.0
    opt.step(theta, grad, hessian=hessian)
    return singular


def singular_hessian_message(name: str, opt: optim.Optimizer, start: np.ndarray, t: int, point: np.ndarray) -> str:
    """Why racer ``name`` stopped at step ``t``: the damped Hessian at ``point`` (reached from ``start``) is
    singular; with the fix."""
    return (
        f"{name!r} ({type(opt).__name__}) from start {_point(start)}: the damped Hessian at {_point(point)} is "
        f"singular, so step {t} is undefined and the start stopped there; pass damping=1e-3 or "
        f"min_curvature=1e-3 to make it invertible"
    )


def _learning_rates(
    runners: Mapping[str, optim.Optimizer], schedules: Mapping[str, Callable[[int], float]] | None, steps: int
) -> dict[str, np.ndarray]:
    """Name → ``(steps,)`` rates α_0 … α_{steps−1} for the optimizers that have a schedule."""
    if schedules is None:
        return {}
    if not isinstance(schedules, Mapping):
        raise TypeError("race: schedules must be a dict name → schedule, e.g. {'GD': optim.schedules.Cosine(...)}")
    unknown = [name for name in schedules if name not in runners]
    if unknown:
        raise ValueError(f"race: schedules for {unknown} name no optimizer; the optimizers are {list(runners)}")
    rates = {}
    for name, schedule in schedules.items():
        if hasattr(schedule, "observe"):
            raise TypeError(
                f"race: the schedule of {name!r} ({type(schedule).__name__}) must observe a metric, which a race "
                f"does not provide; use a schedule that is a function of the step"
            )
        if not callable(schedule):
            raise TypeError(f"race: schedules[{name!r}] must be a function t -> learning rate, got {schedule!r}")
        preview = getattr(schedule, "preview", None)
        values = preview(steps) if callable(preview) else [schedule(t) for t in range(steps)]
        lrs = np.array(values, dtype=float).reshape(steps)
        if not (np.isfinite(lrs).all() and (lrs >= 0).all()):
            raise ValueError(f"race: the schedule of {name!r} gave learning rates that are not finite numbers ≥ 0")
        rates[name] = lrs
    return rates


def _not_finite(loss: np.ndarray, grad: np.ndarray, hessian: np.ndarray | None) -> np.ndarray:
    bad = ~np.isfinite(loss) | ~np.isfinite(grad).all(axis=1)
    if hessian is not None:
        bad |= ~np.isfinite(hessian).all(axis=(1, 2))
    return bad


def _clip_rows(grad: np.ndarray, max_norm: float) -> None:
    """Clip each row by its own norm in place: ``dl.optim.clip.by_norm`` applied to every start separately."""
    norms = np.hypot(grad[:, 0], grad[:, 1])  # no overflow for huge finite gradients
    over = norms > max_norm
    grad[over] *= (max_norm / norms[over])[:, None]


def _fresh_optimizers(optimizers: Mapping[str, optim.Optimizer]) -> dict[str, optim.Optimizer]:
    if isinstance(optimizers, optim.Optimizer):
        raise TypeError(
            f"race: optimizers must be a dict name → optimizer, e.g. {{'{type(optimizers).__name__}': opt}}"
        )
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise TypeError(
            "race: optimizers must be a non-empty dict name → optimizer, e.g. {'Adam': optim.Adam(lr=0.05)}"
        )
    fresh = {}
    for name, opt in optimizers.items():
        if not isinstance(name, str):
            raise TypeError(
                f"race: optimizer names must be strings, got {name!r} ({type(name).__name__}); "
                f"e.g. {{'{type(opt).__name__}': opt}}"
            )
        if not isinstance(opt, optim.Optimizer):
            raise TypeError(
                f"race: optimizers[{name!r}] is a {type(opt).__name__}, not a descentlab optimizer; "
                f"e.g. descentlab.optim.Adam(lr=0.05)"
            )
        fresh[name] = type(opt)(**opt.hyperparameters())
    return fresh


def _starts(surface: Surface, start, starts) -> np.ndarray:
    if start is not None and starts is not None:
        raise ValueError("race: give start=(x, y) or starts=[(x, y), …], not both")
    if starts is not None:
        points = np.array(starts, dtype=float)
        if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1:
            raise ValueError(f"race: starts has shape {points.shape}; it must be (k, 2) with k ≥ 1, e.g. [[-1, 2]]")
    else:
        points = np.array(surface.start if start is None else start, dtype=float)
        if points.shape != (2,):
            raise ValueError(f"race: start has shape {points.shape}; it must be one point (x, y), e.g. (-1.5, 2.0)")
        points = points.reshape(1, 2)
    if not np.isfinite(points).all():
        raise ValueError(f"race: starts must be finite, got {points.tolist()}")
    return points


def _positive(name: str, value: float, hint: str) -> float:
    if not is_real(value):
        raise TypeError(f"race: {name}={value!r} must be a number ({hint})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"race: {name}={value!r} must be a finite number > 0 ({hint})")
    return float(value)


def _point(p: np.ndarray) -> str:
    return f"({p[0]:.4g}, {p[1]:.4g})"


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["AUTO_COMPILED_MIN_WORK", "Best", "RaceResult", "Run", "default_escape", "race"]
